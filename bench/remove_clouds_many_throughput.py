"""(d) Scenes per hour of ``remove_clouds_many`` on a Dask cluster, against one plain ``remove_clouds`` run.

    .venv/bin/python bench/remove_clouds_many_throughput.py [--size 1024] [--scenes 2] [--scheduler ADDR]
        [--tile 384] [--overlap 32] [--batch 1] [--device auto] [--skip-single]

Writes ``--scenes`` synthetic scene pairs of ``--size`` px, times one scene with ``remove_clouds`` in
this process (the single-scene time), then all of them with ``remove_clouds_many`` on a local cluster
sized to the machine (one worker per GPU, else one CPU worker using all cores) or on ``--scheduler``.
The batch time includes starting the cluster and each worker's first import of torch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine, print_table, random_checkpoint
from synthetic_scene import write_scene


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--scheduler", default="")
    parser.add_argument("--tile", type=int, default=384)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=None, help="tiles per batch (default: automatic)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-single", action="store_true", help="time the batch only")
    args = parser.parse_args()

    from glfcr_qgis.core import remove_clouds, remove_clouds_many

    settings = dict(tile_size=args.tile, overlap=args.overlap, batch_size=args.batch, device=args.device)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        checkpoint = random_checkpoint(folder)
        jobs = []
        for index in range(args.scenes):
            optical, sar = write_scene(folder / f"scene{index}", args.size, args.size, seed=index)
            jobs.append((optical, sar, f"scene{index}"))
        print(f"machine: {machine()}")
        print(f"scenes: {args.scenes} x {args.size} x {args.size} px (synthetic), settings {settings}\n")
        rows = []
        if not args.skip_single:
            start = time.perf_counter()
            result = remove_clouds(jobs[0][0], jobs[0][1], checkpoint, folder / "single.tif", **settings)
            seconds = time.perf_counter() - start
            rows.append(
                ["remove_clouds, this process", 1, result.device, f"{seconds:.1f}", f"{3600 / seconds:.1f}"]
            )
            print(*rows[-1], sep="  ", flush=True)
        start = time.perf_counter()
        batch = remove_clouds_many(
            jobs, folder / "out", weights=checkpoint, scheduler_address=args.scheduler or None, log=print,
            **settings,
        )
        seconds = time.perf_counter() - start
        for outcome in batch.outcomes:
            print(f"  {outcome.scene}: {outcome.status} in {outcome.seconds:.1f} s", end="")
            print(f" on {outcome.device} ({outcome.worker})")
        devices = ", ".join(sorted({outcome.device for outcome in batch.outcomes}))
        rows.append(["remove_clouds_many, cluster start included", args.scenes, devices, f"{seconds:.1f}",
                     f"{3600 * args.scenes / seconds:.1f}"])
        print()
        print_table(["run", "scenes", "device", "s", "scenes / hour"], rows)


if __name__ == "__main__":
    main()
