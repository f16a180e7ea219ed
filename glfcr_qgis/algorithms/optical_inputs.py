"""Optical inputs and areas of interest as the algorithms read them from Processing's parameters.

An optical input is a ``QgsProcessingParameterRasterLayer``: the dialog lists loaded layers (one opened
from a product's ``SENTINEL2_L1C:...`` subdataset is recognised and the whole product used) and its
browse button picks files (a product's ``.zip`` or ``MTD_MSIL1C.xml``); ``qgis_process`` and
``processing.run`` pass paths (also a ``.SAFE`` folder); models connect layers and file outputs as before.
QGIS cannot load a product path as a layer, so product paths bypass its layer check here and the core
checks them instead (``core.io.sentinel2.product``).
"""

from __future__ import annotations

import warnings
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingParameterExtent,
    QgsProperty,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..core.errors import GlfcrError, GlfcrWarning
from ..core.io.area_of_interest import AreaOfInterest
from ..core.io.optical_input import open_optical
from ..core.io.sentinel2.product import looks_like_product

PRODUCT_FORMS = (
    "a 13-band raster, or a Sentinel-2 L1C product: its .SAFE folder, its MTD_MSIL1C.xml, the .zip as "
    "downloaded, or a layer opened from one of its subdatasets"
)


def product_value(parameters: dict[str, Any], name: str) -> str:
    """The product path or subdataset name given for ``name``, or "" when the value is something else."""
    value = parameters.get(name)
    return value.strip() if isinstance(value, str) and value.strip() and looks_like_product(value) else ""


def is_product(source: str) -> bool:
    """Whether an optical source (path, or a layer's source) is a Sentinel-2 product the core reads whole."""
    return bool(source) and looks_like_product(source)


def optical_source(
    algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str, context: QgsProcessingContext
) -> str:
    """What the core opens for optical input ``name``: a product path or the layer's source ("" if unset)."""
    product = product_value(parameters, name)
    if product:
        return product
    layer = algorithm.parameterAsRasterLayer(parameters, name, context)
    if layer is not None:
        return layer.source()
    value = parameters.get(name)
    return "" if value is None else str(value)


def for_qgis_checks(parameters: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``parameters`` with product paths of ``names`` replaced so that QGIS's raster-layer check passes.

    A static property is accepted unevaluated by the layer parameter; the core checks the product.
    """
    replaced = dict(parameters)
    for name in names:
        product = product_value(parameters, name)
        if product:
            replaced[name] = QgsProperty.fromValue(product)
    return replaced


def extent_parameter(name: str) -> QgsProcessingParameterExtent:
    """The optional area-of-interest parameter shared by the algorithms that process a scene."""
    return QgsProcessingParameterExtent(
        name,
        QCoreApplication.translate(
            "GlfcrAlgorithm", "Area of interest (optional; snapped outward to the image's pixel grid)"
        ),
        optional=True,
    )


def area_of_interest(
    algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], name: str, context: QgsProcessingContext
) -> AreaOfInterest | None:
    """The area of interest given for ``name`` (in its own CRS when it states one), or None when unset."""
    if parameters.get(name) in (None, ""):
        return None
    rectangle = algorithm.parameterAsExtent(parameters, name, context)
    if rectangle.isNull():
        return None
    crs: QgsCoordinateReferenceSystem = algorithm.parameterAsExtentCrs(parameters, name, context)
    crs_text = (
        (crs.authid() or crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL))
        if crs.isValid()
        else None
    )
    return AreaOfInterest(
        rectangle.xMinimum(), rectangle.yMinimum(), rectangle.xMaximum(), rectangle.yMaximum(), crs_text
    )


def optical_input_problem(source: str, *, role: str, extent: AreaOfInterest | None = None) -> str:
    """Open an optical input as the run will and say why it cannot be used ("" when it can).

    Catches, before any work, products that do not fit and extents outside the image; a clipped extent
    is left for the run to warn about.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GlfcrWarning)
            with open_optical(source, role=role, extent=extent):
                return ""
    except GlfcrError as err:
        return str(err)
