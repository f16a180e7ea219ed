"""GLF-CR core: a plain Python library (no QGIS) for SAR-guided cloud removal on Sentinel-2.

One subpackage per concern (``docs/architecture.md`` is the map):

- ``model``: the GLF-CR network, its dynamic filter, checkpoints, device choice and inference (torch).
- ``io``: raster reading and writing, SAR-onto-optical alignment, normalisation, band checks; Sentinel-1
  inputs in any scale and GRD products (``io.sentinel1``); optical inputs: Sentinel-2 L1C products and
  areas of interest (``io.optical_input``, ``io.sentinel2``).
- ``scene``: whole scenes: tiling and blending, the cloud-removal pipeline, the cloud/shadow mask.
- ``evaluation``: metrics, layer evaluation, SEN12MS-CR listing and evaluation, reports.
- ``batch``: many scenes on a Dask cluster (``remove_clouds_many``), resumable, with a summary table.

The public API is re-exported here and imported on first use (PEP 562), so the parts that need no
torch (cloud mask, raster I/O, normalisation) work in a Python without it.
"""

from __future__ import annotations

from .errors import (
    CheckpointError,
    ClusterError,
    DatasetError,
    DeviceError,
    DownloadError,
    GlfcrError,
    GlfcrWarning,
    InputRasterError,
    InstallError,
    JobListError,
    MissingDependencyError,
    NoOverlapError,
    OutputWriteError,
    ParameterValueError,
    ProcessingCanceled,
    RasterReadError,
    TileSizeError,
)
from .lazy import lazy_exports

# public name -> the module (relative to this package) that defines it
_LAZY = {
    "GLFCR": "model.network",
    "kernel_conv2d": "model.dynamic_filter",
    "load_model": "model.checkpoint",
    "load_state_dict": "model.checkpoint",
    "save_checkpoint": "model.checkpoint",
    "resolve_device": "model.device",
    "remove_clouds": "scene.pipeline",
    "RemoveCloudsResult": "scene.pipeline",
    "cloud_mask": "scene.cloud_masking",
    "prepare_sentinel1": "io.sentinel1.preparation",
    "open_sar_source": "io.sentinel1.inputs",
    "CloudMaskResult": "scene.cloud_masking",
    "cloud_shadow_mask": "scene.cloud_detector",
    "psnr": "evaluation.metrics",
    "ssim": "evaluation.metrics",
    "ssim_centered": "evaluation.metrics",
    "mae": "evaluation.metrics",
    "rmse": "evaluation.metrics",
    "sam": "evaluation.metrics",
    "evaluate_layers": "evaluation.layers",
    "evaluate_dataset": "evaluation.dataset_evaluation",
    "list_triplets": "evaluation.sen12mscr",
    "open_optical": "io.optical_input",
    "AreaOfInterest": "io.area_of_interest",
    "prepare_sentinel2": "io.sentinel2.prepare",
    "remove_clouds_many": "batch.scheduling",
    "BatchResult": "batch.scheduling",
    "SceneJob": "batch.jobs",
    "read_jobs_csv": "batch.jobs",
}

__all__ = [
    "CheckpointError",
    "ClusterError",
    "DatasetError",
    "DeviceError",
    "DownloadError",
    "GlfcrError",
    "GlfcrWarning",
    "InputRasterError",
    "InstallError",
    "JobListError",
    "MissingDependencyError",
    "NoOverlapError",
    "OutputWriteError",
    "ParameterValueError",
    "ProcessingCanceled",
    "RasterReadError",
    "TileSizeError",
    *_LAZY,
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
