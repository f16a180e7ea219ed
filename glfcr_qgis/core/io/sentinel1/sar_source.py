"""The interface every SAR input offers the alignment: VV and VH read window by window on its own grid.

A source is an analysis-ready raster (``raster_source``: any scale, one or two files, sigma0 or gamma0)
or a GRD product (``grd``: digital numbers calibrated to sigma0, in radar geometry georeferenced by
ground control points). ``alignment.SarOnOpticalGrid`` asks a source which of its pixels lie under a
window of the optical grid, reads them, warps them onto the window and turns them into dB.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window


class SarSource(ABC):
    """VV and VH backscatter of one SAR input, read in windows of its own pixel grid.

    Attributes:
        name: the input's file or product name, for messages.
        crs: CRS of the source's georeferencing (EPSG:4326 for a GRD product's GCPs).
        transform: the source's affine grid, or None in radar geometry (placed by GCPs).
        width: source columns.
        height: source rows.
        bounds: the source's extent in ``crs``.
        nodata: always None (gaps are NaN after ``read``).
        in_db: True when ``read`` gives dB; False when it gives linear power, which is resampled as power
            and converted to dB afterwards.
        tags: what the outputs record about this input (scale, convention, calibration).
        summary: one line for the log: what was read and how it was converted.

    """

    name: str
    crs: CRS | None
    transform: Affine | None
    width: int
    height: int
    bounds: BoundingBox
    nodata = None
    in_db: bool = True
    tags: dict[str, str]
    summary: str

    @abstractmethod
    def read(self, window: Window) -> np.ndarray:
        """VV and VH sigma0 in ``window`` of the source grid.

        Returns:
            float32 (2, window rows, window cols): dB (or linear power when ``in_db`` is False), NaN where
            there is no data.

        """

    @abstractmethod
    def georeference(self, window: Window) -> dict[str, Any]:
        """Keyword arguments placing a ``read(window)`` array for ``rasterio.warp.reproject``."""

    @abstractmethod
    def image_coordinates(self, crs: Any, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source pixel coordinates (columns, rows; 0 at the top-left corner) of points given in ``crs``."""

    @abstractmethod
    def coverage(self, grid: Any) -> float:
        """Estimated fraction of ``grid`` (crs, transform, width, height) that this source has data for."""

    def close(self) -> None:  # noqa: B027 (most sources own nothing; a GRD product closes its files)
        """Release what the source opened (datasets it was given stay open: their opener owns them)."""

    def __enter__(self) -> SarSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
