"""Remove Clouds as a pipeline: read-ahead and write-behind threads, device blending, batch policy.

The stand-in networks here are plumbing checks (tiling, batching, threads); the real network's
fidelity through files is tested in test_remove_clouds.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scene_rasters import optical_dn, sar_db, write_raster, write_scene
from test_remove_clouds import PointwiseStandIn, leftovers, pointwise_dn, read

from glfcr_qgis.core.errors import DeviceError, OutputWriteError, ProcessingCanceled, RasterReadError
from glfcr_qgis.core.scene import pipeline, strip_runner
from glfcr_qgis.core.scene.background import ReadAhead, WriteBehind
from glfcr_qgis.core.scene.batching import (
    CPU_BATCH_SIZE,
    MAX_AUTO_BATCH,
    BatchPolicy,
    batch_size_for_memory,
)
from glfcr_qgis.core.scene.pipeline import remove_clouds

HEIGHT, WIDTH = 75, 100


class OutOfMemoryAbove(PointwiseStandIn):
    """Raises the GPU's out-of-memory error for batches of more than ``limit`` tiles."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.attempts: list[int] = []

    def forward(self, cloudy: torch.Tensor, sar: torch.Tensor) -> torch.Tensor:
        self.attempts.append(cloudy.shape[0])
        if cloudy.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().forward(cloudy, sar)


class SlowStandIn(PointwiseStandIn):
    """Takes ``seconds`` per batch and logs when it ran, to see what the threads did meanwhile."""

    def __init__(self, seconds: float, log: list[tuple[str, int]]) -> None:
        super().__init__()
        self.seconds = seconds
        self.log = log

    def forward(self, cloudy: torch.Tensor, sar: torch.Tensor) -> torch.Tensor:
        self.log.append(("infer start", len(self.tile_shapes)))
        time.sleep(self.seconds)
        out = super().forward(cloudy, sar)
        self.log.append(("infer end", len(self.tile_shapes)))
        return out


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    return write_scene(tmp_path, HEIGHT, WIDTH)


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("glfcr-")]


def run(optical: Path, sar: Path, model: torch.nn.Module, output: Path, **settings: object):  # noqa: ANN201
    defaults = {"tile_size": 32, "overlap": 8, "device": "cpu", "output_type": "Float32"}
    return remove_clouds(optical, sar, model, output, **{**defaults, **settings})


# --- the pipeline's output ---------------------------------------------------------------------------


@pytest.mark.parametrize(("batch_size", "keep_clear"), [(1, False), (3, True), (None, False)])
def test_device_blending_gives_the_numpy_pipelines_output_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int | None, keep_clear: bool
) -> None:
    """The GPU code path (staging, tensor blending, pending rows) on CPU tensors equals the NumPy path."""
    dn = optical_dn(HEIGHT, WIDTH, seed=3) // 8
    dn[:, 10:30, 20:40] = 6000  # a cloud, so keep_clear mixes
    dn[11, 10:30, 20:40] = 1000
    dn[:, 60:, 90:] = 0  # and nodata
    optical = write_raster(tmp_path / "cloudy.tif", dn.astype(np.uint16), nodata=0)
    sar = write_raster(tmp_path / "sar.tif", sar_db(HEIGHT, WIDTH))
    settings = {"batch_size": batch_size, "keep_clear": keep_clear, "output_type": "UInt16"}
    host = run(optical, sar, PointwiseStandIn(), tmp_path / "host.tif", **settings)
    monkeypatch.setattr(pipeline, "uses_device_blending", lambda device: True)
    device = run(optical, sar, PointwiseStandIn(), tmp_path / "device.tif", **settings)
    assert np.array_equal(read(host.output_path), read(device.output_path))
    assert host.valid_fraction == device.valid_fraction < 1.0


def test_reading_runs_ahead_of_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[tuple[str, int]] = []
    original = strip_runner.read_window

    def logging_read(dataset, window, *, role):  # noqa: ANN001, ANN202
        log.append(("read", int(window.row_off)))
        return original(dataset, window, role=role)

    monkeypatch.setattr(strip_runner, "read_window", logging_read)
    optical, sar = write_scene(tmp_path, 60, 40)
    model = SlowStandIn(0.3, log)
    result = run(optical, sar, model, tmp_path / "out.tif", tile_size=32, overlap=4)
    # the second strip was read while the network was still on the first strip's tiles
    first_strip_done = log.index(("infer end", 2))
    assert ("read", 28) in log[:first_strip_done]
    assert result.tiles_run == 4
    np.testing.assert_allclose(read(result.output_path), pointwise_dn(read(optical), read(sar)), atol=0.1)


