"""Whole scenes: tiling and blending, the cloud-removal pipeline (strip loop, output writer, keep-clear,
provenance), the cloud/shadow detectors (the authors', s2cloudless, the product's) and Cloud Mask.

Public names are re-exported here and imported on first use (PEP 562), so importing one module
of this package does not import the others.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "NETWORK_MULTIPLE": "tiling",
    "validate_tiling": "tiling",
    "round_up_to_multiple": "tiling",
    "tiles_along": "tiling",
    "balanced_tile_size": "tiling",
    "TileGrid": "tiling",
    "reflect_index": "tiling",
    "ramp": "tiling",
    "blend_weights": "tiling",
    "BlendAccumulator": "blending",
    "StageTimings": "strip_runner",
    "StripRunner": "strip_runner",
    "network_inputs": "strip_runner",
    "OUTPUT_TYPES": "output_writer",
    "OUTPUT_BLOCK_SIZE": "output_writer",
    "UINT16_MAX": "output_writer",
    "output_dtype": "output_writer",
    "output_nodata": "output_writer",
    "scratch_path": "output_writer",
    "copy_to_cog": "output_writer",
    "to_output_type": "output_writer",
    "KEEP_CLEAR_FEATHER": "keep_clear",
    "ClearPixelShare": "keep_clear",
    "DEFAULT_TILE_SIZE": "pipeline",
    "DEFAULT_OVERLAP": "pipeline",
    "DEFAULT_BATCH_SIZE": "pipeline",
    "MODEL_NAME": "pipeline",
    "RemoveCloudsResult": "pipeline",
    "remove_clouds": "pipeline",
    "output_tags": "pipeline",
    "CLEAR": "cloud_detector",
    "CLOUD": "cloud_detector",
    "SHADOW": "cloud_detector",
    "MASK_NODATA": "cloud_detector",
    "SCORE_NODATA": "cloud_detector",
    "CLASS_NAMES": "cloud_detector",
    "CLASS_COLORS": "cloud_detector",
    "DEFAULT_THRESHOLD": "cloud_detector",
    "ROLE": "cloud_detector",
    "HALO": "cloud_detector",
    "ShadowStatistics": "cloud_detector",
    "check_threshold": "cloud_detector",
    "to_reflectance": "cloud_detector",
    "raw_cloud_score": "cloud_detector",
    "scene_shadow_statistics": "cloud_detector",
    "check_canceled": "cloud_detector",
    "shadow_statistics": "cloud_detector",
    "cloud_shadow_mask": "cloud_detector",
    "window_cloud_shadow_mask": "cloud_detector",
    "CloudMaskResult": "cloud_masking",
    "cloud_mask": "cloud_masking",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
