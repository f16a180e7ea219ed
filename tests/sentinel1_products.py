"""Sentinel-1 test products: a GRD product built from real ESA annotation, and an independent sigma0 oracle.

The shared folder (``../shared/data/sentinel_products/s1/``) holds the real annotation of a GRD product
(VV and VH: image size, 210-point geolocation grid) but no GRD calibration or noise tables and no pixel
data; the only real tables are the SLC IW1 VV calibration and noise annotation. So the product built
here takes:

- the real GRD annotation, VV and VH, and the real GRD ``manifest.safe`` (IPF 3.31);
- calibration and noise annotation in GRD form, CONSTRUCTED from the real SLC IW1 VV tables: the same
  values, their lines and pixels stretched onto the GRD image (25788 x 16685), the single IW1 azimuth
  noise vector repeated as three swath blocks scaled 1.0, 0.8 and 1.2, and VH noise at 0.6 times VV;
- measurement GeoTIFFs of the real size written by the tests: sparse (unwritten tiles read as DN 0, the
  product's no-data), holding only the patches a test asks for, so the reader must read windows.

``independent_sigma0`` computes ESA's formula again with SciPy from the XML text alone, as the oracle.
"""

from __future__ import annotations

import re
import shutil
import warnings
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import rasterio
from qgis_helpers import SHARED_DIR
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window
from scipy.interpolate import RegularGridInterpolator

S1_DIR = SHARED_DIR / "data" / "sentinel_products" / "s1"
GRD_NAME = "S1B_IW_GRDH_1SDV_20210401T052623_20210401T052648_026269_032297_ECC8"
SLC_NAME = "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4"
GRD_DIR = S1_DIR / f"{GRD_NAME}.SAFE"
SLC_CALIBRATION_DIR = S1_DIR / f"{SLC_NAME}.SAFE" / "annotation" / "calibration"
SLC_CALIBRATION = (
    SLC_CALIBRATION_DIR / "calibration-s1b-iw1-slc-vv-20210401t052624-20210401t052649-026269-032297-004.xml"
)
SLC_NOISE = SLC_CALIBRATION_DIR / "noise-s1b-iw1-slc-vv-20210401t052624-20210401t052649-026269-032297-004.xml"
STEMS = {
    "VV": "s1b-iw-grd-vv-20210401t052623-20210401t052648-026269-032297-001",
    "VH": "s1b-iw-grd-vh-20210401t052623-20210401t052648-026269-032297-002",
}
WIDTH, HEIGHT = 25788, 16685
SWATH_BLOCKS = ((0, 8595, 1.0), (8596, 17191, 0.8), (17192, WIDTH - 1, 1.2))
VH_NOISE_FACTOR = 0.6


def geolocation_points() -> np.ndarray:
    """The real VV annotation's geolocation grid: (210, 5) line, pixel, latitude, longitude, height."""
    root = ElementTree.parse(GRD_DIR / "annotation" / f"{STEMS['VV']}.xml").getroot()
    points = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    return np.array(
        [
            [float(p.findtext(tag)) for tag in ("line", "pixel", "latitude", "longitude", "height")]
            for p in points
        ]
    )


def _stretch(values: np.ndarray, first: float, last: float, new_first: float, new_last: float) -> np.ndarray:
    return np.round(new_first + (values - first) * (new_last - new_first) / (last - first)).astype(int)


def _set_list(element: ElementTree.Element, values: np.ndarray, fmt: str = "{:d}") -> None:
    element.text = " ".join(fmt.format(v) for v in values)
    element.set("count", str(len(values)))


def _as_grd_header(root: ElementTree.Element, polarisation: str) -> None:
    header = root.find("adsHeader")
    header.find("productType").text = "GRD"
    header.find("polarisation").text = polarisation
    header.find("swath").text = "IW"


