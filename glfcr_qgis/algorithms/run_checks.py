"""Checks every algorithm runs before it starts: numbers in range, readable rasters, writable outputs.

``GlfcrAlgorithm.check_before_run`` calls :func:`run_problem` first thing in ``checkParameterValues``,
so the analyst reads one sentence naming the parameter, the problem and the fix, before QGIS's
generic messages ("Incorrect parameter value", "not found") and before any work or any file is made.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import rasterio
from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
)
from rasterio.errors import RasterioError, RasterioIOError

from ..core.errors import GlfcrError
from ..core.io.output_guard import PlannedOutput, check_outputs
from ..core.io.sentinel1.safe_files import is_sentinel1_product
from ..core.io.sentinel2.product import looks_like_product

# QGIS's "no bound" for number parameters
_UNBOUNDED = sys.float_info.max / 2


def run_problem(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict[str, Any],
    context: QgsProcessingContext,
    outputs: Mapping[str, str],
) -> str:
    """Why ``algorithm`` cannot run with ``parameters``, in one sentence ("" when it can, as far as seen).

    Args:
        algorithm: the algorithm about to run.
        parameters: its parameter values.
        context: the Processing context.
        outputs: output parameter name -> format (a key of ``output_guard.OUTPUT_FORMATS``).

    """
    return (
        _number_problem(algorithm, parameters, context)
        or _raster_problem(algorithm, parameters, context)
        or _output_problem(algorithm, parameters, context, outputs)
    )


def _number_problem(algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], context: Any) -> str:
    for definition in algorithm.parameterDefinitions():
        given = parameters.get(definition.name()) is not None
        if not isinstance(definition, QgsProcessingParameterNumber) or not given:
            continue
        value = algorithm.parameterAsDouble(parameters, definition.name(), context)
        low, high = definition.minimum(), definition.maximum()
        if low <= value <= high:
            continue
        if high >= _UNBOUNDED:
            allowed = f"at least {low:g}"
        elif low <= -_UNBOUNDED:
            allowed = f"at most {high:g}"
        else:
            allowed = f"from {low:g} to {high:g}"
        return (
            f"{definition.description()} ({definition.name()}) is {value:g}, outside the range it accepts: "
            f"give a value {allowed}."
        )
    return ""


def _raster_problem(algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], context: Any) -> str:
    """A raster input that is missing, or a file GDAL cannot open (say it is damaged, not "not found")."""
    for definition in algorithm.parameterDefinitions():
        if not isinstance(definition, QgsProcessingParameterRasterLayer):
            continue
        value = parameters.get(definition.name())
        if isinstance(value, QgsRasterLayer):
            value = value.source()
        if not isinstance(value, str) or not value.strip() or _is_product(value):
            continue  # products (Sentinel-1 or -2) are checked by the core, which reads them whole
        name = definition.name()
        role = f"{definition.description()} ({name})"
        if not os.path.exists(value):
            if os.sep in value and algorithm.parameterAsRasterLayer(parameters, name, context) is None:
                return f"The {role} file {value} does not exist; check the path."
            continue  # a layer of the project, found by QGIS
        if os.path.isdir(value):
            continue  # a product folder some GDAL drivers open
        reason = _unreadable(value)
        if reason:
            return (
                f"The {role} file {value} is damaged or not a raster: GDAL cannot read it ({reason}); "
                "re-download or re-export it."
            )
    return ""


def _is_product(value: str) -> bool:
    return looks_like_product(value) or is_sentinel1_product(value.strip())


def _unreadable(path: str) -> str:
    """Why GDAL cannot open ``path`` ("" when it can)."""
    try:
        # inside an Env GDAL's complaints go to Python's logging, not the console
        with rasterio.Env(), rasterio.open(path):
            return ""
    except (RasterioError, RasterioIOError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        # the sentence names the file already
        for spelling in (f"{path}: ", f"'{path}' ", f"{path} "):
            reason = reason.replace(spelling, "")
        return reason.rstrip(".")


def _output_problem(
    algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any], context: Any, outputs: Mapping[str, str]
) -> str:
    planned, rasters, files, folders = [], [], [], []
    for definition in algorithm.parameterDefinitions():
        name = definition.name()
        if isinstance(definition, QgsProcessingParameterRasterDestination) and name in outputs:
            path = algorithm.parameterAsOutputLayer(parameters, name, context)
        elif isinstance(definition, QgsProcessingParameterFileDestination) and name in outputs:
            path = algorithm.parameterAsFileOutput(parameters, name, context)
        elif isinstance(definition, QgsProcessingParameterRasterLayer):
            value = parameters.get(name)
            if isinstance(value, str) and _is_product(value):
                rasters.append(value.strip())
                continue
            layer = algorithm.parameterAsRasterLayer(parameters, name, context)
            rasters.append(layer.source() if layer is not None else None)
            continue
        elif isinstance(definition, QgsProcessingParameterFile):
            value = algorithm.parameterAsFile(parameters, name, context)
            (folders if definition.behavior() == QgsProcessingParameterFile.Folder else files).append(value)
            continue
        else:
            continue
        planned.append(PlannedOutput(path, outputs[name], f"{definition.description()} ({name})"))
    try:
        check_outputs(planned, input_rasters=rasters, input_files=files, input_folders=folders)
    except GlfcrError as err:
        return str(err)
    return ""
