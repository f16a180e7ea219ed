"""Tiny seeded optical/SAR scene pairs for the Remove Clouds tests, written as GeoTIFFs in a test's folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine, from_origin
from rasterio.warp import calculate_default_transform, reproject

UTM31 = CRS.from_epsg(32631)
ORIGIN = (600000.0, 5000000.0)
PIXEL = 10.0


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    transform: Affine | None = None,
    crs: CRS | None = UTM31,
    nodata: float | None = None,
    descriptions: list[str] | None = None,
) -> Path:
    """Write ``data`` (bands, H, W) as a GeoTIFF on a 10 m UTM grid at ``ORIGIN`` unless told otherwise."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform or from_origin(*ORIGIN, PIXEL, PIXEL),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data)
        if descriptions:
            for index, text in enumerate(descriptions, start=1):
                dataset.set_band_description(index, text)
    return path


def optical_dn(height: int, width: int, seed: int = 0, bands: int = 13) -> np.ndarray:
    """Seeded Sentinel-2-like digital numbers: uint16 (bands, height, width) in 200..9000."""
    rng = np.random.default_rng(seed)
    return rng.integers(200, 9000, size=(bands, height, width)).astype(np.uint16)


def sar_db(height: int, width: int, seed: int = 1) -> np.ndarray:
    """Seeded backscatter: float32 (2, height, width) in dB, VV in -25..0 and VH in -32..-5."""
    rng = np.random.default_rng(seed)
    vv = rng.uniform(-25.0, 0.0, size=(height, width))
    vh = rng.uniform(-32.0, -5.0, size=(height, width))
    return np.stack([vv, vh]).astype(np.float32)


def write_scene(folder: Path, height: int = 75, width: int = 100, seed: int = 0) -> tuple[Path, Path]:
    """An optical (13-band UInt16) and SAR (2-band Float32) pair on the same grid; returns their paths."""
    optical = write_raster(folder / "cloudy.tif", optical_dn(height, width, seed))
    sar = write_raster(folder / "sar.tif", sar_db(height, width, seed + 1))
    return optical, sar


def reproject_raster(source: Path, destination: Path, crs: str | CRS) -> Path:
    """Warp ``source`` into ``crs`` (bilinear, NaN outside) the way a user would with gdalwarp."""
    with rasterio.open(source) as src:
        transform, width, height = calculate_default_transform(
            src.crs, crs, src.width, src.height, *src.bounds
        )
        data = np.full((src.count, height, width), np.nan, dtype=np.float32)
        reproject(
            src.read(out_dtype=np.float32),
            data,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs=crs,
            resampling=Resampling.bilinear,
            dst_nodata=np.nan,
        )
    return write_raster(
        destination, data, transform=transform, crs=CRS.from_user_input(crs), nodata=float("nan")
    )


@pytest.fixture
def single_thread_torch() -> Iterator[None]:
    """One torch thread for a test: on two shared cores, thread hand-offs cost more than they gain."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sar_in_scale(db: np.ndarray, scale: str) -> np.ndarray:
    """Backscatter in dB as another scale would hold it: "linear" power 10^(dB/10), "amplitude" its root."""
    power = 10.0 ** (db.astype(np.float64) / 10.0)
    return (power if scale == "linear" else np.sqrt(power)).astype(np.float32)
