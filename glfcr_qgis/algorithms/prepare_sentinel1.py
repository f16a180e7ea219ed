"""Processing algorithm ``glfcr:preparesentinel1``: Sentinel-1 input as the 2-band sigma0 dB GLF-CR reads."""

from __future__ import annotations

import warnings
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterExtent,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..core.errors import GlfcrError, GlfcrWarning
from ..core.io.sentinel1.inputs import open_sar_source
from ..core.io.sentinel1.preparation import prepare_sentinel1
from .base import GlfcrAlgorithm
from .sar_inputs import (
    check_parameter_values,
    raster_or_product_path,
    sar_scale_parameter,
    sar_vh_parameter,
    scale_value,
)


class PrepareSentinel1Algorithm(GlfcrAlgorithm):
    """Write a GRD product or SAR raster(s) as VV, VH sigma0 in dB on a chosen grid (no torch needed)."""

    INPUT = "INPUT"
    VH = "VH"
    SAR_SCALE = "SAR_SCALE"
    REFERENCE = "REFERENCE"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"
    VALID_FRACTION = "VALID_FRACTION"

    # what check_before_run checks each output against
    OUTPUT_FORMATS = {OUTPUT: "raster"}

    def name(self) -> str:
        return "preparesentinel1"

    def displayName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("Prepare Sentinel-1 (sigma0 dB, VV and VH)")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Writes Sentinel-1 backscatter as GLF-CR reads it: a 2-band Float32 GeoTIFF, bands VV and "
            "VH, sigma0 "
            "in dB, nodata NaN. Remove Clouds takes the same inputs directly; preparing once saves the "
            "conversion when the SAR is used again."
            "<h3>Input</h3>"
            "<ul><li>a <b>Sentinel-1 GRD product</b> (IW GRDH/GRDM, VV+VH): its .zip, or its .SAFE "
            "folder (in the "
            "dialog browse to the manifest.safe inside it). The digital numbers are calibrated with the "
            "product's own tables, sigma0 = (DN^2 - noise) / A^2 (sigmaNought and thermal noise, "
            "interpolated "
            "bilinearly; negative values clipped to -50 dB), and placed with its geolocation grid (GDAL, "
            "thin-plate spline, bilinear). <b>There is no terrain correction</b>: on slopes the SAR is "
            "displaced by about h / tan(incidence); use a terrain-corrected product there.</li>"
            "<li>a <b>raster</b> with VV and VH bands (found by name, else taken in order), or VV here "
            "and VH "
            "as a <b>separate file</b>; in dB, linear power or amplitude (<b>SAR scale</b>: auto reads the "
            "metadata, else the values, and asks when it cannot tell); gamma0 (RTC products) is converted to "
            "sigma0 with an incidence angle band or tag where there is one, otherwise used as is with a "
            "warning.</li></ul>"
            "<h3>Grid</h3>"
            "The <b>reference</b> raster's grid when given (e.g. the Sentinel-2 image to clear), else the "
            "input's own: a raster keeps its grid, a GRD product goes onto a 10 m grid in the UTM zone "
            "of its "
            "centre. The <b>extent</b> crops that grid (to whole pixels). Values are resampled "
            "bilinearly, in dB "
            "for rasters and in linear power for GRD products."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.INPUT, self.tr("Sentinel-1 input (GRD product .zip / manifest.safe, or SAR raster)")
            )
        )
        self.addParameter(sar_vh_parameter(self, self.VH))
        self.addParameter(sar_scale_parameter(self, self.SAR_SCALE))
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.REFERENCE, self.tr("Reference raster whose grid the output takes"), optional=True
            )
        )
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent"), optional=True))
        self.addParameter(
            QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Sentinel-1 sigma0 dB (VV, VH)"))
        )
        self.addOutput(
            QgsProcessingOutputNumber(self.VALID_FRACTION, self.tr("Share of pixels with SAR data"))
        )

    def checkParameterValues(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext
    ) -> tuple[bool, str]:
        problem = self.check_before_run(parameters, context)
        if problem:
            return False, problem
        ok, message = check_parameter_values(self, parameters, context, product_parameters=[self.INPUT])
        if not ok:
            return ok, message
        try:
            with warnings.catch_warnings():  # the run shows them; the check would show each twice
                warnings.simplefilter("ignore", GlfcrWarning)
                with open_sar_source(
                    raster_or_product_path(self, parameters, self.INPUT, context),
                    vh_path=raster_or_product_path(self, parameters, self.VH, context) or None,
                    scale=scale_value(self, parameters, self.SAR_SCALE, context),
                ):
                    pass
        except GlfcrError as err:
            return False, str(err)
        return True, ""

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        extent = None
        extent_crs = None
        if parameters.get(self.EXTENT):
            rectangle = self.parameterAsExtent(parameters, self.EXTENT, context)
            if not rectangle.isNull():
                extent = (
                    rectangle.xMinimum(),
                    rectangle.yMinimum(),
                    rectangle.xMaximum(),
                    rectangle.yMaximum(),
                )
                crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
                extent_crs = crs.toWkt() if crs.isValid() else None
        with self.core_call(feedback) as hooks:
            result = prepare_sentinel1(
                raster_or_product_path(self, parameters, self.INPUT, context),
                output,
                vh_path=raster_or_product_path(self, parameters, self.VH, context) or None,
                scale=scale_value(self, parameters, self.SAR_SCALE, context),
                reference_path=raster_or_product_path(self, parameters, self.REFERENCE, context) or None,
                extent=extent,
                extent_crs=extent_crs,
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
            )
        feedback.pushInfo(result.summary)
        feedback.pushInfo(
            self.tr("{width} x {height} px on {grid}; {valid:.1%} of the pixels hold SAR data.").format(
                width=result.grid.width,
                height=result.grid.height,
                grid=result.tags["grid"],
                valid=result.valid_fraction,
            )
        )
        return {self.OUTPUT: output, self.VALID_FRACTION: result.valid_fraction}
