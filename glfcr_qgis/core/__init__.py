"""GLF-CR core: a plain Python library (no QGIS) for SAR-guided cloud removal on Sentinel-2.

Names that need PyTorch (network, checkpoints, inference, metrics, Remove Clouds, Evaluate) are
imported on first use, so the parts that do not (cloud mask, raster I/O, normalisation) work in a
Python without torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from .errors import (
    CheckpointError,
    DatasetError,
    DeviceError,
    GlfcrError,
    InputRasterError,
    MissingDependencyError,
    NoOverlapError,
    OutputWriteError,
    ProcessingCanceled,
    RasterReadError,
    TileSizeError,
)

# public name -> module that defines it; imported lazily (PEP 562)
_LAZY = {
    "GlfcrWarning": "errors",
    "GLFCR": "network",
    "kernel_conv2d": "dynamic_filter",
    "load_model": "checkpoint",
    "load_state_dict": "checkpoint",
    "save_checkpoint": "checkpoint",
    "resolve_device": "device",
    "remove_clouds": "remove_clouds",
    "cloud_mask": "cloud_mask",
    "psnr": "metrics",
    "ssim": "metrics",
    "ssim_centered": "metrics",
    "mae": "metrics",
    "rmse": "metrics",
    "sam": "metrics",
    "evaluate_layers": "evaluate",
    "evaluate_dataset": "evaluate_dataset",
    "list_triplets": "dataset",
    "cloud_shadow_mask": "cloud_mask",
    "CloudMaskResult": "cloud_mask",
    "ParameterValueError": "errors",
}

__all__ = [
    "CheckpointError",
    "DatasetError",
    "DeviceError",
    "GlfcrError",
    "InputRasterError",
    "MissingDependencyError",
    "NoOverlapError",
    "OutputWriteError",
    "ProcessingCanceled",
    "RasterReadError",
    "TileSizeError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{module_name}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


class _CorePackage(types.ModuleType):
    """Keeps ``core.remove_clouds`` (and the like) the function when its module of the same name loads.

    Importing a submodule binds it on its package under its own name; for the functions named like
    their modules, the function is what users call, so it keeps the name.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            function = getattr(value, name, None)
            if callable(function):
                value = function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _CorePackage
