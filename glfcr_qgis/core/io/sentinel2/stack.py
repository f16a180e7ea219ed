"""The 13-band stack of a Sentinel-2 L1C product, as a VRT over GDAL's SENTINEL2 driver.

The driver offers the product as one subdataset per resolution (10 m: B4, B3, B2, B8; 20 m: B5, B6, B7,
B8A, B11, B12; 60 m: B1, B9, B10). The VRT puts the bands in GLF-CR's order B1, B2, ..., B8, B8A, B9,
B10, B11, B12 on the 10 m grid; the 20 m and 60 m pixels are repeated (nearest neighbour, 2x2 and 6x6),
as Earth Engine's export did for the SEN12MS-CR training data.

Harmonisation: from processing baseline 04.00 digital numbers carry ``RADIO_ADD_OFFSET`` (-1000), so
reflectance = (DN + offset) / QUANTIFICATION_VALUE; the network was trained on DN = reflectance x 10000
without offset. Each band is therefore read as (DN + offset) x 10000 / QUANTIFICATION_VALUE, clipped at 0
(the UInt16 conversion), with the product's NODATA value becoming 0, the stack's nodata. The offsets come
from the metadata file, never from the date. The driver reads raw DN (GDAL never applies band offsets in
a read), so the offset is applied once, here; newer GDAL versions also list it as band metadata, which
must then agree with the file.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from ...errors import GlfcrWarning, InputRasterError, RasterReadError
from ..normalization import OPTICAL_SCALE, S2_L1C_BANDS
from ..virtual_raster import open_vrt, source_element, vrt_band_element, vrt_dataset_element, vrt_document
from .metadata import OFFSET_BASELINE, ProductMetadata
from .product import ProductLocation, read_product_metadata

RESOLUTIONS: tuple[int, ...] = (10, 20, 60)
_SUBDATASET_RESOLUTION = re.compile(r":(10|20|60)m:EPSG_(\d+)$", re.I)
STACK_NODATA = 0


@dataclass(frozen=True)
class BandSource:
    """Where one GLF-CR band comes from: a band of one resolution's subdataset."""

    subdataset: str
    band_index: int
    resolution: int
    width: int
    height: int


@contextmanager
def open_product(location: ProductLocation) -> Iterator[DatasetReader]:
    """Open a located L1C product as a 13-band UInt16 rasterio dataset on its 10 m grid, harmonised.

    Its metadata (``dataset.tags()``) records the product, baseline and offsets applied (``S2_*``).

    Raises:
        RasterReadError: the product cannot be read, or band files are missing or damaged.
        InputRasterError: the product's grids or metadata are not those of an L1C tile.
    """
    metadata = read_product_metadata(location)
    document = product_stack_vrt(location, metadata)
    with open_vrt(document, name=f"{location.name or 'sentinel2'}.vrt") as dataset:
        yield dataset


def product_stack_vrt(location: ProductLocation, metadata: ProductMetadata) -> str:
    """The VRT document of the harmonised 13-band stack of a located L1C product."""
    subdatasets = _resolution_subdatasets(location)
    with ExitStack() as stack:
        opened = {
            res: stack.enter_context(_open_subdataset(name, location)) for res, name in subdatasets.items()
        }
        grid = opened[10]
        _check_grids(location, opened)
        sources = _band_sources(location, opened)
        _check_band_files(location, opened, sources)
        _check_gdal_offsets(location, metadata, opened, sources)
        crs_wkt = grid.crs.to_wkt() if grid.crs else None
        root = vrt_dataset_element(
            grid.width, grid.height, crs_wkt, grid.transform.to_gdal(), harmonisation_tags(location, metadata)
        )
    ratio = OPTICAL_SCALE / metadata.quantification
    for index, band_name in enumerate(S2_L1C_BANDS, start=1):
        source = sources[band_name]
        band = vrt_band_element(root, index, "uint16", description=band_name, nodata=STACK_NODATA)
        source_element(
            band,
            source.subdataset,
            source.band_index,
            Window(0, 0, source.width, source.height),
            (grid.width, grid.height),
            kind="ComplexSource",
            NODATA=metadata.nodata,
            ScaleOffset=repr(metadata.offset(band_name) * ratio),
            ScaleRatio=repr(ratio),
        )
    _warn_on_missing_offsets(location, metadata)
    return vrt_document(root)


