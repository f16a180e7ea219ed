"""The checkpoint manager: the active checkpoint (path, size, SHA-256, structural check), choose, download."""

from __future__ import annotations

import os
from typing import Any

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..algorithms.download_weights import profile_weights_path
from ..algorithms.weights import WEIGHTS_ENV, default_weights_path, set_default_weights_path
from .core_task import CoreTask, start

TITLE = "GLF-CR checkpoint"


class CheckpointManagerDialog(QDialog):
    """Shows and checks the default checkpoint; *Choose file...* and *Download the authors' weights*."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.resize(760, 300)
        self.task: CoreTask | None = None
        self.info: Any = None
        self.path_label, self.size_label, self.sha_label, self.check_label = (self._value() for _ in range(4))
        self.check_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Active checkpoint:", self.path_label)
        form.addRow("Size:", self.size_label)
        form.addRow("SHA-256:", self.sha_label)
        form.addRow("Structural check:", self.check_label)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.choose_button = QPushButton("Choose file...")
        self.download_button = QPushButton("Download the authors' pretrained weights")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.close_button = QPushButton("Close")
        self.choose_button.clicked.connect(self.choose_file)
        self.download_button.clicked.connect(self.download)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (self.choose_button, self.download_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.show_checkpoint(default_weights_path())

    @staticmethod
    def _value() -> QLabel:
        label = QLabel("")
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        return label

    def _busy(self, busy: bool) -> None:
        self.choose_button.setEnabled(not busy)
        self.download_button.setEnabled(not busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)

    def show_checkpoint(self, path: str, make_default: bool = False) -> None:
        """Show ``path`` and check it in a task; with ``make_default`` it becomes the default if it passes."""
        from ..core.setup.checkpoint_info import inspect_checkpoint

        self.path_label.setText(path or "none chosen")
        self.size_label.setText("...")
        self.sha_label.setText("...")
        self.check_label.setText("checking..." if path else "")
        env = os.environ.get(WEIGHTS_ENV, "").strip()
        self.note.setText(
            f"The environment variable {WEIGHTS_ENV} is set and wins over the choice made here."
            if env
            else ""
        )
        self._busy(True)
        self.progress.setRange(0, 0)
        self.task = CoreTask(
            "GLF-CR: check the checkpoint",
            lambda task: inspect_checkpoint(path, is_canceled=task.is_canceled),
        )
        self.task.succeeded.connect(lambda info: self._checked(info, make_default))
        self.task.failed.connect(self._failed)
        start(self.task)

    def _checked(self, info: Any, make_default: bool) -> None:
        from ..core.setup.plan import format_size

        self.task = None
        self.info = info
        self._busy(False)
        self.progress.setRange(0, 1000)
        self.size_label.setText(
            f"{format_size(info.size)} ({info.size:,} bytes)" if info.size is not None else "-"
        )
        self.sha_label.setText(info.sha256 or "-")
        if info.loads_as_glfcr:
            self.check_label.setText(
                "<span style='color:#1b7f3b'><b>loads as GLF-CR</b></span> "
                "(safe loading; every key and shape matches the network)"
            )
        elif info.loads_as_glfcr is None and info.problem:
            self.check_label.setText(f"not checked: {info.problem}")
        else:
            self.check_label.setText(f"<span style='color:#b00020'><b>not usable</b></span>: {info.problem}")
        usable = info.loads_as_glfcr or (info.loads_as_glfcr is None and info.sha256)
        if make_default and usable:
            set_default_weights_path(info.path)
            self.note.setText(
                self.note.text() + " It is now the default checkpoint of the GLF-CR algorithms."
            )
        elif make_default:
            self.note.setText("The default checkpoint was not changed.")

    def _failed(self, sentence: str, log: str) -> None:
        self.task = None
        self._busy(False)
        self.progress.setRange(0, 1000)
        self.check_label.setText(f"<span style='color:#b00020'><b>{sentence}</b></span>")

    def choose_file(self) -> None:
        """Pick a checkpoint file; it becomes the default once it loads as GLF-CR."""
        start_folder = os.path.dirname(default_weights_path() or profile_weights_path())
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a GLF-CR checkpoint", start_folder, "PyTorch checkpoint (*.pth *.pt);;All files (*)"
        )
        if path:
            self.show_checkpoint(path, make_default=True)

    def download(self) -> None:
        """Download the authors' CR_net.pth into the profile, check it, make it the default."""
        from ..core.setup.download import AUTHORS_WEIGHTS_URL, download_checkpoint

        destination = profile_weights_path()
        self._busy(True)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.check_label.setText(f"downloading to {destination}...")
        self.task = CoreTask(
            "GLF-CR: download the pretrained weights",
            lambda task: download_checkpoint(
                AUTHORS_WEIGHTS_URL,
                destination,
                progress=task.report,
                is_canceled=task.is_canceled,
                on_message=task.log,
            ),
        )
        self.task.fractionChanged.connect(lambda fraction: self.progress.setValue(int(1000 * fraction)))
        self.task.lineReceived.connect(self.note.setText)
        self.task.succeeded.connect(lambda result: self.show_checkpoint(str(result.path), make_default=True))
        self.task.failed.connect(self._failed)
        start(self.task)

    def cancel(self) -> None:
        """Stop the running check or download (a partial download is kept and resumed next time)."""
        if self.task is not None:
            self.task.cancel()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API name)
        self.cancel()
        super().closeEvent(event)
