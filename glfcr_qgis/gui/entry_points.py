"""Where the desktop reaches the set-up dialogs: the install offer, the Plugins menu, the Processing toolbox.

QGIS 3.22's provider settings (Options > Processing > Providers) hold only typed values, no buttons
or links, so the dialogs are reached from: the message bar offer shown the first time an algorithm
finds torch missing; *Plugins > GLF-CR cloud removal*; the toolbox's GLF-CR button (the provider
actions the Scripts provider uses for "Create New Script..."); and the right-click menu of every
GLF-CR algorithm in the toolbox.
"""

from __future__ import annotations

from typing import Any

from qgis.core import Qgis
from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QPushButton, QToolButton

from ..dependencies import forget_missing_torch_listener, on_missing_torch, torch_available
from ..version import plugin_icon_path

MENU = "GLF-CR cloud removal"
PROVIDER_ID = "glfcr"
INSTALL_LABEL = "Install dependencies..."
CHECKPOINT_LABEL = "Checkpoint manager..."
OFFER_TITLE = "GLF-CR needs PyTorch"
OFFER_TEXT = "QGIS's Python does not have it yet."


class SetupEntryPoints(QObject):
    """Adds the menu entries, toolbox actions and the install offer; ``unload`` removes them."""

    # emitted from whichever thread found torch missing; delivered on the interface thread
    torchMissing = pyqtSignal()  # noqa: N815 (Qt signal naming)

    def __init__(self, iface: Any) -> None:
        super().__init__()
        self.iface = iface
        self.dialogs: dict[str, Any] = {}
        self.offered = False
        self.actions: list[QAction] = []
        self.toolbox_actions: list[Any] = []
        self.context_actions: list[Any] = []
        self.torchMissing.connect(self.offer_install)
        # one object for on_missing_torch and forget_missing_torch_listener: every access to
        # self.torchMissing.emit makes a new, unequal one, so unload could not remove it, and a later
        # missing torch called the emit of a deleted object (a crash)
        self._announce_missing_torch = self.torchMissing.emit

    def install(self) -> None:
        """Add everything (called from ``initGui``)."""
        icon = QIcon(str(plugin_icon_path()))
        for label, handler in ((INSTALL_LABEL, self.open_install), (CHECKPOINT_LABEL, self.open_checkpoints)):
            action = QAction(icon, label, self.iface.mainWindow())
            action.triggered.connect(handler)
            self.iface.addPluginToMenu(MENU, action)
            self.actions.append(action)
        on_missing_torch(self._announce_missing_torch)
        self._add_toolbox_actions()

    def unload(self) -> None:
        """Remove everything (called from ``unload``)."""
        forget_missing_torch_listener(self._announce_missing_torch)
        for action in self.actions:
            self.iface.removePluginMenu(MENU, action)
        self.actions.clear()
        try:
            from processing.gui.ProviderActions import ProviderActions, ProviderContextMenuActions
        except ImportError:
            return
        ProviderActions.actions.pop(PROVIDER_ID, None)
        ProviderContextMenuActions.deregisterProviderContextMenuActions(self.context_actions)
        self.context_actions.clear()
        toolbox = _toolbox()
        button = toolbox.findChild(QToolButton, "provideraction_" + PROVIDER_ID) if toolbox else None
        if button is not None:
            button.deleteLater()

    def _add_toolbox_actions(self) -> None:
        try:
            from processing.gui.ContextAction import ContextAction
            from processing.gui.ProviderActions import ProviderActions, ProviderContextMenuActions
            from processing.gui.ToolboxAction import ToolboxAction
        except ImportError:
            return  # Processing is disabled: the Plugins menu still works

        entry_points = self

        class _ToolboxEntry(ToolboxAction):
            def __init__(self, name: str, handler: Any) -> None:
                self.name, self.group, self._handler = name, "GLF-CR", handler

            def execute(self) -> None:
                self._handler()

        class _ContextEntry(ContextAction):
            def __init__(self, name: str, handler: Any) -> None:
                super().__init__()
                self.name, self._handler = name, handler

            def isEnabled(self) -> bool:  # noqa: N802 (Processing API name)
                provider = self.itemData.provider() if hasattr(self.itemData, "provider") else None
                return provider is not None and provider.id() == PROVIDER_ID

            def execute(self) -> None:
                self._handler()

        entries = [
            (f"GLF-CR: {INSTALL_LABEL}", entry_points.open_install),
            (f"GLF-CR: {CHECKPOINT_LABEL}", entry_points.open_checkpoints),
        ]
        self.toolbox_actions = [_ToolboxEntry(name, handler) for name, handler in entries]
        ProviderActions.actions[PROVIDER_ID] = self.toolbox_actions
        self.context_actions = [_ContextEntry(name, handler) for name, handler in entries]
        ProviderContextMenuActions.registerProviderContextMenuActions(self.context_actions)
        toolbox = _toolbox()
        # a toolbox built before this plugin loaded does not pick provider actions up by itself
        if toolbox is not None and toolbox.findChild(QToolButton, "provideraction_" + PROVIDER_ID) is None:
            from qgis.core import QgsApplication

            provider = QgsApplication.processingRegistry().providerById(PROVIDER_ID)
            if provider is not None:
                toolbox.addProviderActions(provider)

    def offer_install(self) -> None:
        """The message bar offer, once per session, while torch is still missing."""
        if self.offered or torch_available():
            return
        self.offered = True
        bar = self.iface.messageBar()
        item = bar.createMessage(OFFER_TITLE, OFFER_TEXT)
        button = QPushButton("Install...", item)
        button.clicked.connect(self.open_install)
        button.clicked.connect(lambda: bar.popWidget(item))
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.Warning)

    def open_install(self) -> Any:
        """Open (or raise) the Install dependencies dialog."""
        from .install_dialog import InstallDialog

        return self._show("install", InstallDialog)

    def open_checkpoints(self) -> Any:
        """Open (or raise) the checkpoint manager."""
        from .checkpoint_manager import CheckpointManagerDialog

        return self._show("checkpoints", CheckpointManagerDialog)

    def _show(self, key: str, dialog_class: Any) -> Any:
        dialog = self.dialogs.get(key)
        if dialog is None or not dialog.isVisible():
            dialog = dialog_class(self.iface.mainWindow())
            self.dialogs[key] = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog


def _toolbox() -> Any:
    """The Processing toolbox dock, when the Processing plugin is loaded."""
    try:
        from qgis.utils import plugins
    except ImportError:
        return None
    processing_plugin = plugins.get("processing")
    return getattr(processing_plugin, "toolbox", None)
