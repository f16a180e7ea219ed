"""Every GPU measurement of issues #15 (Part 2) and #16 in one call that fits a 15-minute GPU lease.

    python3 bench/gpu_suite.py --out DIR [--only env,tests,check,filter,network,memory,scene]
        [--scene-size 10980] [--budget 480] [--dry-run]

Run it on the GPU machine through ``bench/gpu_check.sh`` (installs the carried rasterio wheels, points
the tests at the carried shared files, puts the checkout on PYTHONPATH); see BENCHMARKS.md, "GPU".
Sections, in order, each inside its own time budget (a failing section is recorded, the next runs):

  env      card, driver, CUDA, torch, CuPy, Python.
  tests    ``pytest -m gpu`` on the GPU test modules, and tests/kernels in full (nvcc, NVRTC there).
  check    the network on CUDA against the CPU path, same seeded weights, on the reference sample
           (float32 with TF32 off: max abs difference, the issue's bar is 1e-4).
  filter   dynamic filter, CuPy against PyTorch, forward and backward, 64 x 96 x 64 x 64, K = 5, as a
           share of the device-to-device copy bandwidth measured in the same run (CUDA events).
  network  pixels/s by tile (128, 256, 512) x batch (1-16) x arithmetic (float32, TF32, bfloat16 and
           float16 autocast), each with its PSNR against float32 on the reference sample (>= 45 dB;
           TF32 also max abs <= 1e-3), and TFLOP/s (FLOPs counted by torch's FlopCounterMode) against
           the card's datasheet peak.
  memory   peak memory of one tile by size and arithmetic: the figure the automatic batch uses.
  scene    ``remove_clouds`` on a synthetic scene (default 10980 x 10980, 13-band UInt16 optical and
           2-band Float32 SAR tiled GeoTIFFs written to local disk by ``synthetic_scene.py``), tile 384,
           overlap 32, automatic batch, float32 then bfloat16: seconds, stage busy times, GPU busy
           share (NVML sampling), batch size and tile memory chosen, peak GPU memory, overlap cost.

Results go to DIR/gpu_suite.json (rewritten after every section, so a timeout keeps what was done)
and DIR/gpu_suite.md. ``--dry-run`` runs every section on the CPU at toy sizes: it checks the script,
its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from common import REPO_ROOT, device_seconds, machine, print_table

# datasheet dense peaks, TFLOP/s: float32 (CUDA cores), TF32, bfloat16/float16 (tensor cores)
PEAKS = {
    "H200": {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "H100 PCIe": {"float32": 51.2, "tf32": 378.0, "bfloat16": 756.0, "float16": 756.0},
    "H100": {"float32": 67.0, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4},
    "A100": {"float32": 19.5, "tf32": 156.0, "bfloat16": 312.0, "float16": 312.0},
}
SECTIONS = ("env", "tests", "check", "filter", "network", "memory", "scene")
GPU_TEST_FILES = [
    "tests/model/test_dynamic_filter.py",
    "tests/model/test_inference.py",
    "tests/model/test_device.py",
    "tests/scene/test_strip_pipeline.py",
    "tests/evaluation/test_metrics.py",
]


class Suite:
    """Runs the sections and keeps their results, written after each one."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.results: dict = {"command": " ".join(sys.argv), "dry_run": args.dry_run, "sections": {}}
        self.markdown: list[str] = []
        self.device = "cpu" if args.dry_run else "cuda"
        self.start = time.perf_counter()

    def run(self, name: str, section: Callable[[float], dict], budget: float) -> None:
        remaining = self.args.budget - (time.perf_counter() - self.start)
        if remaining < 10:
            self.results["sections"][name] = {"skipped": "suite budget spent"}
            return
        print(f"\n=== {name} (budget {min(budget, remaining):.0f} s) ===", flush=True)
        began = time.perf_counter()
        try:
            result = section(min(budget, remaining))
        except Exception as error:  # noqa: BLE001 (recorded; the next section still runs)
            import traceback

            traceback.print_exc()
            result = {"error": f"{type(error).__name__}: {error}"}
        result["seconds"] = round(time.perf_counter() - began, 1)
        self.results["sections"][name] = result
        (self.out / "gpu_suite.json").write_text(json.dumps(self.results, indent=2, default=str))
        (self.out / "gpu_suite.md").write_text("\n".join(self.markdown) + "\n")

    def table(self, title: str, headers: list[str], rows: list[list[object]]) -> None:
        print(f"\n{title}")
        print_table(headers, rows)
        self.markdown += [
            f"### {title}",
            "",
            "| " + " | ".join(headers) + " |",
            "|" + "|".join("---" for _ in headers) + "|",
        ]
        self.markdown += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] + [""]


