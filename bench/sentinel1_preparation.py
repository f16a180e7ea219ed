"""Sentinel-1 preparation throughput: GRD calibration + geocoding, and scale conversion of a raster.

    .venv/bin/python bench/sentinel1_preparation.py [--size 2048] [--repeats 3]

Times ``prepare_sentinel1`` writing a ``size`` x ``size`` 10 m UTM grid (2 bands, deflate GeoTIFF) from
(a) a GRD product built from the real ESA annotation in ``../shared`` (constructed calibration and
noise tables, random DN in the area; see ``tests/sentinel1_products.py``): calibration, thin-plate
spline geocoding and bilinear warping; (b) the same area as a linear-power raster in EPSG:4326 (scale
conversion and reprojection); (c) that raster in dB (reprojection only). Remove Clouds reads the SAR the
same way (``alignment.SarOnOpticalGrid``), so these rates are its SAR-reading cost per pixel.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import rasterio
from common import REPO_ROOT, machine, median_seconds, print_table
from rasterio.transform import from_origin
from rasterio.windows import Window

sys.path.insert(0, str(REPO_ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from sentinel1_products import build_grd_product, utm32_position

    from glfcr_qgis.core.errors import GlfcrWarning
    from glfcr_qgis.core.io.sentinel1.preparation import prepare_sentinel1

    warnings.simplefilter("ignore", GlfcrWarning)
    side = args.size
    rng = np.random.default_rng(0)
    source_side = int(side * 1.6)  # the swath is rotated against UTM: cover the grid's diagonal
    window = Window(8000, 6000, source_side, source_side)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        patches = {
            pol: [(window, rng.integers(1, high, size=(source_side, source_side)).astype(np.uint16))]
            for pol, high in (("VV", 2000), ("VH", 800))
        }
        product = build_grd_product(folder, patches)
        x, y = utm32_position(6000 + source_side / 2, 8000 + source_side / 2)
        half = side * 5.0
        extent = (round(x - half, -1), round(y - half, -1), round(x + half, -1), round(y + half, -1))

        rows = []
        grd_seconds = median_seconds(
            lambda: prepare_sentinel1(product, folder / "grd.tif", extent=extent, extent_crs="EPSG:32632"),
            args.repeats,
        )
        rows.append(("GRD product (calibrate, TPS geocode)", _rate(side, grd_seconds), f"{grd_seconds:.2f}"))
        with rasterio.open(folder / "grd.tif") as prepared:
            reference = folder / "reference.tif"
            profile = prepared.profile | {"count": 1, "dtype": "uint8", "nodata": None}
            with rasterio.open(reference, "w", **profile) as out:
                out.write(np.zeros((1, side, side), np.uint8))
        for scale, name in (("linear", "linear-power raster, EPSG:4326"), ("db", "dB raster, EPSG:4326")):
            raster = _wgs84_raster(folder / f"{scale}.tif", extent, scale, rng)
            seconds = median_seconds(
                lambda raster=raster: prepare_sentinel1(raster, folder / "out.tif", reference_path=reference),
                args.repeats,
            )
            rows.append((name, _rate(side, seconds), f"{seconds:.2f}"))
    print(machine())
    print(f"output {side} x {side} px, 10 m, UTM 32N; median of {args.repeats} after 1 warm-up")
    print_table(["input", "output px/s", "s"], rows)


def _rate(side: int, seconds: float) -> str:
    return f"{side * side / seconds:,.0f}"


def _wgs84_raster(path: Path, extent: tuple[float, ...], scale: str, rng: np.random.Generator) -> Path:
    from rasterio.warp import transform_bounds

    west, south, east, north = transform_bounds("EPSG:32632", "EPSG:4326", *extent, densify_pts=21)
    res = 0.0001  # about 8 x 11 m
    width, height = int(np.ceil((east - west) / res)), int(np.ceil((north - south) / res))
    db = np.stack([rng.uniform(-25, 0, (height, width)), rng.uniform(-32, -5, (height, width))])
    values = db if scale == "db" else 10 ** (db / 10)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 2,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_origin(west, north, res, res),
        "tiled": True,
    }
    with rasterio.open(path, "w", **profile) as out:
        out.write(values.astype(np.float32))
        out.descriptions = ("VV", "VH")
    return path


if __name__ == "__main__":
    main()
