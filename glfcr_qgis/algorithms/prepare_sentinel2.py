"""Processing algorithm ``glfcr:preparesentinel2``: a Sentinel-2 L1C product as a harmonised 13-band stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..core.errors import GlfcrError
from ..core.io.sentinel2.prepare import ROLE, prepare_sentinel2
from .base import GlfcrAlgorithm
from .natural_colour import natural_colour_style
from .optical_inputs import (
    area_of_interest,
    extent_parameter,
    is_product,
    optical_input_problem,
    optical_source,
)
from .output_layers import name_and_style_output


class PrepareSentinel2Algorithm(GlfcrAlgorithm):
    """Stack a Sentinel-2 L1C product's 13 bands on its 10 m grid, harmonised to GLF-CR's training data."""

    INPUT = "INPUT"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"

    # what check_before_run checks each output against
    OUTPUT_FORMATS = {OUTPUT: "raster"}
    OPTICAL_INPUTS = (INPUT,)

    def name(self) -> str:
        return "preparesentinel2"

    def displayName(self) -> str:  # noqa: N802 (QGIS API name)
        return self.tr("Prepare Sentinel-2 (L1C, 13 bands)")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Writes the 13 bands of a Sentinel-2 L1C product as one GeoTIFF in the band order and value "
            "scale GLF-CR was trained on, for use in other tools or so that a scene read many times is "
            "decoded from JPEG 2000 once. Remove Clouds, Cloud Mask and Evaluate also read products "
            "directly, the same way."
            "<h3>Input</h3>"
            "<b>Product</b>: the product as downloaded from the Copernicus Data Space: its .zip, its .SAFE "
            "folder (through qgis_process or Python) or the MTD_MSIL1C.xml inside it, or a layer QGIS "
            "opened from one of its subdatasets (SENTINEL2_L1C:...:10m:EPSG_...; the whole product is "
            "used). Level-2A and Level-1B products are refused. <b>Area of interest</b> (optional, any "
            "CRS): only the window of the product's 10 m grid covering it is written; it is snapped outward "
            "to the grid, clipped (with a warning) where it reaches beyond the product, and refused when it "
            "lies outside."
            "<h3>How it works</h3>"
            "GDAL's Sentinel-2 reader finds the band files; the bands are put in the order B1, B2, B3, B4, "
            "B5, B6, B7, B8, B8A, B9, B10, B11, B12 and the 20 m and 60 m bands brought to the 10 m grid by "
            "nearest neighbour, as Earth Engine's export did for the SEN12MS-CR training data. From "
            "processing baseline 04.00 (January 2022) digital numbers carry RADIO_ADD_OFFSET (-1000); the "
            "offsets read from the product's metadata are added so that values are reflectance x 10000 "
            "as in the training data; pixels below 0 become 0, and the product's no-data pixels stay 0."
            "<h3>Output</h3>"
            "13-band UInt16 GeoTIFF on the product's UTM grid (or the area's window of it), bands named "
            "B1..B12 with B8A, nodata 0, tiled and deflate-compressed. Its metadata records the product, "
            "the processing baseline and the offsets applied. The layer loads in natural colour."
        )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.INPUT, self.tr("Sentinel-2 L1C product (.zip, .SAFE folder, MTD_MSIL1C.xml or layer)")
            )
        )
        self.addParameter(extent_parameter(self.EXTENT))
        self.addParameter(
            QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("13-band stack (GeoTIFF)"))
        )

    def input_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        source = optical_source(self, parameters, self.INPUT, context)
        if not is_product(source):
            return self.tr(
                "{value} is not a Sentinel-2 product; give a product's .zip as downloaded, its .SAFE folder, "
                "its MTD_MSIL1C.xml, or a layer opened from one of its subdatasets."
            ).format(value=source or parameters.get(self.INPUT))
        try:
            return optical_input_problem(
                source, role=ROLE, extent=area_of_interest(self, parameters, self.EXTENT, context)
            )
        except GlfcrError as err:
            return str(err)

    def processAlgorithm(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        source = optical_source(self, parameters, self.INPUT, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        with self.core_call(feedback) as hooks:
            result = prepare_sentinel2(
                source,
                output,
                extent=area_of_interest(self, parameters, self.EXTENT, context),
                progress=hooks.progress,
                is_canceled=hooks.is_canceled,
            )
        feedback.pushInfo(
            self.tr(
                "{width} x {height} px of {product} ({crs}); processing baseline {baseline}, offsets added: "
                "{offsets}."
            ).format(
                width=result.width,
                height=result.height,
                product=result.tags.get("S2_PRODUCT", source),
                crs=result.crs,
                baseline=result.tags.get("S2_PROCESSING_BASELINE", "?"),
                offsets=result.tags.get("S2_RADIO_ADD_OFFSET_APPLIED", "none"),
            )
        )
        name = self.tr("{product} 13 bands").format(product=result.tags.get("S2_PRODUCT", Path(source).stem))
        name_and_style_output(context, output, name, natural_colour_style)
        return {self.OUTPUT: output}
