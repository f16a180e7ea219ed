"""Sentinel-2 L1C products through the algorithms: Prepare Sentinel-2, and products and areas of interest in
Cloud Mask, Remove Clouds and Evaluate, in process and through ``qgis_process``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from conftest import RecordingFeedback, processing_run, run_qgis_process
from rasterio.warp import transform_bounds
from scene_rasters import sar_db, single_thread_torch, write_raster  # noqa: F401  (fixture)
from sentinel2_products import (
    BASELINE_0509,
    GLFCR_NAMES,
    L2A_SENTENCE,
    build_product,
    expected_stack,
    refused_products,
    zip_product,
)

ALG_ID = "glfcr:preparesentinel2"
SIZE = 48
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    folder = tmp_path_factory.mktemp("product")
    built = build_product(folder / "unzipped", size=SIZE, dn_range=(0, 9000))
    return built, zip_product(built, folder / f"{BASELINE_0509[:-5]}.zip")


def qgis_extent(product, col0: int, row0: int, col1: int, row1: int, crs: str = "EPSG:4326") -> str:
    """Pixel columns col0..col1, rows row0..row1 (shrunk by 2 m) as a qgis_process extent in ``crs``."""
    utm = (
        product.ulx + col0 * 10 + 2,
        product.uly - row1 * 10 + 2,
        product.ulx + col1 * 10 - 2,
        product.uly - row0 * 10 - 2,
    )
    xmin, ymin, xmax, ymax = (
        transform_bounds(product.crs, crs, *utm) if crs != product.crs.to_string() else utm
    )
    return f"{xmin!r},{xmax!r},{ymin!r},{ymax!r} [{crs}]"


@pytest.mark.slow
def test_prepare_through_qgis_process_on_the_zip_with_a_geographic_extent(shared_dir, product, tmp_path):
    built, archive = product
    extent = qgis_extent(built, 5, 10, 30, 40)
    run = run_qgis_process(
        ALG_ID, {"INPUT": str(archive), "EXTENT": extent, "OUTPUT": str(tmp_path / "s.tif")}
    )
    assert run["returncode"] == 0, run["stderr"]
    with rasterio.open(run["results"]["OUTPUT"]) as prepared:
        col0 = round((prepared.transform.c - built.ulx) / 10)
        row0 = round((built.uly - prepared.transform.f) / 10)
        # the geographic rectangle is a little larger than the UTM one it came from: it may add pixels
        assert col0 <= 5 and row0 <= 10 and col0 + prepared.width >= 30 and row0 + prepared.height >= 40
        window = np.s_[:, row0 : row0 + prepared.height, col0 : col0 + prepared.width]
        assert np.array_equal(prepared.read(), expected_stack(built)[window])
        assert prepared.descriptions == GLFCR_NAMES and prepared.nodata == 0 and prepared.crs == built.crs
        assert prepared.tags()["S2_PROCESSING_BASELINE"] == "05.09"


@pytest.mark.slow
def test_cloud_mask_through_qgis_process_on_the_safe_folder(qgis_app, shared_dir, product, tmp_path):
    from glfcr_qgis.core.scene.cloud_masking import cloud_mask

    built, _ = product
    run = run_qgis_process(
        "glfcr:cloudmask", {"INPUT": str(built.safe), "OUTPUT": str(tmp_path / "mask.tif")}
    )
    assert run["returncode"] == 0, run["stderr"]
    stack = processing_run(ALG_ID, {"INPUT": str(built.safe), "OUTPUT": str(tmp_path / "stack.tif")})[
        "OUTPUT"
    ]
    expected = cloud_mask(stack, tmp_path / "expected.tif")
    with rasterio.open(run["results"]["OUTPUT"]) as mask, rasterio.open(expected.mask_path) as other:
        assert mask.transform == built.transform and np.array_equal(mask.read(), other.read())
    assert run["results"]["VALID_PIXELS"] == expected.valid_pixels


def test_prepare_in_process_on_a_folder_and_on_a_subdataset_layer(qgis_app, shared_dir, product, tmp_path):
    from qgis.core import QgsRasterLayer

    built, archive = product
    layer = QgsRasterLayer(built.subdataset("20m", zipped=archive), "B5..B12 at 20 m", "gdal")
    assert layer.isValid() and layer.bandCount() == 6
    for name, value in (("folder", str(built.safe)), ("layer", layer)):
        feedback = RecordingFeedback()
        result = processing_run(ALG_ID, {"INPUT": value, "OUTPUT": str(tmp_path / f"{name}.tif")}, feedback)
        with rasterio.open(result["OUTPUT"]) as prepared:
            assert prepared.transform == built.transform
            assert np.array_equal(prepared.read(), expected_stack(built))
        assert any("baseline 05.09" in info for info in feedback.infos)


def test_products_that_do_not_fit_are_refused_with_their_sentence(qgis_app, shared_dir, tmp_path):
    from qgis.core import QgsProcessingException

    out = tmp_path / "out"
    plain = write_raster(tmp_path / "plain.tif", np.ones((13, 8, 8), np.uint16))
    cases = [(value, sentence) for value, _, sentence in refused_products(tmp_path)]
    for value, sentence in [*cases, (str(plain), "is not a Sentinel-2 product")]:
        with pytest.raises(QgsProcessingException, match=sentence.split(";")[0].replace("(", r"\(")):
            processing_run(ALG_ID, {"INPUT": value, "OUTPUT": str(out / "stack.tif")})
        assert not out.exists() or not os.listdir(out), value


def test_cloud_mask_on_a_subdataset_layer_uses_the_whole_product(qgis_app, shared_dir, product, tmp_path):
    from qgis.core import QgsRasterLayer

    built, archive = product
    layer = QgsRasterLayer(built.subdataset("60m"), "B1, B9, B10", "gdal")
    prepared = processing_run(ALG_ID, {"INPUT": str(archive), "OUTPUT": str(tmp_path / "p.tif")})["OUTPUT"]
    from_layer = processing_run("glfcr:cloudmask", {"INPUT": layer, "OUTPUT": str(tmp_path / "a.tif")})
    from_stack = processing_run("glfcr:cloudmask", {"INPUT": prepared, "OUTPUT": str(tmp_path / "b.tif")})
    with rasterio.open(from_layer["OUTPUT"]) as a, rasterio.open(from_stack["OUTPUT"]) as b:
        assert (a.width, a.height, a.transform) == (SIZE, SIZE, built.transform)
        assert np.array_equal(a.read(), b.read())
    assert from_layer["CLOUD_PIXELS"] == from_stack["CLOUD_PIXELS"]


def test_checks_before_the_run_name_the_problem(qgis_app, shared_dir, product, tmp_path):
    from qgis.core import QgsApplication, QgsProcessingContext

    built, archive = product
    outside = f"{built.ulx - 900},{built.ulx - 100},{built.uly - 500},{built.uly} [EPSG:{built.epsg}]"
    l2a = str(refused_products(tmp_path)[2][0])
    cases = [
        ("glfcr:cloudmask", {"INPUT": str(archive), "EXTENT": outside}, "lies outside"),
        ("glfcr:cloudmask", {"INPUT": l2a}, L2A_SENTENCE),
        ("glfcr:preparesentinel2", {"INPUT": str(archive), "EXTENT": outside}, "lies outside"),
        ("glfcr:evaluate", {"PREDICTION": str(archive), "REFERENCE": l2a}, L2A_SENTENCE),
    ]
    for alg_id, params, sentence in cases:
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
        ok, message = algorithm.checkParameterValues(
            {**params, "OUTPUT": str(tmp_path / "o.tif")}, QgsProcessingContext()
        )
        assert not ok and sentence in message, (alg_id, message)
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("glfcr:cloudmask")
    ok, message = algorithm.checkParameterValues(
        {"INPUT": str(built.safe), "OUTPUT": "m.tif"}, QgsProcessingContext()
    )
    assert ok, message


def test_evaluate_reads_a_product_as_reference(qgis_app, shared_dir, product, tmp_path):
    built, archive = product
    prepared = processing_run(ALG_ID, {"INPUT": str(built.safe), "OUTPUT": str(tmp_path / "p.tif")})["OUTPUT"]
    reports = {"REPORT_JSON": str(tmp_path / "r.json"), "REPORT_HTML": str(tmp_path / "r.html")}
    result = processing_run("glfcr:evaluate", {"PREDICTION": prepared, "REFERENCE": str(archive), **reports})
    assert result["MAE"] == 0.0 and result["SCORED_PIXELS"] > 0


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread_torch")
def test_remove_clouds_through_qgis_process_on_the_zip_equals_the_prepared_geotiff(
    shared_dir: Path, product: Any, tmp_path: Path
) -> None:
    from glfcr_qgis.core.io.area_of_interest import AreaOfInterest
    from glfcr_qgis.core.io.sentinel2.prepare import prepare_sentinel2
    from glfcr_qgis.core.scene.pipeline import remove_clouds

    built, archive = product
    checkpoint = shared_dir / "reference" / "glfcr_random_ckpt.pth"
    sar = write_raster(
        tmp_path / "sar.tif",
        sar_db(SIZE, SIZE),
        transform=built.transform,
        crs=built.crs,
        descriptions=["VV", "VH"],
    )
    utm = (built.ulx + 80, built.uly - 400, built.ulx + 400, built.uly - 80)
    params = {
        "CLOUDY": str(archive), "SAR": str(sar), "WEIGHTS": str(checkpoint), "DEVICE": 1, "TILE_SIZE": 32,
        "OVERLAP": 0, "EXTENT": f"{utm[0]},{utm[2]},{utm[1]},{utm[3]} [EPSG:{built.epsg}]",
        "OUTPUT": str(tmp_path / "from_zip.tif"),
    }  # fmt: skip
    run = run_qgis_process("glfcr:removeclouds", params, extra_env=SINGLE_THREAD)
    assert run["returncode"] == 0, run["stderr"]
    stack = prepare_sentinel2(archive, tmp_path / "stack.tif", extent=AreaOfInterest(*utm)).output_path
    remove_clouds(stack, sar, checkpoint, tmp_path / "from_stack.tif", tile_size=32, overlap=0, device="cpu")
    with (
        rasterio.open(run["results"]["OUTPUT"]) as from_zip,
        rasterio.open(tmp_path / "from_stack.tif") as other,
    ):
        assert (from_zip.width, from_zip.height) == (32, 32)
        assert from_zip.transform == built.transform * rasterio.Affine.translation(8, 8) == other.transform
        # two processes may order float sums differently: a DN of rounding at most
        difference = np.abs(from_zip.read().astype(int) - other.read())
        assert difference.max() <= 1 and (difference == 0).mean() > 0.99
        assert np.array_equal(from_zip.read() == 0, other.read() == 0)
        assert from_zip.tags()["S2_PROCESSING_BASELINE"] == "05.09"


def test_a_model_takes_the_product_path_as_a_string_input(qgis_app, shared_dir, product, tmp_path):
    """In the modeler a product path arrives through a string input; Prepare's stack feeds Cloud Mask."""
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterString,
    )

    built, archive = product
    model = QgsProcessingModelAlgorithm("Product to mask", "GLF-CR tests")
    model.addModelParameter(
        QgsProcessingParameterString("product", "product"), QgsProcessingModelParameter("product")
    )
    steps = {
        "prepare": (
            "glfcr:preparesentinel2",
            QgsProcessingModelChildParameterSource.fromModelParameter("product"),
        ),
        "mask": (
            "glfcr:cloudmask",
            QgsProcessingModelChildParameterSource.fromChildOutput("prepare", "OUTPUT"),
        ),
        "direct": ("glfcr:cloudmask", QgsProcessingModelChildParameterSource.fromModelParameter("product")),
    }
    for child_id, (algorithm_id, source) in steps.items():
        child = QgsProcessingModelChildAlgorithm(algorithm_id)
        child.setChildId(child_id)
        child.addParameterSources("INPUT", [source])
        if algorithm_id == "glfcr:cloudmask":
            child.addParameterSources(
                "THRESHOLD", [QgsProcessingModelChildParameterSource.fromStaticValue(0.2)]
            )
        output = QgsProcessingModelOutput(child_id)
        output.setChildId(child_id)
        output.setChildOutputName("OUTPUT")
        child.setModelOutputs({child_id: output})
        model.addChildAlgorithm(child)
    outputs = {f"{child_id}:{child_id}": str(tmp_path / f"{child_id}.tif") for child_id in steps}
    results = processing_run(model, {"product": str(archive), **outputs})
    with rasterio.open(results["prepare:prepare"]) as stack:
        assert np.array_equal(stack.read(), expected_stack(built))
    with rasterio.open(results["mask:mask"]) as chained, rasterio.open(results["direct:direct"]) as direct:
        assert np.array_equal(chained.read(), direct.read()) and direct.transform == built.transform


