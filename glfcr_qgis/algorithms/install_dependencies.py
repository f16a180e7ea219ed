"""Processing algorithm ``glfcr:installdependencies``: PyTorch (and CuPy for NVIDIA GPUs) into the profile.

The same install the desktop dialog runs, usable headless: ``qgis_process run glfcr:installdependencies``.
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsApplication,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputFolder,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
)

from ..core.errors import InstallError
from ..dependencies import refresh_after_install
from .base import GlfcrAlgorithm

SETUP_GROUP = "setup"
LOG_TAIL_LINES = 60


class SetupAlgorithm(GlfcrAlgorithm):
    """The algorithms that set the plugin up (group *Setup*); they never need torch to be listed or run."""

    def groupId(self) -> str:  # noqa: N802 (QGIS API name)
        return SETUP_GROUP

    def group(self) -> str:
        return self.tr("Setup")


class InstallDependenciesAlgorithm(SetupAlgorithm):
    """Install the tested torch (and CuPy when an NVIDIA driver is found) for this QGIS profile."""

    GPU_PACKAGES = "GPU_PACKAGES"
    SIZE_ONLY = "SIZE_ONLY"
    FOLDER = "FOLDER"
    INSTALLED = "INSTALLED"
    DOWNLOAD_BYTES = "DOWNLOAD_BYTES"
    RESTART_NEEDED = "RESTART_NEEDED"
    LOG_FILE = "LOG_FILE"

    def name(self) -> str:
        return "installdependencies"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Install dependencies")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Installs the Python packages GLF-CR needs into a folder this plugin owns, one per QGIS profile "
            "and Python version (<i>&lt;profile&gt;/python/glfcr_dependencies/py311</i>), with QGIS's own "
            "Python "
            "and pip (<i>pip install --target</i>). QGIS's own packages come first, and its numpy is pinned "
            "so "
            "pip never replaces it."
            "<h3>What is installed</h3>"
            "The PyTorch version this plugin is tested with and, when an NVIDIA driver is found, the CuPy "
            "build "
            "for the driver's CUDA version (the fast dynamic filter). The packages and the download size are "
            "shown before the install starts. On Linux the default torch builds carry CUDA and weigh several "
            "GB; pip's own configuration (pip.conf's index-url or find-links, or PIP_INDEX_URL) can point at "
            "a CPU-only build."
            "<h3>Parameters</h3>"
            "<b>GPU packages</b>: Auto adds CuPy where an NVIDIA driver is found; None installs torch "
            "only.<br>"
            "<b>Only show what would be installed</b>: asks pip for the packages and their size, installs "
            "nothing."
            "<h3>Afterwards</h3>"
            "The algorithms work at once where possible; where QGIS must restart (torch was already loaded, "
            "or Windows keeps the old files in use) the log says so. A failed or canceled install leaves the "
            "previous packages as they were; pip's whole log is kept in <i>install.log</i> beside the folder."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterEnum(
                self.GPU_PACKAGES,
                self.tr("GPU packages"),
                options=[self.tr("Auto (CuPy when an NVIDIA driver is found)"), self.tr("None (torch only)")],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                self.SIZE_ONLY,
                self.tr("Only show what would be installed and its download size"),
                defaultValue=False,
            )
        )
        self.addOutput(QgsProcessingOutputFolder(self.FOLDER, self.tr("Dependency folder")))
        self.addOutput(QgsProcessingOutputString(self.INSTALLED, self.tr("Installed packages")))
        self.addOutput(
            QgsProcessingOutputNumber(self.DOWNLOAD_BYTES, self.tr("Download size (bytes, -1 unknown)"))
        )
        self.addOutput(QgsProcessingOutputBoolean(self.RESTART_NEEDED, self.tr("QGIS must restart")))
        self.addOutput(QgsProcessingOutputString(self.LOG_FILE, self.tr("pip's log")))

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        from ..core.setup.installer import install_dependencies, prepare_install

        gpu_packages = self.parameterAsEnum(parameters, self.GPU_PACKAGES, context) == 0
        size_only = self.parameterAsBool(parameters, self.SIZE_ONLY, context)
        with self.core_call(feedback) as hooks:
            feedback.pushInfo(self.tr("Asking pip what it would install (nothing is installed yet)..."))
            try:
                prepared = prepare_install(
                    QgsApplication.qgisSettingsDirPath(),
                    gpu_packages=gpu_packages,
                    on_line=feedback.pushConsoleInfo,
                    is_canceled=hooks.is_canceled,
                )
            except InstallError as error:
                self._report_log(error, feedback)
                raise
            plan = prepared.plan
            feedback.pushInfo(plan.describe())
            size = plan.download_bytes
            results: dict[str, Any] = {
                self.FOLDER: str(plan.folder),
                self.INSTALLED: "",
                self.RESTART_NEEDED: False,
                self.DOWNLOAD_BYTES: -1 if size is None else size,
                self.LOG_FILE: "",
            }
            if size_only:
                return results
            hooks.progress(0.05)
            try:
                result = install_dependencies(
                    plan,
                    prepared.probe.pip_version,
                    on_line=feedback.pushConsoleInfo,
                    progress=lambda fraction: hooks.progress(0.05 + 0.95 * fraction),
                    is_canceled=hooks.is_canceled,
                )
            except InstallError as error:
                self._report_log(error, feedback)
                raise
        works_now = refresh_after_install(result.folder) if result.activated else False
        feedback.pushInfo(
            self.tr("Installed into {folder} in {seconds:.0f} s: {packages}.").format(
                folder=result.folder, seconds=result.seconds, packages=", ".join(result.installed)
            )
        )
        if works_now:
            feedback.pushInfo(
                self.tr("PyTorch is ready: the GLF-CR algorithms work now, without restarting QGIS.")
            )
        else:
            feedback.pushWarning(
                self.tr("Restart QGIS to use the new packages (the previous ones are still loaded).")
            )
        results.update(
            {
                self.INSTALLED: ", ".join(result.installed),
                self.RESTART_NEEDED: not works_now,
                self.LOG_FILE: str(result.log_path),
            }
        )
        return results

    @staticmethod
    def _report_log(error: InstallError, feedback: QgsProcessingFeedback) -> None:
        """Show the end of pip's log above the one-sentence error."""
        if error.log:
            tail = "\n".join(error.log.splitlines()[-LOG_TAIL_LINES:])
            feedback.reportError("pip's log (last lines):\n" + tail, False)
