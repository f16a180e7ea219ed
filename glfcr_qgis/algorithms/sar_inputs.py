"""The SAR parameters Remove Clouds and Prepare Sentinel-1 share: a raster layer or a GRD product, VH, scale.

A Sentinel-1 GRD product is a folder (``.SAFE``) or a zip that QGIS cannot load as a layer (GDAL's SAFE
driver gives raw digital numbers, and a product zip holds several rasters), yet analysts pick it where
they pick the SAR raster. So the SAR parameter stays a raster layer parameter, with its layer list for
rasters loaded in QGIS, and also takes a product path: typed in qgis_process (``SAR=/data/S1A_...zip``)
or browsed to in the dialog (the ``.zip``, or ``manifest.safe`` inside the ``.SAFE`` folder). Processing's
own check would try to load such a path as a layer and refuse it, so ``check_parameter_values`` checks
every other parameter as Processing does and leaves product paths to the core, which opens them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingParameterEnum,
    QgsProcessingParameterRasterLayer,
)

from ..core.io.sentinel1.safe_files import is_sentinel1_product
from ..core.io.sentinel1.scale import SCALES

# "SENTINEL1_DS:/data/S1A_....SAFE/manifest.safe:IW_VV" or the manifest path itself (Windows drive allowed)
SAFE_LAYER_SOURCE = re.compile(r"(?<![^:])((?:[A-Za-z]:)?[^:]*manifest\.safe)", re.IGNORECASE)
# enum index -> the words shown; the core takes SCALES[index]
SCALE_OPTIONS: tuple[str, ...] = ("auto (from metadata, else values)", "dB", "linear power", "amplitude")


def sar_scale_parameter(algorithm: Any, name: str) -> QgsProcessingParameterEnum:
    """The SAR scale parameter: 0 auto (default), 1 dB, 2 linear power, 3 amplitude."""
    return QgsProcessingParameterEnum(
        name,
        algorithm.tr("SAR scale (auto reads the metadata, else the values)"),
        options=[algorithm.tr(option) for option in SCALE_OPTIONS],
        defaultValue=0,
    )


def sar_vh_parameter(algorithm: Any, name: str) -> QgsProcessingParameterRasterLayer:
    """The optional second SAR file holding VH, for VV and VH delivered as two files (RTC products)."""
    return QgsProcessingParameterRasterLayer(
        name, algorithm.tr("VH as a separate file (when the SAR input holds VV only)"), optional=True
    )


def scale_value(
    algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str, context: Any
) -> str:
    """The core's scale name for the enum parameter ``name``."""
    return SCALES[algorithm.parameterAsEnum(parameters, name, context)]


def is_product_value(value: Any) -> bool:
    """Whether a parameter value is the path of a Sentinel-1 SAFE product (zip, .SAFE folder, manifest)."""
    return isinstance(value, str) and bool(value.strip()) and is_sentinel1_product(value.strip())


def raster_or_product_path(
    algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str, context: QgsProcessingContext
) -> str:
    """The file behind a SAR parameter: a product path as given, or the raster layer's source ("" if "
    "unset)."""
    value = parameters.get(name)
    if is_product_value(value):
        return value.strip()
    layer = algorithm.parameterAsRasterLayer(parameters, name, context)
    if layer is None:
        return value if isinstance(value, str) else ""
    # a product loaded through GDAL's SAFE driver (raw DN): its source names the manifest
    manifest = SAFE_LAYER_SOURCE.search(layer.source())
    if manifest and is_sentinel1_product(manifest.group(1)):
        return manifest.group(1)
    return layer.source()


def check_parameter_values(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict[str, Any],
    context: QgsProcessingContext,
    product_parameters: Iterable[str],
) -> tuple[bool, str]:
    """Processing's per-parameter check, except that ``product_parameters`` may hold a product path.

    Returns:
        (True, "") or (False, the sentence naming the parameter that is wrong).

    """
    products = set(product_parameters)
    for definition in algorithm.parameterDefinitions():
        name = definition.name()
        value = parameters.get(name)
        if name in products and is_product_value(value):
            continue
        if not definition.checkValueIsAcceptable(value, context):
            if isinstance(definition, QgsProcessingParameterRasterLayer):
                if value is None or value == "":
                    return False, algorithm.tr("Choose the {}.").format(definition.description())
                return False, algorithm.tr(
                    "Could not load the raster for {description} ({value}): check that the file exists "
                    "and is a "
                    "raster GDAL can read, or a Sentinel-1 GRD product (.zip, .SAFE folder or manifest.safe)."
                ).format(description=definition.description(), value=value)
            return False, algorithm.tr("Incorrect parameter value for {}").format(name)
    return True, ""
