"""Finding a Sentinel-2 product's main metadata file in what the analyst gave, and refusing what does not fit.

A product arrives as a ``.SAFE`` folder, its ``MTD_MSIL1C.xml``, the ``.zip`` as downloaded from the
Copernicus Data Space, or a GDAL subdataset name (``SENTINEL2_L1C:<MTD_MSIL1C.xml>:10m:EPSG_32634``, the
source of a layer QGIS opened from the product). All become the GDAL path of the main metadata file
(``/vsizip/`` inside a zip), from which GDAL's SENTINEL2 driver finds the band files. Levels other than
L1C, zips without a SAFE product and damaged zips are refused here with one sentence each.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ...errors import InputRasterError, RasterReadError
from .metadata import ProductMetadata, parse_product_metadata, product_level

# main metadata files: SAFE_COMPACT (MTD_MSIL1C.xml, MTD_MSIL2A.xml) and the older long names
_MAIN_METADATA = re.compile(
    r"^(MTD_MSIL(1C|2A)|MTD_SAFL1B|S2._(OPER|USER)_MTD_SAFL(1B|1C|2A)_.*)\.xml$", re.I
)
_SUBDATASET = re.compile(r"^SENTINEL2_(L1C|L2A|L1B|L1B_WITH_GEOLOC|L1C_TILE):(.+)$", re.I)
_ZIP_MEMBER = re.compile(r"^/vsizip/(?P<zip>.+?\.zip)(?:/(?P<member>.*))?$", re.I)

L2A_MESSAGE = (
    "this is a Level-2A product; GLF-CR needs Level-1C (13 bands including B10): download the L1C product "
    "of the same date"
)
L1B_MESSAGE = (
    "this is a Level-1B product (not orthorectified, in sensor geometry); GLF-CR needs Level-1C: download "
    "the L1C product of the same date"
)


@dataclass(frozen=True)
class ProductLocation:
    """Where a Sentinel-2 L1C product's main metadata file is, in GDAL's terms.

    Attributes:
        source: what the analyst gave (path, zip or subdataset name), for messages.
        metadata_path: GDAL path of ``MTD_MSIL1C.xml`` (``/vsizip/...`` inside a zip).
        name: the product's name (its SAFE folder or zip, e.g. ``S2B_MSIL1C_..._20230823T120234.SAFE``).
        epsg: the UTM zone a subdataset name chose, or None to take the product's only one.
    """

    source: str
    metadata_path: str
    name: str
    epsg: int | None = None


def looks_like_product(value: str) -> bool:
    """Whether ``value`` names a Sentinel-2 product rather than an ordinary raster (no file is opened).

    True for subdataset names, folders, zips and main metadata files of any level, so that products
    GLF-CR cannot use reach :func:`find_product` and get its message.
    """
    value = value.strip()
    if _SUBDATASET.match(value):
        return True
    name = PurePosixPath(value.replace("\\", "/")).name
    if _MAIN_METADATA.match(name) or name.lower().endswith(".zip"):
        return True
    return not value.startswith("/vsi") and os.path.isdir(os.path.expanduser(value))


def find_product(value: str | os.PathLike[str]) -> ProductLocation | None:
    """Locate the L1C product ``value`` names, or return None when it is no Sentinel-2 product.

    Raises:
        InputRasterError: a product of another level (L2A, L1B), a zip or folder holding no SAFE
            product, or a subdataset name GLF-CR cannot use.
        RasterReadError: a damaged or truncated zip, or a metadata file that cannot be read.
    """
    text = os.fspath(value).strip()
    subdataset = _SUBDATASET.match(text)
    if subdataset:
        return _from_subdataset(text, subdataset.group(1).upper(), subdataset.group(2))
    zipped = _ZIP_MEMBER.match(text)
    if zipped:
        member = zipped.group("member") or ""
        if _MAIN_METADATA.match(PurePosixPath(member).name):
            return _checked(text, _zip_location(text, zipped.group("zip"), member))
        return None
    path = Path(text).expanduser()
    if path.is_dir():
        return _checked(text, _folder_location(text, path))
    if path.suffix.lower() == ".zip" and path.is_file():
        return _checked(text, _zip_location(text, path.absolute().as_posix()))
    if _MAIN_METADATA.match(path.name) and path.is_file():
        level = product_level(_read_bytes(path.absolute().as_posix(), text))
        if level:
            metadata_path = path.absolute().as_posix()
            return _checked(text, ProductLocation(text, metadata_path, _product_name(metadata_path)))
    return None


def read_product_metadata(location: ProductLocation) -> ProductMetadata:
    """Parse the main metadata file of a located product (from the folder or inside the zip)."""
    return parse_product_metadata(
        _read_bytes(location.metadata_path, location.source), source=location.source
    )


def _checked(source: str, location: ProductLocation) -> ProductLocation:
    """Refuse a located product whose metadata declares another level than L1C."""
    level = product_level(_read_bytes(location.metadata_path, source))
    if level == "L2A":
        raise InputRasterError(f"{source}: {L2A_MESSAGE}.")
    if level == "L1B":
        raise InputRasterError(f"{source}: {L1B_MESSAGE}.")
    if level != "L1C":
        raise InputRasterError(
            f"{source} holds {PurePosixPath(location.metadata_path).name}, which is not the metadata of a "
            "Sentinel-2 product; give the product's .SAFE folder, its MTD_MSIL1C.xml or the downloaded .zip."
        )
    return location


def _from_subdataset(source: str, kind: str, rest: str) -> ProductLocation:
    if kind == "L2A":
        raise InputRasterError(f"{source}: {L2A_MESSAGE}.")
    if kind.startswith("L1B"):
        raise InputRasterError(f"{source}: {L1B_MESSAGE}.")
    if kind == "L1C_TILE":
        raise InputRasterError(
            f"{source} is a single granule of an old multi-tile product; give the product's main metadata "
            "file (its .SAFE folder or zip) instead."
        )
    metadata_path, _, zone = rest.rpartition(":")
    metadata_path = metadata_path.rpartition(":")[0]
    epsg = re.fullmatch(r"EPSG_(\d+)", zone, re.I)
    if not metadata_path or epsg is None:
        raise InputRasterError(
            f"{source} is not a Sentinel-2 subdataset name of the form "
            "SENTINEL2_L1C:<MTD_MSIL1C.xml>:10m:EPSG_<code>; give the product's folder, metadata file or zip."
        )
    location = ProductLocation(source, metadata_path, _product_name(metadata_path), int(epsg.group(1)))
    return _checked(source, location)


def _folder_location(source: str, folder: Path) -> ProductLocation:
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and _MAIN_METADATA.match(p.name))
    if not candidates:
        raise InputRasterError(
            f"The folder {source} holds no Sentinel-2 product metadata (MTD_MSIL1C.xml); give a product's "
            ".SAFE folder, its MTD_MSIL1C.xml or the downloaded .zip (or a raster file)."
        )
    return ProductLocation(source, candidates[0].absolute().as_posix(), folder.absolute().name)


def _zip_location(source: str, zip_path: str, member: str = "") -> ProductLocation:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
    except FileNotFoundError as err:
        raise RasterReadError(f"Cannot read {source}: the zip file {zip_path} does not exist.") from err
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise RasterReadError(
            f"The zip {source} is truncated or damaged ({err}); download the product again."
        ) from err
    if not member:
        # the shallowest main metadata file: the product's own, not one of a nested archive's
        found = sorted(
            (n for n in names if _MAIN_METADATA.match(PurePosixPath(n).name)), key=lambda n: n.count("/")
        )
        if not found:
            raise InputRasterError(
                f"The zip {source} holds no Sentinel-2 SAFE product (no MTD_MSIL1C.xml inside); give the "
                "zip of an L1C product as downloaded from the Copernicus Data Space."
            )
        member = found[0]
    elif member not in names:
        raise RasterReadError(f"Cannot read {source}: the zip {zip_path} holds no {member}.")
    metadata_path = f"/vsizip/{zip_path}/{member}"
    return ProductLocation(source, metadata_path, _product_name(metadata_path))


def _product_name(metadata_path: str) -> str:
    """The SAFE folder holding the metadata file, or the zip's name when the product sits at its root."""
    zipped = _ZIP_MEMBER.match(metadata_path)
    folder = PurePosixPath(metadata_path.replace("\\", "/")).parent
    if zipped is not None and "/" not in (zipped.group("member") or ""):
        return PurePosixPath(zipped.group("zip")).name
    return folder.name


def _read_bytes(gdal_path: str, source: str) -> bytes:
    """The bytes of a local file or of a ``/vsizip/`` member."""
    zipped = _ZIP_MEMBER.match(gdal_path)
    try:
        if zipped is None:
            return Path(gdal_path).read_bytes()
        with zipfile.ZipFile(zipped.group("zip")) as archive:
            return archive.read(zipped.group("member") or "")
    except (zipfile.BadZipFile, EOFError, KeyError) as err:
        raise RasterReadError(
            f"The zip {source} is truncated or damaged ({err}); download the product again."
        ) from err
    except OSError as err:
        raise RasterReadError(
            f"Cannot read the Sentinel-2 metadata of {source}: {err.strerror or err}. Check that the product "
            "exists and is readable."
        ) from err
