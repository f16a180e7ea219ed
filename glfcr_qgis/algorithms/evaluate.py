"""Processing algorithm ``glfcr:evaluate``: quality metrics of a cloud-removed raster against a reference."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
)

from ..core.scene.cloud_detector import DEFAULT_THRESHOLD
from .base import GlfcrAlgorithm
from .optical_inputs import is_product, optical_input_problem, optical_source

# metric name in the core (the torch-free copy of metrics.METRIC_NAMES) -> number output
METRIC_OUTPUTS: dict[str, str] = {
    name: name.upper() for name in ("psnr", "ssim", "ssim_centered", "mae", "rmse", "sam")
}
# subsets of the core -> suffix of their outputs
_SUBSET_SUFFIXES: dict[str, str] = {
    "all": "",
    "cloudy": "_CLOUDY",
    "clear": "_CLEAR",
    "observed": "_OBSERVED",
    "predicted": "_PREDICTED",
    "blended": "_BLENDED",
}


class EvaluateAlgorithm(GlfcrAlgorithm):
    """Compare a prediction with a reference: PSNR, SSIM, MAE, RMSE, SAM, overall and per cloud class."""

    PREDICTION = "PREDICTION"
    REFERENCE = "REFERENCE"
    MASK = "MASK"
    CLOUDY = "CLOUDY"
    PROVENANCE = "PROVENANCE"
    THRESHOLD = "THRESHOLD"
    REPORT_JSON = "REPORT_JSON"
    REPORT_HTML = "REPORT_HTML"
    PSNR = "PSNR"
    SSIM = "SSIM"
    SSIM_CENTERED = "SSIM_CENTERED"
    MAE = "MAE"
    RMSE = "RMSE"
    SAM = "SAM"
    SCORED_PIXELS = "SCORED_PIXELS"
    CLOUDY_PIXELS = "CLOUDY_PIXELS"
    CLEAR_PIXELS = "CLEAR_PIXELS"
    OBSERVED_PIXELS = "OBSERVED_PIXELS"
    PREDICTED_PIXELS = "PREDICTED_PIXELS"
    BLENDED_PIXELS = "BLENDED_PIXELS"
    OPTICAL_INPUTS = (PREDICTION, REFERENCE, CLOUDY)

    # what check_before_run checks each output against
    OUTPUT_FORMATS = {REPORT_JSON: "json", REPORT_HTML: "html"}

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("Evaluate")

    GROUP_ID = "evaluation"

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Scores a cloud-removed Sentinel-2 image against a cloud-free reference of the same grid with "
            "PSNR, SSIM, MAE, RMSE and SAM, as in the GLF-CR paper and its peers."
            "<h3>Inputs</h3>"
            "<b>Prediction</b> and <b>reference</b>: 13-band Sentinel-2 L1C rasters (B1..B12, digital "
            "numbers), same size, CRS and geotransform. Both are scored as reflectance: clipped to 0..10000 "
            "and divided "
            "by 10000, as the GLF-CR data loader prepares optical images. Pixels that are nodata in any band "
            "of either raster are not scored. "
            "<b>Mask</b> (optional, one band, same grid): only pixels where it is non-zero are scored. "
            "<b>Cloudy image</b> (optional, 13 bands, same grid): its cloud and shadow mask (the Cloud Mask "
            "algorithm, with the threshold given) splits the scored pixels, and every metric is also "
            "reported "
            "for cloudy (cloud or shadow) and clear pixels. The prediction, reference and cloudy image may "
            "also be Sentinel-2 L1C products (.zip, .SAFE folder, MTD_MSIL1C.xml or a subdataset layer), "
            "read whole and harmonised as Prepare Sentinel-2 does. "
            "<b>Provenance</b> (optional, the provenance raster of Remove Clouds, same grid): every metric "
            "is also reported for observed pixels (class 0, input kept), predicted pixels (classes 1-3, "
            "under cloud, shadow or in clear sky) and blended pixels (class 4), the way DSen2-CR reports "
            "cloud-covered and clear pixels apart. A subset without pixels has no value."
            "<h3>Metrics</h3>"
            "PSNR (dB, peak 1) and SSIM exactly as the GLF-CR authors' code (SSIM Gaussian window 11x11, "
            "sigma 1.5, centred at 5.5); SSIM_CENTERED uses the window centred at 5, as UnCRtainTS does. "
            "MAE and RMSE over all bands in reflectance; SAM is the mean spectral angle in degrees. "
            "With a mask, each metric is the mean of its per-pixel map over the scored pixels. "
            "Large rasters are processed window by window; the result equals the whole-image computation."
            "<h3>Outputs</h3>"
            "The metrics as numbers (for the model designer), and, when asked for, a JSON and an HTML report "
            "with natural-colour quicklooks and the absolute error."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.PREDICTION, self.tr("Prediction (13 bands)"))
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.REFERENCE, self.tr("Cloud-free reference (13 bands)"))
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.MASK, self.tr("Mask of pixels to score (non-zero)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.CLOUDY, self.tr("Cloudy image, to report cloudy and clear pixels apart"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.PROVENANCE,
                self.tr("Provenance of Remove Clouds, to report observed and predicted pixels apart"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.THRESHOLD,
                self.tr("Cloud score threshold of the cloud mask (0..1]"),
                QgsProcessingParameterNumber.Double,
                defaultValue=DEFAULT_THRESHOLD,
                minValue=0.0,
                maxValue=1.0,
            )
        )
        # the metrics are outputs of their own: the reports are written only when given (the dialog
        # proposes temporary files; qgis_process and processing.run skip them unless named)
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.REPORT_JSON,
                self.tr("Report (JSON)"),
                fileFilter=self.tr("JSON files (*.json)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.REPORT_HTML,
                self.tr("Report (HTML)"),
                fileFilter=self.tr("HTML files (*.html *.htm)"),
                optional=True,
            )
        )
        labels = {
            "": self.tr("all scored pixels"),
            "_CLOUDY": self.tr("cloudy pixels"),
            "_CLEAR": self.tr("clear pixels"),
            "_OBSERVED": self.tr("observed pixels"),
            "_PREDICTED": self.tr("predicted pixels"),
            "_BLENDED": self.tr("blended pixels"),
        }
        for suffix, subset_label in labels.items():
            for output in METRIC_OUTPUTS.values():
                self.addOutput(QgsProcessingOutputNumber(output + suffix, f"{output} ({subset_label})"))
        self.addOutput(QgsProcessingOutputNumber(self.SCORED_PIXELS, self.tr("Scored pixels")))
        self.addOutput(QgsProcessingOutputNumber(self.CLOUDY_PIXELS, self.tr("Scored cloudy pixels")))
        self.addOutput(QgsProcessingOutputNumber(self.CLEAR_PIXELS, self.tr("Scored clear pixels")))
        self.addOutput(QgsProcessingOutputNumber(self.OBSERVED_PIXELS, self.tr("Scored observed pixels")))
        self.addOutput(QgsProcessingOutputNumber(self.PREDICTED_PIXELS, self.tr("Scored predicted pixels")))
        self.addOutput(QgsProcessingOutputNumber(self.BLENDED_PIXELS, self.tr("Scored blended pixels")))

    def input_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        for name in (self.PREDICTION, self.REFERENCE, self.MASK, self.CLOUDY, self.PROVENANCE):
            source = optical_source(self, parameters, name, context) if name in self.OPTICAL_INPUTS else ""
            if is_product(source):
                problem = optical_input_problem(source, role=self.parameterDefinition(name).description())
                if problem:
                    return problem
                continue
            layer = self.parameterAsRasterLayer(parameters, name, context)
            if layer is None:
                if parameters.get(name):
                    return self.tr(
                        "Cannot read the raster {value}: check that the file exists and is a raster GDAL "
                        "can read."
                    ).format(value=parameters.get(name))
                continue
            message = _file_layer_problem(layer, self.parameterDefinition(name).description(), self.tr)
            if message:
                return message
        return ""

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        sources = {
            name: optical_source(self, parameters, name, context) or None for name in self.OPTICAL_INPUTS
        }
        for name in (self.MASK, self.PROVENANCE):
            layer = self.parameterAsRasterLayer(parameters, name, context)
            sources[name] = layer.source() if layer is not None else None
        report_json = self.parameterAsFileOutput(parameters, self.REPORT_JSON, context) or None
        report_html = self.parameterAsFileOutput(parameters, self.REPORT_HTML, context) or None

        with self.core_call(feedback) as hooks:
            from ..core.evaluation.layers import evaluate_layers

            result = evaluate_layers(
                sources[self.PREDICTION],
                sources[self.REFERENCE],
                mask_path=sources[self.MASK],
                cloudy_path=sources[self.CLOUDY],
                provenance_path=sources[self.PROVENANCE],
                cloud_threshold=self.parameterAsDouble(parameters, self.THRESHOLD, context),
                report_json=report_json,
                report_html=report_html,
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
            )

        outputs: dict[str, Any] = {self.REPORT_JSON: report_json, self.REPORT_HTML: report_html}
        for subset, suffix in _SUBSET_SUFFIXES.items():
            values = result.metrics.get(subset)
            for metric, output in METRIC_OUTPUTS.items():
                outputs[output + suffix] = values[metric] if values is not None else None
        outputs[self.SCORED_PIXELS] = result.pixels["all"]
        outputs[self.CLOUDY_PIXELS] = result.pixels.get("cloudy")
        outputs[self.CLEAR_PIXELS] = result.pixels.get("clear")
        outputs[self.OBSERVED_PIXELS] = result.pixels.get("observed")
        outputs[self.PREDICTED_PIXELS] = result.pixels.get("predicted")
        outputs[self.BLENDED_PIXELS] = result.pixels.get("blended")
        for subset, values in result.metrics.items():
            feedback.pushInfo(
                self.tr(
                    "{subset} ({pixels} pixels): PSNR {psnr:.4f} dB, SSIM {ssim:.4f}, MAE {mae:.4f}, "
                    "RMSE {rmse:.4f}, SAM {sam:.3f} deg"
                ).format(subset=subset, pixels=result.pixels[subset], **values)
            )
        return outputs


def _file_layer_problem(layer: QgsRasterLayer, description: str, tr: Any) -> str:
    """Explain why ``layer`` is not a raster file the core can open with GDAL ("" when it is)."""
    if layer.providerType() != "gdal":
        return tr(
            "The {role} must be a raster file (GDAL), not a {provider} layer: export it to GeoTIFF first."
        ).format(role=description, provider=layer.providerType())
    return ""