# --- sections ----------------------------------------------------------------------------------------


def environment(suite: Suite, budget: float) -> dict:
    import torch

    info = {
        "machine": machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "numpy": _version("numpy"),
        "cupy": _version("cupy"),
        "rasterio": _version("rasterio"),
    }
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        info.update(
            card=properties.name,
            memory_gib=round(properties.total_memory / 2**30, 1),
            multiprocessors=properties.multi_processor_count,
        )
        try:
            query = "name,driver_version,clocks.max.sm,power.limit"
            info["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as error:
            info["nvidia_smi"] = str(error)
    suite.table("Environment", ["what", "value"], [[k, v] for k, v in info.items()])
    return info


def tests(suite: Suite, budget: float) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    runs = {"gpu": [*GPU_TEST_FILES, "-m", "gpu"], "kernels": ["tests/kernels"]}
    if suite.args.dry_run:
        runs = {
            "gpu (collection only)": [*GPU_TEST_FILES, "-m", "gpu", "--collect-only"],
            "kernels": ["tests/kernels", "-k", "launch or block or plans or run_kernel or grid_and"],
        }
    result = {}
    for name, arguments in runs.items():
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *arguments]
        try:
            run = subprocess.run(
                command,
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=max(10, budget / len(runs)),
            )
            tail = (run.stdout + run.stderr).strip().splitlines()[-25:]
            result[name] = {"returncode": run.returncode, "tail": tail}
        except subprocess.TimeoutExpired as error:
            result[name] = {"returncode": "timeout", "tail": str(error.stdout or "")[-2000:].splitlines()}
        print(
            f"--- pytest {name}: exit {result[name]['returncode']}",
            *result[name]["tail"],
            sep="\n",
            flush=True,
        )
        (suite.out / f"pytest_{name.split()[0]}.log").write_text("\n".join(result[name]["tail"]) + "\n")
    suite.table(
        "GPU tests",
        ["run", "exit", "summary"],
        [[name, r["returncode"], (r["tail"] or [""])[-1]] for name, r in result.items()],
    )
    return result


def network_check(suite: Suite, budget: float) -> dict:
    import torch

    model, cloudy, sar = _seeded_network_and_sample(suite)
    with torch.inference_mode():
        on_cpu = model.cpu()(cloudy, sar)
        model.to(suite.device)
        _tf32(False)
        on_device = model(cloudy.to(suite.device), sar.to(suite.device)).cpu()
    difference = (on_device - on_cpu).abs().max().item()
    suite.table(
        "Network on the device against the CPU path (float32, TF32 off, seeded weights)",
        ["max abs difference", "bar", "holds"],
        [[f"{difference:.2e}", "1e-4", difference <= 1e-4]],
    )
    return {"max_abs_difference": difference, "holds_1e-4": difference <= 1e-4}


def dynamic_filter(suite: Suite, budget: float) -> dict:
    from dynamic_filter_bandwidth import HEADERS, measure, table_rows

    shape = (1, 8, 32) if suite.args.dry_run else (64, 96, 64)
    result = measure(*shape, k=5, repeats=3 if suite.args.dry_run else 50, device=suite.device)
    suite.table(
        f"Dynamic filter, input {result['shape']}, K=5, float32; copy ceiling "
        f"{result['copy_tb_per_s']:.2f} TB/s",
        HEADERS,
        table_rows(result),
    )
    return result


