"""Small Sentinel-2 L1C SAFE products built in a test's folder from ESA's real metadata; an independent stack.

The metadata files come from ``../shared/data/sentinel_products/s2/`` (read its README): the baseline
05.09 product's ``MTD_MSIL1C.xml`` (with ``RADIO_ADD_OFFSET`` -1000) and ``MTD_TL.xml``, and GDAL's
synthetic pre-04.00 ``MTD_MSIL1C.xml`` (no offsets, QUANTIFICATION_VALUE 1000, NODATA 1). Real tiles are
10980 pixels a side; the only change made to the metadata is the tile size in ``MTD_TL.xml`` (its
``<Size>`` rows and columns), so GDAL's SENTINEL2 driver expects the small band files written here as
lossless JPEG 2000 (GDAL's JP2OpenJPEG driver). The expected stack is computed here with numpy from the
band files alone, without the plugin's code.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from qgis_helpers import SHARED_DIR
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import Affine

S2_DIR = SHARED_DIR / "data" / "sentinel_products" / "s2"
BASELINE_0509 = "S2B_MSIL1C_20230823T095559_N0509_R122_T34UCF_20230823T120234.SAFE"
SYNTHETIC_0103 = "S2A_MSIL1C_test.SAFE"
GRANULE_0509 = "L1C_T34UCF_A033753_20230823T095553"
# what the refusal of a Level-2A product says (the words)
L2A_SENTENCE = (
    "this is a Level-2A product; GLF-CR needs Level-1C (13 bands including B10): download the L1C product "
    "of the same date"
)
# ESA's bandId order (0..12) as band file suffixes: GLF-CR's band order
FILE_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
GLFCR_NAMES = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
RESOLUTION = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}  # fmt: skip


@dataclass(frozen=True)
class BuiltProduct:
    """A SAFE product written by :func:`build_product`."""

    safe: Path
    band_files: dict[str, Path]
    size: int
    epsg: int
    ulx: float
    uly: float

    @property
    def metadata(self) -> Path:
        return self.safe / "MTD_MSIL1C.xml"

    @property
    def transform(self) -> Affine:
        return Affine(10.0, 0.0, self.ulx, 0.0, -10.0, self.uly)

    @property
    def crs(self) -> CRS:
        return CRS.from_epsg(self.epsg)

    def subdataset(self, resolution: str = "10m", zipped: Path | None = None) -> str:
        """The GDAL subdataset name QGIS shows as the layer's source."""
        path = f"/vsizip/{zipped}/{self.safe.name}/MTD_MSIL1C.xml" if zipped else str(self.metadata)
        return f"SENTINEL2_L1C:{path}:{resolution}:EPSG_{self.epsg}"