def test_no_output_may_overwrite_a_file_of_the_product(qgis_app, product, tmp_path):
    from qgis.core import QgsApplication, QgsProcessingContext

    built, archive = product
    safe = Path(shutil.copytree(built.safe, tmp_path / built.safe.name))
    (safe / "preview.tif").write_bytes(b"a file of the product folder")
    band = next(iter(built.band_files.values()))  # a JPEG 2000 file of the product
    registry = QgsApplication.processingRegistry()
    cases = [
        ("glfcr:preparesentinel2", {"INPUT": str(archive), "OUTPUT": str(archive)}, "is written as GeoTIFF"),
        ("glfcr:preparesentinel2", {"INPUT": str(safe), "OUTPUT": str(safe / "preview.tif")}, "input folder"),
        ("glfcr:cloudmask", {"INPUT": str(safe), "OUTPUT": str(safe / "preview.tif")}, "input folder"),
        ("glfcr:cloudmask", {"INPUT": str(built.metadata), "OUTPUT": str(band)}, "is written as GeoTIFF"),
        ("glfcr:cloudmask", {"INPUT": str(safe), "OUTPUT": str(tmp_path / "mask.tif")}, None),
    ]
    for alg_id, params, expected in cases:
        algorithm = registry.createAlgorithmById(alg_id)
        ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
        if expected is None:
            assert ok, message
        else:
            assert not ok and expected in message, (alg_id, message)
    assert (safe / "preview.tif").read_bytes() == b"a file of the product folder"
