"""GDAL virtual rasters (VRT) in memory: a product's band stack or a window of a raster, opened by rasterio.

A VRT makes a composed or cut raster look like an ordinary file to every reader downstream: windows are
read from the sources as they are asked for, nothing is copied whole. The document lives in GDAL's
in-memory file system (``/vsimem/``) for as long as the ``with`` block, so a reader on another thread can
open its own handle by ``dataset.name``.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import DatasetReader, MemoryFile
from rasterio.windows import Window

from ..errors import InputRasterError, RasterReadError

# numpy data type -> GDAL's name in a VRT
_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


@contextmanager
def open_vrt(document: str, *, name: str) -> Iterator[DatasetReader]:
    """Open a VRT document as a rasterio dataset named ``/vsimem/<unique folder>/<name>``.

    Args:
        document: the VRT XML.
        name: file name of the VRT (shown in messages), ending in ``.vrt``.

    Raises:
        RasterReadError: GDAL cannot open the VRT (a source is missing or unreadable).
    """
    with MemoryFile(document.encode("utf-8"), filename=name) as memory:
        try:
            dataset = memory.open()
        except (RasterioError, RasterioIOError) as err:
            raise RasterReadError(
                f"Cannot open the virtual raster {name}: {err}. A file it reads is missing or damaged."
            ) from err
        with dataset:
            yield dataset


def vrt_dataset_element(
    width: int, height: int, crs_wkt: str | None, geotransform: tuple[float, ...], tags: Mapping[str, str]
) -> ElementTree.Element:
    """The ``<VRTDataset>`` element with grid, CRS and dataset metadata, without bands."""
    root = ElementTree.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    if crs_wkt:
        ElementTree.SubElement(root, "SRS").text = crs_wkt
    ElementTree.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in geotransform)
    if tags:
        metadata = ElementTree.SubElement(root, "Metadata")
        for key, value in tags.items():
            ElementTree.SubElement(metadata, "MDI", key=key).text = value
    return root


def vrt_band_element(
    root: ElementTree.Element, index: int, dtype: str, *, description: str = "", nodata: float | None = None
) -> ElementTree.Element:
    """Append band ``index`` (1-based) of type ``dtype`` (numpy name) to ``root`` and return it."""
    gdal_type = _GDAL_TYPES.get(np.dtype(dtype).name)
    if gdal_type is None:
        raise InputRasterError(
            f"Rasters of type {dtype} cannot be read through a virtual raster; convert the raster to "
            "UInt16 or Float32 (e.g. with Translate)."
        )
    band = ElementTree.SubElement(root, "VRTRasterBand", dataType=gdal_type, band=str(index))
    if description:
        ElementTree.SubElement(band, "Description").text = description
    if nodata is not None:
        ElementTree.SubElement(band, "NoDataValue").text = (
            "nan" if math.isnan(nodata) else repr(float(nodata))
        )
    return band


def source_element(
    band: ElementTree.Element,
    filename: str,
    source_band: int,
    source_window: Window,
    size: tuple[int, int],
    *,
    kind: str = "SimpleSource",
    **extra: Any,
) -> ElementTree.Element:
    """Append a source reading ``source_window`` of band ``source_band`` of ``filename`` into (width, height).

    Args:
        band: the ``VRTRasterBand`` element.
        filename: GDAL name of the source (absolute, so the VRT's location does not matter).
        source_band: 1-based band of the source.
        source_window: pixels of the source read.
        size: (width, height) of the band the pixels fill (nearest neighbour when it differs).
        kind: "SimpleSource" (values as they are) or "ComplexSource" (scaled, with source nodata).
        **extra: child elements of a ComplexSource (``ScaleOffset``, ``ScaleRatio``, ``NODATA``).
    """
    source = ElementTree.SubElement(band, kind, resampling="nearest")
    ElementTree.SubElement(source, "SourceFilename", relativeToVRT="0").text = filename
    ElementTree.SubElement(source, "SourceBand").text = str(source_band)
    ElementTree.SubElement(
        source,
        "SrcRect",
        xOff=str(int(source_window.col_off)),
        yOff=str(int(source_window.row_off)),
        xSize=str(int(source_window.width)),
        ySize=str(int(source_window.height)),
    )
    ElementTree.SubElement(source, "DstRect", xOff="0", yOff="0", xSize=str(size[0]), ySize=str(size[1]))
    for name, value in extra.items():
        ElementTree.SubElement(source, name).text = str(value)
    return source


def vrt_document(root: ElementTree.Element) -> str:
    """The XML text of a VRT element tree."""
    return ElementTree.tostring(root, encoding="unicode")


def window_vrt(dataset: DatasetReader, window: Window) -> str:
    """A VRT of ``window`` of an open raster: same bands, types, nodata, descriptions and metadata.

    The VRT's geotransform is the window's, so its pixels are exactly those of the window.
    """
    source_name = dataset.name
    if os.path.exists(source_name):
        source_name = os.path.abspath(source_name)
    root = vrt_dataset_element(
        int(window.width),
        int(window.height),
        dataset.crs.to_wkt() if dataset.crs else None,
        dataset.window_transform(window).to_gdal(),
        dataset.tags(),
    )
    for index, (dtype, nodata, description) in enumerate(
        zip(dataset.dtypes, dataset.nodatavals, dataset.descriptions, strict=True), start=1
    ):
        band = vrt_band_element(root, index, dtype, description=description or "", nodata=nodata)
        scale, offset = dataset.scales[index - 1], dataset.offsets[index - 1]
        if (scale, offset) != (1.0, 0.0):
            ElementTree.SubElement(band, "Offset").text = repr(float(offset))
            ElementTree.SubElement(band, "Scale").text = repr(float(scale))
        source_element(band, source_name, index, window, (int(window.width), int(window.height)))
    return vrt_document(root)
