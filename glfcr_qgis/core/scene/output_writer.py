"""The output raster of Remove Clouds: its data type and nodata, value conversion, and COG conversion."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio.shutil

from ..errors import ParameterValueError
from ..io.raster_io import remove_raster_files

OUTPUT_TYPES: tuple[str, ...] = ("UInt16", "Float32")


OUTPUT_BLOCK_SIZE = 512


UINT16_MAX = 65535


def output_dtype(output_type: str) -> type[np.generic]:
    names = {name.lower(): name for name in OUTPUT_TYPES}
    key = str(output_type).lower()
    if key not in names:
        raise ParameterValueError(
            f"Output type {output_type!r} is not available; use one of {', '.join(OUTPUT_TYPES)}."
        )
    return np.uint16 if names[key] == "UInt16" else np.float32


def output_nodata(input_nodata: float | None, dtype: type[np.generic]) -> float:
    """Nodata value of the output: the optical input's if the output type holds it, else 0 (UInt16) or NaN.

    Args:
        input_nodata: the optical raster's nodata value, or None.
        dtype: ``numpy.uint16`` or ``numpy.float32``.

    """
    if dtype == np.uint16:
        if input_nodata is not None and np.isfinite(input_nodata) and float(input_nodata).is_integer():
            if 0 <= input_nodata <= UINT16_MAX:
                return float(input_nodata)
        return 0.0
    if input_nodata is not None:
        return float(input_nodata)
    return float("nan")


@contextmanager
def scratch_path(beside: Path) -> Iterator[Path]:
    """A path for an intermediate raster in the folder of ``beside``; the file and its sidecars go at exit."""
    path = beside.with_name(f"{beside.stem}.plain{beside.suffix}")
    try:
        yield path
    finally:
        remove_raster_files(path)


def copy_to_cog(source: Path, destination: Path, *, predictor: int) -> None:
    """Rewrite a GeoTIFF as a Cloud Optimized GeoTIFF with averaged overviews."""
    rasterio.shutil.copy(
        source,
        destination,
        driver="COG",
        COMPRESS="DEFLATE",
        PREDICTOR=str(predictor),
        BLOCKSIZE=str(OUTPUT_BLOCK_SIZE),
        BIGTIFF="IF_SAFER",
        OVERVIEWS="AUTO",
        OVERVIEW_RESAMPLING="AVERAGE",
    )


def to_output_type(dn: np.ndarray, valid: np.ndarray, dtype: type[np.generic], nodata: float) -> np.ndarray:
    """DN float32 (13, H, W) -> the output type, nodata where not ``valid`` and never nodata where valid.

    Readers mark a pixel missing when any band equals nodata, so a valid value that happens to equal it
    is nudged by the smallest step (1 DN for UInt16).
    """
    if dtype == np.uint16:
        out = np.clip(np.rint(dn), 0, UINT16_MAX).astype(np.uint16)
        clash = (out == nodata) & valid
        out[clash] = nodata + 1 if nodata < UINT16_MAX else nodata - 1
        out[:, ~valid] = int(nodata)
        return out
    out = dn.astype(np.float32, copy=False)
    if not np.isnan(nodata):
        clash = (out == np.float32(nodata)) & valid
        out[clash] = np.nextafter(np.float32(nodata), np.float32(np.inf))
    out[:, ~valid] = np.float32(nodata)
    return out
