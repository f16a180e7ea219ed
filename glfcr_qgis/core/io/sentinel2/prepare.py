"""Prepare Sentinel-2: write a product's harmonised 13-band stack (or a window of it) as a GeoTIFF.

For analysts who want the stack in other tools, and so that a scene read many times is decoded from
JPEG 2000 once. Reads block by block; needs no torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import rasterio

from ....version import plugin_version
from ...errors import InputRasterError, ProcessingCanceled
from ..area_of_interest import AreaOfInterest
from ..normalization import S2_L1C_BANDS
from ..optical_input import open_optical, optical_input_tags
from ..output_guard import PlannedOutput, check_outputs
from ..raster_io import (
    PathLike,
    atomic_output,
    iter_windows,
    output_profile,
    read_window,
    set_band_descriptions,
    window_count,
)
from .product import find_product
from .stack import STACK_NODATA

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]
ROLE = "Sentinel-2 product"
# JPEG 2000 band files are tiled 1024 x 1024 at 10 m: whole tiles are decoded once each
PREPARE_BLOCK_SIZE = 1024
# tile side of the GeoTIFF written, as Remove Clouds writes
OUTPUT_TILE_SIZE = 256


@dataclass(frozen=True)
class PrepareResult:
    """What :func:`prepare_sentinel2` wrote.

    Attributes:
        output_path: the GeoTIFF.
        width, height: its size in pixels (10 m).
        bounds: (left, bottom, right, top) in ``crs``.
        crs: the product's UTM CRS (e.g. "EPSG:32634").
        tags: the metadata recorded (product, baseline, offsets applied, software).
    """

    output_path: Path
    width: int
    height: int
    bounds: tuple[float, float, float, float]
    crs: str
    tags: dict[str, str]


def prepare_sentinel2(
    product: PathLike,
    output_path: PathLike,
    *,
    extent: AreaOfInterest | None = None,
    block_size: int = PREPARE_BLOCK_SIZE,
    progress: ProgressCallback | None = None,
    is_canceled: CancelCheck | None = None,
) -> PrepareResult:
    """Write the harmonised 13-band 10 m stack of a Sentinel-2 L1C product as a tiled, compressed GeoTIFF.

    Bands B1..B12 with B8A (named so), UInt16 digital numbers = reflectance x 10000 without offset, as
    GLF-CR was trained on; nodata 0. See ``core.io.sentinel2.stack`` for the band order, resampling and
    harmonisation.

    Args:
        product: ``.SAFE`` folder, its ``MTD_MSIL1C.xml``, the downloaded ``.zip``, or a
            ``SENTINEL2_L1C:...`` subdataset name (the whole product is used).
        output_path: GeoTIFF to write (``.tif``); written to a temporary file and moved into place.
        extent: optional area of interest (any CRS); only its window of the 10 m grid is written.
        block_size: side of the blocks read at a time, in 10 m pixels.
        progress: called with the fraction done, 0..1.
        is_canceled: polled between blocks; when it returns True nothing is written.

    Returns:
        What was written.

    Raises:
        InputRasterError: not a Sentinel-2 product, another level than L1C, or an extent outside it.
        RasterReadError: a damaged or incomplete product.
        OutputWriteError: the output is the product, does not end in .tif, or cannot be written.
        ProcessingCanceled: ``is_canceled`` returned True.
    """
    if find_product(product) is None:
        raise InputRasterError(
            f"{os.fspath(product)} is not a Sentinel-2 product; give a product's .SAFE folder, its "
            "MTD_MSIL1C.xml, the .zip as downloaded, or a layer opened from one of its subdatasets."
        )
    output_path = Path(output_path)
    check_outputs([PlannedOutput(output_path, "raster", "output")], input_rasters=[product])
    report = progress or (lambda fraction: None)
    canceled = is_canceled or (lambda: False)
    with open_optical(product, role=ROLE, extent=extent) as stack:
        tags = optical_input_tags(stack) | {
            "software_version": f"glfcr_qgis {plugin_version()}",
            "units": "Sentinel-2 L1C digital numbers (reflectance x 10000, no offset)",
        }
        if extent is not None:
            tags["area_of_interest"] = extent.describe()
        profile = output_profile(
            stack.profile,
            count=len(S2_L1C_BANDS),
            dtype="uint16",
            nodata=STACK_NODATA,
            blocksize=OUTPUT_TILE_SIZE,
            predictor=2,
            num_threads="ALL_CPUS",
        )
        windows = window_count(stack.height, stack.width, block_size)
        with atomic_output(output_path, inputs=[product]) as temp, rasterio.open(temp, "w", **profile) as dst:
            set_band_descriptions(dst, S2_L1C_BANDS)
            dst.update_tags(**tags)
            for done, window in enumerate(iter_windows(stack.height, stack.width, block_size), start=1):
                if canceled():
                    raise ProcessingCanceled("Prepare Sentinel-2 was canceled; no output was written.")
                dst.write(read_window(stack, window, role=ROLE), window=window)
                report(done / windows)
        return PrepareResult(
            output_path=output_path,
            width=stack.width,
            height=stack.height,
            bounds=tuple(stack.bounds),
            crs=stack.crs.to_string() if stack.crs else "",
            tags=tags,
        )
