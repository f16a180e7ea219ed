"""(a) Network throughput in pixels per second by tile size and batch size.

    .venv/bin/python bench/network_throughput.py [--sizes 128 256 512] [--batches 1 4]
        [--device cpu|cuda] [--precision float32|bfloat16|float16] [--repeats 3] [--authors]

``--authors`` also times a transcription of the authors' network (tests/authors_glfcr.py: their
module code, with the pure-PyTorch unfold dynamic filter) on the same inputs, as the baseline of
the speed-up. Inputs are random; weights are seeded random (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import authors_network, machine, median_seconds, print_table, random_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--authors", action="store_true", help="also time the authors' implementation")
    parser.add_argument("--attention-chunk", type=int, default=0,
                        help="windows per attention step (0: the product's setting; 100000: all at once)")
    parser.add_argument("--channels-last", action="store_true", help="NHWC tensors for the convolutions")
    args = parser.parse_args()

    import torch

    import glfcr_qgis.core.model.attention as attention
    from glfcr_qgis.core.model.inference import predict, prepare_model

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.attention_chunk:
        attention.ATTENTION_CHUNK = args.attention_chunk  # read at every forward
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as scratch:
        weights = random_checkpoint(Path(scratch))
        model = prepare_model(weights, device)
        layout = torch.channels_last if args.channels_last else torch.contiguous_format
        model = model.to(memory_format=layout)
        authors_cache = {}
        print(f"machine: {machine()}")
        print(f"command: network_throughput.py {' '.join(_argv())}\n")
        rows = []
        for size in args.sizes:
            for batch in args.batches:
                generator = torch.Generator().manual_seed(size + batch)
                cloudy = torch.rand(batch, 13, size, size, generator=generator).to(device, memory_format=layout)
                sar = torch.rand(batch, 2, size, size, generator=generator).to(device, memory_format=layout)
                seconds = median_seconds(lambda: predict(model, cloudy, sar, precision=args.precision),
                                         args.repeats, sync=sync)
                pixels = batch * size * size
                row = [size, batch, args.precision, f"{seconds:.3f}", f"{pixels / seconds:,.0f}"]
                if args.authors:
                    authors = authors_cache.get(size) or authors_network(weights, size, device)
                    authors_cache = {size: authors}
                    with torch.no_grad():
                        base = median_seconds(lambda: authors(cloudy, sar), args.repeats, sync=sync)
                    row += [f"{pixels / base:,.0f}", f"{base / seconds:.2f}x"]
                rows.append(row)
                print(*row, sep="  ", flush=True)  # progress; the table follows at the end
        print()
        print_table(_headers(args.authors), rows)


def _headers(authors: bool) -> list[str]:
    headers = ["tile", "batch", "precision", "s / batch", "px/s"]
    return headers + ["authors px/s", "speed-up"] if authors else headers


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


if __name__ == "__main__":
    main()
