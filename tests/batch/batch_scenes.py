"""Helpers of the batch tests: tiny real-sample scenes, jobs CSVs, raster comparisons.

The scenes are 64 px crops of the SEN12MS-CR samples (one 64 px tile each with the random reference
checkpoint), so every scene costs one forward pass of the real network.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

SAMPLES = "data/sen12mscr_samples"
WINTER, FALL = "ROIs2017_winter_112_p797", "ROIs1970_fall_139_p839"
# name -> (sample, row, column) of a 64 px crop
CROPS = {"winter": (WINTER, 96, 96), "fall": (FALL, 0, 0)}
SIDE = 64
SETTINGS: dict[str, int] = {"tile_size": 64, "overlap": 16}
# a scene whose "cloudy" image is the SAR: its one sentence names the 2 bands it has
BROKEN = "broken"
# two 64 px tiles (overlap 16), so that a cancel can come between its batches
WIDE = "wide"
WIDE_CROP = (WINTER, 0, 96, 64, 112)


def crop(
    source: Path, destination: Path, row: int, column: int, height: int = SIDE, width: int = SIDE
) -> Path:
    """Copy a window of ``source`` into its own GeoTIFF, georeferenced where the window lies."""
    with rasterio.open(source) as dataset:
        window = Window(column, row, width, height)
        profile = dataset.profile | {
            "width": width,
            "height": height,
            "transform": dataset.window_transform(window),
        }
        data = dataset.read(window=window)
    with rasterio.open(destination, "w", **profile) as out:
        out.write(data)
    return destination


def write_jobs_csv(path: Path, rows: list[tuple[str, str, str]], *, bom: bool = True) -> Path:
    """A jobs CSV with a header row; with ``bom``, the byte-order mark spreadsheets write."""
    lines = ["cloudy,sar,name", *(",".join(row) for row in rows)]
    path.write_text(("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def assert_same_raster(path: Path | str, reference: Path | str) -> None:
    """Same pixels bit for bit, same grid, same band names and the same metadata."""
    with rasterio.open(path) as out, rasterio.open(reference) as ref:
        assert np.array_equal(out.read(), ref.read())
        assert (out.crs, out.transform, out.nodata) == (ref.crs, ref.transform, ref.nodata)
        assert out.dtypes == ref.dtypes
        assert out.descriptions == ref.descriptions
        assert out.tags() == ref.tags()


def partial_files_in(folder: Path) -> list[str]:
    """Temporary files left in ``folder`` (atomic_output's hidden ``.<name>.*.partial*``)."""
    return sorted(name for name in os.listdir(folder) if ".partial" in name)
