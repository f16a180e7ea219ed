"""Prepare Sentinel-1: write any SAR input as the 2-band sigma0 dB GeoTIFF GLF-CR reads (VV, VH, NaN nodata).

The output grid is the reference raster's when one is given, else the input's own: a raster keeps its
grid, a GRD product goes onto a 10 m grid in the UTM zone of its centre. An extent crops that grid
(snapped outward to whole pixels). The output is written strip by strip through
``alignment.SarOnOpticalGrid``, exactly as Remove Clouds reads the SAR, to a temporary file moved into
place at the end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.transform import Affine, array_bounds
from rasterio.warp import transform as transform_points
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from ....version import plugin_version
from ...errors import NoOverlapError, ProcessingCanceled
from ..alignment import BLOCK_SHAPE, SarOnOpticalGrid
from ..normalization import S1_BANDS
from ..output_guard import PlannedOutput, check_outputs
from ..raster_io import atomic_output, open_raster, output_profile, set_band_descriptions
from .grd import WGS84, GrdProduct
from .inputs import open_sar_source

PathLike = str | os.PathLike[str]
# pixel size of the grid a GRD product is put on without a reference, in metres (its own spacing)
GRD_RESOLUTION = 10.0
OUTPUT_BLOCK_SIZE = 512


@dataclass(frozen=True)
class GridSpec:
    """A target pixel grid: what ``SarOnOpticalGrid`` needs of an optical raster."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> BoundingBox:
        """The grid's extent in its CRS."""
        return BoundingBox(*array_bounds(self.height, self.width, self.transform))


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare_sentinel1`` wrote.

    Attributes:
        output_path: the GeoTIFF.
        grid: its grid.
        covered_fraction: estimated share of the grid the SAR covers.
        valid_fraction: share of output pixels with both VV and VH.
        summary: the input and how it was converted, in one line.
        tags: the metadata recorded in the output.

    """

    output_path: Path
    grid: GridSpec
    covered_fraction: float
    valid_fraction: float
    summary: str
    tags: dict[str, str] = field(default_factory=dict)


def prepare_sentinel1(
    input_path: PathLike,
    output_path: PathLike,
    *,
    vh_path: PathLike | None = None,
    scale: str = "auto",
    reference_path: PathLike | None = None,
    extent: Sequence[float] | None = None,
    extent_crs: Any = None,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
) -> PrepareResult:
    """Write VV, VH sigma0 in dB on a chosen grid, from a GRD product or analysis-ready raster(s).

    Args:
        input_path: GRD product (``.zip``, ``.SAFE`` folder or ``manifest.safe``) or SAR raster.
        output_path: GeoTIFF to write (``.tif``): 2 bands Float32 named VV, VH, nodata NaN.
        vh_path: separate VH raster, when the input raster holds VV only.
        scale: "auto", "db", "linear" or "amplitude" (see ``scale``).
        reference_path: raster whose grid the output takes; None: the input's own grid (a GRD product:
            10 m in its UTM zone).
        extent: (left, bottom, right, top) to crop the grid to, or None.
        extent_crs: CRS of ``extent`` (anything rasterio's CRS takes); None: the grid's CRS.
        progress: called with the fraction done, 0..1.
        is_canceled: polled between strips; True stops the run and writes nothing.

    Raises:
        OutputWriteError: the output is an input or not a .tif, or cannot be written.
        NoOverlapError: the extent or the reference misses the SAR.
        ProcessingCanceled: ``is_canceled`` returned True.
        ParameterValueError, InputRasterError, RasterReadError: see ``open_sar_source``.

    """
    output_path = Path(output_path)
    check_outputs(
        [PlannedOutput(output_path, "raster", "output")], input_rasters=[input_path, vh_path, reference_path]
    )
    report = progress or (lambda fraction: None)
    canceled = is_canceled or (lambda: False)
    with open_sar_source(input_path, vh_path=vh_path, scale=scale) as source:
        grid, grid_note = _output_grid(source, reference_path)
        if extent is not None:
            grid = crop_grid(grid, extent, extent_crs)
        tags = {
            **source.tags,
            "units": "sigma0 dB (10 log10 of linear power)",
            "grid": grid_note,
            "software_version": f"glfcr_qgis {plugin_version()}",
        }
        profile = output_profile(
            {"width": grid.width, "height": grid.height, "crs": grid.crs, "transform": grid.transform},
            count=len(S1_BANDS),
            dtype="float32",
            nodata=float("nan"),
            blocksize=OUTPUT_BLOCK_SIZE,
            predictor=3,
            num_threads="ALL_CPUS",
        )
        inputs = [path for path in (input_path, vh_path, reference_path) if path]
        valid = 0
        with SarOnOpticalGrid(grid, source) as aligned, atomic_output(output_path, inputs=inputs) as temp:
            with rasterio.open(temp, "w", **profile) as destination:
                set_band_descriptions(destination, S1_BANDS)
                destination.update_tags(**tags)
                for top in range(0, grid.height, BLOCK_SHAPE[0]):
                    if canceled():
                        raise ProcessingCanceled("Prepare Sentinel-1 was canceled; no output was written.")
                    window = Window(0, top, grid.width, min(BLOCK_SHAPE[0], grid.height - top))
                    data = aligned.read(window)
                    valid += int(np.all(np.isfinite(data), axis=0).sum())
                    destination.write(data, window=window)
                    report((top + window.height) / grid.height)
    return PrepareResult(
        output_path=output_path,
        grid=grid,
        covered_fraction=aligned.covered_fraction,
        valid_fraction=valid / (grid.width * grid.height),
        summary=source.summary,
        tags=tags,
    )


def _output_grid(source: Any, reference_path: PathLike | None) -> tuple[GridSpec, str]:
    if reference_path:
        with open_raster(reference_path, role="reference") as reference:
            grid = GridSpec(reference.crs, reference.transform, reference.width, reference.height)
        return grid, f"the grid of {os.path.basename(os.fspath(reference_path))}"
    if isinstance(source, GrdProduct):
        grid = utm_grid(source.points[:, 3], source.points[:, 2], GRD_RESOLUTION)
        return grid, f"{grid.crs.to_string()} at {GRD_RESOLUTION:g} m"
    return GridSpec(source.crs, source.transform, source.width, source.height), "the input's grid"


def utm_grid(lon: np.ndarray, lat: np.ndarray, resolution: float) -> GridSpec:
    """A north-up grid of ``resolution`` metres in the UTM zone of the points' centre, covering the points.

    Args:
        lon: longitudes of the footprint's points (degrees).
        lat: latitudes (degrees).
        resolution: pixel size in metres; the grid's edges are multiples of it.

    """
    zone = min(60, int((float(np.mean(lon)) + 180.0) // 6.0) + 1)
    crs = CRS.from_epsg((32600 if float(np.mean(lat)) >= 0 else 32700) + zone)
    xs, ys = transform_points(WGS84, crs, np.ravel(lon), np.ravel(lat))
    left = math.floor(min(xs) / resolution) * resolution
    top = math.ceil(max(ys) / resolution) * resolution
    width = math.ceil((max(xs) - left) / resolution)
    height = math.ceil((top - min(ys)) / resolution)
    return GridSpec(crs, Affine(resolution, 0.0, left, 0.0, -resolution, top), width, height)


def crop_grid(grid: GridSpec, extent: Sequence[float], extent_crs: Any = None) -> GridSpec:
    """The part of ``grid`` inside ``extent`` (left, bottom, right, top), whole pixels, snapped outward.

    Raises:
        NoOverlapError: the extent misses the grid.

    """
    left, bottom, right, top = (float(value) for value in extent)
    if extent_crs is not None and CRS.from_user_input(extent_crs) != grid.crs:
        left, bottom, right, top = transform_bounds(
            CRS.from_user_input(extent_crs), grid.crs, left, bottom, right, top, densify_pts=21
        )
    window = from_bounds(left, bottom, right, top, grid.transform)
    col0 = max(0, math.floor(window.col_off + 1e-9))
    row0 = max(0, math.floor(window.row_off + 1e-9))
    col1 = min(grid.width, math.ceil(window.col_off + window.width - 1e-9))
    row1 = min(grid.height, math.ceil(window.row_off + window.height - 1e-9))
    if col1 <= col0 or row1 <= row0:
        raise NoOverlapError(
            f"The extent x {left:.6g}..{right:.6g}, y {bottom:.6g}..{top:.6g} (in {grid.crs}) does not "
            "overlap "
            "the output grid of the SAR input; choose an extent inside the SAR scene."
        )
    transform = grid.transform * Affine.translation(col0, row0)
    return GridSpec(grid.crs, transform, col1 - col0, row1 - row0)
