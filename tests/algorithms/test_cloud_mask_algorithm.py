from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest
import rasterio
from conftest import RecordingFeedback, processing_run, run_qgis_process
from rasterio.transform import from_origin
from safe_masks import TILE_CRS, ULX, ULY, build_safe
from scene_rasters import optical_dn, write_raster
from test_cloud_mask import SAMPLE, synthetic_l1c, write_l1c
from test_product_mask import expected_classes, flags_60m

ALG = "glfcr:cloudmask"


@pytest.fixture
def scene(tmp_path):
    return write_l1c(tmp_path / "scene.tif", synthetic_l1c(40, 50))


def test_listed_with_parameters(qgis_app):
    from qgis.core import QgsApplication

    algorithm = QgsApplication.processingRegistry().algorithmById(ALG)
    assert algorithm is not None and algorithm.displayName() == "Cloud Mask"
    names = [p.name() for p in algorithm.parameterDefinitions()]
    assert names == ["INPUT", "METHOD", "THRESHOLD", "PRODUCT", "EXTENT", "OUTPUT", "SCORE"]
    assert algorithm.parameterDefinition("THRESHOLD").defaultValue() == 0.2
    method = algorithm.parameterDefinition("METHOD")
    assert method.defaultValue() == 0 and len(method.options()) == 3
    assert "s2cloudless" in method.options()[1] and "MSK_CLASSI_B00" in method.options()[2]
    assert "60 m" in algorithm.shortHelpString()
    assert "255" in algorithm.shortHelpString() and "L1C" in algorithm.shortHelpString()


def test_in_process_run(qgis_app, scene, tmp_path):
    feedback = RecordingFeedback()
    results = processing_run(
        ALG, {"INPUT": str(scene), "OUTPUT": str(tmp_path / "mask.tif"), "SCORE": str(tmp_path / "s.tif")},
        feedback,
    )
    with rasterio.open(results["OUTPUT"]) as mask:
        classes = mask.read(1)
    assert results["CLOUD_PIXELS"] == (classes == 1).sum() > 0
    assert results["SHADOW_PIXELS"] == (classes == 2).sum() > 0
    assert results["VALID_PIXELS"] == 2000
    assert results["CLOUD_FRACTION"] == pytest.approx((classes == 1).mean())
    assert os.path.exists(results["SCORE"])
    assert feedback.progress_values[-1] == 100


def test_score_not_written_unless_asked(qgis_app, scene, tmp_path):
    results = processing_run(ALG, {"INPUT": str(scene), "OUTPUT": str(tmp_path / "mask.tif")})
    assert not results["SCORE"]
    # QGIS itself may leave scene.tif.aux.xml (histogram of the loaded input)
    assert [name for name in os.listdir(tmp_path) if not name.startswith("scene.tif")] == ["mask.tif"]


def test_style_applied_when_loaded(qgis_app, scene, tmp_path):
    from qgis.core import QgsProcessingContext, QgsProcessingOutputLayerDefinition, QgsProject, QgsRasterLayer

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    output = str(tmp_path / "mask.tif")
    import processing

    processing.run(
        ALG,
        {"INPUT": str(scene), "OUTPUT": QgsProcessingOutputLayerDefinition(output, QgsProject.instance())},
        context=context,
        feedback=RecordingFeedback(),
    )
    post_processor = context.layerToLoadOnCompletionDetails(output).postProcessor()
    assert post_processor is not None
    layer = QgsRasterLayer(output, "mask")
    post_processor.postProcessLayer(layer, context, RecordingFeedback())
    assert layer.name() == "scene cloud mask"  # named after the input layer (here its file)
    renderer = layer.renderer()
    assert renderer.type() == "paletted"
    classes = {c.value: (c.label, c.color.alpha()) for c in renderer.classes()}
    # "clear" is a faint colour, not transparent, so the legend shows a swatch for it
    assert classes == {0: ("clear", 96), 1: ("cloud", 255), 2: ("cloud shadow", 255)}
    clear = next(c.color for c in renderer.classes() if c.value == 0)
    assert min(clear.red(), clear.green(), clear.blue()) >= 150  # light


