"""Put the SAR image on the optical image's pixel grid, window by window.

When both rasters share CRS, transform and size the SAR windows are read directly. Otherwise GDAL's
warper resamples the SAR (bilinear) onto the optical grid through a virtual warped dataset, computing
only the windows asked for, so no scene is ever held whole. Pixels the SAR does not cover, and SAR
nodata, come out as NaN.
"""

from __future__ import annotations

import math
import warnings
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ..errors import GlfcrWarning, InputRasterError, NoOverlapError

# side of the coarse grid on which the covered fraction is estimated (a cheap warp of at most 256x256 px)
COVERAGE_GRID_SIDE = 256
# coverage below this is reported (the rest of the output is nodata)
FULL_COVERAGE = 0.999


def same_grid(a: Any, b: Any) -> bool:
    """Whether two rasterio datasets share CRS, size and transform (to a millionth of a pixel)."""
    if (a.width, a.height) != (b.width, b.height) or a.crs != b.crs:
        return False
    tolerance = 1e-6 * min(abs(a.transform.a), abs(a.transform.e))
    return all(
        math.isclose(p, q, rel_tol=0.0, abs_tol=tolerance)
        for p, q in zip(a.transform, b.transform, strict=True)
    )


def check_overlap(optical: Any, sar: Any) -> None:
    """Fail early when the SAR footprint misses the optical image.

    Args:
        optical: open rasterio dataset of the optical image.
        sar: open rasterio dataset of the SAR image.

    Raises:
        InputRasterError: the grids differ and one of them has no CRS, so they cannot be related.
        NoOverlapError: the SAR bounds, transformed into the optical CRS, do not intersect the optical bounds.

    """
    if same_grid(optical, sar):
        return
    if optical.crs is None or sar.crs is None:
        which = "SAR" if sar.crs is None else "optical"
        raise InputRasterError(
            f"The {which} raster has no coordinate reference system, so the SAR cannot be placed on the "
            "optical grid; assign its CRS (Raster > Projections > Assign Projection) and run again."
        )
    sar_bounds = sar.bounds
    if sar.crs != optical.crs:
        sar_bounds = transform_bounds(sar.crs, optical.crs, *sar.bounds, densify_pts=21)
    left, bottom, right, top = optical.bounds
    s_left, s_bottom, s_right, s_top = sar_bounds
    if min(right, s_right) <= max(left, s_left) or min(top, s_top) <= max(bottom, s_bottom):
        raise NoOverlapError(
            "The SAR raster does not overlap the optical raster (its footprint, in the optical CRS, is "
            f"{_format_bounds(sar_bounds)}; the optical image covers {_format_bounds(optical.bounds)}); "
            "choose the Sentinel-1 scene acquired over the same area."
        )


def _format_bounds(bounds: Any) -> str:
    left, bottom, right, top = bounds
    return f"x {left:.6g}..{right:.6g}, y {bottom:.6g}..{top:.6g}"


class SarOnOpticalGrid:
    """Reads windows of the SAR image resampled onto the optical grid, NaN where there is no SAR.

    Use as a context manager over open datasets::

        with SarOnOpticalGrid(optical, sar) as aligned:
            sar_window = aligned.read(Window(0, 0, optical.width, 256))

    Attributes:
        resampled: False when the grids are identical and windows are read directly.
        covered_fraction: estimated fraction of the optical grid that the SAR covers (1.0 for identical
            grids).

    """

    def __init__(self, optical: Any, sar: Any) -> None:
        """Prepare the reader; checks the overlap and warns when it is partial.

        Args:
            optical: open rasterio dataset of the optical image (its grid is the target).
            sar: open rasterio dataset of the SAR image (2 bands).

        Raises:
            NoOverlapError: the SAR does not overlap the optical image at all.
            InputRasterError: the grids cannot be related (a CRS is missing on one side).

        """
        check_overlap(optical, sar)
        self._stack = ExitStack()
        self._sar = sar
        self._sar_nodata = sar.nodata
        self.resampled = not same_grid(optical, sar)
        self.covered_fraction = 1.0
        if not self.resampled:
            self._source: Any = sar
            return
        self._source = self._stack.enter_context(
            _warped(sar, optical.crs, optical.transform, optical.width, optical.height)
        )
        self.covered_fraction = estimate_coverage(optical, sar)
        if self.covered_fraction < FULL_COVERAGE:
            warnings.warn(
                f"The SAR raster covers only about {100 * self.covered_fraction:.1f}% of the optical raster; "
                "pixels without SAR are written as nodata.",
                GlfcrWarning,
                stacklevel=2,
            )

    def read(self, window: Window) -> np.ndarray:
        """SAR backscatter on the optical grid inside ``window``.

        Returns:
            float32 (2, window rows, window cols), VV and VH in dB, NaN where there is no data.

        """
        data = self._source.read(window=window, out_dtype=np.float32)
        if not self.resampled and self._sar_nodata is not None and not math.isnan(self._sar_nodata):
            data[data == np.float32(self._sar_nodata)] = np.nan
        return data

    def close(self) -> None:
        """Release the warped dataset (the SAR dataset itself stays open: the caller owns it)."""
        self._stack.close()

    def __enter__(self) -> SarOnOpticalGrid:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _warped(sar: Any, crs: Any, transform: Affine, width: int, height: int) -> WarpedVRT:
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


def estimate_coverage(optical: Any, sar: Any, side: int = COVERAGE_GRID_SIDE) -> float:
    """Fraction of the optical grid that has SAR data, estimated on a coarse copy of that grid.

    Warps the SAR onto the optical extent at most ``side`` x ``side`` pixels (cheap for any scene size)
    and counts the pixels with both bands present.

    Args:
        optical: open rasterio dataset whose grid is the target.
        sar: open rasterio dataset of the SAR image.
        side: longest side of the coarse grid, in pixels.

    Returns:
        A fraction in [0, 1].

    """
    factor = max(1.0, max(optical.width, optical.height) / side)
    width = max(1, round(optical.width / factor))
    height = max(1, round(optical.height / factor))
    coarse = optical.transform * Affine.scale(optical.width / width, optical.height / height)
    with _warped(sar, optical.crs, coarse, width, height) as vrt:
        data = vrt.read(out_dtype=np.float32)
    return float(np.mean(np.all(np.isfinite(data), axis=0)))
