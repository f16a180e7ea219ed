"""Cloud Mask with the product's own mask (MSK_CLASSI_B00) on a SAFE built from ESA's real metadata (core)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from safe_masks import TILE_CRS, ULX, ULY, build_safe, zip_safe
from scene_rasters import optical_dn, write_raster

from glfcr_qgis.core.errors import ParameterValueError
from glfcr_qgis.core.scene.cloud_detector import CLEAR, CLOUD, MASK_NODATA
from glfcr_qgis.core.scene.cloud_masking import cloud_mask


def flags_60m(seed: int = 4) -> np.ndarray:
    """Opaque, cirrus and snow flags at 60 m (4 x 5 pixels), each band its own pattern."""
    rng = np.random.default_rng(seed)
    return (rng.random((3, 4, 5)) < np.array([0.3, 0.3, 0.5])[:, None, None]).astype(np.uint8)


def stack_on_tile(path, rows: int, cols: int, row_offset: int = 0, col_offset: int = 0):
    """A 13-band 10 m stack on the product's grid, starting ``row_offset``/``col_offset`` pixels in."""
    dn = optical_dn(rows, cols, seed=2)
    dn[:, 3, 4] = 0  # a nodata pixel
    transform = from_origin(ULX + 10 * col_offset, ULY - 10 * row_offset, 10, 10)
    return write_raster(path, dn, transform=transform, crs=TILE_CRS, nodata=0), dn


def expected_classes(flags: np.ndarray, dn: np.ndarray, row_offset: int = 0, col_offset: int = 0):
    rows = (row_offset + np.arange(dn.shape[1])) // 6
    cols = (col_offset + np.arange(dn.shape[2])) // 6
    cloudy = (flags[0] | flags[1]).astype(bool)[np.ix_(rows, cols)]
    classes = np.where(cloudy, CLOUD, CLEAR).astype(np.uint8)
    classes[(dn == 0).any(axis=0)] = MASK_NODATA
    return classes


@pytest.mark.parametrize("offset", [(0, 0), (7, 11)])
def test_opaque_clouds_and_cirrus_on_the_10m_grid(tmp_path, shared_dir, offset):
    flags = flags_60m()
    safe = build_safe(tmp_path, shared_dir, flags)
    stack, dn = stack_on_tile(tmp_path / "stack.tif", 24 - offset[0], 30 - offset[1], *offset)
    result = cloud_mask(stack, tmp_path / "mask.tif", method="product", product_path=safe, block_size=(5, 7))
    with rasterio.open(result.mask_path) as dataset:
        classes, tags = dataset.read(1), dataset.tags()
    np.testing.assert_array_equal(classes, expected_classes(flags, dn, *offset))
    assert (flags[2] & ~(flags[0] | flags[1])).any()  # snow alone stays clear
    assert result.method == "product" and result.shadow_pixels == 0
    assert tags["cloud_mask_method"] == "product"
    assert tags["cloud_mask_product_baseline"] == "05.09"
    assert "MSK_CLASSI_B00" in tags["cloud_mask_source"]


def test_the_zipped_product_gives_the_same_mask(tmp_path, shared_dir):
    flags = flags_60m(seed=9)
    safe = build_safe(tmp_path / "unzipped", shared_dir, flags)
    archive = zip_safe(safe, tmp_path / "product.zip")
    stack, dn = stack_on_tile(tmp_path / "stack.tif", 24, 30)
    result = cloud_mask(stack, tmp_path / "mask.tif", method=2, product_path=archive)
    with rasterio.open(result.mask_path) as dataset:
        np.testing.assert_array_equal(dataset.read(1), expected_classes(flags, dn))


def test_the_product_method_needs_a_product_and_has_no_score(tmp_path, shared_dir):
    stack, _ = stack_on_tile(tmp_path / "stack.tif", 12, 12)
    with pytest.raises(ParameterValueError, match="needs the Sentinel-2 L1C product"):
        cloud_mask(stack, tmp_path / "mask.tif", method="product")
    safe = build_safe(tmp_path, shared_dir, flags_60m())
    with pytest.raises(ParameterValueError, match="no continuous score"):
        cloud_mask(
            stack, tmp_path / "mask.tif", method="product", product_path=safe, score_path=tmp_path / "s.tif"
        )
    with pytest.raises(ParameterValueError, match="0 authors, 1 s2cloudless, 2 product"):
        cloud_mask(stack, tmp_path / "mask.tif", method="fmask")
    assert sorted(p.name for p in tmp_path.glob("*.tif")) == ["stack.tif"]
