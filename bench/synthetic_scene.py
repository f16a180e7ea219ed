"""Write a synthetic Sentinel-2 L1C / Sentinel-1 scene pair of any size, block by block.

    python bench/synthetic_scene.py OUT_DIR --size 10980

Smooth random fields (so compression and the network see image-like data), 13-band UInt16 optical
(bands named B1..B12 with B8A) and 2-band Float32 SAR in dB (VV, VH) on the same UTM grid, tiled
(512 x 512 blocks) and deflate-compressed GeoTIFFs, written in 512-row strips (bounded memory).
``--size 10980`` gives a full Sentinel-2 tile (the GPU suite writes it on the GPU machine's disk).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

STRIP = 512
OPTICAL_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")


def _field(rng: np.random.Generator, bands: int, rows: int, cols: int, top: int) -> np.ndarray:
    y = (np.arange(top, top + rows, dtype=np.float32) / 97.0)[:, None]
    x = (np.arange(cols, dtype=np.float32) / 113.0)[None, :]
    phase = rng.uniform(0, 6.28, size=(bands, 1, 1)).astype(np.float32)
    smooth = np.sin(x + phase) * np.cos(y - phase)
    return smooth + rng.normal(0, 0.1, size=(bands, rows, cols)).astype(np.float32)


def write_scene(directory: Path, height: int, width: int, seed: int = 0) -> tuple[Path, Path]:
    """Write ``optical.tif`` and ``sar.tif`` of ``height`` x ``width`` pixels; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    transform = from_origin(300000.0, 5000000.0, 10.0, 10.0)
    # deflate spread over the cores (GDAL's NUM_THREADS): a full 10980 tile is about 3.4 GB of pixels
    common = dict(
        driver="GTiff",
        height=height,
        width=width,
        crs="EPSG:32631",
        transform=transform,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        BIGTIFF="IF_SAFER",
        num_threads="ALL_CPUS",
    )
    optical_path, sar_path = directory / "optical.tif", directory / "sar.tif"
    rng = np.random.default_rng(seed)
    with (
        rasterio.open(optical_path, "w", count=13, dtype="uint16", **common) as optical,
        rasterio.open(sar_path, "w", count=2, dtype="float32", **common) as sar,
    ):
        optical.descriptions = OPTICAL_BANDS
        sar.descriptions = ("VV", "VH")
        for top in range(0, height, STRIP):
            rows = min(STRIP, height - top)
            window = Window(0, top, width, rows)
            dn = 1500 + 1200 * _field(rng, 13, rows, width, top)
            optical.write(np.clip(dn, 0, 10000).astype(np.uint16), window=window)
            db = np.stack(
                [
                    -12.0 + 4 * _field(rng, 1, rows, width, top)[0],
                    -19.0 + 4 * _field(rng, 1, rows, width, top)[0],
                ]
            )
            sar.write(db.astype(np.float32), window=window)
    return optical_path, sar_path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--size", type=int, default=1024, help="side in pixels (square scene)")
    args = parser.parse_args()
    print(*write_scene(args.directory, args.size, args.size))


if __name__ == "__main__":
    main()
