"""The desktop set-up: the install offer in the message bar, the install dialog, the checkpoint manager.

Real widgets on Qt's offscreen platform and real work in QGIS's task manager (pip's dry run, the
checkpoint check, a download from a local server); only QGIS's main window is a bare QMainWindow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from local_http import Route, local_server

# where the default checkpoint is kept: the provider setting (Options > Processing > Providers > GLF-CR)
WEIGHTS_SETTING = "Processing/Configuration/GLFCR_CHECKPOINT"


def wait_for(condition: Callable[[], bool], timeout: float = 180) -> None:
    from qgis.PyQt.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the dialog's task did not finish")
        QCoreApplication.processEvents()
        time.sleep(0.02)


class DesktopInterface:
    """The parts of QGIS's interface the entry points use: main window, message bar, Plugins menu."""

    def __init__(self) -> None:
        from qgis.gui import QgsMessageBar
        from qgis.PyQt.QtWidgets import QMainWindow

        self.window = QMainWindow()
        self.bar = QgsMessageBar(self.window)
        self.menu: dict[str, list[Any]] = {}

    def mainWindow(self) -> Any:  # noqa: N802 (QGIS API name)
        return self.window

    def messageBar(self) -> Any:  # noqa: N802
        return self.bar

    def addPluginToMenu(self, name: str, action: Any) -> None:  # noqa: N802
        self.menu.setdefault(name, []).append(action)

    def removePluginMenu(self, name: str, action: Any) -> None:  # noqa: N802
        self.menu[name].remove(action)


@pytest.fixture
def default_weights(qgis_app, monkeypatch) -> Iterator[None]:
    """Keep the profile's default checkpoint as it was; no GLFCR_WEIGHTS from the environment."""
    from qgis.core import QgsSettings

    monkeypatch.delenv("GLFCR_WEIGHTS", raising=False)
    before = QgsSettings().value(WEIGHTS_SETTING, "")
    yield
    QgsSettings().setValue(WEIGHTS_SETTING, before)


def test_the_checkpoint_manager_shows_and_checks_the_active_checkpoint(
    qgis_app, shared_dir, monkeypatch
) -> None:
    from glfcr_qgis.gui.checkpoint_manager import CheckpointManagerDialog

    path = shared_dir / "reference" / "glfcr_random_ckpt.pth"
    monkeypatch.setenv("GLFCR_WEIGHTS", str(path))
    dialog = CheckpointManagerDialog()
    wait_for(lambda: dialog.task is None)
    assert dialog.path_label.text() == str(path)
    assert f"({path.stat().st_size:,} bytes)" in dialog.size_label.text()
    assert len(dialog.sha_label.text()) == 64
    assert "loads as GLF-CR" in dialog.check_label.text()
    assert "GLFCR_WEIGHTS is set" in dialog.note.text()
    dialog.close()


def test_a_chosen_foreign_file_does_not_become_the_default(qgis_app, default_weights, tmp_path) -> None:
    import torch
    from qgis.core import QgsSettings

    from glfcr_qgis.gui.checkpoint_manager import CheckpointManagerDialog

    foreign = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, foreign)
    QgsSettings().setValue(WEIGHTS_SETTING, "")
    dialog = CheckpointManagerDialog()
    wait_for(lambda: dialog.task is None)
    dialog.show_checkpoint(str(foreign), make_default=True)  # what Choose file... does with the picked file
    wait_for(lambda: dialog.task is None)
    assert "not usable" in dialog.check_label.text()
    assert QgsSettings().value(WEIGHTS_SETTING, "") == ""
    dialog.close()


