"""The Install dependencies dialog: what will be installed and its size, then pip's progress and log."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..dependencies import refresh_after_install
from .core_task import CoreTask, start

TITLE = "Install GLF-CR dependencies"


class InstallDialog(QDialog):
    """Shows the plan pip resolved (packages, download size), runs the install in a task, shows its log."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.resize(760, 720)
        self.prepared: Any = None
        self.task: CoreTask | None = None
        self.works_now: bool | None = None
        self.intro = QLabel(
            "GLF-CR needs PyTorch. This installs the version the plugin is tested with (and CuPy when an "
            "NVIDIA "
            "GPU is found) into a folder of this QGIS profile, with QGIS's own Python and pip. QGIS's own "
            "packages, numpy among them, are kept."
        )
        self.intro.setWordWrap(True)
        self.plan_label = QLabel("Asking pip what it would install and how big it is...")
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy until pip answers
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.log.setMaximumBlockCount(20000)
        self.log.setMinimumHeight(200)
        self.buttons = QDialogButtonBox()
        self.install_button = QPushButton("Install")
        self.install_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        for button, role in (
            (self.install_button, QDialogButtonBox.AcceptRole),
            (self.cancel_button, QDialogButtonBox.RejectRole),
            (self.close_button, QDialogButtonBox.DestructiveRole),
        ):
            self.buttons.addButton(button, role)
        self.install_button.clicked.connect(self.start_install)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        for widget in (self.intro, self.plan_label, self.progress, self.status, self.log, self.buttons):
            layout.addWidget(widget, 1 if widget is self.log else 0)
        self.start_plan()

    def _run(self, description: str, work: Any, done: Any) -> None:
        self.task = CoreTask(description, work)
        self.task.lineReceived.connect(self.log.appendPlainText)
        self.task.fractionChanged.connect(lambda fraction: self.progress.setValue(int(1000 * fraction)))
        self.task.succeeded.connect(done)
        self.task.failed.connect(self._failed)
        self.cancel_button.setEnabled(True)
        start(self.task)

    def start_plan(self) -> None:
        """Ask pip for the packages and their size (a dry run: nothing is installed)."""
        from ..core.setup.installer import prepare_install

        profile = QgsApplication.qgisSettingsDirPath()
        self._run(
            "GLF-CR: what to install",
            lambda task: prepare_install(profile, on_line=task.log, is_canceled=task.is_canceled),
            self._planned,
        )

    def _planned(self, prepared: Any) -> None:
        self.task = None
        self.prepared = prepared
        self.plan_label.setText(plan_html(prepared.plan))
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.install_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.status.setText("Press Install to start.")

    def start_install(self) -> None:
        """Run pip into the profile's folder (a task: the interface stays responsive)."""
        from ..core.setup.installer import install_dependencies

        prepared = self.prepared
        self.install_button.setEnabled(False)
        self.status.setText("Installing...")
        self._run(
            "GLF-CR: install dependencies",
            lambda task: install_dependencies(
                prepared.plan,
                prepared.probe.pip_version,
                on_line=task.log,
                progress=task.report,
                is_canceled=task.is_canceled,
            ),
            self._installed,
        )

    def _installed(self, result: Any) -> None:
        self.task = None
        self.cancel_button.setEnabled(False)
        self.progress.setValue(1000)
        self.works_now = refresh_after_install(result.folder) if result.activated else False
        if self.works_now:
            self.status.setText(
                "<b>PyTorch is installed</b>: the GLF-CR algorithms work now, no restart needed."
            )
        else:
            self.status.setText(
                "<b>Installed.</b> Restart QGIS to use the new packages (the old ones are still loaded)."
            )
        self.log.appendPlainText(
            f"Installed into {result.folder} in {result.seconds:.0f} s; pip's log: {result.log_path}"
        )

    def _failed(self, sentence: str, log: str) -> None:
        self.task = None
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status.setText(f"<span style='color:#b00020'><b>{sentence}</b></span>")
        if log and log not in self.log.toPlainText():
            self.log.appendPlainText(log)
        # a failed size check can be retried; a failed install keeps the plan for another try
        self.install_button.setEnabled(self.prepared is not None)
        if self.prepared is None:
            self.install_button.setText("Retry")
            self.install_button.clicked.disconnect()
            self.install_button.clicked.connect(self._retry_plan)
            self.install_button.setEnabled(True)

    def _retry_plan(self) -> None:
        self.install_button.clicked.disconnect()
        self.install_button.clicked.connect(self.start_install)
        self.install_button.setText("Install")
        self.install_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.start_plan()

    def cancel(self) -> None:
        """Stop pip (the previous packages stay as they were)."""
        if self.task is not None:
            self.status.setText("Canceling...")
            self.task.cancel()  # a task that has not started yet ends here and now

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API name)
        self.cancel()
        super().closeEvent(event)


def plan_html(plan: Any) -> str:
    """The plan as the dialog shows it: packages with sizes, the total, the notes."""
    from ..core.setup.plan import format_size

    rows = "".join(
        f"<tr><td>{p.name}</td><td>{p.version}</td><td align='right'>{format_size(p.size)}</td></tr>"
        for p in plan.packages
    )
    total = plan.download_bytes
    size = f"<b>{format_size(total)} to download</b>" if total is not None else "<b>download size unknown</b>"
    notes = "".join(f"<p>{note}</p>" for note in plan.notes)
    return (
        f"<p>Into <code>{plan.folder}</code> with <code>{plan.python}</code>: "
        f"{', '.join(plan.requirements)}; "
        f"kept as QGIS has it: {', '.join(plan.constraints) or 'nothing'}.</p>"
        f"<table cellspacing='0' cellpadding='2'>{rows}</table><p>{size}.</p>{notes}"
    )
