"""(b) End-to-end ``remove_clouds`` throughput on a synthetic scene, with each stage's share.

    .venv/bin/python bench/remove_clouds_throughput.py [--size 1024] [--tile 256] [--overlap 32]
        [--batch 1] [--device cpu] [--repeats 3] [--scene-dir DIR]

Reading, SAR handling, normalising, the network, blending and writing (deflate GeoTIFF) are all
included. The speed-up column compares with the authors' network alone at 1.63 s per 128 x 128
tile on this machine (10,051 px/s; the figure of issue #6), so it counts every overhead against us.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import tempfile
import time
from pathlib import Path

from common import machine, print_table, random_checkpoint
from synthetic_scene import write_scene

AUTHORS_PIXELS_PER_SECOND = 128 * 128 / 1.63


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--tile", type=int, nargs="+", default=[256])
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scene-dir", type=Path, help="reuse or keep the synthetic scene here")
    args = parser.parse_args()

    from glfcr_qgis.core.model.inference import prepare_model
    from glfcr_qgis.core.scene.pipeline import remove_clouds

    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        scene_dir = args.scene_dir or scratch_dir
        optical, sar = scene_dir / "optical.tif", scene_dir / "sar.tif"
        if not (optical.exists() and sar.exists()):
            write_scene(scene_dir, args.size, args.size)
        model = prepare_model(random_checkpoint(scratch_dir), args.device)
        extra = {"precision": args.precision} if "precision" in inspect.signature(remove_clouds).parameters else {}
        print(f"machine: {machine()}")
        print(f"scene: {args.size} x {args.size} px, 13-band UInt16 optical + 2-band Float32 SAR (synthetic)\n")
        rows = []
        for tile in args.tile:
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                result = remove_clouds(optical, sar, model, scratch_dir / "out.tif", tile_size=tile,
                                       overlap=args.overlap, batch_size=args.batch, device=args.device, **extra)
                runs.append((time.perf_counter() - start, result))
            seconds, result = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
            stages = {name: getattr(result.timings, name) for name in ("read", "infer", "blend", "write")}
            total = sum(stages.values()) or 1.0
            pixels = args.size * args.size
            rows.append([
                tile, args.overlap, args.batch, args.precision, f"{seconds:.1f}", f"{pixels / seconds:,.0f}",
                f"{pixels / seconds / AUTHORS_PIXELS_PER_SECOND:.2f}x", f"{result.overlap_cost:.2f}",
                " / ".join(f"{name} {100 * value / total:.0f}%" for name, value in stages.items()),
            ])
            print(*rows[-1], sep="  ", flush=True)
            print(f"  all runs: {', '.join(f'{s:.1f}' for s, _ in runs)} s (median {statistics.median(s for s, _ in runs):.1f})")
        print()
        print_table(["tile", "overlap", "batch", "precision", "s", "px/s", "vs authors' network", "overlap cost",
                     "stage shares (read / infer / blend / write)"], rows)


if __name__ == "__main__":
    main()
