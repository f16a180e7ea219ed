"""The QGIS plugin object: it only registers the Processing provider.

``qgis_process`` calls ``initProcessing()`` alone (no ``initGui``), so nothing here touches ``iface``.
"""

from __future__ import annotations

from typing import Any

from qgis.core import QgsApplication

from .provider import GlfcrProvider


class GlfcrPlugin:
    """Registers the ``glfcr`` provider with QGIS's Processing registry."""

    def __init__(self, iface: Any = None) -> None:
        self.iface = iface
        self.provider: GlfcrProvider | None = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API name)
        """Register the provider (once)."""
        if self.provider is None:
            self.provider = GlfcrProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
