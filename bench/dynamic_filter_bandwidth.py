"""Dynamic filter speed on CUDA: CuPy kernels against the PyTorch path, as a share of memory bandwidth.

    python bench/dynamic_filter_bandwidth.py [--batch 64] [--channels 96] [--size 64] [--k 5] [--repeats 50]

Bytes counted: forward reads input and kernel tensors and writes the output; backward reads the
input, the kernel tensor and the output gradient and writes both gradients. Times are CUDA events
after warm-up. The device-to-device copy bandwidth measured here is the ceiling.
"""

from __future__ import annotations

import argparse

from common import machine, print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=96)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    import torch

    from glfcr_qgis.core.model.dynamic_filter import kernel_conv2d_torch
    from glfcr_qgis.kernels.kernel_conv2d import kernel_conv2d_cupy

    if not torch.cuda.is_available():
        raise SystemExit("This benchmark needs a CUDA GPU.")
    b, c, s, k = args.batch, args.channels, args.size, args.k
    x = torch.randn(b, c, s, s, device="cuda")
    f = torch.randn(b, c * k * k, s, s, device="cuda")
    g = torch.randn(b, c, s, s, device="cuda")

    def timed(run) -> float:  # noqa: ANN001
        for _ in range(5):
            run()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(args.repeats):
            run()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000 / args.repeats

    big = torch.empty(2 * 1024**3 // 4, device="cuda")
    copy_seconds = timed(lambda: big.clone())
    ceiling = 2 * big.numel() * 4 / copy_seconds
    del big

    element = 4
    forward_bytes = (x.numel() + f.numel() + x.numel()) * element
    backward_bytes = (x.numel() + f.numel() + g.numel() + x.numel() + f.numel()) * element
    rows = []
    for name, function in (("CuPy", kernel_conv2d_cupy), ("PyTorch", kernel_conv2d_torch)):
        with torch.no_grad():
            forward = timed(lambda: function(x, f, k))
        xr, fr = x.clone().requires_grad_(), f.clone().requires_grad_()
        out = function(xr, fr, k)
        both = timed(lambda: torch.autograd.grad(out, (xr, fr), g, retain_graph=True))
        for label, seconds, nbytes in (("forward", forward, forward_bytes), ("backward", both, backward_bytes)):
            rate = nbytes / seconds
            rows.append([name, label, f"{seconds * 1e3:.3f}", f"{rate / 1e12:.2f}", f"{100 * rate / ceiling:.0f}%"])
    print(f"machine: {machine()}")
    print(f"shape: input ({b}, {c}, {s}, {s}), kernel ({b}, {c * k * k}, {s}, {s}), K={k}, float32")
    print(f"device-to-device copy ceiling: {ceiling / 1e12:.2f} TB/s (read + write)\n")
    print_table(["implementation", "pass", "ms", "TB/s", "of copy bandwidth"], rows)


if __name__ == "__main__":
    main()
