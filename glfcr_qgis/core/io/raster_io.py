"""Reading and writing rasters for the GLF-CR tools: open with clear errors, walk in blocks, write atomically.

Small functions over rasterio, free of any model code, shared by Cloud Mask, Remove Clouds and Evaluate.
Every output is written through ``atomic_output`` (``safe_writes``): a hidden temporary file in the
destination folder, moved into place only when complete, so a failed or cancelled run never leaves a
half-written raster behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import DatasetReader, DatasetWriter
from rasterio.windows import Window

from ..errors import InputRasterError, RasterReadError
from .safe_writes import (  # noqa: F401 (re-exported: callers import them from here)
    GDAL_SIDECAR_SUFFIXES,
    atomic_output,
    partial_files,
    remove_raster_files,
)

PathLike = str | os.PathLike[str]

# what each expected band count means for the analyst, worded as the fix
BAND_REQUIREMENTS: dict[int, str] = {
    13: "GLF-CR needs the 13 Sentinel-2 L1C bands B1..B12 in order (L2A products lack B10: use L1C)",
    2: "GLF-CR needs 2 bands VV, VH in dB",
}

# rasterio's IO error is not a RasterioError; both report what GDAL said
_GDAL_ERRORS = (RasterioError, RasterioIOError)


@contextmanager
def open_raster(path: PathLike, *, role: str, expected_bands: int | None = None) -> Iterator[DatasetReader]:
    """Open a raster for reading, failing with a message that names the file, the problem and the fix.

    Args:
        path: raster file (anything GDAL reads).
        role: what the raster is for, used in messages (e.g. ``"cloudy optical"``, ``"SAR"``).
        expected_bands: the band count the caller needs; None accepts any.

    Yields:
        The open rasterio dataset; closed when the ``with`` block ends.

    Raises:
        RasterReadError: the file is missing or GDAL cannot read it.
        InputRasterError: the band count differs from ``expected_bands``.
    """
    try:
        dataset = rasterio.open(path)
    except _GDAL_ERRORS as err:
        raise RasterReadError(
            f"Cannot read the {role} raster {os.fspath(path)}: {_gdal_reason(err, path)}. "
            "Check that the file exists and is a raster GDAL can read."
        ) from err
    with dataset:
        if expected_bands is not None and dataset.count != expected_bands:
            need = BAND_REQUIREMENTS.get(expected_bands, f"the {role} raster needs {expected_bands} bands")
            raise InputRasterError(
                f"The {role} raster {os.fspath(path)} has {dataset.count} "
                f"band{'s' if dataset.count != 1 else ''}; {need}."
            )
        yield dataset


def _gdal_reason(err: Exception, path: PathLike) -> str:
    # GDAL often starts its message with the path, which the caller's sentence already names
    reason = str(err).strip()
    prefix = f"{os.fspath(path)}: "
    reason = reason[len(prefix):] if reason.startswith(prefix) else reason
    return reason.rstrip(".")


def read_window(dataset: DatasetReader, window: Window, *, role: str) -> np.ndarray:
    """Read all bands of ``window``; a corrupt or unreadable block becomes a RasterReadError.

    Returns:
        Array (bands, window height, window width) in the file's data type.
    """
    try:
        return dataset.read(window=window)
    except _GDAL_ERRORS as err:
        raise RasterReadError(
            f"Cannot read {window} of the {role} raster {dataset.name}: {err}. "
            "The file may be truncated or corrupt: re-download or re-export it."
        ) from err


def iter_windows(height: int, width: int, block: int | tuple[int, int]) -> Iterator[Window]:
    """Cover a raster of ``height`` x ``width`` pixels with blocks, row by row (row-major).

    Args:
        height: raster rows.
        width: raster columns.
        block: block side in pixels, or (rows, columns); blocks on the last row/column are cut to fit.

    Yields:
        Windows that tile the raster without overlap.
    """
    block_rows, block_cols = (block, block) if isinstance(block, int) else block
    if block_rows < 1 or block_cols < 1:
        raise ValueError(f"block size must be positive, got {block}")
    for row in range(0, height, block_rows):
        for col in range(0, width, block_cols):
            yield Window(col, row, min(block_cols, width - col), min(block_rows, height - row))


def window_count(height: int, width: int, block: int | tuple[int, int]) -> int:
    """How many windows :func:`iter_windows` yields (for progress)."""
    block_rows, block_cols = (block, block) if isinstance(block, int) else block
    return -(-height // block_rows) * -(-width // block_cols)


def output_profile(
    src_profile: Mapping[str, Any],
    *,
    count: int,
    dtype: str | np.dtype[Any],
    nodata: float | None,
    tiled: bool = True,
    compress: str | None = "deflate",
    blocksize: int = 256,
    **creation_options: Any,
) -> dict[str, Any]:
    """GeoTIFF creation profile on the grid of a source raster (CRS, transform, size).

    Args:
        src_profile: profile of the raster whose grid the output shares (``dataset.profile``).
        count: output bands.
        dtype: output data type (numpy or rasterio name).
        nodata: nodata value of every band, or None.
        tiled: write internal tiles of ``blocksize`` (fast windowed reads in QGIS).
        compress: GDAL compression, or None for none.
        blocksize: tile side in pixels, a multiple of 16.
        **creation_options: further GTiff creation options, overriding these.

    Returns:
        Keyword arguments for ``rasterio.open(path, "w", **profile)``.
    """
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": src_profile["width"],
        "height": src_profile["height"],
        "count": count,
        "dtype": np.dtype(dtype).name,
        "crs": src_profile.get("crs"),
        "transform": src_profile.get("transform"),
        "nodata": nodata,
        # BigTIFF only when the file could pass 4 GiB, so small outputs stay readable by old tools
        "BIGTIFF": "IF_SAFER",
    }
    if tiled:
        profile.update(tiled=True, blockxsize=blocksize, blockysize=blocksize)
    if compress:
        profile["compress"] = compress
    profile.update(creation_options)
    return profile


def nodata_mask(array: np.ndarray, nodata: float | Sequence[float | None] | None) -> np.ndarray:
    """Pixels where any band is nodata or NaN.

    Args:
        array: (bands, H, W) pixel values.
        nodata: one nodata value for every band, one per band (``dataset.nodatavals``), or None.

    Returns:
        Bool array (H, W), True where the pixel is missing in at least one band.
    """
    missing = np.zeros(array.shape[1:], dtype=bool)
    if np.issubdtype(array.dtype, np.floating):
        missing |= np.isnan(array).any(axis=0)
    per_band = list(nodata) if isinstance(nodata, Sequence) else [nodata] * array.shape[0]
    for band, value in zip(array, per_band, strict=False):
        if value is not None and not np.isnan(value):
            missing |= band == value
    return missing


def sha256_file(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (for provenance records)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def set_band_descriptions(dataset: DatasetWriter, names: Sequence[str]) -> None:
    """Name the bands of an open output (shown by QGIS in the layer's band list)."""
    if len(names) != dataset.count:
        raise ValueError(f"{len(names)} band names for {dataset.count} bands")
    for index, name in enumerate(names, start=1):
        dataset.set_band_description(index, name)
