"""Remove Clouds' provenance raster: observed, predicted, blended pixels where the mask and feather say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.ndimage
from rasterio.transform import from_origin
from safe_masks import TILE_CRS, ULX, ULY, build_safe
from scene_rasters import optical_dn, sar_db, write_raster
from test_remove_clouds import PointwiseStandIn, pointwise_dn

from glfcr_qgis.core.errors import OutputWriteError, ProcessingCanceled
from glfcr_qgis.core.scene.cloud_detector import CLOUD, SHADOW, cloud_shadow_mask
from glfcr_qgis.core.scene.keep_clear import KEEP_CLEAR_FEATHER
from glfcr_qgis.core.scene.pipeline import remove_clouds
from glfcr_qgis.core.scene.provenance import (
    BLENDED,
    OBSERVED,
    PREDICTED_CLEAR,
    PREDICTED_CLOUD,
    PREDICTED_SHADOW,
    PROVENANCE_NAMES,
    PROVENANCE_NODATA,
)

HEIGHT, WIDTH = 48, 64


def constructed_scene(folder: Path) -> tuple[Path, Path, np.ndarray]:
    """Dark clear ground, a bright cloud, a very dark (shadow) patch and a few nodata pixels."""
    dn = optical_dn(HEIGHT, WIDTH, seed=3) // 8
    dn[:, 8:24, 10:26] = 6000  # cloud: bright in B1, B2, the visible bands and B10
    dn[11, 8:24, 10:26] = 1000  # B11 low, so the snow test does not veto it
    dn[:, 30:42, 40:56] = 5  # shadow: dark in B2, B8 and B11
    dn[:, 2, 60:63] = 0  # nodata
    optical = write_raster(folder / "cloudy.tif", dn.astype(np.uint16), nodata=0)
    sar = write_raster(folder / "sar.tif", sar_db(HEIGHT, WIDTH))
    return optical, sar, dn


def run(folder: Path, optical: Path, sar: Path, **options):
    return remove_clouds(
        optical,
        sar,
        PointwiseStandIn(),
        folder / "out.tif",
        tile_size=16,
        overlap=4,
        device="cpu",
        output_type="Float32",
        provenance_path=folder / "provenance.tif",
        **options,
    )


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read()


def test_keep_clear_provenance_is_where_the_mask_and_the_feather_put_it(tmp_path):
    optical, sar, dn = constructed_scene(tmp_path)
    result = run(tmp_path, optical, sar, keep_clear=True)
    valid = (dn != 0).all(axis=0)
    classes, _ = cloud_shadow_mask(dn, valid=valid)
    cloud, shadow = classes == CLOUD, classes == SHADOW
    assert cloud.any() and shadow.any()
    share = np.clip(1.0 - scipy.ndimage.distance_transform_edt(~(cloud | shadow)) / KEEP_CLEAR_FEATHER, 0, 1)
    expected = np.full((HEIGHT, WIDTH), OBSERVED, np.uint8)
    expected[(share > 0) & (share < 1)] = BLENDED
    expected[cloud] = PREDICTED_CLOUD
    expected[shadow] = PREDICTED_SHADOW
    expected[~valid] = PROVENANCE_NODATA
    provenance = read(tmp_path / "provenance.tif")[0]
    np.testing.assert_array_equal(provenance, expected)
    assert (provenance == BLENDED).any() and not (provenance == PREDICTED_CLEAR).any()

    # the classes say where each output value came from
    out = read(result.output_path)
    predicted = pointwise_dn(dn, read(sar))
    observed = provenance == OBSERVED
    np.testing.assert_array_equal(out[:, observed], dn[:, observed].astype(np.float32))
    under = (provenance == PREDICTED_CLOUD) | (provenance == PREDICTED_SHADOW)
    np.testing.assert_allclose(out[:, under], predicted[:, under], atol=0.05)
    counts = np.bincount(provenance.ravel(), minlength=256)
    assert result.provenance_counts == {name: int(counts[value]) for value, name in PROVENANCE_NAMES.items()}
    assert result.mask_method == "authors"


def test_without_keep_clear_every_valid_pixel_is_predicted(tmp_path):
    optical, sar, dn = constructed_scene(tmp_path)
    result = run(tmp_path, optical, sar)
    valid = (dn != 0).all(axis=0)
    classes, _ = cloud_shadow_mask(dn, valid=valid)
    expected = np.full((HEIGHT, WIDTH), PREDICTED_CLEAR, np.uint8)
    expected[classes == CLOUD] = PREDICTED_CLOUD
    expected[classes == SHADOW] = PREDICTED_SHADOW
    expected[~valid] = PROVENANCE_NODATA
    np.testing.assert_array_equal(read(tmp_path / "provenance.tif")[0], expected)
    assert result.provenance_counts["observed"] == 0 and result.provenance_counts["blended transition"] == 0


def test_the_provenance_raster_is_paletted_named_and_on_the_output_grid(tmp_path):
    optical, sar, _ = constructed_scene(tmp_path)
    run(tmp_path, optical, sar, keep_clear=True, mask_method="s2cloudless")
    with rasterio.open(tmp_path / "provenance.tif") as dataset, rasterio.open(tmp_path / "out.tif") as out:
        assert (dataset.crs, dataset.transform, dataset.shape) == (out.crs, out.transform, out.shape)
        assert dataset.dtypes == ("uint8",) and dataset.nodata == PROVENANCE_NODATA
        assert dataset.descriptions == ("provenance",)
        assert dataset.colormap(1)[BLENDED][:3] != dataset.colormap(1)[OBSERVED][:3]
        assert dataset.tags(1)["CLASS_4"] == "blended transition"
        assert dataset.tags()["cloud_mask_method"] == "s2cloudless"
        assert out.tags()["cloud_mask_method"] == "s2cloudless"


def test_cancel_leaves_neither_output(tmp_path):
    optical, sar, _ = constructed_scene(tmp_path)
    calls = iter(range(1000))
    with pytest.raises(ProcessingCanceled):
        run(tmp_path, optical, sar, is_canceled=lambda: next(calls) > 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloudy.tif", "sar.tif"]


def test_provenance_needs_its_own_tif_name(tmp_path):
    optical, sar, _ = constructed_scene(tmp_path)
    for provenance, message in (("a.tif", "are the same file"), ("p.png", "is written as GeoTIFF")):
        with pytest.raises(OutputWriteError, match=message):
            remove_clouds(
                optical, sar, PointwiseStandIn(), tmp_path / "a.tif", provenance_path=tmp_path / provenance
            )


def test_the_product_mask_decides_the_provenance(tmp_path, shared_dir):
    flags = np.zeros((3, 4, 5), np.uint8)
    flags[0, 1, 1] = flags[1, 2, 3] = 1  # one opaque and one cirrus 60 m pixel
    safe = build_safe(tmp_path, shared_dir, flags)
    transform = from_origin(ULX, ULY, 10, 10)
    dn = optical_dn(24, 30, seed=2)
    optical = write_raster(tmp_path / "cloudy.tif", dn, transform=transform, crs=TILE_CRS)
    sar = write_raster(tmp_path / "sar.tif", sar_db(24, 30), transform=transform, crs=TILE_CRS)
    result = run(tmp_path, optical, sar, keep_clear=True, mask_method="product", product_path=safe)
    cloud = (flags[0] | flags[1]).astype(bool).repeat(6, axis=0).repeat(6, axis=1)
    share = np.clip(1.0 - scipy.ndimage.distance_transform_edt(~cloud) / KEEP_CLEAR_FEATHER, 0, 1)
    expected = np.where(cloud, PREDICTED_CLOUD, np.where(share > 0, BLENDED, OBSERVED)).astype(np.uint8)
    np.testing.assert_array_equal(read(tmp_path / "provenance.tif")[0], expected)
    assert result.mask_method == "product"