def build_product(
    folder: Path,
    *,
    metadata: str = BASELINE_0509,
    size: int = 120,
    seed: int = 0,
    dn_range: tuple[int, int] = (0, 12000),
    pixels: Callable[[str, int], np.ndarray] | None = None,
    jp2_block: int = 1024,
) -> BuiltProduct:
    """Write a SAFE product of ``size`` x ``size`` 10 m pixels (60 m bands: size / 6) with seeded DN.

    Every band holds values across ``dn_range`` (some at the product's NODATA and below the offset),
    unless ``pixels(band, side)`` gives them. The JPEG 2000 files are tiled ``jp2_block`` pixels a side,
    as ESA's are (1024).
    """
    if size % 6:
        raise ValueError("the 60 m bands need a size divisible by 6")
    safe = folder / metadata
    safe.mkdir(parents=True)
    shutil.copyfile(S2_DIR / metadata / "MTD_MSIL1C.xml", safe / "MTD_MSIL1C.xml")
    if (S2_DIR / metadata / "manifest.safe").exists():
        shutil.copyfile(S2_DIR / metadata / "manifest.safe", safe / "manifest.safe")
    product_xml = (safe / "MTD_MSIL1C.xml").read_text(encoding="utf-8")
    image_files = re.findall(r"<IMAGE_FILE>([^<]+)</IMAGE_FILE>", product_xml)
    tile_xml = (S2_DIR / BASELINE_0509 / "GRANULE" / GRANULE_0509 / "MTD_TL.xml").read_text(encoding="utf-8")
    for resolution in (10, 20, 60):
        side = size * 10 // resolution
        tile_xml = re.sub(
            rf'(<Size resolution="{resolution}">\s*<NROWS>)\d+(</NROWS>\s*<NCOLS>)\d+',
            rf"\g<1>{side}\g<2>{side}",
            tile_xml,
        )
    epsg = int(re.search(r"<HORIZONTAL_CS_CODE>EPSG:(\d+)<", tile_xml).group(1))
    ulx = float(re.search(r'<Geoposition resolution="10">\s*<ULX>([^<]+)<', tile_xml).group(1))
    uly = float(
        re.search(r'<Geoposition resolution="10">\s*<ULX>[^<]+</ULX>\s*<ULY>([^<]+)<', tile_xml).group(1)
    )
    granule = safe / Path(image_files[0]).parent.parent
    (granule / "IMG_DATA").mkdir(parents=True)
    (granule / "MTD_TL.xml").write_text(tile_xml, encoding="utf-8")
    rng = np.random.default_rng(seed)
    band_files = {}
    for image in image_files:
        band = image[-3:]
        if band == "TCI":
            continue
        side = size * 10 // RESOLUTION[band]
        dn = pixels(band, side) if pixels else rng.integers(*dn_range, size=(side, side)).astype(np.uint16)
        transform = Affine(RESOLUTION[band], 0, ulx, 0, -RESOLUTION[band], uly)
        band_files[band] = write_jp2(safe / f"{image}.jp2", dn, transform, epsg, block=jp2_block)
    return BuiltProduct(safe, band_files, size, epsg, ulx, uly)


def write_jp2(path: Path, dn: np.ndarray, transform: Affine, epsg: int, block: int = 1024) -> Path:
    """Write one band as lossless JPEG 2000 (JP2OpenJPEG can only copy, so through an in-memory GeoTIFF)."""
    profile = {
        "driver": "GTiff", "width": dn.shape[1], "height": dn.shape[0], "count": 1, "dtype": "uint16",
        "crs": CRS.from_epsg(epsg), "transform": transform,
    }  # fmt: skip
    with MemoryFile() as memory, memory.open(**profile) as dataset:
        dataset.write(dn, 1)
        # GDAL tiles only images larger than a block; a smaller one is a single tile
        tiling = {"BLOCKXSIZE": str(block), "BLOCKYSIZE": str(block)} if max(dn.shape) > block else {}
        rasterio.shutil.copy(dataset, path, driver="JP2OpenJPEG", REVERSIBLE="YES", QUALITY="100", **tiling)
    return path


def zip_product(product: BuiltProduct, path: Path) -> Path:
    """Zip the SAFE folder as the Copernicus Data Space delivers it (the .SAFE folder at the zip's root)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(product.safe.rglob("*")):
            archive.write(file, file.relative_to(product.safe.parent).as_posix())
    return path


def product_constants(product: BuiltProduct) -> tuple[list[float], float, int]:
    """(offset per bandId, QUANTIFICATION_VALUE, NODATA) read from the product's MTD_MSIL1C.xml by regex."""
    text = product.metadata.read_text(encoding="utf-8")
    offsets = [0.0] * 13
    for band_id, value in re.findall(r'<RADIO_ADD_OFFSET band_id="(\d+)">([^<]+)<', text):
        offsets[int(band_id)] = float(value)
    quantification = float(re.search(r"<QUANTIFICATION_VALUE[^>]*>([^<]+)<", text).group(1))
    nodata = int(
        re.search(
            r"<SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>\s*<SPECIAL_VALUE_INDEX>(\d+)<", text
        ).group(1)
    )
    return offsets, quantification, nodata


