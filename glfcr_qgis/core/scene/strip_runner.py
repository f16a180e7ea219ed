"""The strip loop of Remove Clouds: read a row of tiles, run them through the network, blend, write.

The scene is processed in horizontal strips, one row of tiles at a time: the strip is read (SAR
resampled onto the optical grid on the fly), its tiles go through the network in batches, the
predictions are blended (``blending``), and the rows no later tile touches are written out while the
overlap rows are carried to the next strip. Peak memory is about ``width x tile_size x 13 x 4 bytes``
times a small factor, whatever the scene's height.

It is a pipeline, not a loop: a background thread reads and normalises the next strip while the
network runs (``background.ReadAhead``), and another converts and writes the finished rows
(``background.WriteBehind``); each thread alone uses its datasets. On a GPU the batches are staged in
pinned memory and copied on their own stream, and blending stays on the device
(``device_blending``), so the network thread never waits for the host. The batch size follows
``batching.BatchPolicy`` (measured on a GPU, halved on out-of-memory errors).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
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
from .background import ReadAhead, WriteBehind
from .batching import BatchPolicy, DeviceMemory
from .blending import HostBlending
from .keep_clear import ClearPixelShare
from .output_writer import to_output_type
from .tiling import TileGrid, reflect_index

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]
# called with the fraction of one batch's forward pass done; it raises ProcessingCanceled to stop
StepCallback = Callable[[float], None]
# (cloudy, sar, on_step) -> prediction; on_step is called between the network's stages. NumPy
# (B, 13, T, T) and (B, 2, T, T) float32 -> (B, 13, T, T) on the CPU; with device blending, tensors on the
# device in and out
BatchPredictor = Callable[[Any, Any, StepCallback], Any]
# extra outputs of finished rows: (top, count, valid, mask classes or None, prediction share or None),
# called in the writer thread. A hook with a ``classify(window)`` attribute (the cloud mask) gets the
# classes read in the reader thread, which alone reads the optical dataset.
RowHook = Callable[[int, int, np.ndarray, "np.ndarray | None", "np.ndarray | None"], None]

# strips read ahead of the network (each holds one tile row of inputs: about 0.5 GB for a 10980-wide scene)
READ_AHEAD_STRIPS = 1
# finished row blocks waiting to be written
WRITE_BEHIND_BLOCKS = 2

# stage timings are added to from the reader, network and writer threads
_TIMINGS_LOCK = threading.Lock()


@dataclass
class StageTimings:
    """Seconds each stage of a run was busy.

    Reading, the network and writing run in their own threads, so the stages overlap in time and
    their sum can exceed the run's wall time.

    Attributes:
        mask: the cloud-mask pass over the scene and the per-strip clear-pixel shares (``keep_clear``).
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
        """Add the time spent inside the ``with`` block to stage ``name`` (from any thread)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            with _TIMINGS_LOCK:
                setattr(self, name, getattr(self, name) + elapsed)


@dataclass
class StripWork:
    """One tile row, read and normalised by the reader thread.

    Attributes:
        row: tile row index.
        top: first scene row it finishes.
        finished: scene rows it finishes (written after its tiles are blended).
        valid: bool (finished, width), pixels with data in both inputs.
        batches: ``(columns, staged inputs)`` per batch, in column order.
        skipped: tiles without any valid pixel (not run).
        cloudy_rows: optical DN of the finished rows (``keep_clear`` only).
        share: the prediction's share of the finished rows (``keep_clear`` only).
        classes: cloud-mask classes of the finished rows (``keep_clear``, or a row hook that asks).

    """

    row: int
    top: int
    finished: int
    valid: np.ndarray
    batches: list[tuple[list[int], Any]]
    skipped: int
    cloudy_rows: np.ndarray | None = None
    share: np.ndarray | None = None
    classes: np.ndarray | None = None


class StripRunner:
    """One pass of the network over a scene, strip by strip, writing the blended result."""

    def __init__(
        self,
        *,
        optical: Any,
        aligned: SarOnOpticalGrid,
        grid: TileGrid,
        predict: BatchPredictor,
        batch_size: int | None,
        dtype: type[np.generic],
        nodata: float,
        clear_weights: ClearPixelShare | None,
        timings: StageTimings,
        progress: ProgressCallback,
        is_canceled: CancelCheck,
        row_hook: RowHook | None = None,
        blending: Any = None,
        memory: DeviceMemory | None = None,
    ) -> None:
        """Prepare a run; ``write`` does it.

        Args:
            optical: open optical dataset (read only by the reader thread from ``write`` on).
            aligned: the SAR on the optical grid (likewise).
            grid: the tiling.
            predict: the network on a batch (``BatchPredictor``).
            batch_size: tiles per batch, or None for automatic (``batching.BatchPolicy``).
            dtype: output data type.
            nodata: output nodata value.
            clear_weights: the clear-pixel share (``keep_clear``), or None.
            timings: where each stage's busy time is added.
            progress: called with the fraction of tiles done (network thread).
            is_canceled: polled before every batch and between the network's stages (network thread).
            row_hook: extra outputs of the finished rows (the provenance raster), or None.
            blending: ``HostBlending`` (default, NumPy) or ``device_blending.DeviceBlending``.
            memory: the device's memory for the automatic batch size (None on the CPU).

        """
        self.optical = optical
        self.aligned = aligned
        self.grid = grid
        self.predict = predict
        self.policy = BatchPolicy(batch_size, grid.tile_size, memory=memory)
        self.dtype = dtype
        self.nodata = nodata
        self.clear_weights = clear_weights
        self.timings = timings
        self.progress = progress
        self.is_canceled = is_canceled
        # extra outputs of the finished rows (the provenance raster), called as they are written
        self.row_hook = row_hook
        self.tiles_done = 0
        self._batch_done = 0
        self.tiles_run = 0
        self.valid_pixels = 0
        self._blend = blending if blending is not None else HostBlending(grid, len(S2_L1C_BANDS))
        self._columns = reflect_index(np.arange(grid.padded_width), grid.width)

    def write(self, path: Path, profile: dict[str, Any], tags: dict[str, str]) -> None:
        """Run every tile and write the blended scene to ``path`` (a new GeoTIFF)."""
        with rasterio.open(path, "w", **profile) as destination:
            set_band_descriptions(destination, S2_L1C_BANDS)
            destination.update_tags(**tags)
            with (
                ReadAhead(self._read_strips(), depth=READ_AHEAD_STRIPS) as strips,
                WriteBehind(partial(self._write_rows, destination), depth=WRITE_BEHIND_BLOCKS) as writer,
            ):
                for strip in strips:
                    self._run_strip(strip, writer)
                writer.finish()
            with self.timings.stage("write"):
                # GDAL compresses the blocks it still holds when the file closes: time it as writing
                destination.close()

    # --- reader thread -----------------------------------------------------------------------------

    def _read_strips(self) -> Iterator[StripWork]:
        for row in range(self.grid.rows):
            yield self._prepare_strip(row)

    def _prepare_strip(self, row: int) -> StripWork:
        grid = self.grid
        with self.timings.stage("read"):
            cloudy, sar = self._read_strip(row)
            valid = ~(np.isnan(cloudy).any(axis=0) | np.isnan(sar).any(axis=0))
            batches: list[tuple[list[int], Any]] = []
            pending: list[tuple[int, np.ndarray, np.ndarray]] = []
            skipped = 0
            for col in range(grid.cols):
                left = grid.origin(col)
                window = np.s_[..., left : left + grid.tile_size]
                if not valid[window].any():
                    # nothing of this tile reaches the output; its pixels stay nodata
                    skipped += 1
                    continue
                pending.append((col, *network_inputs(cloudy[window], sar[window])))
                if len(pending) == self.policy.limit:
                    batches.append(self._stage(pending))
                    pending = []
            if pending:
                batches.append(self._stage(pending))
        top = grid.origin(row)
        finished = grid.height - top if row == grid.rows - 1 else grid.stride
        work = StripWork(row, top, finished, valid[:finished, : grid.width], batches, skipped)
        with self.timings.stage("mask"):
            if self.clear_weights is not None:
                work.cloudy_rows = cloudy[:, :finished, : grid.width].copy()
                work.share, work.classes = self.clear_weights.rows(top, finished)
            elif getattr(self.row_hook, "classify", None) is not None:
                work.classes, _ = self.row_hook.classify(Window(0, top, grid.width, finished))
        return work

    def _stage(self, pending: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[list[int], Any]:
        columns = [item[0] for item in pending]
        staged = self._blend.stage(
            np.stack([item[1] for item in pending]), np.stack([item[2] for item in pending])
        )
        return columns, staged

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

    # --- network thread ----------------------------------------------------------------------------

    def _run_strip(self, strip: StripWork, writer: WriteBehind) -> None:
        self.tiles_done += strip.skipped
        for columns, staged in strip.batches:
            self._on_step(0, len(columns), 0.0)
            cloudy, sar = self._blend.inputs(staged)
            self._batch_done = 0
            for start, prediction in self.policy.run(self._timed_predict, cloudy, sar):
                with self.timings.stage("blend"):
                    for offset, tile in enumerate(prediction):
                        self._blend.add(strip.row, columns[start + offset], tile)
                self._batch_done += len(prediction)
            self.tiles_done += len(columns)
            self.tiles_run += len(columns)
            self.progress(self.tiles_done / self.grid.tile_count)
        self.progress(self.tiles_done / self.grid.tile_count)
        with self.timings.stage("blend"):
            rows = self._blend.finish(strip.finished, strip.valid)
        self._blend.carry_overlap()
        writer.submit((strip, rows))

    def _timed_predict(self, cloudy: Any, sar: Any) -> Any:
        with self.timings.stage("infer"):
            # tiles of the batch before this chunk (a batch runs in chunks after an out-of-memory error)
            done = self._batch_done
            return self.predict(cloudy, sar, lambda fraction: self._on_step(done, len(cloudy), fraction))

    def _on_step(self, start: int, tiles: int, fraction: float) -> None:
        # between the network's blocks: a cancel is honoured within a fraction of a tile
        if self.is_canceled():
            raise ProcessingCanceled("Remove Clouds was canceled; no output was written.")
        self.progress((self.tiles_done + start + fraction * tiles) / self.grid.tile_count)

    # --- writer thread -----------------------------------------------------------------------------

    def _write_rows(self, destination: Any, item: tuple[StripWork, Any]) -> None:
        strip, rows = item
        with self.timings.stage("blend"):
            block = self._finish_rows(rows, strip)
        with self.timings.stage("write"):
            destination.write(block, window=Window(0, strip.top, self.grid.width, strip.finished))

    def _finish_rows(self, rows: Any, strip: StripWork) -> np.ndarray:
        """The finished rows as output values: (13, count, width) in the output type."""
        dn, valid = rows.result()
        dn *= np.float32(OPTICAL_SCALE)
        if strip.share is not None:
            dn = strip.share * dn + (1.0 - strip.share) * np.nan_to_num(strip.cloudy_rows)
        if self.row_hook is not None:
            self.row_hook(strip.top, strip.finished, valid, strip.classes, strip.share)
        self.valid_pixels += int(valid.sum())
        return to_output_type(dn, valid, self.dtype, self.nodata)


def network_inputs(cloudy_dn: np.ndarray, sar_db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill gaps and normalise one tile: (13, T, T) DN and (2, T, T) dB with NaN gaps -> float32 inputs."""
    # the authors' loader: NaN -> mean of the whole array (all bands), then clip and scale
    cloudy = normalize_optical(fill_nan_with_mean(cloudy_dn.copy()))
    sar = normalize_sar(fill_nan_with_mean(sar_db.copy()))
    return cloudy, sar
