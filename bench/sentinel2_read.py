"""Read throughput of a Sentinel-2 L1C product (JPEG 2000 through GDAL's SENTINEL2 driver and the stack VRT)
against the same stack as a tiled GeoTIFF, in the window shapes Remove Clouds reads.

    .venv/bin/python bench/sentinel2_read.py [--size 2196] [--tile 384] [--product-dir DIR]

A product of ``size`` x ``size`` 10 m pixels is written from the real ESA metadata of
``../shared/data/sentinel_products/s2/`` (the tests' builder: only the tile size in MTD_TL.xml changes)
with image-like pixels (smooth fields and noise), lossless JPEG 2000 tiled 1024 x 1024 as ESA's files
are. Each measurement opens the input afresh (GDAL's block cache starts empty) and reads the whole
scene once: "strips" are ``tile`` rows x full width (what ``strip_runner`` reads per tile row),
"tiles" are ``tile`` x ``tile`` windows row by row. Throughput counts pixels of the 10 m grid with all
13 bands (per band: that band alone).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import REPO_ROOT, machine, print_table

sys.path.insert(0, str(REPO_ROOT / "tests"))


def image_like(seed: int) -> Callable[[str, int], np.ndarray]:
    """Pixels for ``build_product``: DN with the -1000 offset, smooth fields plus noise (~120 DN)."""
    rng = np.random.default_rng(seed)

    def pixels(band: str, side: int) -> np.ndarray:
        y = (np.arange(side, dtype=np.float32) / (side / 37.0))[:, None]
        x = (np.arange(side, dtype=np.float32) / (side / 43.0))[None, :]
        phase = np.float32(rng.uniform(0, 6.28))
        field = np.sin(x + phase) * np.cos(y - phase) + rng.normal(0, 0.1, (side, side)).astype(np.float32)
        return np.clip(2500 + 1200 * field, 1, 20000).astype(np.uint16)

    return pixels


def sweep(open_input: Callable[[], object], windows: list, band: int | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) to open the input and read every window once (all bands or one)."""
    start, cpu = time.perf_counter(), time.process_time()
    with open_input() as dataset:
        for window in windows:
            dataset.read(band, window=window) if band else dataset.read(window=window)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2196, help="product side in 10 m pixels (multiple of 6)")
    parser.add_argument("--tile", type=int, default=384, help="Remove Clouds' tile size (default 384)")
    parser.add_argument("--product-dir", type=Path, help="reuse or keep the product here")
    args = parser.parse_args()

    import rasterio
    from rasterio.windows import Window
    from sentinel2_products import BASELINE_0509, GLFCR_NAMES, build_product, zip_product

    from glfcr_qgis.core.io.optical_input import open_optical
    from glfcr_qgis.core.io.raster_io import iter_windows
    from glfcr_qgis.core.io.sentinel2.prepare import prepare_sentinel2

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.product_dir or Path(scratch)
        safe = folder / BASELINE_0509
        start = time.perf_counter()
        if not safe.exists():
            build_product(folder, size=args.size, pixels=image_like(0))
        built = time.perf_counter() - start
        archive = folder / f"{BASELINE_0509[:-5]}.zip"
        if not archive.exists():
            from sentinel2_products import BuiltProduct

            zip_product(BuiltProduct(safe, {}, args.size, 0, 0, 0), archive)
        start, cpu = time.perf_counter(), time.process_time()
        stack = prepare_sentinel2(safe, Path(scratch) / "prepared.tif").output_path
        prepared, prepared_cpu = time.perf_counter() - start, time.process_time() - cpu
        jp2_bytes = sum(p.stat().st_size for p in safe.rglob("*.jp2"))

        size, tile = args.size, args.tile
        strips = [Window(0, top, size, min(tile, size - top)) for top in range(0, size, tile)]
        tiles = list(iter_windows(size, size, tile))
        pixels = size * size

        def rates(seconds: tuple[float, float]) -> list[str]:
            wall, cpu = seconds
            return [f"{wall:.2f}", f"{cpu:.2f}", f"{pixels / wall / 1e6:.2f}", f"{pixels / cpu / 1e6:.2f}"]

        inputs = {
            "product (.SAFE, JPEG 2000)": lambda: open_optical(safe, role="bench"),
            "product (.zip, JPEG 2000)": lambda: open_optical(archive, role="bench"),
            "tiled GeoTIFF (deflate, 256 tiles)": lambda: rasterio.open(stack),
        }
        print(f"machine: {machine()}")
        print(
            f"product: {size} x {size} px at 10 m, JP2 files {jp2_bytes / 1e6:.0f} MB, built in {built:.0f} s"
        )
        rate = f"{pixels / prepared / 1e6:.2f} Mpx/s, {pixels / prepared_cpu / 1e6:.2f} Mpx per CPU-s"
        print(
            f"prepared (decoded once, written as GeoTIFF): {prepared:.1f} s wall, {prepared_cpu:.1f} s CPU, "
            f"{rate}\n"
        )
        rows = []
        for name, open_input in inputs.items():
            seconds, cpu = sweep(open_input, [])
            rows.append([name, "open only", "-", f"{seconds:.2f}", f"{cpu:.2f}", "-", "-"])
            print(*rows[-1], sep="  ", flush=True)
            for shape, windows in (("strips", strips), ("tiles", tiles)):
                rows.append([name, f"{shape} of {tile}", "13-band stack", *rates(sweep(open_input, windows))])
                print(*rows[-1], sep="  ", flush=True)
        for index, band in enumerate(GLFCR_NAMES, start=1):
            for name in ("product (.SAFE, JPEG 2000)", "tiled GeoTIFF (deflate, 256 tiles)"):
                rows.append(
                    [name, f"strips of {tile}", band, *rates(sweep(inputs[name], strips, band=index))]
                )
                print(*rows[-1], sep="  ", flush=True)
        print()
        print_table(["input", "windows", "bands", "wall s", "CPU s", "Mpx/s", "Mpx per CPU-s"], rows)


if __name__ == "__main__":
    main()
