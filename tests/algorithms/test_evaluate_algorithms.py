from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import RecordingFeedback, processing_run, run_qgis_process
from network_fixtures import REFERENCE_CHECKPOINT, reference_model
from scene_rasters import optical_dn, write_raster
from test_evaluate import FALL, WINTER, layer_pair, result_triplet
from test_metrics import REFERENCE, SAMPLES, authors_psnr, authors_ssim

EVALUATE = "glfcr:evaluate"
EVALUATE_DATASET = "glfcr:evaluatedataset"
METRICS = ("PSNR", "SSIM", "SSIM_CENTERED", "MAE", "RMSE", "SAM")


def sample_params(tmp_path, name=WINTER):
    return {
        "PREDICTION": str(SAMPLES / "s2_cloudy" / name),
        "REFERENCE": str(SAMPLES / "s2_cloudfree" / name),
        "REPORT_JSON": str(tmp_path / "report.json"),
        "REPORT_HTML": str(tmp_path / "report.html"),
    }


def test_algorithms_listed(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingOutputHtml

    registry = QgsApplication.processingRegistry()
    evaluate = registry.algorithmById(EVALUATE)
    assert evaluate.displayName() == "Evaluate"
    assert [p.name() for p in evaluate.parameterDefinitions()] == [
        "PREDICTION",
        "REFERENCE",
        "MASK",
        "CLOUDY",
        "PROVENANCE",
        "THRESHOLD",
        "REPORT_JSON",
        "REPORT_HTML",
    ]
    outputs = {o.name(): o for o in evaluate.outputDefinitions()}
    assert {*METRICS, "PSNR_CLOUDY", "SAM_CLEAR", "PSNR_OBSERVED", "MAE_PREDICTED", "BLENDED_PIXELS"} <= (
        outputs.keys()
    )
    assert outputs["PSNR"].type() == "outputNumber"
    assert isinstance(outputs["REPORT_HTML"], QgsProcessingOutputHtml)

    dataset = registry.algorithmById(EVALUATE_DATASET)
    assert dataset.displayName() == "Evaluate on SEN12MS-CR"
    assert [p.name() for p in dataset.parameterDefinitions()] == [
        "DATASET_CSV",
        "DATA_ROOT",
        "WEIGHTS",
        "SPLIT",
        "CROP",
        "DEVICE",
        "BATCH_SIZE",
        "MODEL_NAME",
        "NOTES",
        "HISTORY",
        "REPORT_JSON",
        "REPORT_CSV",
        "REPORT_HTML",
    ]
    assert {*METRICS, "REPORT_CSV", "IMAGE_COUNT"} <= {o.name() for o in dataset.outputDefinitions()}
    assert {(alg.groupId(), alg.group()) for alg in (evaluate, dataset)} == {("evaluation", "Evaluation")}
    # one split numbering: the data.csv numbers, in the dropdown's order, in both the dropdown and the help
    assert dataset.parameterDefinition("SPLIT").options() == [
        "test (data.csv split 3)", "validation (data.csv split 2)", "train (data.csv split 1)",
    ]  # fmt: skip
    assert "3 for test, 2 for validation, 1 for train" in dataset.shortHelpString()


@pytest.mark.parametrize("name", [WINTER, FALL])
def test_evaluate_in_process_matches_the_reference(qgis_app, tmp_path, name):
    params = sample_params(tmp_path, name)
    params["CLOUDY"] = params["PREDICTION"]
    feedback = RecordingFeedback()
    results = processing_run(EVALUATE, params, feedback)
    assert results["PSNR"] == pytest.approx(REFERENCE[f"{name}|256"]["psnr"], abs=1e-6)
    assert results["SSIM"] == pytest.approx(REFERENCE[f"{name}|256"]["ssim"], abs=1e-6)
    assert results["SCORED_PIXELS"] == 256 * 256 == results["CLOUDY_PIXELS"] + results["CLEAR_PIXELS"]
    assert results["PSNR_CLOUDY"] != results["PSNR_CLEAR"]
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["metrics"]["all"]["ssim"] == results["SSIM"]
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()
    assert feedback.progress_values[-1] == 100


def test_evaluate_splits_observed_and_predicted_pixels_by_provenance(qgis_app, tmp_path):
    prediction, reference, _, _ = layer_pair(tmp_path, height=24, width=24)
    provenance = np.full((1, 24, 24), 1, np.uint8)
    provenance[0, :10] = 0
    provenance_path = write_raster(tmp_path / "provenance.tif", provenance, nodata=255)
    params = {
        "PREDICTION": str(prediction),
        "REFERENCE": str(reference),
        "REPORT_JSON": str(tmp_path / "report.json"),
        "REPORT_HTML": str(tmp_path / "report.html"),
    }
    results = processing_run(EVALUATE, {**params, "PROVENANCE": str(provenance_path)})
    assert (results["OBSERVED_PIXELS"], results["PREDICTED_PIXELS"]) == (10 * 24, 14 * 24)
    assert results["BLENDED_PIXELS"] == 0
    # a mask scoring the non-zero (predicted) pixels gives the numbers of the predicted subset
    masked = processing_run(EVALUATE, {**params, "MASK": str(provenance_path)})
    assert results["PSNR_PREDICTED"] == pytest.approx(masked["PSNR"], abs=1e-9)
    assert results["PSNR_OBSERVED"] != results["PSNR_PREDICTED"]


@pytest.mark.slow
def test_evaluate_via_qgis_process(qgis_app, tmp_path):
    result = run_qgis_process(EVALUATE, sample_params(tmp_path))
    assert result["returncode"] == 0, result["stderr"]
    outputs = result["results"]
    assert outputs["PSNR"] == pytest.approx(REFERENCE[f"{WINTER}|256"]["psnr"], abs=1e-6)
    assert outputs["SSIM"] == pytest.approx(REFERENCE[f"{WINTER}|256"]["ssim"], abs=1e-6)
    assert (tmp_path / "report.html").exists()


def test_evaluate_rejects_other_grids(qgis_app, tmp_path):
    from qgis.core import QgsProcessingException

    params = sample_params(tmp_path)
    params["PREDICTION"] = str(write_raster(tmp_path / "small.tif", optical_dn(64, 64)))
    with pytest.raises(QgsProcessingException, match="64x64 pixels but the reference is 256x256"):
        processing_run(EVALUATE, params)
    assert not (tmp_path / "report.json").exists()


def test_evaluatedataset_real_checkpoint_reproduces_the_authors_test(qgis_app, tmp_path):
    from glfcr_qgis.core.evaluation.dataset_evaluation import load_triplet

    feedback = RecordingFeedback()
    results = processing_run(
        EVALUATE_DATASET,
        {
            "DATASET_CSV": str(SAMPLES / "data.csv"),
            "DATA_ROOT": str(SAMPLES),
            "WEIGHTS": str(REFERENCE_CHECKPOINT),
            "SPLIT": 0,
            "CROP": 0,
            "DEVICE": 1,
            "MODEL_NAME": "random",
            "NOTES": "test run",
            "HISTORY": str(tmp_path / "history.jsonl"),
            "REPORT_JSON": str(tmp_path / "report.json"),
            "REPORT_CSV": str(tmp_path / "report.csv"),
            "REPORT_HTML": str(tmp_path / "report.html"),
        },
        feedback,
    )
    # independently: the authors' crop, network and metrics
    cloudy, sar, cloudfree = (torch.from_numpy(a)[None] for a in load_triplet(result_triplet(FALL)))
    with torch.no_grad():
        output = reference_model()(cloudy, sar)
    expected_psnr, expected_ssim = authors_psnr(output, cloudfree), authors_ssim(output, cloudfree).item()
    assert results["IMAGE_COUNT"] == 1
    assert results["PSNR"] == pytest.approx(expected_psnr, abs=1e-6)
    assert results["SSIM"] == pytest.approx(expected_ssim, abs=1e-6)
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["images"][0]["image"] == FALL and document["model_name"] == "random"
    assert len(document["checkpoint_sha256"]) == 64
    assert f"0  psnr_13: {expected_psnr:.4f}  ssim_13: {expected_ssim:.4f}" in "\n".join(feedback.infos)
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 1
    assert len((tmp_path / "report.csv").read_text().splitlines()) == 2


@pytest.mark.slow
def test_evaluatedataset_via_qgis_process_with_weights_from_the_environment(qgis_app, tmp_path):
    result = run_qgis_process(
        EVALUATE_DATASET,
        {
            "DATASET_CSV": str(SAMPLES / "data.csv"),
            "DATA_ROOT": str(SAMPLES),
            "SPLIT": 2,
            "CROP": 0,
            "DEVICE": 1,
            "REPORT_JSON": str(tmp_path / "report.json"),
            "REPORT_CSV": str(tmp_path / "report.csv"),
            "REPORT_HTML": str(tmp_path / "report.html"),
        },
        extra_env={"GLFCR_WEIGHTS": str(REFERENCE_CHECKPOINT)},
    )
    assert result["returncode"] == 0, result["stderr"]
    document = json.loads((tmp_path / "report.json").read_text())
    assert [image["image"] for image in document["images"]] == [WINTER]
    assert result["results"]["PSNR"] == pytest.approx(document["mean"]["psnr"])
    assert np.isfinite(result["results"]["SAM"])


def test_evaluatedataset_without_weights_says_what_to_do(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsProcessingException

    monkeypatch.delenv("GLFCR_WEIGHTS", raising=False)
    with pytest.raises(QgsProcessingException, match="GLFCR_WEIGHTS"):
        processing_run(EVALUATE_DATASET, {"DATA_ROOT": str(SAMPLES), "WEIGHTS": ""})


def test_evaluatedataset_empty_split_is_a_clear_error(qgis_app, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="val split .* is empty"):
        processing_run(
            EVALUATE_DATASET,
            {
                "DATASET_CSV": str(SAMPLES / "data.csv"),
                "DATA_ROOT": str(SAMPLES),
                "WEIGHTS": str(REFERENCE_CHECKPOINT),
                "SPLIT": 1,
                "REPORT_JSON": str(tmp_path / "r.json"),
                "REPORT_CSV": str(tmp_path / "r.csv"),
                "REPORT_HTML": str(tmp_path / "r.html"),
            },
        )
    assert not list(tmp_path.iterdir())
