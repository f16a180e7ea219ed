"""SAR onto the optical grid, window by window (glfcr_qgis.core.io.alignment)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import transform as transform_points
from rasterio.windows import Window
from scene_rasters import ORIGIN, PIXEL, UTM31, optical_dn, sar_db, write_raster

from glfcr_qgis.core.errors import GlfcrWarning, InputRasterError, NoOverlapError
from glfcr_qgis.core.io.alignment import SarOnOpticalGrid, check_overlap, estimate_coverage, same_grid

WGS84 = CRS.from_epsg(4326)
HEIGHT, WIDTH = 40, 48


@pytest.fixture
def optical(tmp_path: Path) -> Path:
    return write_raster(tmp_path / "optical.tif", optical_dn(HEIGHT, WIDTH))


def _linear_field_in_wgs84(path: Path, margin: float = 0.002) -> Path:
    """A 2-band SAR in EPSG:4326 covering the optical extent, each band a linear function of lon/lat."""
    left, top = ORIGIN
    right, bottom = left + WIDTH * PIXEL, top - HEIGHT * PIXEL
    lons, lats = transform_points(UTM31, WGS84, [left, right, left, right], [top, top, bottom, bottom])
    west, east = min(lons) - margin, max(lons) + margin
    south, north = min(lats) - margin, max(lats) + margin
    res = 0.00005  # about 4-6 m
    width, height = int(np.ceil((east - west) / res)), int(np.ceil((north - south) / res))
    lon = west + (np.arange(width) + 0.5) * res
    lat = north - (np.arange(height) + 0.5) * res
    lon_grid, lat_grid = np.meshgrid(lon, lat)
    data = np.stack([_vv(lon_grid, lat_grid), _vh(lon_grid, lat_grid)]).astype(np.float32)
    return write_raster(path, data, transform=from_origin(west, north, res, res), crs=WGS84)


def _vv(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return -20.0 + 1000.0 * (lon - 3.0) - 300.0 * (lat - 45.0)


def _vh(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return -25.0 - 500.0 * (lon - 3.0) + 200.0 * (lat - 45.0)


def test_identical_grids_are_read_directly(tmp_path: Path, optical: Path) -> None:
    sar_values = sar_db(HEIGHT, WIDTH)
    sar_path = write_raster(tmp_path / "sar.tif", sar_values)
    with rasterio.open(optical) as opt, rasterio.open(sar_path) as sar, SarOnOpticalGrid(opt, sar) as aligned:
        assert same_grid(opt, sar)
        assert not aligned.resampled and aligned.covered_fraction == 1.0
        window = Window(5, 7, 20, 9)
        np.testing.assert_array_equal(aligned.read(window), sar_values[:, 7:16, 5:25])


def test_declared_sar_nodata_becomes_nan(tmp_path: Path, optical: Path) -> None:
    sar_values = sar_db(HEIGHT, WIDTH)
    sar_values[:, 3, 4] = -9999.0
    sar_path = write_raster(tmp_path / "sar.tif", sar_values, nodata=-9999.0)
    with rasterio.open(optical) as opt, rasterio.open(sar_path) as sar, SarOnOpticalGrid(opt, sar) as aligned:
        data = aligned.read(Window(0, 0, WIDTH, HEIGHT))
    assert np.isnan(data[:, 3, 4]).all()
    assert np.isfinite(np.delete(data.reshape(2, -1), 3 * WIDTH + 4, axis=1)).all()


def test_sar_in_another_crs_is_resampled_onto_the_optical_grid(tmp_path: Path, optical: Path) -> None:
    sar_path = _linear_field_in_wgs84(tmp_path / "sar_wgs84.tif")
    with rasterio.open(optical) as opt, rasterio.open(sar_path) as sar:
        with warnings.catch_warnings():
            warnings.simplefilter("error", GlfcrWarning)  # full coverage: no warning
            aligned = SarOnOpticalGrid(opt, sar)
        with aligned:
            assert aligned.resampled and aligned.covered_fraction == 1.0
            data = aligned.read(Window(0, 0, WIDTH, HEIGHT))
            part = aligned.read(Window(10, 12, 17, 5))
            rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
            xs, ys = rasterio.transform.xy(opt.transform, rows.ravel(), cols.ravel())
    lon, lat = (np.asarray(v).reshape(HEIGHT, WIDTH) for v in transform_points(UTM31, WGS84, xs, ys))
    assert data.shape == (2, HEIGHT, WIDTH) and data.dtype == np.float32
    # bilinear resampling reproduces a linear field up to its curvature across one UTM/WGS84 pixel
    np.testing.assert_allclose(data[0], _vv(lon, lat), atol=0.01)
    np.testing.assert_allclose(data[1], _vh(lon, lat), atol=0.01)
    np.testing.assert_array_equal(part, data[:, 12:17, 10:27])


def test_partial_overlap_warns_with_the_covered_fraction_and_reads_nan_outside(
    tmp_path: Path, optical: Path
) -> None:
    # SAR on a 20 m grid covering the left half of the optical image only
    half = write_raster(
        tmp_path / "half.tif",
        sar_db(HEIGHT // 2, WIDTH // 4),
        transform=from_origin(*ORIGIN, 2 * PIXEL, 2 * PIXEL),
    )
    with rasterio.open(optical) as opt, rasterio.open(half) as sar:
        with pytest.warns(GlfcrWarning, match=r"about 50\.0% of the optical raster"):
            aligned = SarOnOpticalGrid(opt, sar)
        with aligned:
            data = aligned.read(Window(0, 0, WIDTH, HEIGHT))
    assert aligned.covered_fraction == pytest.approx(0.5, abs=0.03)
    assert np.isnan(data[:, :, WIDTH // 2 + 1 :]).all()
    assert np.isfinite(data[:, :, : WIDTH // 2 - 1]).all()


def test_coverage_estimate_is_cheap_on_large_grids(tmp_path: Path) -> None:
    class Grid:  # a 20000 x 20000 px optical grid, never read
        crs, width, height = UTM31, 20000, 20000
        transform = from_origin(*ORIGIN, PIXEL, PIXEL)

    quarter = write_raster(
        tmp_path / "quarter.tif", sar_db(100, 100), transform=from_origin(*ORIGIN, 1000.0, 1000.0)
    )
    with rasterio.open(quarter) as sar:
        assert estimate_coverage(Grid(), sar) == pytest.approx(0.25, abs=0.01)


def test_no_overlap_fails_before_any_reading(tmp_path: Path, optical: Path) -> None:
    far = write_raster(
        tmp_path / "far.tif", sar_db(HEIGHT, WIDTH), transform=from_origin(700000.0, 5000000.0, 10, 10)
    )
    with rasterio.open(optical) as opt, rasterio.open(far) as sar:
        with pytest.raises(NoOverlapError, match="does not overlap"):
            check_overlap(opt, sar)
        with pytest.raises(NoOverlapError):
            SarOnOpticalGrid(opt, sar)


def test_no_overlap_is_detected_across_crs(tmp_path: Path, optical: Path) -> None:
    elsewhere = write_raster(
        tmp_path / "elsewhere.tif",
        sar_db(10, 10),
        transform=from_origin(100.0, 10.0, 0.001, 0.001),
        crs=WGS84,
    )
    with rasterio.open(optical) as opt, rasterio.open(elsewhere) as sar:
        with pytest.raises(NoOverlapError):
            check_overlap(opt, sar)


def test_sar_without_crs_on_another_grid_is_refused(tmp_path: Path, optical: Path) -> None:
    bare = write_raster(tmp_path / "bare.tif", sar_db(10, 10), crs=None)
    with rasterio.open(optical) as opt, rasterio.open(bare) as sar:
        with pytest.raises(InputRasterError, match="Assign Projection"):
            check_overlap(opt, sar)
