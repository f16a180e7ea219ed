"""Setting the plugin up from inside QGIS: its Python dependencies and the GLF-CR checkpoint.

No QGIS here, and no torch at import.

- ``interpreter``: QGIS's own Python (Linux, Windows OSGeo4W and standalone, macOS bundles).
- ``folders``: the per-profile, per-Python dependency folder and its all-or-nothing replacement.
- ``requirements``, ``nvidia``, ``plan``: what to install (tested versions, CuPy for the driver's CUDA),
  and its size.
- ``pip_runner``, ``installer``: running pip, streaming its log, cancel, failures in one sentence.
- ``download``, ``confirm_page``, ``checkpoint_info``: the resumable weights download, checkpoint checks.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "PythonLayout": "interpreter",
    "PythonProbe": "interpreter",
    "running_layout": "interpreter",
    "python_candidates": "interpreter",
    "find_python": "interpreter",
    "qgis_python": "interpreter",
    "dependency_folder": "folders",
    "dependencies_root": "folders",
    "activate_pending": "folders",
    "swap_into_place": "folders",
    "tested_requirements": "requirements",
    "requirements_for": "requirements",
    "nvidia_cuda_major": "nvidia",
    "InstallPlan": "plan",
    "base_plan": "plan",
    "resolve_plan": "plan",
    "format_size": "plan",
    "InstallResult": "installer",
    "install_dependencies": "installer",
    "PreparedInstall": "installer",
    "prepare_install": "installer",
    "AUTHORS_WEIGHTS_URL": "download",
    "download_checkpoint": "download",
    "DownloadResult": "download",
    "CheckpointInfo": "checkpoint_info",
    "inspect_checkpoint": "checkpoint_info",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