def grd_calibration_xml(polarisation: str) -> bytes:
    """Calibration annotation in GRD form from the real SLC IW1 VV table (CONSTRUCTED: see the module doc)."""
    root = ElementTree.parse(SLC_CALIBRATION).getroot()
    _as_grd_header(root, polarisation)
    vectors = root.findall("calibrationVectorList/calibrationVector")
    lines = np.array([int(v.findtext("line")) for v in vectors])
    new_lines = _stretch(lines, lines[0], lines[-1], -1042, 17500)
    for vector, line in zip(vectors, new_lines, strict=True):
        vector.find("line").text = str(line)
        pixels = np.array(vector.findtext("pixel").split(), dtype=float)
        _set_list(vector.find("pixel"), _stretch(pixels, 0, pixels[-1], 0, WIDTH - 1))
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def grd_noise_xml(polarisation: str) -> bytes:
    """Noise annotation in GRD form (range table and 3 swath azimuth blocks), from the real SLC IW1 VV one."""
    root = ElementTree.parse(SLC_NOISE).getroot()
    _as_grd_header(root, polarisation)
    factor = VH_NOISE_FACTOR if polarisation == "VH" else 1.0
    vectors = root.findall("noiseRangeVectorList/noiseRangeVector")
    lines = np.array([int(v.findtext("line")) for v in vectors])
    for vector, line in zip(vectors, _stretch(lines, lines[0], lines[-1], -1501, 17000), strict=True):
        vector.find("line").text = str(line)
        pixels = np.array(vector.findtext("pixel").split(), dtype=float)
        _set_list(vector.find("pixel"), _stretch(pixels, 0, pixels[-1], 0, WIDTH - 1))
        lut = np.array(vector.findtext("noiseRangeLut").split(), dtype=float) * factor
        _set_list(vector.find("noiseRangeLut"), lut, "{:.6e}")
    azimuth_list = root.find("noiseAzimuthVectorList")
    template = azimuth_list.find("noiseAzimuthVector")
    azimuth_list.remove(template)
    az_lines = np.array(template.findtext("line").split(), dtype=float)
    new_lines = _stretch(az_lines, 0, az_lines[-1], 0, HEIGHT - 1)
    for index in range(1, len(new_lines)):  # rounding must not merge the 1-line steps of the real table
        new_lines[index] = max(new_lines[index], new_lines[index - 1] + 1)
    az_values = np.array(template.findtext("noiseAzimuthLut").split(), dtype=float)
    for index, (first, last, scale) in enumerate(SWATH_BLOCKS, start=1):
        block = ElementTree.fromstring(ElementTree.tostring(template))
        block.find("swath").text = f"IW{index}"
        block.find("firstAzimuthLine").text = "0"
        block.find("lastAzimuthLine").text = str(HEIGHT - 1)
        block.find("firstRangeSample").text = str(first)
        block.find("lastRangeSample").text = str(last)
        _set_list(block.find("line"), new_lines)
        _set_list(block.find("noiseAzimuthLut"), az_values * scale, "{:.6e}")
        azimuth_list.append(block)
    azimuth_list.set("count", str(len(SWATH_BLOCKS)))
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def build_grd_product(
    folder: Path,
    patches: Mapping[str, list[tuple[Window, np.ndarray]]],
    *,
    polarisations: tuple[str, ...] = ("VV", "VH"),
    manifest_text: str | None = None,
) -> Path:
    """Write a GRD ``.SAFE`` folder in ``folder``: real annotation, manifest; constructed tables; sparse DN.

    Args:
        folder: where the product goes.
        patches: polarisation -> [(window, uint16 DN array)] written into the full-size measurement.
        polarisations: which polarisations the product holds (their annotation is real for VV and VH).
        manifest_text: a replacement manifest (e.g. another product type), or None for the real one.

    Returns:
        The ``.SAFE`` folder.

    """
    safe = folder / f"{GRD_NAME}.SAFE"
    (safe / "annotation" / "calibration").mkdir(parents=True)
    (safe / "measurement").mkdir()
    if manifest_text is None:
        shutil.copyfile(GRD_DIR / "manifest.safe", safe / "manifest.safe")
    else:
        (safe / "manifest.safe").write_text(manifest_text, encoding="utf-8")
    for pol in polarisations:
        stem = STEMS[pol]
        shutil.copyfile(GRD_DIR / "annotation" / f"{stem}.xml", safe / "annotation" / f"{stem}.xml")
        (safe / "annotation" / "calibration" / f"calibration-{stem}.xml").write_bytes(
            grd_calibration_xml(pol)
        )
        (safe / "annotation" / "calibration" / f"noise-{stem}.xml").write_bytes(grd_noise_xml(pol))
        write_measurement(safe / "measurement" / f"{stem}.tiff", patches.get(pol, []))
    return safe


def write_measurement(path: Path, patches: list[tuple[Window, np.ndarray]]) -> Path:
    """A full-size uint16 GRD measurement, tiled and sparse: only the patches are stored, the rest reads 0."""
    profile = {
        "driver": "GTiff",
        "width": WIDTH,
        "height": HEIGHT,
        "count": 1,
        "dtype": "uint16",
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "sparse_ok": True,
    }
    with warnings.catch_warnings():
        # like ESA's copies in ../shared, these carry no GCPs: the annotation places the image
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        dataset = rasterio.open(path, "w", **profile)
    with dataset:
        for window, values in patches:
            dataset.write(values.astype(np.uint16), 1, window=window)
    return path