def network(suite: Suite, budget: float) -> dict:
    import torch

    from glfcr_qgis.core.model.inference import predict

    dry = suite.args.dry_run
    sizes, batches = ([32], [1, 2]) if dry else ([128, 256, 512], [1, 2, 4, 8, 16])
    precisions = ["float32", "bfloat16"] if dry else ["float32", "tf32", "bfloat16", "float16"]
    model, cloudy, sar = _seeded_network_and_sample(suite)
    model.to(suite.device)
    fidelity = _precision_fidelity(model, cloudy.to(suite.device), sar.to(suite.device))
    peaks = _peaks(suite)
    flops = {size: _flops_per_tile(model, size, suite.device) for size in sizes}
    deadline = time.perf_counter() + budget
    rows, records = [], []
    for precision in precisions:
        for size in sizes:
            for batch in batches:
                if time.perf_counter() > deadline:
                    break
                _tf32(precision == "tf32")
                arithmetic = "float32" if precision == "tf32" else precision
                x = torch.rand(batch, 13, size, size, device=suite.device)
                s = torch.rand(batch, 2, size, size, device=suite.device)
                try:
                    seconds = device_seconds(
                        lambda x=x, s=s, a=arithmetic: predict(model, x, s, precision=a),
                        suite.device,
                        repeats=1 if dry else 3,
                    )
                except torch.cuda.OutOfMemoryError:
                    records.append(
                        {"precision": precision, "tile": size, "batch": batch, "error": "out of memory"}
                    )
                    torch.cuda.empty_cache()
                    break
                rate = batch * flops[size] / seconds / 1e12
                peak = peaks.get(precision)
                record = {
                    "precision": precision,
                    "tile": size,
                    "batch": batch,
                    "seconds": seconds,
                    "pixels_per_second": batch * size * size / seconds,
                    "tflops": rate,
                    "share_of_peak": rate / peak if peak else None,
                }
                records.append(record)
                rows.append(
                    [
                        precision,
                        size,
                        batch,
                        f"{seconds * 1e3:.1f}",
                        f"{record['pixels_per_second']:,.0f}",
                        f"{rate:.1f}",
                        f"{100 * rate / peak:.0f}%" if peak else "-",
                    ]
                )
                print(*rows[-1], sep="  ", flush=True)
    _tf32(False)
    suite.table(
        "Network throughput",
        ["arithmetic", "tile", "batch", "ms / batch", "px/s", "TFLOP/s", "of peak"],
        rows,
    )
    suite.table(
        "Arithmetic against float32 on the reference sample (seeded weights)",
        ["arithmetic", "PSNR (dB)", "max abs", "holds"],
        [[p, f"{f['psnr']:.1f}", f"{f['max_abs']:.1e}", f["holds"]] for p, f in fidelity.items()],
    )
    suite.table(
        "FLOPs per tile (FlopCounterMode)",
        ["tile", "GFLOP"],
        [[k, f"{v / 1e9:.1f}"] for k, v in flops.items()],
    )
    return {"flops_per_tile": flops, "peaks": peaks, "fidelity": fidelity, "rows": records}


def memory(suite: Suite, budget: float) -> dict:
    import torch

    from glfcr_qgis.core.model.inference import predict

    if suite.device == "cpu":
        return {"skipped": "needs a CUDA device (peak memory is read from PyTorch's CUDA allocator)"}
    from glfcr_qgis.core.scene.batching import CudaMemory, batch_size_for_memory

    model, _, _ = _seeded_network_and_sample(suite)
    model.to(suite.device)
    probe = CudaMemory(torch.device(suite.device))
    rows, records = [], []
    for precision in ("float32", "bfloat16"):
        for size in (128, 256, 384, 512):
            x = torch.rand(1, 13, size, size, device=suite.device)
            s = torch.rand(1, 2, size, size, device=suite.device)
            predict(model, x, s, precision=precision)
            torch.cuda.synchronize()
            base = probe.reset_peak()
            predict(model, x, s, precision=precision)
            torch.cuda.synchronize()
            tile = probe.peak() - base
            batch = batch_size_for_memory(probe.free(), tile)
            records.append(
                {
                    "precision": precision,
                    "tile": size,
                    "tile_bytes": tile,
                    "bytes_per_pixel": tile / size**2,
                    "automatic_batch": batch,
                }
            )
            rows.append([precision, size, f"{tile / 2**20:,.0f}", f"{tile / size**2:,.0f}", batch])
    suite.table(
        "Peak memory of one tile", ["arithmetic", "tile", "MiB", "bytes / pixel", "automatic batch"], rows
    )
    return {"rows": records}


