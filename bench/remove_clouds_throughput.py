"""(b) End-to-end ``remove_clouds`` throughput on a synthetic scene, with each stage's busy share.

    .venv/bin/python bench/remove_clouds_throughput.py [--size 1024] [--tile 384] [--overlap 32]
        [--batch N] [--device cpu|cuda] [--precision float32] [--repeats 3] [--scene-dir DIR]
        [--authors-repeats 3] [--json FILE]

Reading, SAR handling, normalising, the network, blending and writing (deflate GeoTIFF) are all
included. The "vs authors" column divides by the authors' network alone (tests/authors_glfcr.py, on
one 128 x 128 tile, their test setup) timed in the same run on the same device, so it counts every
overhead of ours against their bare network; ``--authors-repeats 0`` leaves it out. Stage shares are
each stage's busy time over their sum: reading and writing run in background threads, so the
stages overlap and their sum can exceed the wall time (the "busy / wall" column).
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import authors_pixels_per_second, machine, print_table, random_checkpoint
from synthetic_scene import write_scene

STAGES = ("read", "infer", "blend", "write")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--tile", type=int, nargs="+", default=[384])
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=0, help="tiles per batch (0: automatic)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scene-dir", type=Path, help="reuse or keep the synthetic scene here")
    parser.add_argument("--authors-repeats", type=int, default=3, help="timed runs of the authors' network")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    import torch

    from glfcr_qgis.core.model.inference import prepare_model
    from glfcr_qgis.core.scene.pipeline import remove_clouds

    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        scene_dir = args.scene_dir or scratch_dir
        optical, sar = scene_dir / "optical.tif", scene_dir / "sar.tif"
        if not (optical.exists() and sar.exists()):
            start = time.perf_counter()
            write_scene(scene_dir, args.size, args.size)
            print(f"scene written in {time.perf_counter() - start:.1f} s", flush=True)
        weights = random_checkpoint(scratch_dir)
        model = prepare_model(weights, args.device)
        extra = (
            {"precision": args.precision}
            if "precision" in inspect.signature(remove_clouds).parameters
            else {}
        )
        print(f"machine: {machine()}")
        print(
            f"scene: {args.size} x {args.size} px, 13-band UInt16 optical + 2-band Float32 SAR (synthetic)\n"
        )
        rows, records = [], []
        for tile in args.tile:
            runs = []
            for _ in range(args.repeats):
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                result = remove_clouds(
                    optical,
                    sar,
                    model,
                    scratch_dir / "out.tif",
                    tile_size=tile,
                    overlap=args.overlap,
                    batch_size=args.batch or None,
                    device=args.device,
                    **extra,
                )
                runs.append((time.perf_counter() - start, result))
            seconds, result = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
            stages = {name: getattr(result.timings, name) for name in STAGES}
            busy = sum(stages.values()) or 1.0
            pixels = args.size * args.size
            peak = (
                torch.cuda.max_memory_allocated() / 2**30
                if torch.device(args.device).type == "cuda"
                else None
            )
            records.append(
                {
                    "tile_asked": tile,
                    "tile_used": result.tile_size,
                    "overlap": args.overlap,
                    "batch": args.batch or "auto",
                    "precision": args.precision,
                    "seconds": seconds,
                    "all_seconds": [s for s, _ in runs],
                    "pixels_per_second": pixels / seconds,
                    "overlap_cost": result.overlap_cost,
                    "stage_seconds": stages,
                    "peak_gpu_gib": peak,
                    "device": result.device,
                }
            )
            rows.append(
                [
                    f"{tile} ({result.tile_size})",
                    args.overlap,
                    args.batch or "auto",
                    args.precision,
                    f"{seconds:.1f}",
                    f"{pixels / seconds:,.0f}",
                    f"{result.overlap_cost:.2f}",
                    " / ".join(f"{name} {100 * value / busy:.0f}%" for name, value in stages.items()),
                    f"{busy / seconds:.2f}",
                ]
            )
            print(*rows[-1], sep="  ", flush=True)
            print(
                f"  all runs: {', '.join(f'{s:.1f}' for s, _ in runs)} s "
                f"(median {statistics.median(s for s, _ in runs):.1f})",
                flush=True,
            )
        headers = [
            "tile asked (used)",
            "overlap",
            "batch",
            "precision",
            "s",
            "px/s",
            "overlap cost",
            "stage shares (read / infer / blend / write)",
            "busy / wall",
        ]
        if args.authors_repeats:
            authors = authors_pixels_per_second(weights, 128, args.device, args.authors_repeats)
            print(f"\nauthors' network, 128 x 128 tile, same run: {authors:,.0f} px/s")
            headers.append(f"vs authors' network ({authors:,.0f} px/s)")
            for row, record in zip(rows, records, strict=True):
                record["authors_pixels_per_second"] = authors
                row.append(f"{record['pixels_per_second'] / authors:.2f}x")
        print()
        print_table(headers, rows)
        if args.json:
            args.json.write_text(
                json.dumps({"machine": machine(), "size": args.size, "rows": records}, indent=2)
            )


if __name__ == "__main__":
    main()