def zip_product(safe: Path, destination: Path) -> Path:
    """Zip a ``.SAFE`` folder as the hubs deliver it (``<name>.SAFE/...`` inside ``<name>.zip``)."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(safe.rglob("*")):
            if path.is_file():
                archive.write(path, f"{safe.name}/{path.relative_to(safe).as_posix()}")
    return destination


def _table(xml: bytes, vector_path: str, value_tag: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    root = ElementTree.fromstring(xml)
    vectors = root.findall(vector_path)
    lines = np.array([float(v.findtext("line")) for v in vectors])
    pixels = np.array(vectors[0].findtext("pixel").split(), dtype=float)
    assert all(np.array_equal(np.array(v.findtext("pixel").split(), dtype=float), pixels) for v in vectors)
    values = np.array([v.findtext(value_tag).split() for v in vectors], dtype=float)
    return lines, pixels, values


def _bilinear(
    table: tuple[np.ndarray, np.ndarray, np.ndarray], rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    lines, pixels, values = table
    interpolator = RegularGridInterpolator((lines, pixels), values, method="linear")
    r, c = np.meshgrid(
        np.clip(rows, lines[0], lines[-1]), np.clip(cols, pixels[0], pixels[-1]), indexing="ij"
    )
    return interpolator(np.stack([r, c], axis=-1))


def independent_sigma0(
    dn: np.ndarray, rows: np.ndarray, cols: np.ndarray, calibration_xml: bytes, noise_xml: bytes, floor: float
) -> np.ndarray:
    """ESA's sigma0 = (DN^2 - noise) / A^2 from the XML alone (SciPy grid interpolation), NaN at DN 0."""
    a_sigma = _bilinear(
        _table(calibration_xml, "calibrationVectorList/calibrationVector", "sigmaNought"), rows, cols
    )
    noise = _bilinear(_table(noise_xml, "noiseRangeVectorList/noiseRangeVector", "noiseRangeLut"), rows, cols)
    azimuth = np.ones_like(noise)
    for block in ElementTree.fromstring(noise_xml).findall("noiseAzimuthVectorList/noiseAzimuthVector"):
        first_line, last_line = (
            int(block.findtext("firstAzimuthLine")),
            int(block.findtext("lastAzimuthLine")),
        )
        first, last = int(block.findtext("firstRangeSample")), int(block.findtext("lastRangeSample"))
        line = np.array(block.findtext("line").split(), dtype=float)
        lut = np.array(block.findtext("noiseAzimuthLut").split(), dtype=float)
        r = (rows >= first_line) & (rows <= last_line)
        c = (cols >= first) & (cols <= last)
        azimuth[np.ix_(r, c)] = np.interp(rows[r], line, lut)[:, None]
    sigma = (dn.astype(float) ** 2 - noise * azimuth) / a_sigma**2
    sigma = np.where(sigma > floor, sigma, floor)
    return np.where(dn == 0, np.nan, sigma)


def manifest_with_product_type(kind: str) -> str:
    """The real GRD manifest with another product type (e.g. SLC), for refusal tests."""
    text = (GRD_DIR / "manifest.safe").read_text(encoding="utf-8")
    return re.sub(r"<s1sarl1:productType>GRD<", f"<s1sarl1:productType>{kind}<", text)


def utm32_position(line: float, pixel: float) -> tuple[float, float]:
    """Where GDAL's own GCP transformer (thin-plate spline) puts the centre of image pixel (line, pixel).

    Returns:
        (x, y) in UTM zone 32N metres (the product lies in 8.8-12.4 degrees east).

    """
    from osgeo import gdal, osr

    dataset = gdal.GetDriverByName("MEM").Create("", WIDTH, HEIGHT, 1, gdal.GDT_Byte)
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    gcps = [gdal.GCP(lon, lat, h, p + 0.5, row + 0.5) for row, p, lat, lon, h in geolocation_points()]
    dataset.SetGCPs(gcps, wgs84.ExportToWkt())
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    transformer = gdal.Transformer(dataset, None, ["METHOD=GCP_TPS", f"DST_SRS={utm.ExportToWkt()}"])
    ok, (x, y, _) = transformer.TransformPoint(0, pixel + 0.5, line + 0.5)
    assert ok
    return x, y


def zipped_product_with_patch(folder: Path, seed: int = 5) -> tuple[Path, tuple[float, float]]:
    """A zipped GRD product with random DN in 160 x 160 pixels around line 6080, pixel 12080, and where it is.

    Returns:
        The zip, and the patch centre in UTM 32N metres.

    """
    window = Window(12000, 6000, 160, 160)
    rng = np.random.default_rng(seed)
    patches = {
        "VV": [(window, rng.integers(200, 2000, size=(160, 160)))],
        "VH": [(window, rng.integers(80, 800, size=(160, 160)))],
    }
    safe = build_grd_product(folder, patches)
    return zip_product(safe, folder / f"{safe.stem}.zip"), utm32_position(6079.5, 12079.5)
