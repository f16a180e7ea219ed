"""(c) Peak resident memory of ``remove_clouds`` for scenes of two sizes (4x the pixels).

    .venv/bin/python bench/remove_clouds_memory.py [--sizes 512 1024] [--tile 256] [--overlap 32] [--batch 1]

Each run is a fresh process, so its peak RSS (getrusage) is that run's alone. The baseline row is
the same process after importing torch and loading the network, before touching the scene: the
difference is what the scene costs, and it must not grow with the scene.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, print_table, random_checkpoint
from synthetic_scene import write_scene


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(args: argparse.Namespace) -> None:
    from glfcr_qgis.core.model.inference import prepare_model
    from glfcr_qgis.core.scene.pipeline import remove_clouds

    model = prepare_model(args.weights, "cpu")
    if args.baseline_only:
        print(json.dumps({"peak_mib": _peak_mib(), "seconds": 0.0}))
        return
    start = time.perf_counter()
    remove_clouds(args.optical, args.sar, model, args.output, tile_size=args.tile, overlap=args.overlap,
                  batch_size=args.batch, device="cpu")
    print(json.dumps({"peak_mib": _peak_mib(), "seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-only", action="store_true", help=argparse.SUPPRESS)
    for name in ("weights", "optical", "sar", "output"):
        parser.add_argument(f"--{name}", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        weights = random_checkpoint(scratch_dir)
        print(f"machine: {machine()}\n")
        rows = []
        runs = [("baseline (torch + network loaded)", None)] + [(f"{size} x {size}", size) for size in args.sizes]
        for label, size in runs:
            command = [sys.executable, __file__, "--child", "--weights", str(weights), "--tile", str(args.tile),
                       "--overlap", str(args.overlap), "--batch", str(args.batch)]
            if size is None:
                command += ["--baseline-only"]
            else:
                scene = scratch_dir / f"scene{size}"
                optical, sar = write_scene(scene, size, size)
                command += ["--optical", str(optical), "--sar", str(sar), "--output", str(scene / "out.tif")]
            report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            rows.append([label, f"{(size or 0) ** 2:,}", f"{report['peak_mib']:.0f}", f"{report['seconds']:.1f}"])
            print(*rows[-1], sep="  ", flush=True)
        print()
        print_table(["scene", "pixels", "peak RSS (MiB)", "s"], rows)
        print(f"\ntile {args.tile}, overlap {args.overlap}, batch {args.batch}, CPU")


if __name__ == "__main__":
    main()
