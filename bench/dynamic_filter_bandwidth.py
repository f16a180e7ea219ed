"""Dynamic filter speed on CUDA: CuPy kernels against the PyTorch path, as a share of memory bandwidth.

    python bench/dynamic_filter_bandwidth.py [--batch 64] [--channels 96] [--size 64] [--k 5] [--repeats 50]

Bytes counted: forward reads input and kernel tensors and writes the output; backward reads the
input, the kernel tensor and the output gradient and writes both gradients. Times are CUDA events
after warm-up. The device-to-device copy bandwidth measured in the same run is the ceiling.
``--device cpu`` times the PyTorch path alone (a dry run of the script; the numbers mean little).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from common import device_seconds, machine, print_table

HEADERS = ["implementation", "pass", "ms", "TB/s", "of copy bandwidth"]


def measure(batch: int, channels: int, size: int, k: int, repeats: int, device: str = "cuda") -> dict:
    """Time forward and backward of each implementation; returns the ceiling and one row per (impl, pass)."""
    import torch

    from glfcr_qgis.core.model.dynamic_filter import kernel_conv2d_torch

    cuda = torch.device(device).type == "cuda"
    implementations: list[tuple[str, Callable]] = []
    if cuda:
        from glfcr_qgis.kernels.kernel_conv2d import kernel_conv2d_cupy

        implementations.append(("CuPy", kernel_conv2d_cupy))
    implementations.append(("PyTorch", kernel_conv2d_torch))
    x = torch.randn(batch, channels, size, size, device=device)
    f = torch.randn(batch, channels * k * k, size, size, device=device)
    g = torch.randn(batch, channels, size, size, device=device)

    def timed(run: Callable[[], object]) -> float:
        return device_seconds(run, device, repeats, warmup=3)

    # 2 GiB on a GPU (far beyond its caches); 64 MiB for a CPU dry run
    big = torch.empty((2 * 1024**3 if cuda else 64 * 1024**2) // 4, device=device)
    copy_seconds = timed(big.clone)
    ceiling = 2 * big.numel() * 4 / copy_seconds
    del big

    element = 4
    forward_bytes = (x.numel() + f.numel() + x.numel()) * element
    backward_bytes = (x.numel() + f.numel() + g.numel() + x.numel() + f.numel()) * element
    rows = []
    for name, function in implementations:
        with torch.no_grad():
            forward = timed(lambda function=function: function(x, f, k))
        xr, fr = x.clone().requires_grad_(), f.clone().requires_grad_()
        out = function(xr, fr, k)
        backward = timed(
            lambda out=out, xr=xr, fr=fr: torch.autograd.grad(out, (xr, fr), g, retain_graph=True)
        )
        for label, seconds, nbytes in (
            ("forward", forward, forward_bytes),
            ("backward", backward, backward_bytes),
        ):
            rate = nbytes / seconds
            rows.append(
                {
                    "implementation": name,
                    "pass": label,
                    "ms": seconds * 1e3,
                    "tb_per_s": rate / 1e12,
                    "share_of_copy": rate / ceiling,
                }
            )
    return {"shape": [batch, channels, size, size], "k": k, "copy_tb_per_s": ceiling / 1e12, "rows": rows}


def table_rows(result: dict) -> list[list[str]]:
    """The rows of ``measure`` as strings for ``print_table``."""
    return [
        [
            r["implementation"],
            r["pass"],
            f"{r['ms']:.3f}",
            f"{r['tb_per_s']:.2f}",
            f"{100 * r['share_of_copy']:.0f}%",
        ]
        for r in result["rows"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=96)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("This benchmark needs a CUDA GPU (or --device cpu for a dry run).")
    result = measure(args.batch, args.channels, args.size, args.k, args.repeats, args.device)
    b, c, s, k = args.batch, args.channels, args.size, args.k
    print(f"machine: {machine()}")
    print(f"shape: input ({b}, {c}, {s}, {s}), kernel ({b}, {c * k * k}, {s}, {s}), K={k}, float32")
    print(f"device-to-device copy ceiling: {result['copy_tb_per_s']:.2f} TB/s (read + write)\n")
    print_table(HEADERS, table_rows(result))


if __name__ == "__main__":
    main()
