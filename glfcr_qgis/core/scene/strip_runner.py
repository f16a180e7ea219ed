"""The strip loop of Remove Clouds: read a row of tiles, run them through the network, blend, write.

The scene is processed in horizontal strips, one row of tiles at a time: the strip is read (SAR
resampled onto the optical grid on the fly), its tiles go through the network in batches, the
predictions are blended (``blending``), and the rows no later tile touches are written out while the
overlap rows are carried to the next strip. Peak memory is about ``width x tile_size x 13 x 4 bytes``
times a small factor, whatever the scene's height.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import ProcessingCanceled
from ..io.alignment import SarOnOpticalGrid
from ..io.normalization import (
    OPTICAL_SCALE,
    S2_L1C_BANDS,
    fill_nan_with_mean,
    normalize_optical,
    normalize_sar,
)
from ..io.raster_io import nodata_mask, read_window, set_band_descriptions
from .blending import BlendAccumulator
from .keep_clear import ClearPixelShare
from .output_writer import to_output_type
from .tiling import TileGrid, reflect_index

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]
# called with the fraction of one batch's forward pass done; it raises ProcessingCanceled to stop
StepCallback = Callable[[float], None]
# (cloudy, sar, on_step) -> prediction; on_step is called between the network's stages
BatchPredictor = Callable[[np.ndarray, np.ndarray, StepCallback], np.ndarray]
# extra outputs of finished rows: (top, count, valid, mask classes or None, prediction share or None)
RowHook = Callable[[int, int, np.ndarray, "np.ndarray | None", "np.ndarray | None"], None]


@dataclass
class StageTimings:
    """Seconds spent in each stage of a run.

    Attributes:
        mask: the cloud-mask pass over the scene (``keep_clear`` only).
        read: reading windows (SAR resampling included), filling gaps and normalising.
        infer: the network's forward passes (device transfers included).
        blend: weighting, accumulating and finishing predictions (clear-pixel mixing included).
        write: writing the output (COG conversion included).

    """

    mask: float = 0.0
    read: float = 0.0
    infer: float = 0.0
    blend: float = 0.0
    write: float = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time spent inside the ``with`` block to stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, name, getattr(self, name) + time.perf_counter() - start)


class StripRunner:
    """One pass of the network over a scene, strip by strip, writing the blended result."""

    def __init__(
        self,
        *,
        optical: Any,
        aligned: SarOnOpticalGrid,
        grid: TileGrid,
        predict: BatchPredictor,
        batch_size: int,
        dtype: type[np.generic],
        nodata: float,
        clear_weights: ClearPixelShare | None,
        timings: StageTimings,
        progress: ProgressCallback,
        is_canceled: CancelCheck,
        row_hook: RowHook | None = None,
    ) -> None:
        self.optical = optical
        self.aligned = aligned
        self.grid = grid
        self.predict = predict
        self.batch_size = batch_size
        self.dtype = dtype
        self.nodata = nodata
        self.clear_weights = clear_weights
        self.timings = timings
        self.progress = progress
        self.is_canceled = is_canceled
        # extra outputs of the finished rows (the provenance raster), called as they are written
        self.row_hook = row_hook
        self.tiles_done = 0
        self.tiles_run = 0
        self.valid_pixels = 0
        self._blend = BlendAccumulator(grid, len(S2_L1C_BANDS))
        self._columns = reflect_index(np.arange(grid.padded_width), grid.width)

    def write(self, path: Path, profile: dict[str, Any], tags: dict[str, str]) -> None:
        """Run every tile and write the blended scene to ``path`` (a new GeoTIFF)."""
        with rasterio.open(path, "w", **profile) as destination:
            set_band_descriptions(destination, S2_L1C_BANDS)
            destination.update_tags(**tags)
            for row in range(self.grid.rows):
                self._run_tile_row(row, destination)
            with self.timings.stage("write"):
                # GDAL compresses the blocks it still holds when the file closes: time it as writing
                destination.close()

    def _run_tile_row(self, row: int, destination: Any) -> None:
        grid = self.grid
        with self.timings.stage("read"):
            cloudy, sar = self._read_strip(row)
            valid = ~(np.isnan(cloudy).any(axis=0) | np.isnan(sar).any(axis=0))
        batch: list[tuple[int, np.ndarray, np.ndarray]] = []
        for col in range(grid.cols):
            left = grid.origin(col)
            window = np.s_[..., left : left + grid.tile_size]
            if not valid[window].any():
                # nothing of this tile reaches the output; its pixels stay nodata
                self.tiles_done += 1
                continue
            with self.timings.stage("read"):
                batch.append((col, *network_inputs(cloudy[window], sar[window])))
            if len(batch) == self.batch_size:
                self._run_batch(row, batch)
                batch = []
        if batch:
            self._run_batch(row, batch)
        self.progress(self.tiles_done / grid.tile_count)
        top = grid.origin(row)
        finished = grid.height - top if row == grid.rows - 1 else grid.stride
        with self.timings.stage("blend"):
            block = self._finish_rows(
                finished, cloudy[:, :finished, : grid.width], valid[:finished, : grid.width], top
            )
        with self.timings.stage("write"):
            destination.write(block, window=Window(0, top, grid.width, finished))
        self._blend.carry_overlap()

    def _read_strip(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Read one tile row, padded at the scene edges.

        Returns:
            Optical DN float32 (13, tile, padded width) and SAR dB float32 (2, tile, padded width),
            NaN where data is missing.

        """
        grid = self.grid
        rows = reflect_index(grid.origin(row) + np.arange(grid.tile_size), grid.height)
        top, bottom = int(rows.min()), int(rows.max()) + 1
        window = Window(0, top, grid.width, bottom - top)
        raw = read_window(self.optical, window, role="cloudy optical")
        cloudy = raw.astype(np.float32)
        cloudy[:, nodata_mask(raw, self.optical.nodatavals)] = np.nan
        sar = self.aligned.read(window)
        pick = np.ix_(rows - top, self._columns)
        return cloudy[:, pick[0], pick[1]], sar[:, pick[0], pick[1]]

    def _run_batch(self, row: int, batch: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        def on_step(fraction: float) -> None:
            # between the network's blocks: a cancel is honoured within a fraction of a tile
            if self.is_canceled():
                raise ProcessingCanceled("Remove Clouds was canceled; no output was written.")
            self.progress((self.tiles_done + fraction * len(batch)) / self.grid.tile_count)

        on_step(0.0)
        with self.timings.stage("infer"):
            prediction = self.predict(
                np.stack([item[1] for item in batch]), np.stack([item[2] for item in batch]), on_step
            )
        with self.timings.stage("blend"):
            for (col, _, _), tile in zip(batch, prediction, strict=True):
                self._blend.add(row, col, tile)
        self.tiles_done += len(batch)
        self.tiles_run += len(batch)
        self.progress(self.tiles_done / self.grid.tile_count)

    def _finish_rows(self, count: int, cloudy_dn: np.ndarray, valid: np.ndarray, top: int) -> np.ndarray:
        """The first ``count`` accumulated rows as output values: (13, count, width) in the output type."""
        dn, valid = self._blend.finished_rows(count, valid)
        dn *= np.float32(OPTICAL_SCALE)
        network_share = classes = None
        if self.clear_weights is not None:
            network_share, classes = self.clear_weights.rows(top, count)
            dn = network_share * dn + (1.0 - network_share) * np.nan_to_num(cloudy_dn)
        if self.row_hook is not None:
            self.row_hook(top, count, valid, classes, network_share)
        self.valid_pixels += int(valid.sum())
        return to_output_type(dn, valid, self.dtype, self.nodata)


def network_inputs(cloudy_dn: np.ndarray, sar_db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill gaps and normalise one tile: (13, T, T) DN and (2, T, T) dB with NaN gaps -> float32 inputs."""
    # the authors' loader: NaN -> mean of the whole array (all bands), then clip and scale
    cloudy = normalize_optical(fill_nan_with_mean(cloudy_dn.copy()))
    sar = normalize_sar(fill_nan_with_mean(sar_db.copy()))
    return cloudy, sar
