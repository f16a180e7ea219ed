"""Processing algorithm ``glfcr:cloudmask``: cloud and cloud-shadow mask of a Sentinel-2 L1C scene."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..core.errors import GlfcrError
from ..core.scene.cloud_detector import DEFAULT_THRESHOLD, ROLE
from ..core.scene.cloud_masking import cloud_mask
from ..core.scene.mask_methods import MASK_METHODS
from .base import GlfcrAlgorithm
from .optical_inputs import (
    area_of_interest,
    extent_parameter,
    is_product,
    optical_input_problem,
    optical_source,
)
from .output_layers import input_layer_name, name_and_style_output, qml_style

CLOUD_MASK_STYLE = Path(__file__).resolve().parents[1] / "styles" / "cloud_mask.qml"
# shown in the METHOD drop-down, in the order of core.scene.mask_methods.MASK_METHODS
METHOD_OPTIONS: tuple[str, ...] = (
    "GLF-CR authors' detector (exact, as in the paper)",
    "s2cloudless (Sentinel Hub's classifier) with the authors' shadow test",
    "The L1C product's own mask (MSK_CLASSI_B00, baseline 04.00 or later)",
)
METHOD_HELP = (
    "<h3>Methods</h3>"
    "<b>0 GLF-CR authors' detector</b> (default): the DSen2-CR/GLF-CR detector, exactly as the authors run "
    "it (threshold below). <b>1 s2cloudless</b>: Sentinel Hub's LightGBM pixel classifier (the model "
    "shipped in the s2cloudless package) at the settings of its authors' examples: probability averaged "
    "over a disk of 4 pixels, threshold 0.4, mask dilated by 2 pixels. It runs on 60 m pixels (6x6 blocks "
    "of the input, each band averaged): its authors trained it on 10 m pixels but run it in production on "
    "coarse pixels, where those settings come from, 60 m is the native grid of its B01, B09 and B10, and it "
    "costs 36 times less than at 10 m; mask and probability are then brought back to 10 m by nearest "
    "neighbour. s2cloudless has no shadow class: shadows come from the authors' shadow test. Needs the "
    "Python packages s2cloudless and lightgbm (installed by install.sh). <b>2 the product's own mask</b>: "
    "the opaque-cloud and cirrus flags of the L1C product's MSK_CLASSI_B00 (60 m, baseline 04.00 or "
    "later) resampled to the input's 10 m grid by nearest neighbour; no shadows. The product is the input "
    "when it is a product, otherwise the <b>L1C product of the mask</b> (advanced: .SAFE folder, "
    "MTD_MSIL1C.xml or zip). The method is recorded in the output's metadata."
)


class CloudMaskAlgorithm(GlfcrAlgorithm):
    """Classify each pixel of a Sentinel-2 L1C scene as clear, cloud or cloud shadow."""

    INPUT = "INPUT"
    METHOD = "METHOD"
    THRESHOLD = "THRESHOLD"
    PRODUCT = "PRODUCT"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"
    SCORE = "SCORE"
    CLOUD_FRACTION = "CLOUD_FRACTION"
    SHADOW_FRACTION = "SHADOW_FRACTION"
    CLEAR_FRACTION = "CLEAR_FRACTION"
    CLOUD_PIXELS = "CLOUD_PIXELS"
    SHADOW_PIXELS = "SHADOW_PIXELS"
    VALID_PIXELS = "VALID_PIXELS"
    OPTICAL_INPUTS = (INPUT,)

    # what check_before_run checks each output against
    OUTPUT_FORMATS = {OUTPUT: "raster", SCORE: "raster"}

    def name(self) -> str:
        return "cloudmask"

    def displayName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("Cloud Mask")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Classifies every pixel of a Sentinel-2 L1C scene as clear, cloud or cloud shadow with the "
            "detector used by DSen2-CR, GLF-CR and UnCRtainTS (Meraner et al. 2020), reproduced exactly."
            "<h3>Input</h3>"
            "A 13-band Sentinel-2 L1C raster, bands B1..B12 in order (B8A after B8), digital numbers "
            "0..10000, or a Sentinel-2 L1C product as downloaded: its .SAFE folder, its MTD_MSIL1C.xml, the "
            ".zip, or a layer opened from one of its subdatasets (the whole product is used, harmonised as "
            "Prepare Sentinel-2 does). L2A products lack band B10 and cannot be used. <b>Area of "
            "interest</b> (optional, any CRS): only the window of the image covering it is classified; it "
            "is snapped outward to the pixel grid, and clipped (with a warning) where it reaches beyond."
            "<h3>How it works</h3>"
            "A cloud score starts at 1 and is lowered by spectral tests (bright in B2, B1, B1+B10 and the "
            "visible bands; not snow by NDSI), then smoothed by a 5x5 grey closing and a 7x7 mean. "
            "Pixels whose score reaches the <b>threshold</b> are cloud: 0.2 (the authors' default) also "
            "catches haze and thin cloud, 0.5 keeps thick cloud only. "
            "Shadow: pixels darker than scene-relative thresholds in (B8+B11)/2 and B2, cleaned by a "
            "5x5 majority (median) filter. The shadow thresholds come from the whole scene, so the mask "
            "of a clip can differ from the same area of the whole scene's mask. Cloud wins over shadow."
            + METHOD_HELP
            + "<h3>Output</h3>"
            "Byte raster on the input's grid: <b>0</b> clear, <b>1</b> cloud, <b>2</b> cloud shadow, "
            "<b>255</b> nodata (where any input band is nodata). Optionally the continuous score "
            "(Float32, 0..1, nodata -9999): the authors' cloud score, or s2cloudless's cloud probability "
            "(the product's mask has none). The cloud, shadow and clear fractions of the valid pixels "
            "are reported as outputs. Loaded in QGIS, the mask is named after its input (e.g. <i>S2 scene "
            "cloud mask</i>) and styled: clear pixels as a faint light green, cloud yellow, shadow dark blue."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Sentinel-2 L1C image (13 bands)"))
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.METHOD,
                self.tr("Cloud mask method"),
                options=[self.tr(option) for option in METHOD_OPTIONS],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.THRESHOLD,
                self.tr("Cloud score threshold of the authors' detector (0..1]"),
                QgsProcessingParameterNumber.Double,
                defaultValue=DEFAULT_THRESHOLD,
                minValue=0.0,
                maxValue=1.0,
            )
        )
        product = QgsProcessingParameterFile(
            self.PRODUCT,
            self.tr("L1C product of the mask (method 2; .SAFE folder, MTD_MSIL1C.xml or zip)"),
            behavior=QgsProcessingParameterFile.File,
            optional=True,
        )
        product.setFlags(product.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(product)
        self.addParameter(extent_parameter(self.EXTENT))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Cloud mask")))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.SCORE, self.tr("Cloud score"), optional=True, createByDefault=False
            )
        )
        for name, description in (
            (self.CLOUD_FRACTION, self.tr("Cloud fraction of the valid pixels")),
            (self.SHADOW_FRACTION, self.tr("Cloud shadow fraction of the valid pixels")),
            (self.CLEAR_FRACTION, self.tr("Clear fraction of the valid pixels")),
            (self.CLOUD_PIXELS, self.tr("Cloud pixels")),
            (self.SHADOW_PIXELS, self.tr("Cloud shadow pixels")),
            (self.VALID_PIXELS, self.tr("Valid pixels")),
        ):
            self.addOutput(QgsProcessingOutputNumber(name, description))

    def checkParameterValues(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext
    ) -> tuple[bool, str]:
        # our own checks first: QGIS's generic range message does not say what the values mean
        threshold = self.parameterAsDouble(parameters, self.THRESHOLD, context)
        if not 0.0 < threshold <= 1.0:
            return False, self.tr(
                "The cloud score threshold must lie in (0, 1], got {value:g}; use 0.2 (the authors' "
                "default) or 0.5 for thick clouds only."
            ).format(value=threshold)
        return super().checkParameterValues(parameters, context)

    def input_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """Say why the image or the area of interest cannot be used ("" when they can)."""
        source = optical_source(self, parameters, self.INPUT, context)
        if not is_product(source):
            problem = self._layer_problem(parameters, context)
            if problem:
                return problem
        try:
            extent = area_of_interest(self, parameters, self.EXTENT, context)
        except GlfcrError as err:
            return str(err)
        if is_product(source) or extent is not None:
            return optical_input_problem(source, role=ROLE, extent=extent)
        return ""

    def _layer_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """Why the input layer cannot be classified ("" when it can)."""
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            return self.tr(
                "Cannot read the Sentinel-2 L1C image {value}: check that the file exists and is a "
                "raster GDAL can read."
            ).format(value=parameters.get(self.INPUT))
        if layer.bandCount() != 13:
            return self.tr(
                "The Sentinel-2 L1C image {source} has {count} bands; GLF-CR needs the 13 Sentinel-2 "
                "L1C bands B1..B12 in order (L2A products lack B10: use L1C)."
            ).format(source=layer.source(), count=layer.bandCount())
        if layer.providerType() != "gdal":
            return self.tr(
                "The Sentinel-2 L1C image must be a raster file (GDAL), not a {provider} layer: "
                "export it to GeoTIFF first."
            ).format(provider=layer.providerType())
        return ""

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        source = optical_source(self, parameters, self.INPUT, context)
        threshold = self.parameterAsDouble(parameters, self.THRESHOLD, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        score = self.parameterAsOutputLayer(parameters, self.SCORE, context) or None
        method = MASK_METHODS[self.parameterAsEnum(parameters, self.METHOD, context)]

        with self.core_call(feedback) as hooks:
            result = cloud_mask(
                source,
                output,
                threshold=threshold,
                score_path=score,
                method=method,
                product_path=self.parameterAsFile(parameters, self.PRODUCT, context) or None,
                extent=area_of_interest(self, parameters, self.EXTENT, context),
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
            )
        summary = self.tr(
            "Cloud {cloud:.2%}, cloud shadow {shadow:.2%}, clear {clear:.2%} of {valid} valid pixels "
            "(method: {method})."
        )
        feedback.pushInfo(
            summary.format(
                method=METHOD_OPTIONS[MASK_METHODS.index(result.method)],
                cloud=result.cloud_fraction,
                shadow=result.shadow_fraction,
                clear=result.clear_fraction,
                valid=result.valid_pixels,
            )
        )
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context) if not is_product(source) else None
        source_name = input_layer_name(layer, Path(source).stem)
        mask_name = self.tr("{layer} cloud mask").format(layer=source_name)
        name_and_style_output(context, output, mask_name, qml_style(CLOUD_MASK_STYLE))
        if score:
            name_and_style_output(context, score, self.tr("{layer} cloud score").format(layer=source_name))
        return {
            self.OUTPUT: output,
            self.SCORE: score,
            self.CLOUD_FRACTION: result.cloud_fraction,
            self.SHADOW_FRACTION: result.shadow_fraction,
            self.CLEAR_FRACTION: result.clear_fraction,
            self.CLOUD_PIXELS: result.cloud_pixels,
            self.SHADOW_PIXELS: result.shadow_pixels,
            self.VALID_PIXELS: result.valid_pixels,
        }

