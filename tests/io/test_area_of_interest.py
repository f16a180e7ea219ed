"""Areas of interest on ordinary rasters: the window covering a rectangle, and the VRT that stands for it."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scene_rasters import ORIGIN, PIXEL, UTM31, optical_dn, write_raster

from glfcr_qgis.core.errors import GlfcrWarning, InputRasterError, ParameterValueError
from glfcr_qgis.core.io.area_of_interest import AreaOfInterest, window_for_area
from glfcr_qgis.core.io.optical_input import open_optical
from glfcr_qgis.core.io.virtual_raster import open_vrt, window_vrt

HEIGHT, WIDTH = 40, 50


@pytest.fixture
def raster(tmp_path):
    data = optical_dn(HEIGHT, WIDTH)
    path = write_raster(tmp_path / "scene.tif", data, nodata=0, descriptions=[f"band {i}" for i in range(13)])
    with rasterio.open(path, "r+") as dataset:
        dataset.update_tags(S2_PROCESSING_BASELINE="05.09", other="kept")
    return path, data


def area(col0: float, row0: float, col1: float, row1: float, crs: str | None = None) -> AreaOfInterest:
    """A rectangle given in pixel coordinates of the test grid (fractions allowed)."""
    x0, y0 = ORIGIN[0] + col0 * PIXEL, ORIGIN[1] - row1 * PIXEL
    return AreaOfInterest(x0, y0, ORIGIN[0] + col1 * PIXEL, ORIGIN[1] - row0 * PIXEL, crs)


@pytest.mark.parametrize(
    ("rectangle", "expected"),
    [
        (area(2, 3, 12, 20), (2, 3, 10, 17)),  # on pixel edges: exactly those pixels
        (area(2.5, 3.2, 11.1, 19.9), (2, 3, 10, 17)),  # inside pixels: snapped outward
        (area(0, 0, WIDTH, HEIGHT), (0, 0, WIDTH, HEIGHT)),
        (area(2, 3, 12, 20, "EPSG:32631"), (2, 3, 10, 17)),
    ],
)
def test_window_for_area_snaps_outward_to_whole_pixels(raster, rectangle, expected):
    with rasterio.open(raster[0]) as dataset:
        window = window_for_area(dataset, rectangle, role="cloudy optical")
    assert (window.col_off, window.row_off, window.width, window.height) == expected


def test_area_partly_outside_is_clipped_with_a_warning(raster):
    with rasterio.open(raster[0]) as dataset, pytest.warns(GlfcrWarning, match="clipped to the raster"):
        window = window_for_area(dataset, area(-5, 30, 20, 60), role="cloudy optical")
    assert (window.col_off, window.row_off, window.width, window.height) == (0, 30, 20, 10)


def test_area_outside_or_empty_is_refused(raster):
    with rasterio.open(raster[0]) as dataset:
        with pytest.raises(InputRasterError, match="lies outside the cloudy optical raster"):
            window_for_area(dataset, area(WIDTH + 1, 0, WIDTH + 9, 5), role="cloudy optical")
        with pytest.raises(InputRasterError, match="lies outside"):
            # touching the raster's edge covers no pixel
            window_for_area(dataset, area(WIDTH, 0, WIDTH + 9, 5), role="cloudy optical")
        with pytest.raises(ParameterValueError, match="not understood"):
            window_for_area(dataset, area(1, 1, 5, 5, "EPSG:999999"), role="cloudy optical")
    with pytest.raises(ParameterValueError, match="empty"):
        AreaOfInterest(10, 5, 10, 9)


def test_area_in_geographic_coordinates(raster):
    from rasterio.warp import transform_bounds

    inner = area(10.5, 10.5, 30.5, 25.5)
    lonlat = transform_bounds(UTM31, "EPSG:4326", inner.xmin, inner.ymin, inner.xmax, inner.ymax)
    with rasterio.open(raster[0]) as dataset:
        window = window_for_area(dataset, AreaOfInterest(*lonlat, "EPSG:4326"), role="x")
    assert window.col_off <= 10 and window.row_off <= 10
    assert window.col_off + window.width >= 31 and window.row_off + window.height >= 26


def test_window_vrt_is_the_window_with_everything_the_raster_says(raster):
    path, data = raster
    with rasterio.open(path) as dataset:
        window = window_for_area(dataset, area(3, 4, 21, 30), role="x")
        with open_vrt(window_vrt(dataset, window), name="cut.vrt") as cut:
            assert np.array_equal(cut.read(), data[:, 4:30, 3:21])
            assert cut.transform == from_origin(ORIGIN[0] + 30, ORIGIN[1] - 40, PIXEL, PIXEL)
            assert (cut.crs, cut.dtypes, cut.nodatavals) == (dataset.crs, dataset.dtypes, dataset.nodatavals)
            assert cut.descriptions == dataset.descriptions
            assert cut.tags()["other"] == "kept" and cut.tags()["S2_PROCESSING_BASELINE"] == "05.09"
            # another thread can open its own handle by name while the VRT is open
            with rasterio.open(cut.name) as second:
                assert np.array_equal(second.read(1), data[0, 4:30, 3:21])


def test_open_optical_cuts_an_ordinary_raster_and_checks_its_bands(raster, tmp_path):
    path, data = raster
    with open_optical(path, role="cloudy optical", extent=area(5, 5, 15, 15)) as cut:
        assert np.array_equal(cut.read(), data[:, 5:15, 5:15])
    with open_optical(path, role="cloudy optical") as whole:
        assert whole.name == str(path)
    twelve = write_raster(tmp_path / "l2a.tif", optical_dn(8, 8, bands=12))
    with pytest.raises(InputRasterError, match="has 12 bands"):
        with open_optical(twelve, role="cloudy optical"):
            pass
