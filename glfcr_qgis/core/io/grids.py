"""Raster grids: whether two are the same, a coarse copy of one, and how much of one a SAR raster covers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT

# side of the coarse grid on which the covered fraction is estimated (a cheap warp of at most 256x256 px)
COVERAGE_GRID_SIDE = 256


def same_grid(a: Any, b: Any) -> bool:
    """Whether two rasters share CRS, size and transform (to a millionth of a pixel).

    Either may be a rasterio dataset or anything with ``crs``, ``transform``, ``width`` and ``height``; a
    raster in radar geometry (``transform`` None) shares no grid.
    """
    if (a.width, a.height) != (b.width, b.height) or a.crs != b.crs:
        return False
    if a.transform is None or b.transform is None:
        return False
    tolerance = 1e-6 * min(abs(a.transform.a), abs(a.transform.e))
    return all(
        math.isclose(p, q, rel_tol=0.0, abs_tol=tolerance)
        for p, q in zip(a.transform, b.transform, strict=True)
    )


def coarse_grid(grid: Any, side: int = COVERAGE_GRID_SIDE) -> tuple[Affine, int, int]:
    """A copy of ``grid``'s extent at most ``side`` pixels on its longest side: (transform, width, height)."""
    factor = max(1.0, max(grid.width, grid.height) / side)
    width = max(1, round(grid.width / factor))
    height = max(1, round(grid.height / factor))
    return grid.transform * Affine.scale(grid.width / width, grid.height / height), width, height


def estimate_coverage(optical: Any, sar: Any, side: int = COVERAGE_GRID_SIDE) -> float:
    """Fraction of the optical grid that has SAR data, estimated on a coarse copy of that grid.

    Warps the SAR onto the optical extent at most ``side`` x ``side`` pixels (cheap for any scene size)
    and counts the pixels with every band present.

    Args:
        optical: open rasterio dataset (or grid) whose grid is the target.
        sar: open rasterio dataset of the SAR image.
        side: longest side of the coarse grid, in pixels.

    Returns:
        A fraction in [0, 1].

    """
    coarse, width, height = coarse_grid(optical, side)
    with warped(sar, optical.crs, coarse, width, height) as vrt:
        data = vrt.read(out_dtype=np.float32)
    return float(np.mean(np.all(np.isfinite(data), axis=0)))


def warped(sar: Any, crs: Any, transform: Affine, width: int, height: int) -> WarpedVRT:
    """A float32 WarpedVRT of ``sar`` on the given grid, bilinear, NaN outside the SAR and at SAR nodata."""
    src_nodata = sar.nodata
    if src_nodata is None and np.dtype(sar.dtypes[0]).kind == "f":
        # undeclared NaN gaps must not bleed into their neighbours through the bilinear kernel
        src_nodata = float("nan")
    options: dict[str, Any] = {}
    if src_nodata is not None:
        options["src_nodata"] = src_nodata
    return WarpedVRT(
        sar,
        crs=crs,
        transform=transform,
        width=width,
        height=height,
        resampling=Resampling.bilinear,
        dtype="float32",
        nodata=float("nan"),
        **options,
    )
