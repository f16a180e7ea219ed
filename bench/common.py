"""Helpers shared by the benchmark scripts: timing, machine description, tables, random weights."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1, sync: Callable[[], None] = lambda: None) -> float:
    """Median wall time of ``run`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def device_seconds(run: Callable[[], object], device: object, repeats: int, warmup: int = 1) -> float:
    """Mean seconds per call of ``run`` after ``warmup`` calls: CUDA events on a GPU, the host clock elsewhere."""
    import torch

    for _ in range(warmup):
        run()
    if torch.device(device).type != "cuda":
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        return (time.perf_counter() - start) / repeats
    torch.cuda.synchronize()
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(repeats):
        run()
    end.record()
    torch.cuda.synchronize()
    return begin.elapsed_time(end) / 1000 / repeats


def machine() -> str:
    """One line describing the CPU, core count, Python and torch."""
    import torch

    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores{gpu}; Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table (pastes straight into BENCHMARKS.md)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


def random_checkpoint(directory: Path, seed: int = 1234) -> Path:
    """A GLF-CR checkpoint with seeded random weights: speed does not depend on the weights' values."""
    import torch

    from glfcr_qgis.core import GLFCR, save_checkpoint

    torch.manual_seed(seed)
    path = directory / "glfcr_random.pth"
    save_checkpoint(GLFCR(), path)
    return path


def authors_network(weights: Path, size: int, device: object):  # noqa: ANN201
    """The authors' network (tests/authors_glfcr.py, their module code) for ``size`` tiles."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from authors_glfcr import RDN_residual_CR

    from glfcr_qgis.core.model.checkpoint import load_state_dict

    network = RDN_residual_CR(size)
    # the attention masks are buffers computed for the tile size; theirs is built for `size` already
    state = {k: v for k, v in load_state_dict(weights).items() if not k.endswith("attn_mask")}
    network.load_state_dict(state, strict=False)
    return network.to(device).eval()


def authors_pixels_per_second(weights: Path, size: int, device: object, repeats: int) -> float:
    """The authors' network's speed on one random ``size`` x ``size`` tile, median of ``repeats`` runs."""
    import torch

    network = authors_network(weights, size, device)
    generator = torch.Generator().manual_seed(size)
    cloudy = torch.rand(1, 13, size, size, generator=generator).to(device)
    sar = torch.rand(1, 2, size, size, generator=generator).to(device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    with torch.no_grad():
        seconds = median_seconds(lambda: network(cloudy, sar), repeats, sync=sync)
    return size * size / seconds
