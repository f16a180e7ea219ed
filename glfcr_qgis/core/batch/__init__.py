"""Many scenes on a Dask cluster: ``remove_clouds_many`` over a list of scene pairs, resumable and robust.

``dask.distributed`` is imported only when a batch runs. Public names are re-exported here and imported on
first use (PEP 562).
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "SceneJob": "jobs",
    "OUTPUT_SUFFIX": "jobs",
    "scene_jobs": "jobs",
    "read_jobs_csv": "jobs",
    "SceneOutcome": "summary",
    "STATUSES": "summary",
    "SUMMARY_COLUMNS": "summary",
    "count_statuses": "summary",
    "write_summary": "summary",
    "run_scene_job": "scene_task",
    "output_is_current": "scene_task",
    "checkpoint_sha256": "scene_task",
    "GPU_RESOURCE": "cluster",
    "MISSING_DASK_MESSAGE": "cluster",
    "require_distributed": "cluster",
    "batch_client": "cluster",
    "start_local_cluster": "cluster",
    "cuda_device_count": "cluster",
    "scene_resources": "cluster",
    "BatchResult": "scheduling",
    "DEFAULT_RETRIES": "scheduling",
    "remove_clouds_many": "scheduling",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
