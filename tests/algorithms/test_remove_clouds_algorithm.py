"""The ``glfcr:removeclouds`` algorithm: parameters, checks before the run, runs in QGIS and qgis_process.

Runs use the real network with the reference checkpoint on 32x32 scenes (one 32 px tile, well under a
second of CPU per forward).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from conftest import RecordingFeedback, processing_run, run_qgis_process
from rasterio.transform import from_origin
from scene_rasters import (
    ORIGIN,
    PIXEL,
    optical_dn,
    reproject_raster,
    sar_db,
    sar_in_scale,
    single_thread_torch,  # noqa: F401  (fixture)
    write_raster,
    write_scene,
)
from sentinel1_products import zipped_product_with_patch

ALG_ID = "glfcr:removeclouds"
# one OpenMP thread: two shared cores and concurrent test processes make thread hand-offs the slowest part
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def checkpoint(shared_dir: Path) -> Path:
    return shared_dir / "reference" / "glfcr_random_ckpt.pth"


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    return write_scene(tmp_path, 32, 32)


def algorithm(qgis_app: Any) -> Any:
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().createAlgorithmById(ALG_ID)


def check(qgis_app: Any, params: dict[str, Any]) -> tuple[bool, str]:
    from qgis.core import QgsProcessingContext

    return algorithm(qgis_app).checkParameterValues(params, QgsProcessingContext())


def test_parameters_and_defaults(qgis_app: Any) -> None:
    from qgis.core import QgsProcessingParameterDefinition

    from glfcr_qgis.core.scene.pipeline import DEFAULT_BATCH_SIZE, DEFAULT_OVERLAP, DEFAULT_TILE_SIZE

    alg = algorithm(qgis_app)
    assert alg.displayName() == "Remove Clouds" and alg.groupId() == "cloudremoval"
    names = [p.name() for p in alg.parameterDefinitions()]
    assert names == [
        "CLOUDY", "SAR", "SAR_VH", "SAR_SCALE", "WEIGHTS", "EXTENT", "DEVICE", "TILE_SIZE", "OVERLAP",
        "OUTPUT_TYPE", "KEEP_CLEAR", "METHOD", "STYLE_CLOUDY", "PRODUCT", "BATCH_SIZE", "COG", "PRECISION",
        "OUTPUT", "PROVENANCE",
    ]  # fmt: skip
    assert definition_default(alg, "METHOD") == 0 and len(alg.parameterDefinition("METHOD").options()) == 3
    assert alg.parameterDefinition("PRODUCT").flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert alg.parameterDefinition("PROVENANCE").flags() & QgsProcessingParameterDefinition.FlagOptional
    assert {o.name() for o in alg.outputDefinitions()} >= {"OBSERVED_PIXELS", "BLENDED_PIXELS"}
    definition = alg.parameterDefinition
    assert definition("TILE_SIZE").defaultValue() == DEFAULT_TILE_SIZE
    assert definition("OVERLAP").defaultValue() == DEFAULT_OVERLAP
    assert definition("BATCH_SIZE").defaultValue() == DEFAULT_BATCH_SIZE
    assert definition("BATCH_SIZE").flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert definition("DEVICE").options() == ["auto", "cpu", "cuda"]
    assert (
        definition("OUTPUT_TYPE").options() == ["UInt16", "Float32"]
        and definition("OUTPUT_TYPE").defaultValue() == 0
    )
    assert definition("WEIGHTS").extension() == "pth"
    assert definition("SAR_SCALE").defaultValue() == 0 and definition("SAR_SCALE").options()[1:] == [
        "dB", "linear power", "amplitude",
    ]  # fmt: skip
    assert definition("SAR_VH").flags() & QgsProcessingParameterDefinition.FlagOptional
    from glfcr_qgis.core.model.inference import PRECISIONS

    assert (
        definition("PRECISION").options() == list(PRECISIONS) and definition("PRECISION").defaultValue() == 0
    )
    help_text = alg.shortHelpString()
    for words in (
        "13-band",
        "VV and VH",
        "dB",
        "multiple of 16",
        "overlap",
        "nodata",
        "CR_net.pth",
        "GLFCR_WEIGHTS",
        "GRD product",
        "no terrain correction",
        "h / tan(incidence)",
        "linear power",
        "Gamma0",
    ):
        assert words in help_text


def definition_default(alg: Any, name: str) -> Any:
    return alg.parameterDefinition(name).defaultValue()


def test_weights_default_to_the_environment_then_the_setting(
    qgis_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from qgis.core import QgsSettings

    from glfcr_qgis.algorithms.weights import set_default_weights_path
    from glfcr_qgis.settings import CHECKPOINT, settings_key

    monkeypatch.delenv("GLFCR_WEIGHTS", raising=False)
    settings = QgsSettings()
    before = settings.value(settings_key(CHECKPOINT))
    set_default_weights_path(str(tmp_path / "from_settings.pth"))
    try:
        first = algorithm(qgis_app)  # owns its parameter definitions
        assert first.parameterDefinition("WEIGHTS").defaultValue() == str(tmp_path / "from_settings.pth")
        monkeypatch.setenv("GLFCR_WEIGHTS", str(tmp_path / "from_env.pth"))
        second = algorithm(qgis_app)
        assert second.parameterDefinition("WEIGHTS").defaultValue() == str(tmp_path / "from_env.pth")
    finally:
        if before is None:
            settings.remove(settings_key(CHECKPOINT))
        else:
            settings.setValue(settings_key(CHECKPOINT), before)


def test_checks_accept_good_inputs(
    qgis_app: Any, scene: tuple[Path, Path], checkpoint: Path, tmp_path: Path
) -> None:
    cloudy, sar = scene
    params = {
        "CLOUDY": str(cloudy),
        "SAR": str(sar),
        "WEIGHTS": str(checkpoint),
        "OUTPUT": str(tmp_path / "o.tif"),
    }
    assert check(qgis_app, params) == (True, "")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"TILE_SIZE": 100}, "multiple of 16"),
        ({"TILE_SIZE": 64, "OVERLAP": 32}, "less than half the tile"),
        ({"CLOUDY": "twelve"}, "L2A products lack B10"),
        ({"SAR": "far"}, "does not overlap"),
        ({"WEIGHTS": "garbage"}, "not a PyTorch checkpoint"),
        ({"WEIGHTS": "missing"}, "does not exist"),
        ({"WEIGHTS": None}, "github.com/xufangchn/GLF-CR"),
        ({"OUTPUT": "out.png"}, ".tif"),
        ({"SAR": "vv_only"}, "has VV but no VH band; GLF-CR needs both: give the VH file"),
        ({"SAR": "hh_hv"}, "holds HH/HV backscatter"),
        ({"SAR": "dn", "SAR_SCALE": 0}, "set the SAR scale (SAR_SCALE)"),
        ({"SAR": "not_a_product"}, "Could not load the raster for Sentinel-1 SAR image"),
    ],
)
def test_checks_refuse_bad_parameters_before_the_run(
    qgis_app: Any,
    scene: tuple[Path, Path],
    checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    expected: str,
) -> None:
    monkeypatch.delenv("GLFCR_WEIGHTS", raising=False)
    cloudy, sar = scene
    (tmp_path / "garbage.pth").write_bytes(b"<html>download page</html>")
    files = {
        "twelve": write_raster(tmp_path / "l2a.tif", optical_dn(32, 32, bands=12)),
        "far": write_raster(
            tmp_path / "far.tif",
            sar_db(32, 32),
            transform=from_origin(ORIGIN[0] + 1e5, ORIGIN[1], PIXEL, PIXEL),
        ),
        "garbage": tmp_path / "garbage.pth",
        "missing": tmp_path / "missing.pth",
        "vv_only": write_raster(tmp_path / "vv.tif", sar_db(32, 32)[:1], descriptions=["VV"]),
        "hh_hv": write_raster(tmp_path / "hh.tif", sar_db(32, 32), descriptions=["HH", "HV"]),
        "dn": write_raster(
            tmp_path / "dn.tif", np.random.default_rng(0).integers(50, 900, (2, 32, 32)).astype(np.uint16)
        ),
        "not_a_product": tmp_path / "S1A_IW_GRDH_1SDV_fake.zip",
        "out.png": tmp_path / "out.png",
    }
    params: dict[str, Any] = {
        "CLOUDY": str(cloudy), "SAR": str(sar), "WEIGHTS": str(checkpoint), "OUTPUT": str(tmp_path / "o.tif"),
    }  # fmt: skip
    (tmp_path / "S1A_IW_GRDH_1SDV_fake.zip").write_bytes(b"not a zip")
    params.update(
        {
            key: str(files.get(value, value)) if isinstance(value, str) else value
            for key, value in change.items()
        }
    )
    if params["WEIGHTS"] is None:
        del params["WEIGHTS"]
    ok, message = check(qgis_app, params)
    assert not ok and expected in message


def natural_colour_bands(layer: Any) -> tuple[int, int, int] | None:
    from qgis.core import QgsMultiBandColorRenderer

    renderer = layer.renderer()
    if not isinstance(renderer, QgsMultiBandColorRenderer):
        return None
    return renderer.redBand(), renderer.greenBand(), renderer.blueBand()


@pytest.mark.usefixtures("single_thread_torch")
def test_runs_again_and_again_in_one_session_with_named_natural_colour_layers(
    qgis_app: Any, scene: tuple[Path, Path], checkpoint: Path, tmp_path: Path
) -> None:
    """A second run used to fail after the whole computation: its post-processor had been deleted."""
    import processing
    from qgis.core import QgsProject, QgsRasterLayer, QgsRasterMinMaxOrigin

    cloudy, sar = scene
    project = QgsProject.instance()
    cloudy_layer = QgsRasterLayer(str(cloudy), "Winter scene")
    project.addMapLayer(cloudy_layer)
    loaded = []
    try:
        for run, output in enumerate((tmp_path / "first.tif", tmp_path / "second.tif")):
            feedback = RecordingFeedback()
            results = processing.runAndLoadResults(
                ALG_ID,
                {
                    "CLOUDY": cloudy_layer.id(), "SAR": str(sar), "WEIGHTS": str(checkpoint), "DEVICE": 1,
                    "STYLE_CLOUDY": run == 1, "OUTPUT": str(output),
                },  # fmt: skip
                feedback=feedback,
            )
            assert Path(results["OUTPUT"]) == output and output.exists()
            assert any("1 of 1 tiles of 32 px" in info for info in feedback.infos)
            assert feedback.progress_values[-1] == 100.0
            layers = [layer for layer in project.mapLayers().values() if Path(layer.source()) == output]
            assert len(layers) == 1
            loaded.append(layers[0])
            # the cloudy input keeps QGIS's default style unless the option asks for natural colour
            assert (natural_colour_bands(cloudy_layer) == (4, 3, 2)) == (run == 1)
        names = [layer.name() for layer in loaded]
        assert names == ["Winter scene cloud-free", "Winter scene cloud-free (2)"]
        for layer in loaded:
            assert natural_colour_bands(layer) == (4, 3, 2)
            renderer = layer.renderer()
            assert renderer.minMaxOrigin().limits() == QgsRasterMinMaxOrigin.CumulativeCut
            enhancement = renderer.redContrastEnhancement()
            assert 0 < enhancement.minimumValue() < enhancement.maximumValue()
    finally:
        project.removeMapLayers([layer.id() for layer in [*loaded, cloudy_layer]])


@pytest.mark.usefixtures("single_thread_torch")
def test_cancel_inside_a_one_tile_run_stops_between_blocks_and_writes_nothing(
    qgis_app: Any, checkpoint: Path, tmp_path: Path
) -> None:
    """The real network on one 64 px tile, canceled by the analyst at its first block."""
    import time

    from qgis.core import QgsProcessingException

    from glfcr_qgis.core.model.network import FORWARD_STAGES

    cloudy, sar = write_scene(tmp_path, 64, 64)
    feedback = RecordingFeedback()
    canceled_at: list[float] = []

    def press_cancel(progress: float) -> None:
        # the first progress inside the tile comes from the network's first stage callback
        if progress > 0 and not canceled_at:
            canceled_at.append(time.perf_counter())
            feedback.cancel()

    feedback.progressChanged.connect(press_cancel)
    with pytest.raises(QgsProcessingException, match="canceled; no output was written"):
        processing_run(
            ALG_ID,
            {
                "CLOUDY": str(cloudy), "SAR": str(sar), "WEIGHTS": str(checkpoint), "DEVICE": 1,
                "TILE_SIZE": 64, "OVERLAP": 0, "OUTPUT": str(tmp_path / "clear.tif"),
            },  # fmt: skip
            feedback,
        )
    assert canceled_at and time.perf_counter() - canceled_at[0] < 10.0
    # stopped at the next stage of the network: the bar moved inside the tile and went no further
    inside = [value for value in feedback.progress_values if 0 < value < 100]
    assert inside == [pytest.approx(100.0 / FORWARD_STAGES)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloudy.tif", "sar.tif"]


@pytest.mark.usefixtures("single_thread_torch")
def test_provenance_is_written_counted_and_loads_with_its_legend(
    qgis_app: Any, checkpoint: Path, tmp_path: Path
) -> None:
    from qgis.core import QgsProcessingContext, QgsProcessingOutputLayerDefinition, QgsProject, QgsRasterLayer

    dn = optical_dn(32, 32, seed=3) // 8
    dn[[7, 11]] += 1500  # ground bright in B8 and B11: above the shadow test's scene-relative threshold
    dn[:, 8:20, 8:20] = 6000  # a cloud
    dn[11, 8:20, 8:20] = 1000
    dn[:, 26:31, 26:31] = 5  # a shadow
    cloudy = write_raster(tmp_path / "cloudy.tif", dn.astype(np.uint16))
    sar = write_raster(tmp_path / "sar.tif", sar_db(32, 32))
    provenance = str(tmp_path / "provenance.tif")
    import processing

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    results = processing.run(
        ALG_ID,
        {
            "CLOUDY": str(cloudy),
            "SAR": str(sar),
            "WEIGHTS": str(checkpoint),
            "DEVICE": 1,
            "KEEP_CLEAR": True,
            "OUTPUT": str(tmp_path / "clear.tif"),
            "PROVENANCE": QgsProcessingOutputLayerDefinition(provenance, QgsProject.instance()),
        },
        context=context,
        feedback=RecordingFeedback(),
    )
    with rasterio.open(results["PROVENANCE"]) as dataset:
        classes = dataset.read(1)
        assert dataset.tags()["cloud_mask_method"] == "authors"
    counts = np.bincount(classes.ravel(), minlength=256)
    assert results["OBSERVED_PIXELS"] == counts[0] > 0
    assert results["PREDICTED_CLOUD_PIXELS"] == counts[1] > 0
    assert results["BLENDED_PIXELS"] == counts[4] > 0
    assert results["PREDICTED_CLEAR_PIXELS"] == counts[3] == 0
    post_processor = context.layerToLoadOnCompletionDetails(provenance).postProcessor()
    layer = QgsRasterLayer(provenance, "provenance")
    post_processor.postProcessLayer(layer, context, RecordingFeedback())
    assert layer.renderer().type() == "paletted"
    labels = {c.value: c.label for c in layer.renderer().classes()}
    assert labels[0] == "0 observed (input kept)" and labels[4] == "4 blended transition" and len(labels) == 5


def test_cancel_leaves_no_output(
    qgis_app: Any, scene: tuple[Path, Path], checkpoint: Path, tmp_path: Path
) -> None:
    from qgis.core import QgsProcessingException

    cloudy, sar = scene
    feedback = RecordingFeedback()
    feedback.cancel()
    with pytest.raises(QgsProcessingException, match="canceled"):
        processing_run(
            ALG_ID,
            {
                "CLOUDY": str(cloudy),
                "SAR": str(sar),
                "WEIGHTS": str(checkpoint),
                "OUTPUT": str(tmp_path / "o.tif"),
            },
            feedback,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloudy.tif", "sar.tif"]


@pytest.mark.slow
def test_qgis_process_runs_with_sar_in_another_crs_and_weights_from_the_environment(
    scene: tuple[Path, Path], checkpoint: Path, tmp_path: Path
) -> None:
    cloudy, sar = scene
    warped = reproject_raster(sar, tmp_path / "sar_4326.tif", "EPSG:4326")
    output = tmp_path / "clear.tif"
    result = run_qgis_process(
        ALG_ID,
        {"CLOUDY": cloudy, "SAR": warped, "TILE_SIZE": 32, "OVERLAP": 0, "OUTPUT_TYPE": 1, "OUTPUT": output},
        extra_env={"GLFCR_WEIGHTS": str(checkpoint), **SINGLE_THREAD},
    )
    assert result["returncode"] == 0, result["stderr"] + result["stdout"]
    assert Path(result["results"]["OUTPUT"]) == output
    with rasterio.open(cloudy) as src, rasterio.open(output) as out:
        assert (out.crs, out.transform, out.shape, out.count) == (src.crs, src.transform, src.shape, 13)
        assert out.dtypes[0] == "float32"
        values = out.read()
    assert np.isfinite(values[:, 1:-1, 1:-1]).all()


@pytest.mark.slow
def test_qgis_process_fails_cleanly_on_a_twelve_band_input(
    scene: tuple[Path, Path], checkpoint: Path, tmp_path: Path
) -> None:
    _, sar = scene
    twelve = write_raster(tmp_path / "l2a.tif", optical_dn(32, 32, bands=12))
    output = tmp_path / "clear.tif"
    result = run_qgis_process(
        ALG_ID,
        {"CLOUDY": twelve, "SAR": sar, "WEIGHTS": checkpoint, "OUTPUT": output},
        extra_env=SINGLE_THREAD,
    )
    assert result["returncode"] != 0
    assert "L2A products lack B10" in result["stdout"] + result["stderr"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloudy.tif", "l2a.tif", "sar.tif"]


@pytest.fixture(scope="module")
def grd_product(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[float, float]]:
    return zipped_product_with_patch(tmp_path_factory.mktemp("grd"))


@pytest.mark.usefixtures("single_thread_torch")
def test_sar_may_be_a_grd_product_path(
    qgis_app: Any, grd_product: tuple[Path, tuple[float, float]], checkpoint: Path, tmp_path: Path
) -> None:
    product, (x, y) = grd_product
    transform = from_origin(round(x) - 160, round(y) + 160, PIXEL, PIXEL)
    cloudy = write_raster(tmp_path / "cloudy.tif", optical_dn(32, 32), transform=transform, crs="EPSG:32632")
    params = {"CLOUDY": str(cloudy), "SAR": str(product), "WEIGHTS": str(checkpoint), "DEVICE": 1,
              "OUTPUT": str(tmp_path / "clear.tif")}  # fmt: skip
    assert check(qgis_app, params) == (True, "")
    feedback = RecordingFeedback()
    processing_run(ALG_ID, params, feedback)
    assert any("no terrain correction" in w or "without terrain correction" in w for w in feedback.warnings)
    assert any("GRD calibrated to sigma0 dB" in info for info in feedback.infos)
    with rasterio.open(tmp_path / "clear.tif") as out:
        assert out.tags()["sar_input"] == product.stem and out.read_masks(1).all()


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread_torch")
def test_qgis_process_with_amplitude_vv_and_vh_files_matches_the_db_raster(
    checkpoint: Path, tmp_path: Path
) -> None:
    """The real network (random weights) on 64 px: SAR as two amplitude files in qgis_process, and in dB."""
    import glfcr_qgis.core as core

    db = sar_db(64, 64)
    cloudy = write_raster(tmp_path / "cloudy.tif", optical_dn(64, 64))
    amplitude = sar_in_scale(db, "amplitude")
    vv = write_raster(tmp_path / "vv.tif", amplitude[:1], descriptions=["Amplitude_VV"])
    vh = write_raster(tmp_path / "vh.tif", amplitude[1:], descriptions=["Amplitude_VH"])
    output = tmp_path / "clear.tif"
    result = run_qgis_process(
        ALG_ID,
        {"CLOUDY": cloudy, "SAR": vv, "SAR_VH": vh, "WEIGHTS": checkpoint, "TILE_SIZE": 64, "OVERLAP": 0,
         "OUTPUT_TYPE": 1, "DEVICE": 1, "OUTPUT": output},
        extra_env=SINGLE_THREAD,
    )  # fmt: skip
    assert result["returncode"] == 0, result["stderr"] + result["stdout"]
    assert "amplitude (from band description 'Amplitude_VV')" in result["stdout"] + result["stderr"]
    db_path = write_raster(tmp_path / "db.tif", db, descriptions=["VV", "VH"])
    reference = core.remove_clouds(cloudy, db_path, checkpoint, tmp_path / "ref.tif", tile_size=64, overlap=0,
                                   output_type="Float32", device="cpu")  # fmt: skip
    with rasterio.open(output) as out, rasterio.open(reference.output_path) as ref:
        assert out.tags()["sar_scale"] == "amplitude"
        # within 1e-4 of the network's normalised units (DN / 10000)
        np.testing.assert_allclose(out.read() / 10000, ref.read() / 10000, atol=1e-4)
