"""Sentinel-1 GRD products (core.io.sentinel1.grd): calibration, geocoding, product forms, refusals.

The product is built from the real ESA annotation with constructed tables and sparse full-size DN rasters
(``tests/sentinel1_products.py`` says what is real and what is constructed). Its expected positions come
from GDAL's own GCP transformer (thin-plate spline) and its expected sigma0 from an independent
implementation of ESA's formula (``independent_sigma0``).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import gdal, osr
from rasterio.windows import Window
from sentinel1_products import (
    GRD_DIR,
    HEIGHT,
    STEMS,
    WIDTH,
    build_grd_product,
    geolocation_points,
    independent_sigma0,
    manifest_with_product_type,
    utm32_position,
    zip_product,
)

from glfcr_qgis.core.errors import GlfcrWarning, InputRasterError, ParameterValueError, RasterReadError
from glfcr_qgis.core.io.sentinel1.calibration import NOISE_FLOOR
from glfcr_qgis.core.io.sentinel1.grd import GrdProduct
from glfcr_qgis.core.io.sentinel1.inputs import open_sar_source
from glfcr_qgis.core.io.sentinel1.preparation import prepare_sentinel1
from glfcr_qgis.core.io.sentinel1.safe_files import is_sentinel1_product

UTM32 = "EPSG:32632"
CORNERS = ((0, 0), (0, WIDTH - 1), (HEIGHT - 1, 0), (HEIGHT - 1, WIDTH - 1))
# an interior geolocation grid point: line 8012, pixel 12900
INTERIOR = (8012, 12900)
SPOT = 48  # side of the background patch around each marked pixel
RANDOM_WINDOW = Window(3000, 4000, 128, 128)
SMOOTH_WINDOW = Window(15000, 9000, 600, 600)


def marked_patch(line: int, pixel: int) -> tuple[Window, np.ndarray]:
    """A uniform patch (DN 400) holding ``(line, pixel)`` with one bright pixel (DN 4000) on it."""
    top = min(max(line - SPOT // 2, 0), HEIGHT - SPOT)
    left = min(max(pixel - SPOT // 2, 0), WIDTH - SPOT)
    values = np.full((SPOT, SPOT), 400, dtype=np.uint16)
    values[line - top, pixel - left] = 4000
    return Window(left, top, SPOT, SPOT), values


def smooth_dn(window: Window, scale: float) -> np.ndarray:
    rows, cols = np.mgrid[0 : window.height, 0 : window.width]
    rows, cols = rows + window.row_off, cols + window.col_off
    return (scale * (600 + 250 * np.sin(2 * np.pi * rows / 700) * np.cos(2 * np.pi * cols / 900))).astype(
        np.uint16
    )


@pytest.fixture(scope="module")
def random_dn() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(14)
    values = {pol: rng.integers(0, 1200 if pol == "VV" else 500, size=(128, 128)) for pol in ("VV", "VH")}
    for array in values.values():
        array[:3, :] = 0  # a stretch of the no-data border
    return values


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, random_dn: dict[str, np.ndarray]) -> Path:
    patches: dict[str, list[tuple[Window, np.ndarray]]] = {"VV": [], "VH": []}
    for line, pixel in (*CORNERS, INTERIOR):
        window, values = marked_patch(line, pixel)
        patches["VV"].append((window, values))
        patches["VH"].append((window, values // 3))
    for pol, scale in (("VV", 1.0), ("VH", 0.4)):
        patches[pol] += [(RANDOM_WINDOW, random_dn[pol]), (SMOOTH_WINDOW, smooth_dn(SMOOTH_WINDOW, scale))]
    return build_grd_product(tmp_path_factory.mktemp("grd"), patches)


def prepare_quietly(*args: object, **kwargs: object):  # noqa: ANN201
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GlfcrWarning)
        return prepare_sentinel1(*args, **kwargs)


def bright_spot_centre(path: Path) -> tuple[float, float]:
    """Centroid (map x, y) of the excess power of the one bright pixel over the uniform patch."""
    with rasterio.open(path) as dataset:
        power = 10 ** (dataset.read(1).astype(float) / 10)
        transform = dataset.transform
    excess = np.nan_to_num(power - np.nanmedian(power))
    excess[excess < 0.05 * excess.max()] = 0
    rows, cols = np.mgrid[0 : power.shape[0], 0 : power.shape[1]] + 0.5
    return transform * ((excess * cols).sum() / excess.sum(), (excess * rows).sum() / excess.sum())


@pytest.mark.parametrize(
    ("line", "pixel"),
    CORNERS,
    ids=["first line, near", "first line, far", "last line, near", "last line, far"],
)
def test_gcp_corners_land_within_one_pixel_of_gdals_gcp_transformer(
    product: Path, tmp_path: Path, line: int, pixel: int
) -> None:
    # the corner points are points of the geolocation grid itself
    assert any((p[0], p[1]) == (line, pixel) for p in geolocation_points())
    x, y = utm32_position(line, pixel)
    result = prepare_quietly(
        product, tmp_path / "corner.tif", extent=(x - 320, y - 320, x + 320, y + 320), extent_crs=UTM32
    )
    assert result.grid.crs.to_epsg() == 32632 and result.grid.transform.a == 10.0
    found_x, found_y = bright_spot_centre(result.output_path)
    assert np.hypot(found_x - x, found_y - y) < 10.0  # one 10 m pixel


def test_an_interior_grid_point_lands_on_its_latitude_and_longitude(product: Path, tmp_path: Path) -> None:
    line, pixel, lat, lon, _ = next(p for p in geolocation_points() if (p[0], p[1]) == INTERIOR)
    x, y = utm32_position(line, pixel)
    from rasterio.warp import transform as transform_points

    (gx,), (gy,) = transform_points("EPSG:4326", UTM32, [lon], [lat])
    assert np.hypot(gx - x, gy - y) < 0.01  # the spline passes through the point: pixel centre = its lat/lon
    result = prepare_quietly(
        product, tmp_path / "inside.tif", extent=(x - 320, y - 320, x + 320, y + 320), extent_crs=UTM32
    )
    found_x, found_y = bright_spot_centre(result.output_path)
    assert np.hypot(found_x - x, found_y - y) < 3.0  # a third of a pixel away from the corners' edge effects


def test_calibration_matches_an_independent_esa_implementation(
    product: Path, random_dn: dict[str, np.ndarray]
) -> None:
    rows = np.arange(RANDOM_WINDOW.row_off, RANDOM_WINDOW.row_off + RANDOM_WINDOW.height)
    cols = np.arange(RANDOM_WINDOW.col_off, RANDOM_WINDOW.col_off + RANDOM_WINDOW.width)
    with pytest.warns(GlfcrWarning, match=r"h / tan\(incidence\)"), GrdProduct(product) as grd:
        sigma = grd.read(RANDOM_WINDOW)
    assert grd.ipf == pytest.approx(3.31) and (grd.width, grd.height) == (WIDTH, HEIGHT)
    for index, pol in enumerate(("VV", "VH")):
        calibration = (product / "annotation" / "calibration" / f"calibration-{STEMS[pol]}.xml").read_bytes()
        noise = (product / "annotation" / "calibration" / f"noise-{STEMS[pol]}.xml").read_bytes()
        expected = independent_sigma0(random_dn[pol], rows, cols, calibration, noise, NOISE_FLOOR)
        np.testing.assert_array_equal(np.isnan(sigma[index]), np.isnan(expected))
        assert np.isnan(sigma[index][:3]).all()  # DN 0
        assert (sigma[index] == np.float32(NOISE_FLOOR)).any()  # dark pixels below the noise are floored
        np.testing.assert_allclose(
            10 * np.log10(sigma[index]), 10 * np.log10(expected), atol=0.01, equal_nan=True
        )


def test_geocoded_sigma0_matches_independent_calibration_warped_by_gdal(
    product: Path, tmp_path: Path
) -> None:
    # a 400 m square inside the smooth patch
    centre_line, centre_pixel = SMOOTH_WINDOW.row_off + 300, SMOOTH_WINDOW.col_off + 300
    x, y = utm32_position(centre_line, centre_pixel)
    result = prepare_quietly(
        product, tmp_path / "smooth.tif", extent=(x - 200, y - 200, x + 200, y + 200), extent_crs=UTM32
    )
    with rasterio.open(result.output_path) as dataset:
        ours = dataset.read()
        transform, shape = dataset.transform, dataset.shape
    rows = np.arange(SMOOTH_WINDOW.row_off, SMOOTH_WINDOW.row_off + SMOOTH_WINDOW.height)
    cols = np.arange(SMOOTH_WINDOW.col_off, SMOOTH_WINDOW.col_off + SMOOTH_WINDOW.width)
    for index, (pol, scale) in enumerate((("VV", 1.0), ("VH", 0.4))):
        calibration = (product / "annotation" / "calibration" / f"calibration-{STEMS[pol]}.xml").read_bytes()
        noise = (product / "annotation" / "calibration" / f"noise-{STEMS[pol]}.xml").read_bytes()
        sigma = independent_sigma0(
            smooth_dn(SMOOTH_WINDOW, scale), rows, cols, calibration, noise, NOISE_FLOOR
        )
        expected = gdal_warp_patch(sigma, SMOOTH_WINDOW, transform, shape)
        np.testing.assert_allclose(ours[index], 10 * np.log10(expected), atol=0.01)


def gdal_warp_patch(
    sigma: np.ndarray, window: Window, transform: object, shape: tuple[int, int]
) -> np.ndarray:
    """GDAL itself warps a radar-geometry patch onto a UTM grid: GCPs moved to the patch, TPS, exact."""
    source = gdal.GetDriverByName("MEM").Create("", sigma.shape[1], sigma.shape[0], 1, gdal.GDT_Float64)
    source.GetRasterBand(1).WriteArray(sigma)
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    gcps = [
        gdal.GCP(lon, lat, h, pixel + 0.5 - window.col_off, line + 0.5 - window.row_off)
        for line, pixel, lat, lon, h in geolocation_points()
    ]
    source.SetGCPs(gcps, wgs84.ExportToWkt())
    target = gdal.GetDriverByName("MEM").Create("", shape[1], shape[0], 1, gdal.GDT_Float64)
    target.SetGeoTransform(transform.to_gdal())
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    target.SetProjection(utm.ExportToWkt())
    gdal.Warp(
        target,
        source,
        options=gdal.WarpOptions(
            resampleAlg="bilinear", tps=True, errorThreshold=0, srcNodata=float("nan"), dstNodata=float("nan")
        ),
    )
    return target.GetRasterBand(1).ReadAsArray()


def test_zip_folder_and_manifest_give_the_same_output(product: Path, tmp_path: Path) -> None:
    x, y = utm32_position(*INTERIOR)
    extent = (x - 100, y - 100, x + 100, y + 100)
    archive = zip_product(product, tmp_path / f"{product.stem}.zip")
    assert all(is_sentinel1_product(p) for p in (product, product / "manifest.safe", archive))
    assert not is_sentinel1_product(GRD_DIR / "measurement")
    outputs = [
        prepare_quietly(source, tmp_path / f"{name}.tif", extent=extent, extent_crs=UTM32).output_path
        for name, source in (("folder", product), ("manifest", product / "manifest.safe"), ("zip", archive))
    ]
    arrays = []
    for path in outputs:
        with rasterio.open(path) as dataset:
            arrays.append(dataset.read())
            assert dataset.descriptions == ("VV", "VH") and dataset.dtypes == ("float32", "float32")
            assert np.isnan(dataset.nodata)
            tags = dataset.tags()
    assert np.isfinite(arrays[0]).all()
    np.testing.assert_array_equal(arrays[0], arrays[1])
    np.testing.assert_array_equal(arrays[0], arrays[2])
    assert "no terrain correction" in tags["sar_geocoding"] and "IPF 3.31" in tags["sar_calibration"]


def test_the_real_measurement_file_is_read_through_the_annotation(product: Path, tmp_path: Path) -> None:
    """ESA's measurement layout (ZSTD, one-row strips, no GCPs) as VV; every DN is 1 in this copy."""
    safe = tmp_path / product.name
    shutil.copytree(product, safe)
    real = GRD_DIR / "measurement" / f"{STEMS['VV']}.tiff"
    shutil.copyfile(real, safe / "measurement" / real.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GlfcrWarning)
        grd = GrdProduct(safe)
    with grd:
        sigma = grd.read(Window(20000, 16000, 64, 32))
    # DN 1 is far below the thermal noise: every pixel is floored, none is missing
    np.testing.assert_array_equal(sigma[0], np.float32(NOISE_FLOOR))


def test_products_that_cannot_be_used_are_refused(product: Path, tmp_path: Path) -> None:
    slc = tmp_path / "slc"
    build_grd_product(slc, {}, manifest_text=manifest_with_product_type("SLC"))
    with pytest.raises(InputRasterError, match="of type SLC; only GRD products"):
        GrdProduct(next(slc.iterdir()))
    vv_only = tmp_path / "vv_only"
    build_grd_product(vv_only, {}, polarisations=("VV",))
    with pytest.raises(InputRasterError, match="holds VV; GLF-CR needs VV and VH"):
        GrdProduct(next(vv_only.iterdir()))
    incomplete = tmp_path / product.name
    shutil.copytree(product, incomplete)
    (incomplete / "annotation" / "calibration" / f"noise-{STEMS['VH']}.xml").unlink()
    with pytest.raises(RasterReadError, match="lacks the VH noise file; re-download"):
        GrdProduct(incomplete)
    with pytest.raises(RasterReadError, match="not a SAFE product"):
        GrdProduct(tmp_path)
    with (
        pytest.raises(ParameterValueError, match="leave the second SAR file"),
        open_sar_source(product, vh_path=product),
    ):
        pass
