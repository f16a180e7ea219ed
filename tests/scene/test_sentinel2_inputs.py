"""Remove Clouds, Cloud Mask and Evaluate on Sentinel-2 L1C products and areas of interest (core)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from scene_rasters import sar_db, single_thread_torch, write_raster  # noqa: F401  (fixture)
from sentinel2_products import BASELINE_0509, build_product, zip_product
from test_remove_clouds import PointwiseStandIn

from glfcr_qgis.core.errors import InputRasterError
from glfcr_qgis.core.evaluation.layers import evaluate_layers
from glfcr_qgis.core.io.area_of_interest import AreaOfInterest
from glfcr_qgis.core.io.sentinel2.prepare import prepare_sentinel2
from glfcr_qgis.core.scene.cloud_masking import cloud_mask
from glfcr_qgis.core.scene.pipeline import remove_clouds

SIZE = 48


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A product (zipped), its prepared stack and a SAR image on its 10 m grid."""
    folder = tmp_path_factory.mktemp("scene")
    product = build_product(folder / "unzipped", size=SIZE, dn_range=(0, 9000))
    archive = zip_product(product, folder / f"{BASELINE_0509[:-5]}.zip")
    prepared = prepare_sentinel2(archive, folder / "prepared.tif").output_path
    sar = write_raster(
        folder / "sar.tif",
        sar_db(SIZE, SIZE),
        transform=product.transform,
        crs=product.crs,
        descriptions=["VV", "VH"],
    )
    return product, archive, prepared, sar


def run(cloudy, sar, output, **options):
    model = PointwiseStandIn()
    remove_clouds(cloudy, sar, model, output, tile_size=32, overlap=8, device="cpu", **options)
    return model


def read(path):
    with rasterio.open(path) as dataset:
        return dataset.read(), dataset.transform, dataset.crs, dataset.tags()


@pytest.mark.usefixtures("single_thread_torch")
def test_remove_clouds_on_the_zip_equals_remove_clouds_on_the_prepared_geotiff(scene, tmp_path):
    product, archive, prepared, sar = scene
    run(archive, sar, tmp_path / "from_zip.tif")
    run(prepared, sar, tmp_path / "from_prepared.tif")
    from_zip, from_prepared = read(tmp_path / "from_zip.tif"), read(tmp_path / "from_prepared.tif")
    assert np.array_equal(from_zip[0], from_prepared[0])
    assert from_zip[1:3] == (product.transform, product.crs) == from_prepared[1:3]
    assert from_zip[3]["S2_PROCESSING_BASELINE"] == "05.09"
    assert from_zip[3]["S2_RADIO_ADD_OFFSET_APPLIED"] == from_prepared[3]["S2_RADIO_ADD_OFFSET_APPLIED"]


@pytest.mark.usefixtures("single_thread_torch")
def test_extent_gives_exactly_the_window_of_the_full_result(scene, tmp_path):
    product, archive, _, sar = scene
    run(archive, sar, tmp_path / "full.tif")
    # a rectangle inside pixels, in the product's CRS: snapped outward to columns 13..30, rows 7..41
    area = AreaOfInterest(product.ulx + 135, product.uly - 412, product.ulx + 301, product.uly - 75)
    run(archive, sar, tmp_path / "window.tif", extent=area)
    full, window = read(tmp_path / "full.tif"), read(tmp_path / "window.tif")
    assert window[1] == product.transform * rasterio.Affine.translation(13, 7)
    assert window[0].shape == (13, 35, 18)
    # the stand-in is a per-pixel function, so the values match too, up to the rounding of the blending
    same_pixels = full[0][:, 7:42, 13:31]
    assert np.array_equal(window[0] == 0, same_pixels == 0)
    assert np.abs(window[0].astype(int) - same_pixels).max() <= 1


def test_extent_outside_the_product_stops_before_any_work(scene, tmp_path):
    product, archive, _, sar = scene
    outside = AreaOfInterest(product.ulx - 900, product.uly - 500, product.ulx - 100, product.uly)
    model = PointwiseStandIn()
    with pytest.raises(InputRasterError, match="lies outside"):
        remove_clouds(archive, sar, model, tmp_path / "out.tif", tile_size=32, overlap=8, extent=outside)
    with pytest.raises(InputRasterError, match="lies outside"):
        cloud_mask(archive, tmp_path / "mask.tif", extent=outside)
    assert model.tile_shapes == [] and list(tmp_path.iterdir()) == []


def test_cloud_mask_of_a_product_equals_that_of_its_prepared_stack(scene, tmp_path):
    product, archive, prepared, _ = scene
    from_zip = cloud_mask(product.subdataset("20m", zipped=archive), tmp_path / "zip.tif")
    from_prepared = cloud_mask(prepared, tmp_path / "prepared.tif")
    assert from_zip.cloud_pixels == from_prepared.cloud_pixels
    zipped_mask, prepared_mask = read(from_zip.mask_path), read(from_prepared.mask_path)
    assert np.array_equal(zipped_mask[0], prepared_mask[0]) and zipped_mask[1] == product.transform
    assert zipped_mask[3]["S2_PROCESSING_BASELINE"] == "05.09"
    area = AreaOfInterest(product.ulx + 100, product.uly - 400, product.ulx + 300, product.uly - 200)
    windowed = cloud_mask(product.safe, tmp_path / "window.tif", extent=area)
    with rasterio.open(windowed.mask_path) as mask:
        assert (mask.width, mask.height) == (20, 20)
        assert mask.transform == product.transform * rasterio.Affine.translation(10, 20)


def test_evaluate_takes_products_as_reference_and_cloudy_image(scene):
    _, archive, prepared, _ = scene
    result = evaluate_layers(prepared, archive, cloudy_path=archive)
    assert result.metrics["all"]["mae"] == 0.0 and result.metrics["all"]["rmse"] == 0.0
    assert result.pixels["all"] > 0.1 * SIZE * SIZE
