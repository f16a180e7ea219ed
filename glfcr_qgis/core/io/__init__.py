"""Reading and writing rasters: raster I/O, grids, SAR-onto-optical alignment, normalisation, band order.

Sentinel-1 inputs (any scale, VV/VH in two files, GRD products) are in the ``sentinel1`` subpackage;
optical inputs (13-band rasters, Sentinel-2 L1C products in ``sentinel2``, areas of interest) are opened
by ``optical_input.open_optical``.

Public names are re-exported here and imported on first use (PEP 562), so importing one module
of this package does not import the others.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "BAND_REQUIREMENTS": "raster_io",
    "GDAL_SIDECAR_SUFFIXES": "safe_writes",
    "open_raster": "raster_io",
    "read_window": "raster_io",
    "iter_windows": "raster_io",
    "window_count": "raster_io",
    "output_profile": "raster_io",
    "atomic_output": "safe_writes",
    "atomic_outputs": "safe_writes",
    "remove_raster_files": "safe_writes",
    "partial_files": "safe_writes",
    "write_failure": "safe_writes",
    "GdalFailureWatch": "safe_writes",
    "check_write_failures": "safe_writes",
    "nodata_mask": "raster_io",
    "sha256_file": "raster_io",
    "set_band_descriptions": "raster_io",
    "OUTPUT_FORMATS": "output_guard",
    "PlannedOutput": "output_guard",
    "check_outputs": "output_guard",
    "companion_files": "output_guard",
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
    "ProductCloudMask": "sentinel2_mask",
    "is_product_path": "sentinel2_mask",
    "locate_product_cloud_mask": "sentinel2_mask",
    "product_cloud_mask_on_grid": "sentinel2_mask",
    "read_product_clouds": "sentinel2_mask",
    "open_optical": "optical_input",
    "optical_input_tags": "optical_input",
    "AreaOfInterest": "area_of_interest",
    "window_for_area": "area_of_interest",
    "open_vrt": "virtual_raster",
    "window_vrt": "virtual_raster",
    "prepare_sentinel2": "sentinel2.prepare",
    "find_product": "sentinel2.product",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
