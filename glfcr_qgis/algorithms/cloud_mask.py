"""Processing algorithm ``glfcr:cloudmask``: cloud and cloud-shadow mask of a Sentinel-2 L1C scene."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..core.scene.cloud_detector import DEFAULT_THRESHOLD
from ..core.scene.cloud_masking import cloud_mask
from .base import GlfcrAlgorithm
from .output_layers import input_layer_name, name_and_style_output, qml_style

CLOUD_MASK_STYLE = Path(__file__).resolve().parents[1] / "styles" / "cloud_mask.qml"


class CloudMaskAlgorithm(GlfcrAlgorithm):
    """Classify each pixel of a Sentinel-2 L1C scene as clear, cloud or cloud shadow."""

    INPUT = "INPUT"
    THRESHOLD = "THRESHOLD"
    OUTPUT = "OUTPUT"
    SCORE = "SCORE"
    CLOUD_FRACTION = "CLOUD_FRACTION"
    SHADOW_FRACTION = "SHADOW_FRACTION"
    CLEAR_FRACTION = "CLEAR_FRACTION"
    CLOUD_PIXELS = "CLOUD_PIXELS"
    SHADOW_PIXELS = "SHADOW_PIXELS"
    VALID_PIXELS = "VALID_PIXELS"

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
            "0..10000. L2A products lack band B10 and cannot be used."
            "<h3>How it works</h3>"
            "A cloud score starts at 1 and is lowered by spectral tests (bright in B2, B1, B1+B10 and the "
            "visible bands; not snow by NDSI), then smoothed by a 5x5 grey closing and a 7x7 mean. "
            "Pixels whose score reaches the <b>threshold</b> are cloud: 0.2 (the authors' default) also "
            "catches haze and thin cloud, 0.5 keeps thick cloud only. "
            "Shadow: pixels darker than scene-relative thresholds in (B8+B11)/2 and B2, cleaned by a "
            "5x5 majority (median) filter. The shadow thresholds come from the whole scene, so the mask "
            "of a clip can differ from the same area of the whole scene's mask. Cloud wins over shadow."
            "<h3>Output</h3>"
            "Byte raster on the input's grid: <b>0</b> clear, <b>1</b> cloud, <b>2</b> cloud shadow, "
            "<b>255</b> nodata (where any input band is nodata). Optionally the continuous cloud score "
            "(Float32, 0..1, nodata -9999). The cloud, shadow and clear fractions of the valid pixels "
            "are reported as outputs. Loaded in QGIS, the mask is named after its input (e.g. <i>S2 scene "
            "cloud mask</i>) and styled: clear pixels as a faint light green, cloud yellow, shadow dark blue."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Sentinel-2 L1C image (13 bands)"))
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.THRESHOLD,
                self.tr("Cloud score threshold (0..1]"),
                QgsProcessingParameterNumber.Double,
                defaultValue=DEFAULT_THRESHOLD,
                minValue=0.0,
                maxValue=1.0,
            )
        )
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
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            return False, self.tr(
                "Cannot read the Sentinel-2 L1C image {value}: check that the file exists and is a "
                "raster GDAL can read."
            ).format(value=parameters.get(self.INPUT))
        if layer.bandCount() != 13:
            return False, self.tr(
                "The Sentinel-2 L1C image {source} has {count} bands; GLF-CR needs the 13 Sentinel-2 "
                "L1C bands B1..B12 in order (L2A products lack B10: use L1C)."
            ).format(source=layer.source(), count=layer.bandCount())
        if layer.providerType() != "gdal":
            return False, self.tr(
                "The Sentinel-2 L1C image must be a raster file (GDAL), not a {provider} layer: "
                "export it to GeoTIFF first."
            ).format(provider=layer.providerType())
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        threshold = self.parameterAsDouble(parameters, self.THRESHOLD, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        score = self.parameterAsOutputLayer(parameters, self.SCORE, context) or None

        with self.core_call(feedback) as hooks:
            result = cloud_mask(
                layer.source(),
                output,
                threshold=threshold,
                score_path=score,
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
            )
        summary = self.tr(
            "Cloud {cloud:.2%}, cloud shadow {shadow:.2%}, clear {clear:.2%} of {valid} valid pixels."
        )
        feedback.pushInfo(
            summary.format(
                cloud=result.cloud_fraction,
                shadow=result.shadow_fraction,
                clear=result.clear_fraction,
                valid=result.valid_pixels,
            )
        )
        source_name = input_layer_name(layer, Path(layer.source()).stem)
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

