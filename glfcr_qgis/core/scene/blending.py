"""Blending overlapping tile predictions into one strip of the scene.

Each tile's prediction is weighted by the tiling's raised-cosine weights (a partition of unity where
tiles overlap) and added into a strip-sized accumulator; finished rows are divided by their summed
weights, and the overlap rows that the next strip still adds to are carried to the top.
"""

from __future__ import annotations

import numpy as np

from .tiling import TileGrid


class BlendAccumulator:
    """Weighted sums of predictions and of weights over one tile row of the scene (padded width)."""

    def __init__(self, grid: TileGrid, bands: int) -> None:
        """Allocate the accumulator for tile rows of ``grid`` with ``bands`` bands."""
        self.grid = grid
        self.bands = bands
        self._values = np.zeros((bands, grid.tile_size, grid.padded_width), dtype=np.float32)
        self._weights = np.zeros((grid.tile_size, grid.padded_width), dtype=np.float32)
        self._weights_by_sides: dict[tuple[bool, ...], np.ndarray] = {}

    def add(self, row: int, col: int, tile: np.ndarray) -> None:
        """Add the prediction ``tile`` (bands, T, T) of tile (row, col) with its blending weights."""
        weights = self._tile_weights(row, col)
        left = self.grid.origin(col)
        size = self.grid.tile_size
        self._values[:, :, left : left + size] += tile * weights
        self._weights[:, left : left + size] += weights

    def finished_rows(self, count: int, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The blended first ``count`` rows over the scene's width, and where they hold a prediction.

        Args:
            count: rows to finish (from the top of the accumulator).
            valid: bool (count, width), pixels with input data.

        Returns:
            ``(values, valid)``: float32 (bands, count, width), 0 where not valid; and ``valid`` less the
            pixels no tile reached.

        """
        width = self.grid.width
        weights = self._weights[:count, :width]
        valid = valid & (weights > 0)
        values = np.divide(
            self._values[:, :count, :width],
            weights,
            out=np.zeros((self.bands, count, width), np.float32),
            where=valid,
        )
        return values, valid

    def carry_overlap(self) -> None:
        """Shift the rows the next tile row still adds to (the overlap) to the top; clear the rest."""
        stride, overlap = self.grid.stride, self.grid.overlap
        if overlap:
            self._values[:, :overlap] = self._values[:, stride : stride + overlap]
            self._weights[:overlap] = self._weights[stride : stride + overlap]
        self._values[:, overlap:] = 0.0
        self._weights[overlap:] = 0.0

    def _tile_weights(self, row: int, col: int) -> np.ndarray:
        """Blending weights of a tile, computed once per kind of tile (edge sides differ)."""
        grid = self.grid
        key = (row > 0, row < grid.rows - 1, col > 0, col < grid.cols - 1)
        if key not in self._weights_by_sides:
            self._weights_by_sides[key] = grid.weights(row, col)
        return self._weights_by_sides[key]


class ReadyRows:
    """Finished rows that are already on the host (the interface of ``device_blending.PendingRows``)."""

    def __init__(self, values: np.ndarray, valid: np.ndarray) -> None:
        """Hold ``finished_rows``' result."""
        self.values = values
        self.valid = valid

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)`` as ``BlendAccumulator.finished_rows`` gave them."""
        return self.values, self.valid


class HostBlending(BlendAccumulator):
    """The strip loop's blending on the CPU: NumPy batches in, NumPy rows out, nothing to wait for.

    ``device_blending.DeviceBlending`` has the same methods for tensors on a GPU.
    """

    def stage(self, cloudy: np.ndarray, sar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A batch of network inputs as the network thread will take it (here: unchanged)."""
        return cloudy, sar

    def inputs(self, staged: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The staged batch's (cloudy, sar) inputs."""
        return staged

    def finish(self, count: int, valid: np.ndarray) -> ReadyRows:
        """The blended first ``count`` rows (see ``finished_rows``)."""
        return ReadyRows(*self.finished_rows(count, valid))
