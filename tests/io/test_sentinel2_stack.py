"""The 13-band stack of a Sentinel-2 L1C product: band order, 10 m grid, harmonisation, windows, extents.

Every expectation comes from ``sentinel2_products.expected_stack``: the band files read one by one,
reordered, repeated onto the 10 m grid and offset-corrected with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from sentinel2_products import (
    BASELINE_0509,
    GLFCR_NAMES,
    SYNTHETIC_0103,
    build_product,
    expected_stack,
    zip_product,
)

from glfcr_qgis.core.errors import GlfcrWarning, InputRasterError
from glfcr_qgis.core.io.area_of_interest import AreaOfInterest
from glfcr_qgis.core.io.optical_input import open_optical, optical_input_tags
from glfcr_qgis.core.io.sentinel2.prepare import prepare_sentinel2

SIZE = 120
# windows that cut the 20 m and 60 m pixels anywhere: nearest neighbour must not shift under a window
ODD_WINDOWS = [Window(0, 0, 7, 5), Window(1, 3, 17, 11), Window(5, 59, 61, 7), Window(113, 101, 7, 19)]


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    return build_product(tmp_path_factory.mktemp("s2"), size=SIZE)


@pytest.fixture(scope="module")
def zipped(product, tmp_path_factory):
    return zip_product(product, tmp_path_factory.mktemp("zip") / f"{BASELINE_0509[:-5]}.zip")


def forms(product, zipped) -> dict[str, str]:
    return {
        "folder": str(product.safe),
        "xml": str(product.metadata),
        "zip": str(zipped),
        "subdataset": product.subdataset("10m"),
        "zipped subdataset": product.subdataset("60m", zipped=zipped),
    }


@pytest.mark.parametrize("form", ["folder", "xml", "zip", "subdataset", "zipped subdataset"])
def test_stack_equals_the_band_files_reordered_and_offset_corrected(shared_dir, product, zipped, form):
    expected = expected_stack(product)
    # the test data reaches every case: nodata, DN below the offset (clipped to 0), ordinary values
    assert (expected == 0).any() and (expected > 0).mean() > 0.8
    with open_optical(forms(product, zipped)[form], role="cloudy optical") as stack:
        assert (stack.count, stack.height, stack.width) == (13, SIZE, SIZE)
        assert stack.dtypes == ("uint16",) * 13 and stack.nodatavals == (0.0,) * 13
        assert stack.descriptions == GLFCR_NAMES
        assert stack.crs == product.crs and stack.transform == product.transform
        assert np.array_equal(stack.read(), expected)
        for window in ODD_WINDOWS:
            assert np.array_equal(
                stack.read(window=window), expected[:, window.toslices()[0], window.toslices()[1]]
            )


def test_stack_records_the_baseline_and_the_offsets_applied(shared_dir, product):
    with open_optical(product.safe, role="cloudy optical") as stack:
        tags = optical_input_tags(stack)
    assert tags["S2_PROCESSING_BASELINE"] == "05.09"
    assert tags["S2_PRODUCT"] == BASELINE_0509
    assert tags["S2_RADIO_ADD_OFFSET_APPLIED"] == " ".join(f"{band}:-1000" for band in GLFCR_NAMES)
    assert tags["S2_QUANTIFICATION_VALUE"] == "10000"


def test_pre_04_00_product_gets_no_offset(shared_dir, tmp_path):
    # GDAL's synthetic file: no offsets, QUANTIFICATION_VALUE 1000 (DN x 10 is reflectance x 10000),
    # NODATA 1, and its IMAGE_FILE list in no particular band order
    product = build_product(tmp_path, metadata=SYNTHETIC_0103, size=36, dn_range=(0, 3000))
    expected = expected_stack(product)
    with open_optical(product.safe, role="cloudy optical") as stack:
        assert np.array_equal(stack.read(), expected)
        tags = stack.tags()
    with rasterio.open(product.band_files["B03"]) as b3:
        raw = b3.read(1)
    assert np.array_equal(expected[2], np.where(raw == 1, 0, raw * 10))
    assert tags["S2_PROCESSING_BASELINE"] == "01.03"
    assert tags["S2_RADIO_ADD_OFFSET_APPLIED"] == " ".join(f"{band}:0" for band in GLFCR_NAMES)


def test_extent_reads_exactly_the_window_of_the_10m_grid(shared_dir, product, zipped):
    expected = expected_stack(product)
    left, top = product.ulx, product.uly
    # pixel edges in the product's CRS give exactly those pixels; inner points snap outward
    cases = {
        AreaOfInterest(left + 30, top - 500, left + 400, top - 200, "EPSG:32634"): Window(3, 20, 37, 30),
        AreaOfInterest(left + 31, top - 499.5, left + 399, top - 201): Window(3, 20, 37, 30),
    }
    for area, window in cases.items():
        with open_optical(zipped, role="cloudy optical", extent=area) as stack:
            assert (stack.width, stack.height) == (window.width, window.height)
            assert stack.transform == product.transform * rasterio.Affine.translation(
                window.col_off, window.row_off
            )
            assert np.array_equal(stack.read(), expected[(slice(None), *window.toslices())])
            assert stack.descriptions == GLFCR_NAMES and stack.nodatavals == (0.0,) * 13
            assert stack.tags()["S2_PROCESSING_BASELINE"] == "05.09"


def test_extent_in_another_crs_covers_the_area(shared_dir, product):
    from rasterio.warp import transform_bounds

    inner = (product.ulx + 205, product.uly - 395, product.ulx + 705, product.uly - 105)
    area = AreaOfInterest(*transform_bounds(product.crs, "EPSG:4326", *inner), "EPSG:4326")
    with open_optical(product.safe, role="cloudy optical", extent=area) as stack:
        left, bottom, right, top = stack.bounds
        assert left <= inner[0] and bottom <= inner[1] and right >= inner[2] and top >= inner[3]
        assert ((left - product.ulx) % 10, (product.uly - top) % 10) == (0, 0)
        # the smallest 10 m window holding the geographic rectangle's outline (densified) back in UTM
        back = transform_bounds(
            "EPSG:4326", product.crs, area.xmin, area.ymin, area.xmax, area.ymax, densify_pts=21
        )
        snapped = (back[0] // 10 * 10, back[1] // 10 * 10, -(-back[2] // 10) * 10, -(-back[3] // 10) * 10)
        assert (left, bottom, right, top) == snapped


def test_extent_partly_outside_is_clipped_with_a_warning_and_outside_is_refused(shared_dir, product):
    expected = expected_stack(product)
    beyond = AreaOfInterest(product.ulx + 1000, product.uly - 300, product.ulx + 5000, product.uly + 800)
    with (
        pytest.warns(GlfcrWarning, match="clipped"),
        open_optical(product.safe, role="x", extent=beyond) as stack,
    ):
        assert np.array_equal(stack.read(), expected[:, :30, 100:])
    outside = AreaOfInterest(product.ulx - 5000, product.uly - 300, product.ulx - 10, product.uly)
    with pytest.raises(InputRasterError, match="lies outside"):
        with open_optical(product.safe, role="x", extent=outside):
            pass


def test_prepared_stack_equals_the_product_and_is_not_offset_twice(shared_dir, product, zipped, tmp_path):
    area = AreaOfInterest(product.ulx + 100, product.uly - 1000, product.ulx + 1100, product.uly - 20)
    result = prepare_sentinel2(zipped, tmp_path / "stack.tif", extent=area)
    expected = expected_stack(product)[:, 2:100, 10:110]
    with rasterio.open(result.output_path) as prepared:
        assert prepared.profile["tiled"] and prepared.profile["compress"] == "deflate"
        assert (prepared.count, prepared.dtypes[0], prepared.nodata) == (13, "uint16", 0)
        assert prepared.descriptions == GLFCR_NAMES
        assert prepared.transform == product.transform * rasterio.Affine.translation(10, 2)
        assert np.array_equal(prepared.read(), expected)
        assert prepared.tags()["S2_PROCESSING_BASELINE"] == "05.09"
    # an ordinary raster is read as it is: the prepared stack keeps its values and its record
    with open_optical(result.output_path, role="cloudy optical") as again:
        assert np.array_equal(again.read(), expected)
        assert optical_input_tags(again)["S2_RADIO_ADD_OFFSET_APPLIED"].startswith("B1:-1000")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif"]


def test_prepare_stops_when_canceled_and_leaves_nothing(shared_dir, product, tmp_path):
    from glfcr_qgis.core.errors import ProcessingCanceled

    calls = []
    with pytest.raises(ProcessingCanceled):
        prepare_sentinel2(
            product.safe,
            tmp_path / "stack.tif",
            block_size=32,
            is_canceled=lambda: bool(calls.append(1)) or len(calls) > 2,
        )
    assert list(tmp_path.iterdir()) == []


def test_an_offset_gdal_lists_must_agree_with_the_metadata(shared_dir, product, tmp_path):
    # GDAL 3.6 lists no RADIO_ADD_OFFSET; newer versions do, as band metadata of the subdataset
    from scene_rasters import write_raster

    from glfcr_qgis.core.io.sentinel2.product import find_product, read_product_metadata
    from glfcr_qgis.core.io.sentinel2.stack import BandSource, _check_gdal_offsets

    listed = write_raster(tmp_path / "b2.tif", np.ones((1, 4, 4), np.uint16))
    location = find_product(product.safe)
    metadata = read_product_metadata(location)
    sources = {"B2": BandSource(str(listed), 1, 10, 4, 4)}
    for value, agrees in (("-1000", True), ("-1000.0", True), ("-500", False)):
        with rasterio.open(listed, "r+") as band:
            band.update_tags(1, BANDNAME="B2", RADIO_ADD_OFFSET=value)
        with rasterio.open(listed) as band:
            if agrees:
                _check_gdal_offsets(location, metadata, {10: band}, sources)
            else:
                with pytest.raises(InputRasterError, match="RADIO_ADD_OFFSET -500 for band B2"):
                    _check_gdal_offsets(location, metadata, {10: band}, sources)
