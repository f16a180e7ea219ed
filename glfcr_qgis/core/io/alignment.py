"""Put the SAR image on the optical image's pixel grid, window by window.

The SAR comes as a ``SarSource`` (``sentinel1``): an analysis-ready raster in any scale, VV and VH in one
file or two, or a GRD product calibrated on the fly; a plain rasterio dataset is taken as 2 bands VV,
VH in dB. When the SAR shares the optical grid its windows are read directly. Otherwise the optical
grid is cut into fixed blocks; each block, when first asked for, reads the SAR pixels under it,
converts them (to dB, or to sigma0 for a GRD product) and warps them onto the block with GDAL
(bilinear; a GRD product through its ground control points), and a window is assembled from its blocks.
Fixed blocks make every pixel's value independent of how the scene is cut into windows, and no SAR
scene is ever held whole. Pixels the SAR does not cover, and SAR nodata, come out as NaN.
"""

from __future__ import annotations

import math
import warnings
from types import TracebackType
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from ..errors import GlfcrWarning, InputRasterError, NoOverlapError
from .grids import COVERAGE_GRID_SIDE, estimate_coverage, same_grid
from .sentinel1.calibration import power_to_db
from .sentinel1.raster_source import plain_db_source
from .sentinel1.sar_source import SarSource

__all__ = [
    "BLOCK_SHAPE",
    "COVERAGE_GRID_SIDE",
    "FULL_COVERAGE",
    "SarOnOpticalGrid",
    "check_overlap",
    "estimate_coverage",
    "same_grid",
]

# coverage below this is reported (the rest of the output is nodata)
FULL_COVERAGE = 0.999
# rows, columns of the blocks of the optical grid that are warped at once (about 2 MB of SAR each)
BLOCK_SHAPE = (256, 1024)
# spacing of the points whose SAR position bounds the SAR read for a block
_PROBE_STEP = 32


def check_overlap(optical: Any, sar: Any) -> None:
    """Fail early when the SAR footprint misses the optical image.

    Args:
        optical: open rasterio dataset of the optical image (or a grid with crs, transform, size, bounds).
        sar: open rasterio dataset or SarSource of the SAR image.

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
    """Reads windows of the SAR image resampled onto the optical grid: VV, VH sigma0 in dB, NaN without SAR.

    Use as a context manager over an open optical dataset and a SAR source or dataset::

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
            optical: open rasterio dataset of the optical image, or any grid with ``crs``, ``transform``,
                ``width``, ``height`` and ``bounds`` (its grid is the target).
            sar: a ``SarSource``, or an open rasterio dataset of 2 bands VV, VH in dB.

        Raises:
            NoOverlapError: the SAR does not overlap the optical image at all.
            InputRasterError: the grids cannot be related (a CRS is missing on one side).

        """
        self._source: SarSource = sar if isinstance(sar, SarSource) else plain_db_source(sar)
        check_overlap(optical, self._source)
        self._crs, self._transform = optical.crs, optical.transform
        self._width, self._height = optical.width, optical.height
        self._blocks: dict[tuple[int, int], np.ndarray] = {}
        self.resampled = not same_grid(optical, self._source)
        self.covered_fraction = 1.0
        if not self.resampled:
            return
        self.covered_fraction = self._source.coverage(optical)
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
            float32 (2, window rows, window cols), VV and VH sigma0 in dB, NaN where there is no data.

        """
        if not self.resampled:
            return self._in_db(self._source.read(window))
        top, left = int(window.row_off), int(window.col_off)
        height, width = int(window.height), int(window.width)
        out = np.full((2, height, width), np.nan, dtype=np.float32)
        block_rows, block_cols = BLOCK_SHAPE
        first_row = top // block_rows
        # windows go down the scene: blocks above this one are done with
        for key in [key for key in self._blocks if key[0] < first_row]:
            del self._blocks[key]
        for block_row in range(first_row, -(-(top + height) // block_rows)):
            for block_col in range(left // block_cols, -(-(left + width) // block_cols)):
                block = self._block(block_row, block_col)
                b_top, b_left = block_row * block_rows, block_col * block_cols
                rows = slice(max(top, b_top), min(top + height, b_top + block.shape[1]))
                cols = slice(max(left, b_left), min(left + width, b_left + block.shape[2]))
                out[:, rows.start - top : rows.stop - top, cols.start - left : cols.stop - left] = block[
                    :, rows.start - b_top : rows.stop - b_top, cols.start - b_left : cols.stop - b_left
                ]
        return out

    def _block(self, block_row: int, block_col: int) -> np.ndarray:
        key = (block_row, block_col)
        if key not in self._blocks:
            self._blocks[key] = self._warp_block(block_row * BLOCK_SHAPE[0], block_col * BLOCK_SHAPE[1])
        return self._blocks[key]

    def _warp_block(self, top: int, left: int) -> np.ndarray:
        height = min(BLOCK_SHAPE[0], self._height - top)
        width = min(BLOCK_SHAPE[1], self._width - left)
        transform = self._transform * Affine.translation(left, top)
        out = np.full((2, height, width), np.nan, dtype=np.float32)
        window = self._source_window(transform, height, width)
        if window is None:
            return out
        data = self._source.read(window)
        if np.isnan(data).all():
            return out
        reproject(
            data,
            out,
            src_crs=self._source.crs,
            dst_transform=transform,
            dst_crs=self._crs,
            resampling=Resampling.bilinear,
            src_nodata=np.nan,
            dst_nodata=np.nan,
            **self._source.georeference(window),
        )
        return self._in_db(out)

    def _source_window(self, transform: Affine, height: int, width: int) -> Window | None:
        """The SAR pixels under a block of the optical grid, with room for the resampling kernel."""
        rows = np.unique(np.r_[np.arange(0, height, _PROBE_STEP), height])
        cols = np.unique(np.r_[np.arange(0, width, _PROBE_STEP), width])
        grid_cols, grid_rows = np.meshgrid(cols, rows)
        xs, ys = transform * (grid_cols.ravel().astype(float), grid_rows.ravel().astype(float))
        image_cols, image_rows = self._source.image_coordinates(self._crs, np.asarray(xs), np.asarray(ys))
        ok = np.isfinite(image_cols) & np.isfinite(image_rows)
        if not ok.any():
            return None
        col_min, col_max = image_cols[ok].min(), image_cols[ok].max()
        row_min, row_max = image_rows[ok].min(), image_rows[ok].max()
        # bilinear reads two pixels; GDAL widens its kernel by the ratio when the SAR pixels are finer
        ratio = max((col_max - col_min) / width, (row_max - row_min) / height, 1.0)
        pad = 2 + math.ceil(2 * ratio)
        col0 = max(0, math.floor(col_min) - pad)
        row0 = max(0, math.floor(row_min) - pad)
        col1 = min(self._source.width, math.ceil(col_max) + pad)
        row1 = min(self._source.height, math.ceil(row_max) + pad)
        if col1 <= col0 or row1 <= row0:
            return None
        return Window(col0, row0, col1 - col0, row1 - row0)

    def _in_db(self, values: np.ndarray) -> np.ndarray:
        return values if self._source.in_db else power_to_db(values)

    def close(self) -> None:
        """Drop the warped blocks (the SAR itself stays open: the caller owns it)."""
        self._blocks.clear()

    def __enter__(self) -> SarOnOpticalGrid:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