def harmonisation_tags(location: ProductLocation, metadata: ProductMetadata) -> dict[str, str]:
    """Metadata recording the product and what was done to its digital numbers (``S2_*`` keys)."""
    offsets = " ".join(f"{band}:{metadata.offset(band):g}" for band in S2_L1C_BANDS)
    return {
        "S2_PRODUCT": metadata.product_uri or location.name,
        "S2_SPACECRAFT": metadata.spacecraft,
        "S2_SENSING_START": metadata.sensing_start,
        "S2_PROCESSING_BASELINE": metadata.processing_baseline,
        "S2_QUANTIFICATION_VALUE": f"{metadata.quantification:g}",
        "S2_RADIO_ADD_OFFSET_APPLIED": offsets,
        "S2_NODATA": str(metadata.nodata),
        "S2_HARMONIZATION": (
            f"DN = (product DN + RADIO_ADD_OFFSET) x {OPTICAL_SCALE:g} / QUANTIFICATION_VALUE, clipped to "
            f"0..65535; product NODATA ({metadata.nodata}) -> {STACK_NODATA} (nodata); 20 m and 60 m bands "
            "brought to the 10 m grid by nearest neighbour"
        ),
    }


def _resolution_subdatasets(location: ProductLocation) -> dict[int, str]:
    """The product's 10, 20 and 60 m subdataset names in its (chosen) UTM zone."""
    try:
        with warnings.catch_warnings():
            # the product's container has subdatasets but no grid of its own
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(location.metadata_path) as container:
                names = list(container.subdatasets)
    except (RasterioError, RasterioIOError) as err:
        raise RasterReadError(
            f"Cannot read the Sentinel-2 product {location.source}: {err}. The download may be incomplete: "
            "download the product again."
        ) from err
    zones: dict[int, dict[int, str]] = {}
    for name in names:
        match = _SUBDATASET_RESOLUTION.search(name)
        if match and name.upper().startswith("SENTINEL2_L1C:"):
            zones.setdefault(int(match.group(2)), {})[int(match.group(1))] = name
    if location.epsg is not None:
        if zones and location.epsg not in zones:
            raise InputRasterError(
                f"The Sentinel-2 product {location.source} has no bands in EPSG:{location.epsg} (it has "
                f"{', '.join(f'EPSG:{zone}' for zone in sorted(zones))}); give the product itself instead."
            )
        zones = {zone: found for zone, found in zones.items() if zone == location.epsg}
    if len(zones) > 1:
        listed = ", ".join(f"EPSG:{zone}" for zone in sorted(zones))
        raise InputRasterError(
            f"The Sentinel-2 product {location.source} spans several UTM zones ({listed}); open it in QGIS "
            "and give the layer of one zone's 10 m subdataset (SENTINEL2_L1C:...:10m:EPSG_<code>)."
        )
    found = next(iter(zones.values()), {})
    missing = [f"{res} m" for res in RESOLUTIONS if res not in found]
    if missing:
        raise RasterReadError(
            f"The Sentinel-2 product {location.source} has no readable {', '.join(missing)} bands (its "
            "granule metadata GRANULE/*/MTD_TL.xml is missing or damaged); download the product again."
        )
    return found


@contextmanager
def _open_subdataset(name: str, location: ProductLocation) -> Iterator[DatasetReader]:
    try:
        dataset = rasterio.open(name)
    except (RasterioError, RasterioIOError) as err:
        raise RasterReadError(
            f"Cannot read the Sentinel-2 product {location.source}: {err}. The download may be incomplete: "
            "download the product again."
        ) from err
    with dataset:
        yield dataset


