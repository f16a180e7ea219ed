"""The Processing provider ``glfcr`` that holds the GLF-CR algorithms and registers their settings."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ALGORITHMS
from .settings import register_settings, unregister_settings
from .version import plugin_icon_path, plugin_version


class GlfcrProvider(QgsProcessingProvider):
    """Provider ``glfcr``: SAR-guided cloud removal (GLF-CR) and its helpers."""

    def id(self) -> str:
        return "glfcr"

    def name(self) -> str:
        return self.tr("GLF-CR cloud removal")

    def longName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("GLF-CR cloud removal {version}").format(version=plugin_version())

    def versionInfo(self) -> str:  # noqa: N802
        return plugin_version()

    def icon(self) -> QIcon:
        return QIcon(str(plugin_icon_path()))

    def load(self) -> bool:
        """Register the settings (Options > Processing > Providers > GLF-CR), then the algorithms."""
        register_settings(self.icon())
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        unregister_settings()

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm_class in ALGORITHMS:
            self.addAlgorithm(algorithm_class())
