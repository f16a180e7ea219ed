"""Cloud Mask throughput per method, and what computing s2cloudless at 10 m instead of 60 m would cost.

    .venv/bin/python bench/cloud_mask_methods.py --size 1536 --repeats 1

Writes a synthetic scene (bench/synthetic_scene.py) and times ``core.cloud_mask`` with the authors'
detector and with s2cloudless (block 1024), then the bare LightGBM classifier on 10 m-sized and
60 m-sized pixel counts of that scene. The product's own mask is a JPEG 2000 read, not timed here.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from common import machine, median_seconds, print_table
from synthetic_scene import write_scene

from glfcr_qgis.core.scene.cloud_masking import cloud_mask
from glfcr_qgis.core.scene.s2cloudless_detector import cloud_probability


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1536)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(machine())
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        optical, _ = write_scene(Path(folder), args.size, args.size)
        pixels = args.size * args.size
        for method in ("authors", "s2cloudless"):
            seconds = median_seconds(
                lambda method=method: cloud_mask(optical, Path(folder) / f"{method}.tif", method=method),
                args.repeats,
            )
            rows.append([f"cloud_mask, {method}", f"{args.size}x{args.size}", f"{seconds:.2f}",
                         f"{pixels / seconds:,.0f}"])
    rng = np.random.default_rng(0)
    for label, count in (("LightGBM at 60 m", pixels // 36), ("LightGBM at 10 m", pixels)):
        features = rng.uniform(0.0, 0.5, size=(1, count, 10)).astype(np.float32)
        seconds = median_seconds(lambda features=features: cloud_probability(features), args.repeats)
        rows.append([label, f"{count:,} px", f"{seconds:.2f}", f"{pixels / seconds:,.0f} (scene px/s)"])
    print_table(["what", "pixels", "seconds", "10 m px/s"], rows)


if __name__ == "__main__":
    main()