def _check_grids(location: ProductLocation, opened: dict[int, DatasetReader]) -> None:
    """The 20 and 60 m grids must cover the 10 m grid exactly, pixel edges on pixel edges."""
    grid = opened[10]
    for res in RESOLUTIONS[1:]:
        coarse, factor = opened[res], res // 10
        same_origin = (
            abs(coarse.transform.c - grid.transform.c) < 1e-6
            and abs(coarse.transform.f - grid.transform.f) < 1e-6
        )
        if not same_origin or (coarse.width * factor, coarse.height * factor) != (grid.width, grid.height):
            raise InputRasterError(
                f"The {res} m bands of the Sentinel-2 product {location.source} "
                f"({coarse.width}x{coarse.height} "
                f"px) do not cover its 10 m grid ({grid.width}x{grid.height} px) exactly; the product's "
                "granule metadata is inconsistent: download the product again."
            )


def _band_sources(location: ProductLocation, opened: dict[int, DatasetReader]) -> dict[str, BandSource]:
    sources: dict[str, BandSource] = {}
    for res, dataset in opened.items():
        for index in range(1, dataset.count + 1):
            name = dataset.tags(index).get("BANDNAME", "")
            if name in S2_L1C_BANDS:
                sources[name] = BandSource(dataset.name, index, res, dataset.width, dataset.height)
    missing = [band for band in S2_L1C_BANDS if band not in sources]
    if missing:
        raise InputRasterError(
            f"The Sentinel-2 product {location.source} lacks band{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}; GLF-CR needs the 13 L1C bands B1..B12 (with B8A and B10)."
        )
    return sources


def band_file_token(band: str) -> str:
    """How a band is spelled in its file's name: B1 -> B01, B8A -> B8A."""
    return band if band == "B8A" else f"B{int(band[1:]):02d}"


def _check_band_files(
    location: ProductLocation, opened: dict[int, DatasetReader], sources: dict[str, BandSource]
) -> None:
    """Every band must have its image file, readable and of the size the granule metadata gives.

    GDAL's driver skips a missing band file with a warning and reads zeros: that must not pass.
    """
    missing, damaged = [], []
    for band, source in sources.items():
        pattern = re.compile(rf"(^|_){band_file_token(band)}\.(jp2|tif)$", re.I)
        files = [f for f in opened[source.resolution].files if pattern.search(PurePosixPath(f).name)]
        if not files:
            missing.append(band)
            continue
        if len(files) == 1 and not _file_has_size(files[0], source.width, source.height):
            damaged.append(f"{band} ({PurePosixPath(files[0]).name})")
    if missing:
        raise RasterReadError(
            f"The Sentinel-2 product {location.source} is incomplete: the image file of band"
            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} is missing (GRANULE/*/IMG_DATA/"
            f"*_{band_file_token(missing[0])}.jp2); download the product again."
        )
    if damaged:
        raise RasterReadError(
            f"The Sentinel-2 product {location.source} has damaged band files: {', '.join(damaged)} cannot "
            "be read or has another size than the granule metadata gives; download the product again."
        )


def _file_has_size(path: str, width: int, height: int) -> bool:
    try:
        with rasterio.open(path) as band_file:
            return (band_file.width, band_file.height) == (width, height)
    except (RasterioError, RasterioIOError):
        return False


def _check_gdal_offsets(
    location: ProductLocation,
    metadata: ProductMetadata,
    opened: dict[int, DatasetReader],
    sources: dict[str, BandSource],
) -> None:
    """Where GDAL lists a band's RADIO_ADD_OFFSET (newer versions), it must be the file's: one offset."""
    for band, source in sources.items():
        listed: Any = opened[source.resolution].tags(source.band_index).get("RADIO_ADD_OFFSET")
        if listed is not None and float(listed) != metadata.offset(band):
            raise InputRasterError(
                f"GDAL reads RADIO_ADD_OFFSET {listed} for band {band} of {location.source} but its "
                f"MTD_MSIL1C.xml gives {metadata.offset(band):g}; the product's metadata is inconsistent: "
                "download the product again."
            )


def _warn_on_missing_offsets(location: ProductLocation, metadata: ProductMetadata) -> None:
    version = metadata.baseline_version()
    if version is not None and version >= OFFSET_BASELINE and not metadata.radiometric_offsets:
        warnings.warn(
            f"The Sentinel-2 product {location.source} has processing baseline "
            f"{metadata.processing_baseline} but no RADIO_ADD_OFFSET in its metadata; its digital numbers "
            "are used without offset, as the metadata says.",
            GlfcrWarning,
            stacklevel=3,
        )