def scene(suite: Suite, budget: float) -> dict:
    import torch
    from synthetic_scene import write_scene

    from glfcr_qgis.core.scene.pipeline import remove_clouds

    size = 48 if suite.args.dry_run else suite.args.scene_size
    folder = Path(suite.args.scene_dir or tempfile.mkdtemp(prefix="glfcr_scene_"))
    optical, sar = folder / "optical.tif", folder / "sar.tif"
    began = time.perf_counter()
    if not (optical.exists() and sar.exists()):
        write_scene(folder, size, size)
    written = time.perf_counter() - began
    model, _, _ = _seeded_network_and_sample(suite)
    tile = 32 if suite.args.dry_run else 384
    overlap = 8 if suite.args.dry_run else 32
    settings = {"tile_size": tile, "overlap": overlap, "device": suite.device}
    if not suite.args.dry_run:
        # warm-up on a small scene (CuPy compilation, cuDNN algorithm choice), so timed runs are steady
        warm = folder / "warm"
        if not (warm / "optical.tif").exists():
            write_scene(warm, 2 * tile, 2 * tile)
        remove_clouds(warm / "optical.tif", warm / "sar.tif", model, folder / "warm.tif", **settings)
    rows, records = [], []
    # bfloat16 is for the GPU (on a CPU without native bfloat16 it is 30x slower than float32)
    for precision in ["float32"] if suite.args.dry_run else ["float32", "bfloat16"]:
        if time.perf_counter() - began > budget * 0.6 and records:
            break
        if suite.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        sampler = _UtilizationSampler()
        start = time.perf_counter()
        result = remove_clouds(
            optical, sar, model, folder / f"out_{precision}.tif", precision=precision, **settings
        )
        seconds = time.perf_counter() - start
        busy_share = sampler.stop()
        timings = {name: getattr(result.timings, name) for name in ("read", "infer", "blend", "write")}
        peak = torch.cuda.max_memory_allocated() / 2**30 if suite.device == "cuda" else None
        records.append(
            {
                "precision": precision,
                "seconds": seconds,
                "size": size,
                "stage_busy_seconds": timings,
                "gpu_busy_share": busy_share,
                "batch_size": result.batch_size,
                "tile_memory": result.tile_memory,
                "peak_gpu_gib": peak,
                "overlap_cost": result.overlap_cost,
                "tile_used": result.tile_size,
                "tiles_run": result.tiles_run,
            }
        )
        rows.append(
            [
                precision,
                f"{seconds:.1f}",
                f"{size * size / seconds / 1e6:.2f}",
                " / ".join(f"{v:.1f}" for v in timings.values()),
                "-" if busy_share is None else f"{100 * busy_share:.0f}%",
                result.batch_size,
                "-" if peak is None else f"{peak:.1f}",
                f"{result.overlap_cost:.2f}",
            ]
        )
        print(*rows[-1], sep="  ", flush=True)
    suite.table(
        f"remove_clouds, {size} x {size} synthetic scene (written in {written:.0f} s), "
        f"tile {tile}, overlap {overlap}",
        [
            "arithmetic",
            "s",
            "Mpx/s",
            "busy s read / infer / blend / write",
            "GPU busy",
            "batch",
            "peak GiB",
            "overlap cost",
        ],
        rows,
    )
    return {"scene_written_seconds": written, "rows": records}


# --- helpers -----------------------------------------------------------------------------------------


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 (absent or broken: say so)
        return None


