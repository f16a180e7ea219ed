"""Processing algorithm ``glfcr:removecloudsmany``: Remove Clouds over a list of scenes on a Dask cluster."""

from __future__ import annotations

import importlib.util
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..core.batch.cluster import MISSING_DASK_MESSAGE
from ..core.batch.scheduling import DEFAULT_RETRIES, remove_clouds_many
from ..core.errors import CheckpointError
from .remove_clouds import RemoveCloudsAlgorithm
from .sar_inputs import sar_scale_parameter
from .weights import missing_weights_message


class RemoveCloudsManyAlgorithm(RemoveCloudsAlgorithm):
    """Remove Clouds on every scene of a jobs CSV, one Dask task per scene, resumable."""

    JOBS = "JOBS"
    SCHEDULER = "SCHEDULER"
    RETRIES = "RETRIES"
    TORCH_THREADS = "TORCH_THREADS"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    DONE = "DONE"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    SUMMARY_CSV = "SUMMARY_CSV"
    SUMMARY_JSON = "SUMMARY_JSON"

    # its outputs are a folder: the core checks each scene's output against the inputs
    OUTPUT_FORMATS: dict[str, str] = {}

    def name(self) -> str:
        return "removecloudsmany"

    def displayName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("Remove Clouds (many scenes, Dask)")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Runs Remove Clouds on every scene of a list, one scene per task of a Dask cluster: on this "
            "machine (scheduler left blank: one worker per GPU, or one worker using all CPU cores) or on a "
            "running Dask scheduler given by its address (e.g. tcp://10.0.0.5:8786), whose workers must see "
            "the inputs, the checkpoint and the output folder at the same paths."
            "<h3>Jobs file</h3>"
            "A CSV file with a header row naming the columns <b>cloudy</b> (Sentinel-2 L1C, 13 bands), "
            "<b>sar</b> (Sentinel-1 VV, VH in dB) and, optionally, <b>name</b>; one scene per row. Relative "
            "paths are relative to the CSV's folder; GDAL paths such as /vsis3/bucket/scene.tif are kept. "
            "Inputs may be what Remove Clouds takes: rasters, Sentinel-2 L1C products (.SAFE, .zip) and "
            "Sentinel-1 GRD products."
            "<h3>Outputs</h3>"
            "Each scene is written as <i>name</i>_cloudfree.tif in the output folder (as Remove Clouds "
            "writes it). A scene whose output is already there, made with the same checkpoint and settings, "
            "is skipped, so a run started again after a cancel or a crash does only the rest. A scene that "
            "fails (a missing file, wrong bands) is reported with its reason and does not stop the others; a "
            "scene whose worker dies is run again, up to <b>retries</b> times. The table batch_summary.csv "
            "(and .json) beside the outputs lists each scene's status (done, skipped, failed), seconds, "
            "device and error."
            "<h3>Settings</h3>"
            "Checkpoint, SAR scale, device, tile size, overlap, output type, keep clear pixels, cloud mask "
            "method, batch size and precision mean what they mean in Remove Clouds and apply to every "
            "scene. On the CPU a scene uses all cores of its worker unless <b>CPU threads per scene</b> "
            "(advanced) says otherwise."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterFile(
                self.JOBS,
                self.tr("Jobs (CSV with the columns cloudy, sar, name)"),
                behavior=QgsProcessingParameterFile.File,
                extension="csv",
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.SCHEDULER,
                self.tr("Dask scheduler address (blank: a cluster on this machine)"),
                defaultValue="",
                optional=True,
            )
        )
        self.addParameter(self._weights_parameter())
        self.addParameter(sar_scale_parameter(self, self.SAR_SCALE))
        self._add_settings_parameters()
        for parameter in (
            QgsProcessingParameterNumber(
                self.RETRIES,
                self.tr("Times a scene is run again when its worker dies"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=DEFAULT_RETRIES,
                minValue=0,
                maxValue=100,
            ),
            QgsProcessingParameterNumber(
                self.TORCH_THREADS,
                self.tr("CPU threads per scene (0: all cores of its worker)"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=0,
                minValue=0,
                maxValue=1024,
            ),
        ):
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(
            QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, self.tr("Output folder"))
        )
        for name, label in (
            (self.DONE, "Scenes done"),
            (self.SKIPPED, "Scenes skipped (already done)"),
            (self.FAILED, "Scenes failed"),
        ):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))
        self.addOutput(QgsProcessingOutputFile(self.SUMMARY_CSV, self.tr("Summary table (CSV)")))
        self.addOutput(QgsProcessingOutputFile(self.SUMMARY_JSON, self.tr("Summary table (JSON)")))

    def canExecute(self) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().canExecute()
        if ok and importlib.util.find_spec("distributed") is None:
            return False, MISSING_DASK_MESSAGE
        return ok, message

    def checkParameterValues(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext
    ) -> tuple[bool, str]:
        # Remove Clouds' own check opens its input layers, which this algorithm does not have; the base
        # check runs check_before_run (ranges; the outputs, named by the jobs, are checked by the core)
        ok, message = super(RemoveCloudsAlgorithm, self).checkParameterValues(parameters, context)
        if ok:
            ok, message = self.canExecute()
        if not ok:
            return ok, message
        problem = self._settings_problem(parameters, context)
        return (False, problem) if problem else (True, "")

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        jobs = self.parameterAsFile(parameters, self.JOBS, context)
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        weights = self._weights(parameters, context)
        self.require_torch()
        with self.core_call(feedback) as hooks:
            if not weights:
                raise CheckpointError(missing_weights_message())
            result = remove_clouds_many(
                jobs,
                folder,
                weights=weights,
                scheduler_address=self.parameterAsString(parameters, self.SCHEDULER, context).strip() or None,
                retries=self.parameterAsInt(parameters, self.RETRIES, context),
                torch_threads=self.parameterAsInt(parameters, self.TORCH_THREADS, context) or None,
                **self._core_settings(parameters, context),
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
                log=feedback.pushInfo,
            )
        counts = result.counts
        for outcome in result.failed:
            feedback.reportError(
                self.tr("Scene {name} failed: {error}").format(name=outcome.scene, error=outcome.error)
            )
        feedback.pushInfo(
            self.tr(
                "{done} scenes done, {skipped} skipped (already done), {failed} failed; summary in {path}."
            ).format(**counts, path=result.summary_csv)
        )
        return {
            self.OUTPUT_FOLDER: folder,
            self.DONE: counts["done"],
            self.SKIPPED: counts["skipped"],
            self.FAILED: counts["failed"],
            self.SUMMARY_CSV: str(result.summary_csv),
            self.SUMMARY_JSON: str(result.summary_json),
        }