def expected_stack(product: BuiltProduct) -> np.ndarray:
    """The harmonised stack from the band files alone: uint16 (13, size, size).

    Each band file is read, its pixels repeated to 10 m, (DN + offset) x 10000 / QUANTIFICATION_VALUE,
    clipped at 0 and 65535; the product's NODATA becomes 0.
    """
    offsets, quantification, nodata = product_constants(product)
    bands = []
    for band_id, band in enumerate(FILE_BANDS):
        with rasterio.open(product.band_files[band]) as source:
            dn = source.read(1)
        factor = RESOLUTION[band] // 10
        dn = np.repeat(np.repeat(dn, factor, axis=0), factor, axis=1).astype(np.float64)
        value = np.clip((dn + offsets[band_id]) * 10000.0 / quantification, 0, 65535)
        bands.append(np.where(dn == nodata, 0, np.round(value)).astype(np.uint16))
    return np.stack(bands)


def _relabelled(tmp_path: Path, level_root: str, file_name: str, safe_name: str) -> Path:
    """A copy of the real product metadata declaring another processing level (the root element renamed)."""
    safe = tmp_path / safe_name
    safe.mkdir()
    text = (S2_DIR / BASELINE_0509 / "MTD_MSIL1C.xml").read_text(encoding="utf-8")
    (safe / file_name).write_text(text.replace("Level-1C_User_Product", level_root), encoding="utf-8")
    return safe


def refused_products(tmp_path: Path) -> list[tuple[str, type[Exception], str]]:
    """(input, error kind, what its message says) for products GLF-CR cannot use, built in ``tmp_path``."""
    from glfcr_qgis.core.errors import InputRasterError, RasterReadError

    l2a = _relabelled(tmp_path, "Level-2A_User_Product", "MTD_MSIL2A.xml", "S2B_MSIL2A_20230823T095559.SAFE")
    l2a_zip = tmp_path / "S2B_MSIL2A_20230823T095559.zip"
    with zipfile.ZipFile(l2a_zip, "w") as archive:
        archive.write(l2a / "MTD_MSIL2A.xml", f"{l2a.name}/MTD_MSIL2A.xml")
    l1b = _relabelled(tmp_path, "Level-1B_User_Product", "MTD_SAFL1B.xml", "S2B_OPER_PRD_MSIL1B.SAFE")
    not_safe = tmp_path / "holiday_photos.zip"
    with zipfile.ZipFile(not_safe, "w") as archive:
        archive.writestr("photo.txt", "not a product")
    complete = build_product(tmp_path / "complete", size=12)
    whole_zip = zip_product(complete, tmp_path / "whole.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(whole_zip.read_bytes()[: whole_zip.stat().st_size // 2])
    missing = build_product(tmp_path / "missing", size=12)
    missing.band_files["B10"].unlink()
    damaged = build_product(tmp_path / "damaged", size=12)
    damaged.band_files["B8A"].write_bytes(damaged.band_files["B8A"].read_bytes()[:100])
    no_granule = build_product(tmp_path / "no_granule", size=12)
    next(no_granule.safe.glob("GRANULE/*/MTD_TL.xml")).unlink()
    empty_safe = tmp_path / "S2B_MSIL1C_EMPTY.SAFE"
    empty_safe.mkdir()
    return [
        (str(l2a), InputRasterError, L2A_SENTENCE),
        (str(l2a / "MTD_MSIL2A.xml"), InputRasterError, L2A_SENTENCE),
        (str(l2a_zip), InputRasterError, L2A_SENTENCE),
        (f"SENTINEL2_L2A:{l2a}/MTD_MSIL2A.xml:10m:EPSG_32634", InputRasterError, L2A_SENTENCE),
        (str(l1b), InputRasterError, "this is a Level-1B product"),
        (str(not_safe), InputRasterError, "holds no Sentinel-2 SAFE product"),
        (str(truncated), RasterReadError, "is truncated or damaged"),
        (str(missing.safe), RasterReadError, "the image file of band B10 is missing"),
        (str(damaged.safe), RasterReadError, "damaged band files: B8A"),
        (str(no_granule.safe), RasterReadError, "MTD_TL.xml is missing or damaged"),
        (str(empty_safe), InputRasterError, "holds no Sentinel-2 product metadata"),
    ]