def _tf32(enabled: bool) -> None:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def _seeded_network_and_sample(suite: Suite):  # noqa: ANN202
    """GLF-CR with seeded random weights, and the reference sample's inputs (random ones if not carried)."""
    import torch

    from glfcr_qgis.core import GLFCR

    torch.manual_seed(1234)
    model = GLFCR().eval()
    shared = Path(os.environ.get("GLFCR_SHARED_DIR") or REPO_ROOT.parent / "shared")
    sample = shared / "reference" / "glfcr_reference_io.pt"
    size = 32 if suite.args.dry_run else 128
    if sample.is_file():
        io = torch.load(sample, weights_only=True)
        return model, io["cloudy"][..., :size, :size].contiguous(), io["sar"][..., :size, :size].contiguous()
    generator = torch.Generator().manual_seed(0)
    return (
        model,
        torch.rand(1, 13, size, size, generator=generator),
        torch.rand(1, 2, size, size, generator=generator),
    )


def _precision_fidelity(model, cloudy, sar) -> dict:  # noqa: ANN001
    import torch

    from glfcr_qgis.core.model.inference import predict

    _tf32(False)
    reference = predict(model, cloudy, sar).float().cpu()
    fidelity = {}
    for precision in ("tf32", "bfloat16", "float16"):
        if precision == "float16" and cloudy.device.type != "cuda":
            continue
        _tf32(precision == "tf32")
        output = (
            predict(model, cloudy, sar, precision="float32" if precision == "tf32" else precision)
            .float()
            .cpu()
        )
        mse = torch.mean((output - reference) ** 2).item()
        psnr = 100.0 if mse == 0 else 20 * math.log10(1 / math.sqrt(mse))
        max_abs = (output - reference).abs().max().item()
        fidelity[precision] = {
            "psnr": psnr,
            "max_abs": max_abs,
            "holds": max_abs <= 1e-3 if precision == "tf32" else psnr >= 45.0,
        }
    _tf32(False)
    return fidelity


def _flops_per_tile(model, size: int, device: str) -> float:  # noqa: ANN001
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 13, size, size, device=device)
    s = torch.rand(1, 2, size, size, device=device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x, s)
    return float(counter.get_total_flops())


def _peaks(suite: Suite) -> dict:
    import torch

    if suite.device == "cpu":
        return {}
    name = torch.cuda.get_device_name()
    for card, peaks in PEAKS.items():
        if card in name:
            return peaks
    return {}


class _UtilizationSampler:
    """The GPU's busy share from NVML's utilisation counter, sampled every 50 ms (None without NVML)."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._read = lambda: pynvml.nvmlDeviceGetUtilizationRates(self._handle).gpu
        except Exception:  # noqa: BLE001 (no NVML: no share)
            self._read = None
            return
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append(self._read())

    def stop(self) -> float | None:
        if self._read is None:
            return None
        self._stop.set()
        self._thread.join()
        return sum(self.samples) / len(self.samples) / 100 if self.samples else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_suite_out"))
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole suite")
    parser.add_argument("--scene-size", type=int, default=10980)
    parser.add_argument("--scene-dir", type=Path, help="keep or reuse the synthetic scene here")
    parser.add_argument("--dry-run", action="store_true", help="every section on the CPU at toy sizes")
    args = parser.parse_args()

    import torch

    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("No CUDA device: run with --dry-run to check the script on the CPU.")
    suite = Suite(args)
    chosen = [name.strip() for name in args.only.split(",")]
    budgets = {"env": 30, "tests": 150, "check": 60, "filter": 60, "network": 150, "memory": 60, "scene": 240}
    sections = {
        "env": environment,
        "tests": tests,
        "check": network_check,
        "filter": dynamic_filter,
        "network": network,
        "memory": memory,
        "scene": scene,
    }
    for name in SECTIONS:
        if name in chosen:
            suite.run(name, lambda budget, name=name: sections[name](suite, budget), budgets[name])
    print(
        f"\nwritten: {suite.out / 'gpu_suite.json'}, {suite.out / 'gpu_suite.md'} "
        f"({time.perf_counter() - suite.start:.0f} s)"
    )


if __name__ == "__main__":
    main()
