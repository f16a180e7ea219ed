"""The Processing algorithms of the ``glfcr`` provider; the provider registers every class in ``ALGORITHMS``.

Each module imports only qgis and the torch-free parts of the core at import time, so the provider
lists every algorithm even where torch is missing.
"""

from __future__ import annotations

from .base import GlfcrAlgorithm
from .cloud_mask import CloudMaskAlgorithm
from .download_weights import DownloadWeightsAlgorithm
from .evaluate import EvaluateAlgorithm
from .evaluate_dataset import EvaluateDatasetAlgorithm
from .install_dependencies import InstallDependenciesAlgorithm
from .prepare_sentinel1 import PrepareSentinel1Algorithm
from .prepare_sentinel2 import PrepareSentinel2Algorithm
from .remove_clouds import RemoveCloudsAlgorithm
from .remove_clouds_many import RemoveCloudsManyAlgorithm

ALGORITHMS: list[type[GlfcrAlgorithm]] = [
    CloudMaskAlgorithm,
    EvaluateAlgorithm,
    EvaluateDatasetAlgorithm,
    PrepareSentinel1Algorithm,
    PrepareSentinel2Algorithm,
    RemoveCloudsAlgorithm,
    RemoveCloudsManyAlgorithm,
    InstallDependenciesAlgorithm,
    DownloadWeightsAlgorithm,
]
