"""Sentinel-2 products: metadata read from ESA's files, the forms a product comes in, the ones refused."""

from __future__ import annotations

import os
import shutil

import pytest
from sentinel2_products import (
    BASELINE_0509,
    S2_DIR,
    SYNTHETIC_0103,
    build_product,
    refused_products,
    zip_product,
)

from glfcr_qgis.core.io.normalization import S2_L1C_BANDS
from glfcr_qgis.core.io.optical_input import open_optical
from glfcr_qgis.core.io.sentinel2.metadata import parse_product_metadata
from glfcr_qgis.core.io.sentinel2.prepare import prepare_sentinel2
from glfcr_qgis.core.io.sentinel2.product import find_product, looks_like_product


def test_metadata_of_the_baseline_05_09_product(shared_dir):
    path = S2_DIR / BASELINE_0509 / "MTD_MSIL1C.xml"
    metadata = parse_product_metadata(path.read_bytes(), source=str(path))
    assert (metadata.level, metadata.product_type, metadata.processing_baseline) == (
        "L1C",
        "S2MSI1C",
        "05.09",
    )
    assert metadata.baseline_version() == (5, 9)
    assert metadata.quantification == 10000
    assert metadata.radiometric_offsets == dict.fromkeys(S2_L1C_BANDS, -1000.0)
    assert (metadata.nodata, metadata.saturated) == (0, 65535)
    assert metadata.product_uri == BASELINE_0509 and metadata.spacecraft == "Sentinel-2B"


def test_metadata_of_the_synthetic_pre_04_00_product(shared_dir):
    path = S2_DIR / SYNTHETIC_0103 / "MTD_MSIL1C.xml"
    metadata = parse_product_metadata(path.read_bytes(), source=str(path))
    assert (metadata.level, metadata.processing_baseline, metadata.baseline_version()) == (
        "L1C",
        "01.03",
        (1, 3),
    )
    assert metadata.radiometric_offsets == {} and metadata.offset("B10") == 0
    assert (metadata.quantification, metadata.nodata, metadata.saturated) == (1000, 1, 0)


def test_every_form_of_a_product_is_found(shared_dir, tmp_path):
    product = build_product(tmp_path / "unzipped", size=12)
    archive = zip_product(product, tmp_path / f"{BASELINE_0509[:-5]}.zip")
    metadata = product.metadata.as_posix()
    forms = {
        str(product.safe): metadata,
        metadata: metadata,
        product.subdataset("20m"): metadata,
        str(archive): f"/vsizip/{archive}/{BASELINE_0509}/MTD_MSIL1C.xml",
        product.subdataset("10m", zipped=archive): f"/vsizip/{archive}/{BASELINE_0509}/MTD_MSIL1C.xml",
    }
    for value, expected in forms.items():
        assert looks_like_product(value), value
        location = find_product(value)
        assert location.metadata_path == expected, value
        assert location.name == BASELINE_0509
    assert find_product(product.subdataset("60m")).epsg == product.epsg


def test_ordinary_rasters_are_not_products(tmp_path):
    (tmp_path / "scene.tif").write_bytes(b"")
    for value in (str(tmp_path / "scene.tif"), "/vsizip//data/rasters.zip/scene.tif", "NETCDF:x.nc:band"):
        assert find_product(value) is None
    assert not looks_like_product(str(tmp_path / "scene.tif"))


def test_products_that_do_not_fit_get_one_sentence_and_nothing_is_written(shared_dir, tmp_path):
    out = tmp_path / "out"
    for value, kind, sentence in refused_products(tmp_path):
        with pytest.raises(kind) as caught:
            with open_optical(value, role="cloudy optical"):
                pass
        message = str(caught.value)
        assert sentence in message, message
        assert message.count(". ") <= 1 and "\n" not in message, message
        with pytest.raises(kind, match="download|give"):
            prepare_sentinel2(value, out / "stack.tif")
        assert not out.exists() or not os.listdir(out), value


def test_a_product_without_offsets_at_baseline_04_is_read_as_its_metadata_says(shared_dir, tmp_path):
    from glfcr_qgis.core.errors import GlfcrWarning

    product = build_product(tmp_path, size=12)
    text = product.metadata.read_text(encoding="utf-8")
    start, end = text.index("<Radiometric_Offset_List>"), text.index("</Radiometric_Offset_List>")
    product.metadata.write_text(
        text[:start] + text[end + len("</Radiometric_Offset_List>") :], encoding="utf-8"
    )
    with (
        pytest.warns(GlfcrWarning, match="no RADIO_ADD_OFFSET"),
        open_optical(product.safe, role="x") as stack,
    ):
        assert stack.tags()["S2_RADIO_ADD_OFFSET_APPLIED"].split() == [f"{band}:0" for band in S2_L1C_BANDS]


def test_the_shared_metadata_is_not_modified(shared_dir, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in S2_DIR.rglob("*") if p.is_file()}
    shutil.rmtree(build_product(tmp_path, size=12).safe)
    assert before == {p: p.stat().st_mtime_ns for p in S2_DIR.rglob("*") if p.is_file()}