def test_an_error_in_the_reader_thread_reaches_the_caller(
    tmp_path: Path, scene: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    optical, sar = scene
    original = strip_runner.read_window
    calls = []

    def failing_read(dataset, window, *, role):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 2:
            raise RasterReadError("Could not read the cloudy optical raster: disk gone.")
        return original(dataset, window, role=role)

    monkeypatch.setattr(strip_runner, "read_window", failing_read)
    with pytest.raises(RasterReadError, match="disk gone"):
        run(optical, sar, PointwiseStandIn(), tmp_path / "out.tif")
    assert leftovers(tmp_path, optical, sar) == []
    assert pipeline_threads() == []


def test_an_error_in_the_writer_thread_reaches_the_caller(
    tmp_path: Path, scene: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    optical, sar = scene
    original = strip_runner.to_output_type
    calls = []

    def failing_conversion(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 2:
            raise OutputWriteError("Could not write the output: the disk is full.")
        return original(*args, **kwargs)

    monkeypatch.setattr(strip_runner, "to_output_type", failing_conversion)
    model = PointwiseStandIn()
    with pytest.raises(OutputWriteError, match="disk is full"):
        run(optical, sar, model, tmp_path / "out.tif", tile_size=16, overlap=0)
    # the network stopped soon after: within the strips the bounded queues hold, not the whole scene
    assert len(model.tile_shapes) < 5 * 7
    assert leftovers(tmp_path, optical, sar) == []
    assert pipeline_threads() == []


def test_cancel_stops_the_threads_within_seconds(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    calls = []
    start = time.perf_counter()
    with pytest.raises(ProcessingCanceled):
        run(
            optical,
            sar,
            SlowStandIn(0.05, []),
            tmp_path / "out.tif",
            tile_size=16,
            overlap=0,
            is_canceled=lambda: calls.append(1) or len(calls) > 3,
        )
    assert time.perf_counter() - start < 10
    assert len(calls) == 4 and pipeline_threads() == []
    assert leftovers(tmp_path, optical, sar) == []


# --- batch size: chosen, measured, halved ------------------------------------------------------------


def test_out_of_memory_halves_the_batch_and_the_run_goes_on(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    model = OutOfMemoryAbove(limit=3)
    result = run(optical, sar, model, tmp_path / "out.tif", tile_size=16, overlap=0, batch_size=8)
    np.testing.assert_allclose(read(result.output_path), pointwise_dn(read(optical), read(sar)), atol=0.1)
    # 7 tiles a row: the batch of 7 failed, then batches of 3 (and the row's last tile) from there on
    assert model.attempts[:6] == [7, 3, 3, 1, 3, 3]
    assert max(shape[0] for shape in model.tile_shapes) == 3 and 7 not in model.attempts[1:]
    assert result.tiles_run == result.tiles == sum(shape[0] for shape in model.tile_shapes)


def test_out_of_memory_on_one_tile_fails_with_a_smaller_tile_hint(
    tmp_path: Path, scene: tuple[Path, Path]
) -> None:
    optical, sar = scene
    with pytest.raises(DeviceError, match=r"single 48 x 48 tile: use a smaller tile size \(e.g. 16\)"):
        run(optical, sar, OutOfMemoryAbove(limit=0), tmp_path / "out.tif", tile_size=48, batch_size=4)
    assert leftovers(tmp_path, optical, sar) == []
    assert pipeline_threads() == []


class FakeMemory:
    """A device whose tiles each take ``tile_bytes`` and that has ``free_bytes`` free."""

    def __init__(self, free_bytes: int, tile_bytes: int) -> None:
        self.free_bytes = free_bytes
        self.tile_bytes = tile_bytes
        self.allocated = 1000
        self.peak_bytes = 0
        self.released = 0

    def reset_peak(self) -> int:
        self.peak_bytes = self.allocated
        return self.allocated

    def use(self, tiles: int) -> None:
        self.peak_bytes = max(self.peak_bytes, self.allocated + tiles * self.tile_bytes)

    def peak(self) -> int:
        return self.peak_bytes

    def free(self) -> int:
        return self.free_bytes

    def release(self) -> None:
        self.released += 1


def test_automatic_batch_is_measured_on_the_first_tile() -> None:
    memory = FakeMemory(free_bytes=10_000, tile_bytes=1_000)
    policy = BatchPolicy(None, 384, memory=memory, oom_errors=(torch.cuda.OutOfMemoryError,))
    sizes = []

    def predict(cloudy: np.ndarray, sar: np.ndarray) -> np.ndarray:
        sizes.append(len(cloudy))
        memory.use(len(cloudy))
        return cloudy

    tiles = np.arange(20)
    done = [start for start, _ in policy.run(predict, tiles, tiles)]
    assert policy.measured_tile_bytes == 1_000
    assert sizes == [1, 8, 8, 3] and done == [0, 1, 9, 17]  # floor(0.8 * 10000 / 1000) = 8
    assert policy.limit == MAX_AUTO_BATCH


def test_batch_policy_defaults_and_formula() -> None:
    assert BatchPolicy(None, 256).size == CPU_BATCH_SIZE == 1  # the CPU: no memory to measure
    assert BatchPolicy(5, 256).size == BatchPolicy(5, 256).limit == 5
    assert batch_size_for_memory(80 * 2**30, 2**30) == MAX_AUTO_BATCH
    assert batch_size_for_memory(10 * 2**30, 2**30) == 8
    assert batch_size_for_memory(2**29, 2**30) == 1
    memory = FakeMemory(free_bytes=0, tile_bytes=0)
    policy = BatchPolicy(4, 64, memory=memory, oom_errors=(torch.cuda.OutOfMemoryError,))

    def predict(cloudy: np.ndarray, sar: np.ndarray) -> np.ndarray:
        if len(cloudy) > 1:
            raise torch.cuda.OutOfMemoryError("out of memory")
        return cloudy

    assert [start for start, _ in policy.run(predict, np.arange(4), np.arange(4))] == [0, 1, 2, 3]
    assert policy.size == 1 and memory.released == 2


# --- the background threads --------------------------------------------------------------------------


def test_read_ahead_is_bounded_and_raises_the_producers_error() -> None:
    produced = []

    def items():  # noqa: ANN202
        for i in range(10):
            produced.append(i)
            yield i
        raise ValueError("broken input")

    with ReadAhead(items(), depth=2) as ahead:
        assert next(ahead) == 0
        time.sleep(0.3)
        assert len(produced) <= 4  # the one taken, two queued, one waiting to be queued
        rest = []
        with pytest.raises(ValueError, match="broken input"):
            for item in ahead:
                rest.append(item)
    assert rest == list(range(1, 10))


def test_read_ahead_close_stops_a_blocked_producer() -> None:
    with ReadAhead(iter(range(1000)), depth=1) as ahead:
        next(ahead)
    assert pipeline_threads() == []


def test_write_behind_keeps_order_and_raises_the_consumers_error() -> None:
    written = []
    with WriteBehind(written.append, depth=1) as writer:
        for i in range(5):
            writer.submit(i)
        writer.finish()
    assert written == list(range(5))

    def consume(item: int) -> None:
        if item == 2:
            raise OSError("no space left")

    with pytest.raises(OSError, match="no space left"), WriteBehind(consume, depth=1) as writer:
        for i in range(100):
            writer.submit(i)
            time.sleep(0.01)
    assert pipeline_threads() == []


# --- on a GPU (skipped without one; bench/gpu_suite.py runs them) ------------------------------------


@pytest.mark.gpu
def test_device_blending_on_cuda_equals_the_cpu_pipeline(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    cpu = run(optical, sar, PointwiseStandIn(), tmp_path / "cpu.tif", batch_size=3)
    cuda = run(optical, sar, PointwiseStandIn(), tmp_path / "cuda.tif", batch_size=3, device="cuda")
    assert cuda.device.startswith("cuda")
    np.testing.assert_allclose(read(cuda.output_path), read(cpu.output_path), atol=1e-3)


@pytest.mark.gpu
def test_a_small_memory_cap_halves_the_batch_of_the_real_network(tmp_path: Path) -> None:
    """Under a memory cap that holds about two tiles, a batch of 8 halves until it fits, and the run ends."""
    from glfcr_qgis.core import GLFCR

    torch.manual_seed(0)
    model = GLFCR().cuda().eval()
    optical, sar = write_scene(tmp_path, 128, 128 * 4)
    cuda = {"tile_size": 128, "overlap": 0, "device": "cuda"}
    reference = run(optical, sar, model, tmp_path / "one.tif", batch_size=1, **cuda)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with torch.inference_mode():
        model(torch.rand(1, 13, 128, 128, device="cuda"), torch.rand(1, 2, 128, 128, device="cuda"))
    tile = torch.cuda.max_memory_allocated() - base
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction((base + 2.5 * tile) / total)
    try:
        capped = run(optical, sar, model, tmp_path / "capped.tif", batch_size=8, **cuda)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    assert 1 <= capped.batch_size <= 2
    np.testing.assert_allclose(read(capped.output_path), read(reference.output_path), atol=1.0)
    with pytest.raises(DeviceError, match="smaller tile"):
        torch.cuda.set_per_process_memory_fraction((base + 0.3 * tile) / total)
        try:
            run(optical, sar, model, tmp_path / "none.tif", batch_size=2, **cuda)
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0)
    assert not (tmp_path / "none.tif").exists()


@pytest.mark.gpu
def test_automatic_batch_on_cuda_is_measured(tmp_path: Path) -> None:
    from glfcr_qgis.core import GLFCR

    torch.manual_seed(0)
    optical, sar = write_scene(tmp_path, 128, 128 * 3)
    result = run(optical, sar, GLFCR().eval(), tmp_path / "out.tif", tile_size=128, overlap=0, device="cuda")
    assert result.tile_memory is not None and result.tile_memory > 0
    assert 1 <= result.batch_size <= MAX_AUTO_BATCH
