"""How many tiles go through the network at once, and what happens when the GPU runs out of memory.

On the CPU the default is one tile per batch: larger batches were slower in the benchmarks
(``BENCHMARKS.md``), as the activations leave the caches. On a GPU the first tile of a run is a
measurement: the peak memory it took (``torch.cuda.max_memory_allocated``, for the tile size and
precision of that run) sets the batch for the rest,

    batch = min(MAX_AUTO_BATCH, floor(MEMORY_HEADROOM * free memory / peak memory of one tile))

where free memory is what the driver reports plus what PyTorch's allocator holds unused. Whatever
the batch, a ``torch.cuda.OutOfMemoryError`` halves it and the same tiles are tried again, down to
one tile, where the run stops with a sentence suggesting a smaller tile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ..errors import DeviceError, ParameterValueError
from .tiling import NETWORK_MULTIPLE

# tiles per batch on the CPU (BENCHMARKS.md: 256 x 4 ran at 14.8k px/s against 17.4k for batch 1)
CPU_BATCH_SIZE = 1
# more tiles per batch gain nothing on a GPU once the network's matrices fill it; fewer waits per strip
MAX_AUTO_BATCH = 16
# share of the free memory a batch may take: cuDNN workspaces and the allocator's fragmentation need room
MEMORY_HEADROOM = 0.8


class DeviceMemory(Protocol):
    """What the batch policy reads of a device's memory (``CudaMemory``; tests pass a stand-in)."""

    def reset_peak(self) -> int:
        """Start a measurement; returns the bytes allocated now."""

    def peak(self) -> int:
        """Most bytes allocated since ``reset_peak``."""

    def free(self) -> int:
        """Bytes a batch could still take."""

    def release(self) -> None:
        """Hand cached, unused blocks back after an out-of-memory error."""


class CudaMemory:
    """``DeviceMemory`` of a CUDA device through PyTorch's caching allocator (no device synchronisation)."""

    def __init__(self, device: Any) -> None:
        """Read the memory of ``device`` (a CUDA ``torch.device``)."""
        self.device = device

    def reset_peak(self) -> int:
        """Start a measurement; returns the bytes allocated now."""
        import torch

        torch.cuda.reset_peak_memory_stats(self.device)
        return torch.cuda.memory_allocated(self.device)

    def peak(self) -> int:
        """Most bytes allocated since ``reset_peak``."""
        import torch

        return torch.cuda.max_memory_allocated(self.device)

    def free(self) -> int:
        """Free device memory plus the allocator's reserved but unused bytes."""
        import torch

        free, _ = torch.cuda.mem_get_info(self.device)
        return free + torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)

    def release(self) -> None:
        """Empty PyTorch's cache so the retry starts from a clean allocator."""
        import torch

        torch.cuda.empty_cache()


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "the batch did not fit" (``torch.cuda.OutOfMemoryError``)."""
    import torch

    return (torch.cuda.OutOfMemoryError,)


def batch_size_for_memory(free_bytes: int, tile_bytes: int, max_batch: int = MAX_AUTO_BATCH) -> int:
    """Tiles per batch fitting ``MEMORY_HEADROOM`` of ``free_bytes``, ``tile_bytes`` each (at least 1)."""
    if tile_bytes <= 0:
        return max_batch
    return int(max(1, min(max_batch, MEMORY_HEADROOM * free_bytes // tile_bytes)))


def check_batch_size(batch_size: int | None) -> None:
    """Refuse a batch size that is neither None (automatic) nor a positive whole number."""
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ParameterValueError(
            f"Batch size {batch_size} is not a positive whole number of tiles; use 1 or more "
            "(or leave it unset to choose it automatically)."
        )


class BatchPolicy:
    """The batch size of one run: chosen, measured on the first tile (GPU), halved on out-of-memory.

    Attributes:
        size: tiles per forward pass now.
        limit: tiles per batch the reader assembles (the size may only shrink below it).
        measured_tile_bytes: peak memory of one tile, once measured (GPU, automatic size only).

    """

    def __init__(
        self,
        requested: int | None,
        tile_size: int,
        *,
        memory: DeviceMemory | None = None,
        max_batch: int = MAX_AUTO_BATCH,
        oom_errors: tuple[type[BaseException], ...] | None = None,
    ) -> None:
        """Set the policy.

        Args:
            requested: tiles per batch asked for, or None for automatic.
            tile_size: tile side, for the error message.
            memory: the device's memory (None on the CPU: no measurement, ``CPU_BATCH_SIZE``).
            max_batch: cap of the automatic size.
            oom_errors: exception types that halve the batch (default ``torch.cuda.OutOfMemoryError``).

        """
        check_batch_size(requested)
        self.tile_size = tile_size
        self.memory = memory
        self.oom_errors = oom_errors if oom_errors is not None else out_of_memory_errors()
        self.measured_tile_bytes: int | None = None
        self._calibrate = requested is None and memory is not None
        if requested is not None:
            self.size = int(requested)
        elif memory is None:
            self.size = CPU_BATCH_SIZE
        else:
            self.size = 1  # the first tile is the measurement
        self.limit = self.size if not self._calibrate else max_batch
        self.max_batch = max_batch

    def run(self, predict: Callable[[Any, Any], Any], cloudy: Any, sar: Any) -> Iterator[tuple[int, Any]]:
        """Predict a batch of tiles in chunks of ``size``, halving it on out-of-memory errors.

        Args:
            predict: the network on (B, 13, T, T) and (B, 2, T, T) inputs.
            cloudy: the batch's optical inputs (anything sliceable along the first axis).
            sar: the batch's SAR inputs.

        Yields:
            ``(start, prediction)``: the prediction of tiles ``start`` to ``start + len(prediction) - 1``.

        Raises:
            DeviceError: even a single tile does not fit in the GPU's memory.

        """
        count = len(cloudy)
        start = 0
        while start < count:
            size = min(self.size, count - start)
            stop = start + size
            try:
                before = self.memory.reset_peak() if self._calibrate else 0
                prediction = predict(cloudy[start:stop], sar[start:stop])
                if self._calibrate:
                    self._set_from_measurement((self.memory.peak() - before) // size)
            except self.oom_errors as error:
                if size == 1:
                    raise DeviceError(self._single_tile_message()) from error
                self.size = max(1, size // 2)
                if self.memory is not None:
                    self.memory.release()
                continue
            yield start, prediction
            start = stop

    def _set_from_measurement(self, tile_bytes: int) -> None:
        self._calibrate = False
        self.measured_tile_bytes = int(tile_bytes)
        self.size = batch_size_for_memory(self.memory.free(), int(tile_bytes), self.max_batch)

    def _single_tile_message(self) -> str:
        smaller = max(NETWORK_MULTIPLE, self.tile_size // 2 // NETWORK_MULTIPLE * NETWORK_MULTIPLE)
        return (
            f"The GPU ran out of memory on a single {self.tile_size} x {self.tile_size} tile: use a smaller "
            f"tile size (e.g. {smaller}), close other programs using the GPU, or run on the CPU."
        )
