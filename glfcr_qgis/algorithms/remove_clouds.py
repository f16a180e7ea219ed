"""Processing algorithm ``glfcr:removeclouds``: a cloud-free Sentinel-2 scene predicted by GLF-CR from SAR."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProject,
)

from ..core.errors import CheckpointError, GlfcrError, GlfcrWarning
from ..core.io.alignment import check_overlap
from ..core.io.optical_input import open_optical
from ..core.io.sentinel1.inputs import open_sar_source
from ..core.scene.mask_methods import MASK_METHODS
from ..core.scene.output_writer import OUTPUT_TYPES
from ..core.scene.pipeline import DEFAULT_BATCH_SIZE, remove_clouds
from ..core.scene.tiling import validate_tiling
from ..dependencies import MISSING_TORCH_MESSAGE, announce_missing_torch, torch_available
from ..settings import DEVICES, device_index_setting, tiling_settings
from .base import GlfcrAlgorithm
from .cloud_mask import METHOD_OPTIONS
from .natural_colour import is_l1c_raster, natural_colour_style, project_layers_of
from .optical_inputs import area_of_interest, extent_parameter, for_qgis_checks, is_product, optical_source
from .output_layers import LayerStyle, input_layer_name, name_and_style_output, qml_style
from .sar_inputs import (
    check_parameter_values,
    is_product_value,
    raster_or_product_path,
    sar_scale_parameter,
    sar_vh_parameter,
    scale_value,
)
from .weights import checkpoint_parameter, default_weights_path, missing_weights_message, weights_file_problem

# core.inference.PRECISIONS, spelled out here because that module needs torch
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "float16")
PROVENANCE_STYLE = Path(__file__).resolve().parents[1] / "styles" / "provenance.qml"
# number output -> provenance class name (core.scene.provenance.PROVENANCE_NAMES), for the modeler
PROVENANCE_OUTPUTS: dict[str, str] = {
    "OBSERVED_PIXELS": "observed",
    "PREDICTED_CLOUD_PIXELS": "predicted under cloud",
    "PREDICTED_SHADOW_PIXELS": "predicted under cloud shadow",
    "PREDICTED_CLEAR_PIXELS": "predicted in clear sky",
    "BLENDED_PIXELS": "blended transition",
}


class RemoveCloudsAlgorithm(GlfcrAlgorithm):
    """Predict the cloud-free version of a Sentinel-2 L1C scene from it and a Sentinel-1 SAR image."""

    CLOUDY = "CLOUDY"
    SAR = "SAR"
    SAR_VH = "SAR_VH"
    SAR_SCALE = "SAR_SCALE"
    WEIGHTS = "WEIGHTS"
    DEVICE = "DEVICE"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BATCH_SIZE = "BATCH_SIZE"
    OUTPUT_TYPE = "OUTPUT_TYPE"
    KEEP_CLEAR = "KEEP_CLEAR"
    METHOD = "METHOD"
    PRODUCT = "PRODUCT"
    STYLE_CLOUDY = "STYLE_CLOUDY"
    COG = "COG"
    PRECISION = "PRECISION"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"
    PROVENANCE = "PROVENANCE"
    OPTICAL_INPUTS = (CLOUDY,)

    def name(self) -> str:
        return "removeclouds"

    def displayName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("Remove Clouds")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Predicts the cloud-free version of a Sentinel-2 L1C scene with GLF-CR (Xu et al. 2022), a "
            "network that fills cloud-covered pixels with the help of a Sentinel-1 SAR image, which sees "
            "through clouds."
            "<h3>Inputs</h3>"
            "<b>Cloudy image</b>: 13-band Sentinel-2 L1C raster, bands B1..B12 in order (B8A after B8), "
            "digital numbers (reflectance x 10000), or a Sentinel-2 L1C product as downloaded: its .SAFE "
            "folder, its MTD_MSIL1C.xml, the .zip, or a layer opened from one of its subdatasets (the whole "
            "product is used: bands stacked on the 10 m grid and harmonised to the training data as Prepare "
            "Sentinel-2 does). L2A products lack B10 and cannot be used. <b>SAR "
            "image</b>: Sentinel-1 VV and VH backscatter acquired close in time, as the network was "
            "trained on it: sigma0 in dB. It may have another CRS, resolution or extent: it is resampled "
            "(bilinear, in dB) onto the cloudy image's grid on the fly. Where it does not cover the cloudy "
            "image the output is nodata. It may come as<ul><li>a raster with VV and VH bands, found by "
            "their names (VV, VH, Sigma0_VV_db, Gamma0_VH, ...), else taken in order with a warning; VV "
            "only or HH/HV is refused;</li><li>VV and VH as two files: VV as SAR image, VH as <b>VH as a "
            "separate file</b> (RTC products);</li><li>a Sentinel-1 GRD product (IW GRDH/GRDM, VV+VH): its "
            ".zip, or its .SAFE folder (in the dialog browse to the manifest.safe inside it). Its digital "
            "numbers are calibrated to sigma0 = (DN^2 - noise) / A^2 with the product's calibration and "
            "thermal noise tables and placed with its geolocation grid (thin-plate spline). <b>There is no "
            "terrain correction</b>: on slopes the SAR is displaced by about h / tan(incidence); use a "
            "terrain-corrected product there.</li></ul><b>SAR scale</b>: auto reads the band names, units "
            "and metadata (SNAP's Sigma0_VV_db is dB, Sigma0_VV linear power; ASF and OPERA RTC names), "
            "else the values (dB is mostly negative, linear power and amplitude are positive and differ by "
            "a square); when it cannot tell, set dB, linear power or amplitude. Gamma0 (RTC products) is "
            "converted to sigma0 with the incidence angle when the input gives one (a band named "
            "incidence_angle or angle, or a tag INCIDENCE_ANGLE); otherwise it is used as is with a "
            "warning (it reads 0.6 to 1.6 dB above sigma0). The scale and convention used are logged and "
            "recorded in the output's metadata. "
            "<b>Checkpoint</b> (required unless a default is set): the GLF-CR weights, e.g. the authors' "
            "pretrained CR_net.pth, downloaded from the link in the README of "
            "https://github.com/xufangchn/GLF-CR. Set it once in Settings > Options > Processing > "
            "Providers > GLF-CR (with the default device, tile size and overlap); the environment "
            "variable GLFCR_WEIGHTS overrides that default. "
            "<b>Area of interest</b> (optional, any CRS): only the window of the cloudy image covering "
            "it is read, processed and written; it is snapped outward to the image's pixel grid, clipped "
            "(with a warning) where it reaches beyond the image, and refused when it lies outside."
            "<h3>How it works</h3>"
            "The scene is cut into square <b>tiles</b> (a multiple of 16 pixels; the authors trained on 128) "
            "that share <b>overlap</b> pixels with their neighbours (less than half a tile). Overlapping "
            "predictions are blended with smooth weights, so no seams show. Tiles reaching past the scene "
            "edge see the scene mirrored there; a scene smaller than a tile runs as one tile of its own size."
            " The scene is processed one row of tiles at a time, so memory does not grow with its height. "
            "Bigger tiles give the network more context and cost more memory; the batch size (advanced) runs "
            "several tiles at once, which helps on a GPU. By default (0) it is 1 on the CPU and, on a GPU, "
            "set from the free memory and the memory the first tile took; when the GPU runs out of memory "
            "the batch is halved and the run goes on. The progress bar moves after every block of the "
            "network, and Cancel stops the run within seconds, even inside a tile; nothing is written then. "
            "<b>Network arithmetic</b> (advanced): bfloat16 runs where it is native (CUDA GPUs, CPUs with "
            "AVX-512 BF16 or AMX); on other CPUs float32 is faster and bfloat16 is refused."
            "<h3>Nodata</h3>"
            "Pixels that are nodata (or NaN) in the cloudy image, or have no SAR value, are filled for the "
            "network with the mean of the tile's valid values, as the authors' data loader fills gaps, and "
            "are written as nodata."
            "<h3>Output</h3>"
            "GeoTIFF on the cloudy image's grid (CRS, extent, pixel size), 13 bands B1..B12 in digital "
            "numbers: UInt16 (rounded, 0..65535) or Float32. Its nodata value is the cloudy image's, else 0 "
            "(UInt16) or NaN (Float32). The model, checkpoint SHA-256, tile size and overlap are recorded in "
            "its metadata. With <b>keep clear pixels</b>, pixels the Cloud Mask detector finds clear keep "
            "their input values and only cloud and shadow pixels take the prediction, with a 5-pixel soft "
            "transition. The layer loads in natural colour (B4, B3, B2), named after the cloudy layer "
            "(e.g. <i>S2 scene cloud-free</i>); with <b>show the cloudy input in natural colour</b> the "
            "cloudy layer in the project is restyled the same way, for comparison."
            "<h3>Cloud mask method and provenance</h3>"
            "The <b>cloud mask method</b> decides which pixels keep-clear keeps and what the provenance "
            "records: 0 the GLF-CR authors' detector (default), 1 s2cloudless with the authors' shadow test, "
            "2 the L1C product's own mask MSK_CLASSI_B00 (the product is the advanced <b>L1C product of the "
            "mask</b> unless the cloudy image is the product); see Cloud Mask's help. The optional "
            "<b>provenance</b> raster (Byte, same grid) tells for each pixel where its value comes from: "
            "<b>0</b> observed (input kept, with keep-clear), <b>1</b> predicted under cloud, <b>2</b> "
            "predicted under cloud shadow, <b>3</b> predicted in clear sky (without keep-clear every valid "
            "pixel is predicted), <b>4</b> blended (the feathered transition), <b>255</b> nodata. It loads "
            "with a legend; its pixel counts per class are outputs of the algorithm."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.CLOUDY, self.tr("Cloudy Sentinel-2 L1C image (13 bands)"))
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.SAR, self.tr("Sentinel-1 SAR image (VV, VH raster, or GRD product .zip / manifest.safe)")
            )
        )
        self.addParameter(sar_vh_parameter(self, self.SAR_VH))
        self.addParameter(sar_scale_parameter(self, self.SAR_SCALE))
        self.addParameter(self._weights_parameter())
        self.addParameter(extent_parameter(self.EXTENT))
        product = QgsProcessingParameterFile(
            self.PRODUCT,
            self.tr("L1C product of the mask (method 2; .SAFE folder, MTD_MSIL1C.xml or zip)"),
            behavior=QgsProcessingParameterFile.File,
            optional=True,
        )
        self._add_settings_parameters(first_advanced=[product])
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Cloud-free image")))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.PROVENANCE,
                self.tr("Provenance (observed, predicted, blended)"),
                optional=True,
                createByDefault=False,
            )
        )
        for name, label in PROVENANCE_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(name, self.tr("Pixels {label}").format(label=label)))

    def _weights_parameter(self) -> QgsProcessingParameterFile:
        return checkpoint_parameter(self.WEIGHTS, self.tr("GLF-CR checkpoint (CR_net.pth)"), extension="pth")

    def _add_settings_parameters(
        self, first_advanced: Sequence[QgsProcessingParameterDefinition] = ()
    ) -> None:
        """The settings of a run, shared with Remove Clouds on many scenes (``_core_settings`` reads them)."""
        self.addParameter(
            QgsProcessingParameterEnum(
                self.DEVICE,
                self.tr("Device"),
                options=[self.tr(name) for name in DEVICES],
                defaultValue=device_index_setting(),
            )
        )
        tile_size, overlap = tiling_settings()
        self.addParameter(
            QgsProcessingParameterNumber(
                self.TILE_SIZE,
                self.tr("Tile size (pixels, multiple of 16)"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=tile_size,
                minValue=16,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.OVERLAP,
                self.tr("Tile overlap (pixels, less than half a tile)"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=overlap,
                minValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.OUTPUT_TYPE, self.tr("Output data type"), options=list(OUTPUT_TYPES), defaultValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                self.KEEP_CLEAR,
                self.tr("Keep clear pixels (replace only cloud and shadow)"),
                defaultValue=False,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.METHOD,
                self.tr("Cloud mask method (keep clear pixels, provenance)"),
                options=[self.tr(option) for option in METHOD_OPTIONS],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                self.STYLE_CLOUDY,
                self.tr("Show the cloudy input in natural colour too (B4, B3, B2), to compare"),
                defaultValue=False,
            )
        )
        advanced = [
            *first_advanced,
            QgsProcessingParameterNumber(
                self.BATCH_SIZE,
                self.tr("Tiles per batch (0: automatic, 1 on the CPU, from the free memory on a GPU)"),
                QgsProcessingParameterNumber.Integer,
                defaultValue=DEFAULT_BATCH_SIZE,
                minValue=0,
            ),
            QgsProcessingParameterBoolean(
                self.COG, self.tr("Write a Cloud Optimized GeoTIFF (with overviews)"), defaultValue=False
            ),
            QgsProcessingParameterEnum(
                self.PRECISION,
                self.tr("Network arithmetic (float32 exact; bfloat16, float16 faster on GPUs)"),
                options=list(PRECISIONS),
                defaultValue=0,
            ),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)

    def canExecute(self) -> tuple[bool, str]:  # noqa: N802
        # Processing greys the algorithm out with this sentence, and qgis_process stops with it
        if not torch_available():
            announce_missing_torch()  # the desktop offers to install it
            return False, MISSING_TORCH_MESSAGE
        return True, ""

    def checkParameterValues(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext
    ) -> tuple[bool, str]:
        # Runs on the interface thread when the analyst presses Run: reads headers only, never torch.
        if not torch_available():
            return False, MISSING_TORCH_MESSAGE
        # before the generic "incorrect parameter value": this one says where to download the checkpoint
        problem = weights_file_problem(self._weights(parameters, context))
        if problem:
            return False, problem
        # a Sentinel-2 product as CLOUDY and a Sentinel-1 product as SAR are left to the core's checks
        ok, message = check_parameter_values(
            self, for_qgis_checks(parameters, self.OPTICAL_INPUTS), context, product_parameters=[self.SAR]
        )
        if not ok:
            return ok, message
        try:
            problem = self._settings_problem(parameters, context) or self._input_problem(parameters, context)
        except GlfcrError as err:
            return False, str(err)
        if problem:
            return False, problem
        for name in (self.OUTPUT, self.PROVENANCE):
            output = self.parameterAsOutputLayer(parameters, name, context)
            if output and not output.lower().endswith((".tif", ".tiff")):
                return False, self.tr(
                    "Remove Clouds writes GeoTIFF files: name the output with a .tif extension "
                    "(got {output})."
                ).format(output=output)
        return True, ""

    def _settings_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """What is wrong with the tiling or the checkpoint file ("" when nothing is)."""
        try:
            validate_tiling(
                self.parameterAsInt(parameters, self.TILE_SIZE, context),
                self.parameterAsInt(parameters, self.OVERLAP, context),
            )
        except GlfcrError as err:
            return str(err)
        return weights_file_problem(self._weights(parameters, context)) or ""

    def _core_settings(self, parameters: dict[str, Any], context: QgsProcessingContext) -> dict[str, Any]:
        """The settings as ``core.remove_clouds`` keyword arguments (those every scene of a batch shares)."""
        return {
            "tile_size": self.parameterAsInt(parameters, self.TILE_SIZE, context),
            "overlap": self.parameterAsInt(parameters, self.OVERLAP, context),
            # 0 is "automatic": None for the core
            "batch_size": self.parameterAsInt(parameters, self.BATCH_SIZE, context) or None,
            "device": DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
            "output_type": OUTPUT_TYPES[self.parameterAsEnum(parameters, self.OUTPUT_TYPE, context)],
            "keep_clear": self.parameterAsBoolean(parameters, self.KEEP_CLEAR, context),
            "cog": self.parameterAsBoolean(parameters, self.COG, context),
            "precision": PRECISIONS[self.parameterAsEnum(parameters, self.PRECISION, context)],
            "mask_method": MASK_METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
            "sar_scale": scale_value(self, parameters, self.SAR_SCALE, context),
        }

    def _input_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """Open the inputs as the run will (bands, SAR scale, overlap); raise GlfcrError or name a problem."""
        cloudy = optical_source(self, parameters, self.CLOUDY, context)
        for name, role in ((self.CLOUDY, "cloudy optical"), (self.SAR, "SAR"), (self.SAR_VH, "VH")):
            if name == self.SAR and is_product_value(parameters.get(name)):
                continue
            if name == self.CLOUDY and is_product(cloudy):
                continue
            layer = self.parameterAsRasterLayer(parameters, name, context)
            if layer is None:
                if name == self.SAR_VH:
                    continue
                return self.tr(
                    "Cannot read the {role} raster {value}: check that the file exists and is a raster GDAL "
                    "can read."
                ).format(role=role, value=parameters.get(name))
            if layer.providerType() != "gdal":
                return self.tr(
                    "The {role} image must be a raster file (GDAL), not a {provider} layer: export it to "
                    "GeoTIFF."
                ).format(role=role, provider=layer.providerType())
        sar_vh = raster_or_product_path(self, parameters, self.SAR_VH, context) or None
        extent = area_of_interest(self, parameters, self.EXTENT, context)
        with warnings.catch_warnings():  # the run shows them; the check would show each twice
            warnings.simplefilter("ignore", GlfcrWarning)
            with (
                open_optical(cloudy, role="cloudy optical", extent=extent) as optical,
                open_sar_source(
                    raster_or_product_path(self, parameters, self.SAR, context),
                    vh_path=sar_vh,
                    scale=scale_value(self, parameters, self.SAR_SCALE, context),
                ) as sar,
            ):
                check_overlap(optical, sar)
        return ""

    def _weights(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        return (self.parameterAsFile(parameters, self.WEIGHTS, context) or default_weights_path()).strip()

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        cloudy_layer = self.parameterAsRasterLayer(parameters, self.CLOUDY, context)
        cloudy = optical_source(self, parameters, self.CLOUDY, context)
        sar = raster_or_product_path(self, parameters, self.SAR, context)
        sar_vh = raster_or_product_path(self, parameters, self.SAR_VH, context) or None
        weights = self._weights(parameters, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        provenance = self.parameterAsOutputLayer(parameters, self.PROVENANCE, context) or None
        self.require_torch()
        with self.core_call(feedback) as hooks:
            if not weights:
                raise CheckpointError(missing_weights_message())
            result = remove_clouds(
                cloudy,
                sar,
                weights,
                output,
                **self._core_settings(parameters, context),
                product_path=self.parameterAsFile(parameters, self.PRODUCT, context) or None,
                provenance_path=provenance,
                sar_vh_path=sar_vh,
                extent=area_of_interest(self, parameters, self.EXTENT, context),
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
            )
        timings = result.timings
        feedback.pushInfo(result.sar_summary)
        feedback.pushInfo(
            self.tr(
                "{run} of {tiles} tiles of {size} px (overlap {overlap} px) on {device}; network cost "
                "{cost:.2f}x the scene; SAR covers {covered:.1%}; {valid:.1%} of the output holds data."
            ).format(
                run=result.tiles_run,
                tiles=result.tiles,
                size=result.tile_size,
                overlap=result.overlap,
                device=result.device,
                cost=result.overlap_cost,
                covered=result.covered_fraction,
                valid=result.valid_fraction,
            )
        )
        feedback.pushInfo(
            self.tr(
                "Seconds: cloud mask {mask:.1f}, read {read:.1f}, network {infer:.1f}, blend {blend:.1f}, "
                "write {write:.1f}."
            ).format(**vars(timings))
        )
        style = natural_colour_style
        if self.parameterAsBoolean(parameters, self.STYLE_CLOUDY, context):
            style = _with_cloudy_input_in_natural_colour(cloudy_layer.id() if cloudy_layer else "", cloudy)
        name = self.tr("{layer} cloud-free").format(layer=input_layer_name(cloudy_layer, Path(cloudy).stem))
        name_and_style_output(context, output, name, style)
        results: dict[str, Any] = {self.OUTPUT: output, self.PROVENANCE: provenance}
        if provenance:
            counts = result.provenance_counts
            feedback.pushInfo(
                self.tr("Provenance: {counts}.").format(
                    counts=", ".join(f"{name} {pixels}" for name, pixels in counts.items())
                )
            )
            results.update({key: counts[name] for key, name in PROVENANCE_OUTPUTS.items()})
            provenance_name = self.tr("{layer} provenance").format(
                layer=input_layer_name(cloudy_layer, Path(cloudy).stem)
            )
            name_and_style_output(context, provenance, provenance_name, qml_style(PROVENANCE_STYLE))
        return results


def _with_cloudy_input_in_natural_colour(layer_id: str, source: str) -> LayerStyle:
    """The output's style that also shows the cloudy input layer(s) of the project in natural colour."""

    def apply(layer: QgsMapLayer, feedback: QgsProcessingFeedback) -> None:
        natural_colour_style(layer, feedback)
        for cloudy in project_layers_of(QgsProject.instance(), layer_id, source):
            if is_l1c_raster(cloudy):
                natural_colour_style(cloudy, feedback)

    return apply