def test_download_in_the_checkpoint_manager_sets_the_default(
    qgis_app, default_weights, shared_dir, monkeypatch
) -> None:
    from qgis.core import QgsSettings

    import glfcr_qgis.core.setup.download as download
    from glfcr_qgis.algorithms.download_weights import profile_weights_path
    from glfcr_qgis.gui.checkpoint_manager import CheckpointManagerDialog

    checkpoint = (shared_dir / "reference" / "glfcr_random_ckpt.pth").read_bytes()
    destination = Path(profile_weights_path())
    with local_server() as server:
        server.routes["/CR_net.pth"] = Route(checkpoint)
        monkeypatch.setattr(download, "AUTHORS_WEIGHTS_URL", server.url("/CR_net.pth"))
        dialog = CheckpointManagerDialog()
        wait_for(lambda: dialog.task is None)
        progress: list[int] = []
        dialog.progress.valueChanged.connect(progress.append)
        dialog.download_button.click()
        wait_for(lambda: dialog.task is None)  # the download
        wait_for(lambda: dialog.task is None and "loads as GLF-CR" in dialog.check_label.text())  # its check
    try:
        assert destination.read_bytes() == checkpoint
        assert QgsSettings().value(WEIGHTS_SETTING, "") == str(destination)
        assert dialog.path_label.text() == str(destination) and max(progress) == 1000
    finally:
        destination.unlink(missing_ok=True)
        dialog.close()


@pytest.mark.slow
def test_the_install_dialog_shows_the_plan_and_cancels_cleanly(qgis_app) -> None:
    from qgis.core import QgsApplication

    from glfcr_qgis.dependencies import profile_dependency_folder
    from glfcr_qgis.gui.install_dialog import InstallDialog

    dialog = InstallDialog()
    assert not dialog.install_button.isEnabled()  # nothing to install before pip answered
    wait_for(lambda: dialog.install_button.isEnabled())
    text = dialog.plan_label.text()
    assert "torch" in text and "to download" in text and "numpy==" in text
    dialog.install_button.click()
    wait_for(lambda: "$ python -m pip install --target" in dialog.log.toPlainText())
    dialog.cancel_button.click()
    wait_for(lambda: dialog.task is None)
    assert "Install canceled: pip was stopped and nothing was changed." in dialog.status.text()
    folder = profile_dependency_folder(QgsApplication.qgisSettingsDirPath())
    assert not folder.exists() and not any(folder.parent.glob(".py*"))
    dialog.close()


def test_the_install_offer_appears_once_when_an_algorithm_misses_torch(qgis_app, monkeypatch) -> None:
    import sys

    from glfcr_qgis.dependencies import announce_missing_torch
    from glfcr_qgis.gui.entry_points import INSTALL_LABEL, MENU, OFFER_TEXT, OFFER_TITLE, SetupEntryPoints
    from glfcr_qgis.gui.install_dialog import InstallDialog

    monkeypatch.setitem(sys.modules, "torch", None)  # as in a QGIS without torch
    iface = DesktopInterface()
    entry_points = SetupEntryPoints(iface)
    entry_points.install()
    try:
        assert [action.text() for action in iface.menu[MENU]] == [INSTALL_LABEL, "Checkpoint manager..."]
        # algorithms run in worker threads: the offer must still land on the interface thread
        for _ in range(2):
            worker = threading.Thread(target=announce_missing_torch)
            worker.start()
            worker.join()
            wait_for(lambda: iface.bar.currentItem() is not None, timeout=10)
        assert len(iface.bar.items()) == 1
        item = iface.bar.currentItem()
        assert (item.title(), item.text()) == (OFFER_TITLE, OFFER_TEXT)
        from qgis.PyQt.QtWidgets import QPushButton

        button = next(b for b in item.findChildren(QPushButton) if b.text() == "Install...")
        button.click()
        dialog = entry_points.dialogs["install"]
        assert isinstance(dialog, InstallDialog) and dialog.isVisible()
        dialog.close()  # cancels pip's dry run
        wait_for(lambda: dialog.task is None)
    finally:
        entry_points.unload()
    assert iface.menu[MENU] == []
    # unload forgets the listener: a later missing torch must not reach the unloaded (deleted) objects
    from glfcr_qgis import dependencies

    assert dependencies._missing_torch_listeners == []