def test_cancel_leaves_no_output(qgis_app, scene, tmp_path):
    from qgis.core import QgsProcessingException

    feedback = RecordingFeedback()
    feedback.cancel()
    with pytest.raises(QgsProcessingException, match="canceled"):
        processing_run(ALG, {"INPUT": str(scene), "OUTPUT": str(tmp_path / "mask.tif")}, feedback)
    assert not (tmp_path / "mask.tif").exists()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def bad_inputs(tmp_path):
    twelve = write_l1c(tmp_path / "l2a.tif", synthetic_l1c(10, 10)[:12])
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff")
    good = write_l1c(tmp_path / "good.tif", synthetic_l1c(10, 10))
    return [
        ({"INPUT": str(twelve)}, "has 12 bands; GLF-CR needs the 13 Sentinel-2 L1C bands"),
        ({"INPUT": str(broken)}, "Cannot read the Sentinel-2 L1C image"),
        ({"INPUT": str(good), "THRESHOLD": 0}, r"threshold must lie in \(0, 1\]"),
        ({"INPUT": str(good), "THRESHOLD": 1.5}, r"threshold must lie in \(0, 1\]"),
    ]


def test_bad_input_in_process(qgis_app, tmp_path):
    from qgis.core import QgsProcessingException

    out = tmp_path / "out"
    for params, message in bad_inputs(tmp_path):
        with pytest.raises(QgsProcessingException, match=message):
            processing_run(ALG, {**params, "OUTPUT": str(out / "mask.tif")})
        assert not out.exists()


@pytest.mark.slow
def test_bad_input_qgis_process(tmp_path):
    out = tmp_path / "out"
    for params, message in bad_inputs(tmp_path):
        run = run_qgis_process(ALG, {**params, "OUTPUT": str(out / "mask.tif")})
        assert run["returncode"] != 0
        assert re.search(message, run["stderr"] + run["stdout"]), run["stderr"]
        assert not out.exists()


@pytest.mark.slow
def test_qgis_process_on_sample_matches_reference(shared_dir, tmp_path):
    # a copy: QGIS writes a histogram .aux.xml beside a raster it loads, and the shared folder stays clean
    source = tmp_path / f"{SAMPLE}.tif"
    shutil.copyfile(shared_dir / "data" / "sen12mscr_samples" / "s2_cloudy" / f"{SAMPLE}.tif", source)
    reference = np.load(shared_dir / "reference" / f"cloudmask_{SAMPLE}.npz")["cloud_shadow_thr0.2"]
    params = {"INPUT": str(source), "THRESHOLD": 0.2, "OUTPUT": str(tmp_path / "mask.tif")}
    run = run_qgis_process(ALG, params)
    assert run["returncode"] == 0, run["stderr"]
    with rasterio.open(source) as src, rasterio.open(run["results"]["OUTPUT"]) as out:
        assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)
        classes = out.read(1)
    expected = np.select([reference == 1, reference == -1], [1, 2], 0)
    assert np.array_equal(classes, expected)
    assert run["results"]["SHADOW_PIXELS"] == (reference == -1).sum()


def test_s2cloudless_method_in_process_equals_the_core(qgis_app, shared_dir, tmp_path):
    from glfcr_qgis.core.scene.cloud_masking import cloud_mask

    source = tmp_path / f"{SAMPLE}.tif"
    shutil.copyfile(shared_dir / "data" / "sen12mscr_samples" / "s2_cloudy" / f"{SAMPLE}.tif", source)
    feedback = RecordingFeedback()
    results = processing_run(
        ALG,
        {
            "INPUT": str(source),
            "METHOD": 1,
            "OUTPUT": str(tmp_path / "mask.tif"),
            "SCORE": str(tmp_path / "p.tif"),
        },
        feedback,
    )
    expected = cloud_mask(source, tmp_path / "core.tif", method="s2cloudless")
    with rasterio.open(results["OUTPUT"]) as mask, rasterio.open(expected.mask_path) as core:
        np.testing.assert_array_equal(mask.read(1), core.read(1))
        assert mask.tags()["cloud_mask_method"] == "s2cloudless"
    with rasterio.open(results["SCORE"]) as score:
        assert score.descriptions == ("cloud probability (s2cloudless)",)
    assert any("s2cloudless" in info for info in feedback.infos)


@pytest.mark.slow
def test_qgis_process_product_method_on_a_safe(shared_dir, tmp_path):
    flags = flags_60m(seed=5)
    safe = build_safe(tmp_path, shared_dir, flags)
    dn = optical_dn(24, 30, seed=1)
    stack = write_raster(tmp_path / "stack.tif", dn, transform=from_origin(ULX, ULY, 10, 10), crs=TILE_CRS)
    params = {"INPUT": str(stack), "METHOD": 2, "PRODUCT": str(safe), "OUTPUT": str(tmp_path / "mask.tif")}
    run = run_qgis_process(ALG, params)
    assert run["returncode"] == 0, run["stderr"]
    with rasterio.open(run["results"]["OUTPUT"]) as out:
        np.testing.assert_array_equal(out.read(1), expected_classes(flags, dn))
        assert out.tags()["cloud_mask_method"] == "product"
    assert run["results"]["SHADOW_PIXELS"] == 0
