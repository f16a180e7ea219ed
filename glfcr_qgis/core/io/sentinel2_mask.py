"""The cloud mask a Sentinel-2 L1C product carries: ``MSK_CLASSI_B00`` of its granule, on any grid.

From processing baseline 04.00 (January 2022) each L1C granule holds ``QI_DATA/MSK_CLASSI_B00.jp2``, a
3-band 60 m raster: band 1 opaque clouds, band 2 cirrus, band 3 snow (1 = flagged); older baselines
ship the clouds as GML vectors instead, which this module refuses. The product is found from a
``.SAFE`` folder, its ``MTD_MSIL1C.xml``, the ``.zip`` as downloaded (read through ``/vsizip/``), or a
``SENTINEL2_L1C:`` subdataset name; the granule's ``MTD_TL.xml`` names the mask file. The mask is read
window by window on the grid of the optical input (nearest neighbour, so each 10 m pixel takes the
value of the 60 m pixel it lies in).
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..errors import InputRasterError, RasterReadError

MAIN_METADATA = "MTD_MSIL1C.xml"
MASK_TYPE = "MSK_CLASSI"
# the raster mask exists from this processing baseline on
FIRST_RASTER_MASK_BASELINE = (4, 0)
OPAQUE_BAND, CIRRUS_BAND = 1, 2
_SUBDATASET = re.compile(r"^SENTINEL2_L1C(?:_TILE)?:(?P<path>.+?\.xml)(?::.*)?$", re.I)
_VSIZIP = re.compile(r"^/vsizip/(?P<zip>.+?\.zip)(?:/(?P<member>.*))?$", re.I)
_GDAL_ERRORS = (RasterioError, RasterioIOError)


@dataclass(frozen=True)
class ProductCloudMask:
    """Where an L1C product's raster cloud mask is.

    Attributes:
        product: the product's name (its SAFE folder).
        baseline: ``PROCESSING_BASELINE`` as written (e.g. "05.09").
        mask_path: GDAL path of ``MSK_CLASSI_B00.jp2`` (``/vsizip/...`` inside a zip).
    """

    product: str
    baseline: str
    mask_path: str


def is_product_path(value: str | os.PathLike[str]) -> bool:
    """Whether ``value`` names a Sentinel-2 product (folder, metadata, zip, subdataset); opens nothing."""
    text = os.fspath(value).strip()
    if _SUBDATASET.match(text) or _VSIZIP.match(text):
        return True
    path = Path(text)
    return path.name.upper() == MAIN_METADATA.upper() or path.suffix.lower() == ".zip" or path.is_dir()


def locate_product_cloud_mask(value: str | os.PathLike[str]) -> ProductCloudMask:
    """Find the ``MSK_CLASSI_B00`` raster of the L1C product ``value`` names.

    Args:
        value: a ``.SAFE`` folder, its ``MTD_MSIL1C.xml``, the product ``.zip``, or a ``SENTINEL2_L1C:``
            subdataset name.

    Raises:
        InputRasterError: not an L1C product, a baseline before 04.00, or no mask file in the product.
        RasterReadError: the product's metadata cannot be read (missing, damaged zip).
    """
    source = os.fspath(value).strip()
    metadata_path = _main_metadata_path(source)
    root = _parse(metadata_path, source)
    if _text(root, "PRODUCT_TYPE") not in ("S2MSI1C", None):
        raise InputRasterError(
            f"{source} is a {_text(root, 'PRODUCT_TYPE')} product, not Level-1C; the product's own cloud "
            "mask method needs the L1C product (MSK_CLASSI_B00)."
        )
    baseline = _text(root, "PROCESSING_BASELINE") or ""
    if _baseline_version(baseline) < FIRST_RASTER_MASK_BASELINE:
        raise InputRasterError(
            f"The product {source} has processing baseline {baseline or 'unknown'}: its cloud mask is a "
            "GML file, not the raster MSK_CLASSI_B00 of baseline 04.00 and later; choose the authors' "
            "detector or s2cloudless as the cloud mask method."
        )
    # not PurePosixPath: it would fold the '//' of '/vsizip//tmp/...' into a relative zip path
    safe_root = metadata_path.rsplit("/", 1)[0]
    mask_path = f"{safe_root}/{_mask_member(root, safe_root, source)}"
    if not _exists(mask_path):
        raise InputRasterError(
            f"The product {source} lacks its cloud mask {mask_path}: the download may be incomplete; "
            "download the product again or choose another cloud mask method."
        )
    return ProductCloudMask(product=PurePosixPath(safe_root).name, baseline=baseline, mask_path=mask_path)


def _main_metadata_path(source: str) -> str:
    """GDAL path of ``MTD_MSIL1C.xml`` for the forms a product is given in."""
    subdataset = _SUBDATASET.match(source)
    if subdataset:
        source = subdataset.group("path")
    zipped = _VSIZIP.match(source)
    if zipped:
        return _zip_metadata(source, zipped.group("zip"), zipped.group("member") or "")
    path = Path(source).expanduser()
    if path.is_dir():
        candidate = path / MAIN_METADATA
        if not candidate.is_file():
            raise InputRasterError(
                f"The folder {source} holds no {MAIN_METADATA}; give the Sentinel-2 L1C product's .SAFE "
                "folder, its MTD_MSIL1C.xml or its zip."
            )
        return candidate.absolute().as_posix()
    if path.suffix.lower() == ".zip":
        return _zip_metadata(source, str(path.absolute()), "")
    if path.name.upper() == MAIN_METADATA.upper() and path.is_file():
        return path.absolute().as_posix()
    raise InputRasterError(
        f"{source} is not a Sentinel-2 L1C product; give its .SAFE folder, MTD_MSIL1C.xml or zip."
    )


def _zip_metadata(source: str, zip_path: str, member: str) -> str:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as err:
        raise RasterReadError(
            f"Cannot read the product zip {zip_path}: {err}. Download it again (it may be truncated)."
        ) from err
    if member and PurePosixPath(member).name.upper() == MAIN_METADATA.upper():
        return f"/vsizip/{zip_path}/{member}"
    candidates = sorted(
        name for name in names if PurePosixPath(name).name.upper() == MAIN_METADATA.upper()
        and PurePosixPath(name).parent.as_posix().startswith(member.rstrip("/"))
    )
    if not candidates:
        raise InputRasterError(
            f"The zip {source} holds no Sentinel-2 L1C product ({MAIN_METADATA}); give the product zip "
            "as downloaded."
        )
    return f"/vsizip/{zip_path}/{candidates[0]}"


def _parse(gdal_path: str, source: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(_read_bytes(gdal_path))
    except (OSError, ElementTree.ParseError, zipfile.BadZipFile, KeyError) as err:
        raise RasterReadError(
            f"Cannot read the metadata {gdal_path} of the product {source}: {err}. "
            "Download the product again."
        ) from err


def _read_bytes(gdal_path: str) -> bytes:
    zipped = _VSIZIP.match(gdal_path)
    if zipped:
        with zipfile.ZipFile(zipped.group("zip")) as archive:
            return archive.read(zipped.group("member"))
    return Path(gdal_path).read_bytes()


def _exists(gdal_path: str) -> bool:
    zipped = _VSIZIP.match(gdal_path)
    if zipped:
        try:
            with zipfile.ZipFile(zipped.group("zip")) as archive:
                archive.getinfo(zipped.group("member"))
            return True
        except (KeyError, OSError, zipfile.BadZipFile):
            return False
    return Path(gdal_path).is_file()


def _mask_member(root: ElementTree.Element, safe_root: str, source: str) -> str:
    """The mask's path inside the SAFE, from the granule's ``MTD_TL.xml`` (or its usual place)."""
    images = [element.text or "" for element in _elements(root, "IMAGE_FILE")]
    granules = sorted({PurePosixPath(image).parts[1] for image in images if image.startswith("GRANULE/")})
    if len(granules) != 1:
        raise InputRasterError(
            f"The product {source} lists {len(granules)} granules; the product's own cloud mask method "
            "reads single-granule L1C products (SAFE_COMPACT, as distributed since 2016)."
        )
    granule = f"GRANULE/{granules[0]}"
    tile_metadata = f"{safe_root}/{granule}/MTD_TL.xml"
    if _exists(tile_metadata):
        for element in _elements(_parse(tile_metadata, source), "MASK_FILENAME"):
            if element.get("type") == MASK_TYPE and element.text:
                return element.text.strip()
    return f"{granule}/QI_DATA/{MASK_TYPE}_B00.jp2"


def _elements(root: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    # the schemas put these under namespaced parents; match local names only
    return [element for element in root.iter() if element.tag.rsplit("}", 1)[-1] == name]


def _text(root: ElementTree.Element, name: str) -> str | None:
    found = _elements(root, name)
    return (found[0].text or "").strip() if found else None


def _baseline_version(baseline: str) -> tuple[int, int]:
    major, _, minor = baseline.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return (0, 0)


@contextmanager
def product_cloud_mask_on_grid(mask: ProductCloudMask, grid: DatasetReader) -> Iterator[WarpedVRT]:
    """The product's mask resampled (nearest) onto the grid of ``grid`` (CRS, transform, size).

    Raises:
        RasterReadError: the mask file cannot be read.
        InputRasterError: it has fewer than two bands (opaque clouds, cirrus).
    """
    try:
        source = rasterio.open(mask.mask_path)
    except _GDAL_ERRORS as err:
        raise RasterReadError(
            f"Cannot read the cloud mask {mask.mask_path} of the product {mask.product}: {err}. "
            "Download the product again."
        ) from err
    with source:
        if source.count < CIRRUS_BAND:
            raise InputRasterError(
                f"The cloud mask {mask.mask_path} has {source.count} band(s), not the opaque-cloud and "
                "cirrus bands of baseline 04.00; choose another cloud mask method."
            )
        with WarpedVRT(
            source,
            crs=grid.crs,
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.nearest,
            src_nodata=None,
            nodata=0,
        ) as warped:
            yield warped


def read_product_clouds(warped: DatasetReader, window: Window, *, name: str) -> np.ndarray:
    """Opaque clouds or cirrus in one window of the product's mask on the input grid: bool (h, w)."""
    try:
        flags = warped.read((OPAQUE_BAND, CIRRUS_BAND), window=window)
    except _GDAL_ERRORS as err:
        raise RasterReadError(
            f"Cannot read {window} of the cloud mask {name}: {err}. Download the product again."
        ) from err
    return (flags != 0).any(axis=0)
