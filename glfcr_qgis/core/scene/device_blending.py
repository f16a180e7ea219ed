"""The GPU side of the strip loop: pinned host buffers, copies on their own stream, blending on the device.

``DeviceBlending`` does for a torch device what ``blending.HostBlending`` does with NumPy, with the
same float32 arithmetic (tests run it on CPU tensors and get the NumPy path's output bit for bit):

- ``stage`` (reader thread) copies a batch of network inputs into pinned host memory and starts its
  host-to-device copy on an upload stream, recording an event; ``inputs`` (network thread) makes the
  compute stream wait for that event, without blocking the host.
- ``add`` blends each predicted tile into a device accumulator (no host round trip per tile).
- ``finish`` divides the finished rows on the device and starts their device-to-host copy into pinned
  memory on a download stream; the writer thread waits for that copy (``PendingRows.result``), so the
  network thread never synchronises with the GPU.

UNTESTED ON A GPU: the CUDA streams, events and pinned buffers below have not run on a CUDA device
yet (no GPU was available to the session that wrote them; ``bench/gpu_suite.py`` runs them). On CPU
tensors the same code runs without streams and is tested (``tests/scene/test_strip_pipeline.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .tiling import TileGrid


@dataclass
class StagedBatch:
    """A batch of network inputs on (or on its way to) the device.

    Attributes:
        cloudy: (B, 13, T, T) float32 tensor on the device.
        sar: (B, 2, T, T) float32 tensor on the device.
        ready: CUDA event recorded after the host-to-device copies (None on the CPU).

    """

    cloudy: Any
    sar: Any
    ready: Any = None


@dataclass
class PendingRows:
    """Finished rows whose device-to-host copy may still be running; ``result`` waits for it.

    Attributes:
        values: float32 (bands, count, width) host tensor (pinned on CUDA).
        covered: bool (count, width) host tensor: pixels some tile reached.
        valid: bool (count, width): pixels with input data.
        copied: CUDA event recorded after the copies (None on the CPU).

    """

    values: Any
    covered: Any
    valid: np.ndarray
    copied: Any = None

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)`` as ``BlendAccumulator.finished_rows`` gives them (in the writer thread)."""
        if self.copied is not None:
            self.copied.synchronize()
        valid = self.valid & self.covered.numpy()
        values = self.values.numpy()
        values[:, ~valid] = 0.0
        return values, valid


class DeviceBlending:
    """Weighted sums of predictions and weights over one tile row, as torch tensors on ``device``."""

    def __init__(self, grid: TileGrid, bands: int, device: Any) -> None:
        """Allocate the accumulators on ``device`` (a ``torch.device``) and, on CUDA, its copy streams."""
        import torch

        self.torch = torch
        self.grid = grid
        self.bands = bands
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self._values = torch.zeros(
            (bands, grid.tile_height, grid.padded_width), dtype=torch.float32, device=device
        )
        self._weights = torch.zeros((grid.tile_height, grid.padded_width), dtype=torch.float32, device=device)
        self._weights_by_sides: dict[tuple[bool, ...], Any] = {}
        # uploads and downloads on streams of their own: a download waits for the network, an upload must not
        self._upload_stream = torch.cuda.Stream(self.device) if self.cuda else None
        self._download_stream = torch.cuda.Stream(self.device) if self.cuda else None

    # --- reader thread -------------------------------------------------------------------------------

    def stage(self, cloudy: np.ndarray, sar: np.ndarray) -> StagedBatch:
        """Start moving a batch of inputs to the device (called in the reader thread)."""
        torch = self.torch
        if not self.cuda:
            return StagedBatch(
                torch.from_numpy(cloudy).to(self.device), torch.from_numpy(sar).to(self.device)
            )
        with torch.cuda.stream(self._upload_stream):
            # pinned memory lets the copy run asynchronously; the caching host allocator keeps each
            # buffer until its copy has finished, so dropping the reference here is safe
            on_device = [
                torch.from_numpy(array).pin_memory().to(self.device, non_blocking=True)
                for array in (cloudy, sar)
            ]
            ready = torch.cuda.Event()
            ready.record(self._upload_stream)
        return StagedBatch(on_device[0], on_device[1], ready)

    # --- network thread ------------------------------------------------------------------------------

    def inputs(self, staged: StagedBatch) -> tuple[Any, Any]:
        """The staged tensors, ordered after their copies on the compute stream (no host wait)."""
        if staged.ready is not None:
            compute = self.torch.cuda.current_stream(self.device)
            compute.wait_event(staged.ready)
            for tensor in (staged.cloudy, staged.sar):
                # made on the upload stream, used on the compute stream: keep the allocator from reusing early
                tensor.record_stream(compute)
        return staged.cloudy, staged.sar

    def add(self, row: int, col: int, tile: Any) -> None:
        """Add the prediction ``tile`` (bands, tile rows, tile columns), a device tensor, with its weights."""
        weights = self._tile_weights(row, col)
        left = self.grid.col_origin(col)
        size = self.grid.tile_width
        self._values[:, :, left : left + size] += tile * weights
        self._weights[:, left : left + size] += weights

    def finish(self, count: int, valid: np.ndarray) -> PendingRows:
        """Blend the first ``count`` rows and start copying them to the host (see ``PendingRows``)."""
        torch = self.torch
        width = self.grid.width
        weights = self._weights[:count, :width]
        covered = weights > 0
        values = torch.where(
            covered, self._values[:, :count, :width] / weights, torch.zeros((), device=self.device)
        )
        if not self.cuda:
            return PendingRows(values.cpu(), covered.cpu(), valid)
        compute = torch.cuda.current_stream(self.device)
        self._download_stream.wait_stream(compute)
        with torch.cuda.stream(self._download_stream):
            host_values = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
            host_covered = torch.empty(covered.shape, dtype=covered.dtype, pin_memory=True)
            host_values.copy_(values, non_blocking=True)
            host_covered.copy_(covered, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(self._download_stream)
        for tensor in (values, covered):
            tensor.record_stream(self._download_stream)
        return PendingRows(host_values, host_covered, valid, copied)

    def carry_overlap(self) -> None:
        """Shift the overlap rows to the top and clear the rest (as ``BlendAccumulator.carry_overlap``)."""
        stride, overlap = self.grid.row_stride, self.grid.row_overlap
        if overlap:
            self._values[:, :overlap] = self._values[:, stride : stride + overlap].clone()
            self._weights[:overlap] = self._weights[stride : stride + overlap].clone()
        self._values[:, overlap:] = 0.0
        self._weights[overlap:] = 0.0

    def _tile_weights(self, row: int, col: int) -> Any:
        grid = self.grid
        key = (row > 0, row < grid.rows - 1, col > 0, col < grid.cols - 1)
        if key not in self._weights_by_sides:
            self._weights_by_sides[key] = self.torch.from_numpy(grid.weights(row, col)).to(self.device)
        return self._weights_by_sides[key]
