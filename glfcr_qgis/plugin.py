"""The QGIS plugin object: puts the profile's dependency folder on ``sys.path``, registers the provider,
and in the desktop adds the set-up entry points (install offer, Plugins menu, toolbox actions).

``qgis_process`` calls ``initProcessing()`` alone (no ``initGui``): only ``initGui`` touches ``iface``.
"""

from __future__ import annotations

from typing import Any

from qgis.core import QgsApplication

from .dependencies import add_profile_dependencies
from .provider import GlfcrProvider


class GlfcrPlugin:
    """Registers the ``glfcr`` provider with QGIS's Processing registry."""

    def __init__(self, iface: Any = None) -> None:
        self.iface = iface
        self.provider: GlfcrProvider | None = None
        self.entry_points: Any = None
        # what Install dependencies put in this profile, importable before any algorithm runs
        add_profile_dependencies(QgsApplication.qgisSettingsDirPath())

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API name)
        """Register the provider (once)."""
        if self.provider is None:
            self.provider = GlfcrProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()
        if self.iface is not None and self.entry_points is None:
            from .gui.entry_points import SetupEntryPoints

            self.entry_points = SetupEntryPoints(self.iface)
            self.entry_points.install()

    def unload(self) -> None:
        if self.entry_points is not None:
            self.entry_points.unload()
            self.entry_points = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
