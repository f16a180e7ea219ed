"""A Sentinel-2 L1C SAFE in a test's folder: ESA's real metadata from ../shared with a small cloud mask JP2.

The metadata are the baseline 05.09 product of ``../shared/data/sentinel_products/s2`` (see its README),
copied byte for byte unless a test edits them; the mask ``MSK_CLASSI_B00.jp2`` is written by the test
with GDAL's JP2OpenJPEG driver (lossless) at the granule's 60 m geoposition (EPSG:32634, ULX 300000,
ULY 6100020), smaller than a real tile so the tests stay cheap.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

PRODUCT = "S2B_MSIL1C_20230823T095559_N0509_R122_T34UCF_20230823T120234.SAFE"
GRANULE = "L1C_T34UCF_A033753_20230823T095553"
TILE_CRS = CRS.from_epsg(32634)
ULX, ULY = 300000.0, 6100020.0


def shared_product(shared_dir: Path) -> Path:
    """The real product metadata folder in ../shared."""
    return shared_dir / "data" / "sentinel_products" / "s2" / PRODUCT


def write_mask_jp2(path: Path, flags: np.ndarray) -> Path:
    """Write a 3-band (opaque, cirrus, snow) uint8 mask at 60 m from the tile's corner as JPEG 2000."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "JP2OpenJPEG",
        "width": flags.shape[2],
        "height": flags.shape[1],
        "count": flags.shape[0],
        "dtype": "uint8",
        "crs": TILE_CRS,
        "transform": from_origin(ULX, ULY, 60.0, 60.0),
        "QUALITY": "100",
        "REVERSIBLE": "YES",
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(flags.astype(np.uint8))
    for sidecar in path.parent.glob(f"{path.name}.aux.xml"):
        sidecar.unlink()
    return path


def build_safe(
    folder: Path, shared_dir: Path, flags: np.ndarray | None, *, baseline: str | None = None
) -> Path:
    """A SAFE folder with the real MTD_MSIL1C.xml and MTD_TL.xml and, unless None, the mask ``flags``.

    Args:
        folder: where to create the ``.SAFE`` folder.
        shared_dir: the shared test material folder.
        flags: uint8 (3, rows, cols) opaque cloud, cirrus, snow flags at 60 m; None = no mask file.
        baseline: replaces ``PROCESSING_BASELINE`` (e.g. "03.01"), None keeps ESA's 05.09.
    """
    source = shared_product(shared_dir)
    safe = folder / PRODUCT
    granule = safe / "GRANULE" / GRANULE
    granule.mkdir(parents=True)
    metadata = (source / "MTD_MSIL1C.xml").read_bytes()
    if baseline is not None:
        metadata = metadata.replace(
            b"<PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>",
            f"<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>".encode(),
        )
    (safe / "MTD_MSIL1C.xml").write_bytes(metadata)
    shutil.copyfile(source / "GRANULE" / GRANULE / "MTD_TL.xml", granule / "MTD_TL.xml")
    if flags is not None:
        write_mask_jp2(granule / "QI_DATA" / "MSK_CLASSI_B00.jp2", flags)
    return safe


def zip_safe(safe: Path, destination: Path) -> Path:
    """Zip a SAFE folder the way the Copernicus Data Space delivers it (the SAFE folder at the top)."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(safe.rglob("*")):
            archive.write(path, path.relative_to(safe.parent).as_posix())
    return destination
