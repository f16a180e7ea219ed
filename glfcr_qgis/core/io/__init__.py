"""Reading and writing rasters: raster I/O, grids, SAR-onto-optical alignment, normalisation, band order.

Sentinel-1 inputs (any scale, VV/VH in two files, GRD products) are in the ``sentinel1`` subpackage.

Public names are re-exported here and imported on first use (PEP 562), so importing one module
of this package does not import the others.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "BAND_REQUIREMENTS": "raster_io",
    "GDAL_SIDECAR_SUFFIXES": "raster_io",
    "open_raster": "raster_io",
    "read_window": "raster_io",
    "iter_windows": "raster_io",
    "window_count": "raster_io",
    "output_profile": "raster_io",
    "atomic_output": "raster_io",
    "remove_raster_files": "raster_io",
    "nodata_mask": "raster_io",
    "sha256_file": "raster_io",
    "set_band_descriptions": "raster_io",
    "COVERAGE_GRID_SIDE": "grids",
    "coarse_grid": "grids",
    "BLOCK_SHAPE": "alignment",
    "FULL_COVERAGE": "alignment",
    "same_grid": "grids",
    "check_overlap": "alignment",
    "SarOnOpticalGrid": "alignment",
    "estimate_coverage": "grids",
    "S2_L1C_BANDS": "normalization",
    "S1_BANDS": "normalization",
    "OPTICAL_SCALE": "normalization",
    "SAR_CLIP_MIN": "normalization",
    "SAR_CLIP_MAX": "normalization",
    "NATURAL_COLOUR_BANDS": "normalization",
    "fill_nan_with_mean": "normalization",
    "normalize_optical": "normalization",
    "normalize_sar": "normalization",
    "denormalize_optical": "normalization",
    "warn_on_band_order": "band_order",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
