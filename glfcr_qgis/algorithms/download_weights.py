"""Processing algorithm ``glfcr:downloadweights``: the authors' pretrained checkpoint, checked, as default."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterString,
    QgsSettings,
)

from ..core.setup.checkpoint_info import NO_TORCH_FOR_CHECK
from ..core.setup.download import AUTHORS_WEIGHTS_URL
from ..dependencies import torch_available
from .install_dependencies import SetupAlgorithm
from .weights import set_default_weights_path

WEIGHTS_FOLDER = "glfcr_weights"
AUTHORS_FILE_NAME = "CR_net.pth"


def profile_weights_path() -> str:
    """Where downloaded weights go by default: ``<profile>/glfcr_weights/CR_net.pth``."""
    return str(Path(QgsApplication.qgisSettingsDirPath()) / WEIGHTS_FOLDER / AUTHORS_FILE_NAME)


class DownloadWeightsAlgorithm(SetupAlgorithm):
    """Download a GLF-CR checkpoint (default: the authors'), check it, make it the default."""

    URL = "URL"
    SHA256 = "SHA256"
    MAKE_DEFAULT = "MAKE_DEFAULT"
    OUTPUT = "OUTPUT"
    SIZE = "SIZE"

    def name(self) -> str:
        return "downloadweights"

    def displayName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("Download pretrained weights")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Downloads the GLF-CR checkpoint, by default the authors' pretrained CR_net.pth from the link in "
            "the README of github.com/xufangchn/GLF-CR, into this QGIS profile, and makes it the default "
            "checkpoint of every algorithm."
            "<h3>Safe and resumable</h3>"
            "The file grows in a hidden <i>.CR_net.pth.part</i> beside the output; a broken connection "
            "resumes "
            "where it stopped (also when the algorithm is run again after a cancel). A file-sharing host's "
            "confirmation page is followed; any other web page is reported, never saved. The file is moved "
            "into place only after it loads as a GLF-CR checkpoint (safe loading of tensors only, every key "
            "and shape checked); otherwise it is deleted. Needs PyTorch: run Install dependencies first."
            "<h3>Parameters</h3>"
            "<b>URL</b>: an http(s) address of the checkpoint (a Google Drive file link works).<br>"
            "<b>SHA-256</b>: optional checksum the file must have.<br>"
            "<b>Make it the default checkpoint</b>: sets the default checkpoint of Settings > Options > "
            "Processing > Providers > GLF-CR to the file (GLFCR_WEIGHTS in the environment still wins)."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterString(self.URL, self.tr("URL"), defaultValue=AUTHORS_WEIGHTS_URL)
        )
        checksum = QgsProcessingParameterString(self.SHA256, self.tr("SHA-256 of the file"), optional=True)
        checksum.setFlags(checksum.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(checksum)
        self.addParameter(
            QgsProcessingParameterBoolean(
                self.MAKE_DEFAULT, self.tr("Make it the default checkpoint"), defaultValue=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT,
                self.tr("Checkpoint file"),
                self.tr("PyTorch checkpoint (*.pth)"),
                defaultValue=profile_weights_path(),
                # optional so that qgis_process, which insists on destinations, takes the default too
                optional=True,
            )
        )
        self.addOutput(QgsProcessingOutputString(self.SHA256, self.tr("SHA-256")))
        self.addOutput(QgsProcessingOutputNumber(self.SIZE, self.tr("Size (bytes)")))

    def checkParameterValues(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext
    ) -> tuple[bool, str]:
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        url = self.parameterAsString(parameters, self.URL, context).strip()
        if urllib.parse.urlparse(url).scheme not in ("http", "https"):
            return False, self.tr("The URL must start with http:// or https:// (got {url}).").format(url=url)
        if not torch_available():
            return False, NO_TORCH_FOR_CHECK
        return True, ""

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        from ..core.setup.download import download_checkpoint

        url = self.parameterAsString(parameters, self.URL, context).strip()
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context) or profile_weights_path()
        with self.core_call(feedback) as hooks:
            result = download_checkpoint(
                url,
                output,
                expected_sha256=self.parameterAsString(parameters, self.SHA256, context),
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
                on_message=feedback.pushInfo,
            )
        feedback.pushInfo(
            self.tr("Checked and saved: {path} ({size} bytes, SHA-256 {sha}).").format(
                path=result.path, size=result.size, sha=result.sha256
            )
        )
        if self.parameterAsBool(parameters, self.MAKE_DEFAULT, context):
            set_default_weights_path(str(result.path))
            QgsSettings().sync()  # a qgis_process run ends right after: write the setting now
            feedback.pushInfo(self.tr("It is now the default checkpoint of the GLF-CR algorithms."))
        return {self.OUTPUT: str(result.path), self.SHA256: result.sha256, self.SIZE: result.size}
