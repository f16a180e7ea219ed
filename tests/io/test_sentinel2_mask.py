"""The product's own cloud mask: finding MSK_CLASSI_B00 in a SAFE built from ESA's real metadata (core)."""

from __future__ import annotations

import numpy as np
import pytest
from safe_masks import GRANULE, PRODUCT, build_safe, zip_safe

from glfcr_qgis.core.errors import InputRasterError, RasterReadError
from glfcr_qgis.core.io.sentinel2_mask import is_product_path, locate_product_cloud_mask

FLAGS = np.zeros((3, 4, 5), np.uint8)


def test_finds_the_mask_from_folder_metadata_zip_and_subdataset(tmp_path, shared_dir):
    safe = build_safe(tmp_path, shared_dir, FLAGS)
    expected = f"{safe.as_posix()}/GRANULE/{GRANULE}/QI_DATA/MSK_CLASSI_B00.jp2"
    for given in (safe, safe / "MTD_MSIL1C.xml", f"SENTINEL2_L1C:{safe / 'MTD_MSIL1C.xml'}:10m:EPSG_32634"):
        assert is_product_path(given)
        located = locate_product_cloud_mask(given)
        assert (located.product, located.baseline, located.mask_path) == (PRODUCT, "05.09", expected)
    archive = zip_safe(safe, tmp_path / "product.zip")
    located = locate_product_cloud_mask(archive)
    assert located.mask_path == (
        f"/vsizip/{archive.absolute()}/{PRODUCT}/GRANULE/{GRANULE}/QI_DATA/MSK_CLASSI_B00.jp2"
    )
    assert not is_product_path(tmp_path / "stack.tif")


def test_a_baseline_before_04_00_is_refused_with_the_alternatives(tmp_path, shared_dir):
    safe = build_safe(tmp_path, shared_dir, FLAGS, baseline="03.01")
    with pytest.raises(InputRasterError, match="baseline 03.01.*GML.*authors' detector or s2cloudless"):
        locate_product_cloud_mask(safe)


def test_a_product_without_its_mask_file_is_refused(tmp_path, shared_dir):
    safe = build_safe(tmp_path, shared_dir, None)
    with pytest.raises(InputRasterError, match="lacks its cloud mask .*MSK_CLASSI_B00.jp2"):
        locate_product_cloud_mask(safe)


def test_other_things_are_refused_in_one_sentence(tmp_path):
    (tmp_path / "empty.SAFE").mkdir()
    with pytest.raises(InputRasterError, match="holds no MTD_MSIL1C.xml"):
        locate_product_cloud_mask(tmp_path / "empty.SAFE")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RasterReadError, match="Download it again"):
        locate_product_cloud_mask(tmp_path / "broken.zip")
