from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from rasterio.crs import CRS
from rasterio.transform import from_origin
from scene_rasters import ORIGIN, PIXEL, optical_dn, sar_db, write_raster
from test_dataset import touch_official_triplet
from test_metrics import REFERENCE, SAMPLES, authors_psnr, authors_ssim
from torch import nn

from glfcr_qgis.core.errors import InputRasterError, ProcessingCanceled
from glfcr_qgis.core.evaluation.dataset_evaluation import evaluate_dataset, load_triplet
from glfcr_qgis.core.evaluation.layers import evaluate_layers
from glfcr_qgis.core.evaluation.metric_sums import metric_maps
from glfcr_qgis.core.evaluation.reports import encode_png
from glfcr_qgis.core.io.normalization import normalize_optical
from glfcr_qgis.core.scene.cloud_detector import cloud_shadow_mask

WINTER = "ROIs2017_winter_112_p797.tif"
FALL = "ROIs1970_fall_139_p839.tif"


def layer_pair(tmp_path, height=40, width=50, **prediction_kwargs):
    """A reference and a noisy prediction raster (13-band UInt16) on the same grid."""
    reference = optical_dn(height, width, seed=0)
    # never down to 0, a common nodata value
    noise = np.random.default_rng(1).integers(-150, 150, size=reference.shape)
    prediction = np.clip(reference.astype(np.int64) + noise, 0, 10000).astype(np.uint16)
    return (
        write_raster(tmp_path / "prediction.tif", prediction, **prediction_kwargs),
        write_raster(tmp_path / "reference.tif", reference),
        prediction,
        reference,
    )


# --- layer evaluation -------------------------------------------------------------------------------


def test_real_sample_cloudy_against_cloudfree_matches_the_reference():
    result = evaluate_layers(SAMPLES / "s2_cloudy" / WINTER, SAMPLES / "s2_cloudfree" / WINTER)
    expected = REFERENCE[f"{WINTER}|256"]
    assert result.metrics["all"]["psnr"] == pytest.approx(expected["psnr"], abs=1e-6)
    assert result.metrics["all"]["ssim"] == pytest.approx(expected["ssim"], abs=1e-6)
    assert result.pixels == {"all": 256 * 256}


def test_window_size_does_not_change_the_result(tmp_path):
    prediction, reference, _, _ = layer_pair(tmp_path)
    whole = evaluate_layers(prediction, reference, window_size=512).metrics["all"]
    windowed = evaluate_layers(prediction, reference, window_size=16).metrics["all"]
    for name, value in whole.items():
        assert windowed[name] == pytest.approx(value, abs=1e-7), name


def test_nodata_and_mask_are_not_scored(tmp_path):
    prediction_path, reference_path, prediction, reference = layer_pair(tmp_path, nodata=0)
    prediction[:, :5, :] = 0  # nodata rows
    write_raster(prediction_path, prediction, nodata=0)
    mask = np.ones((1, 40, 50), dtype=np.uint8)
    mask[0, :, 40:] = 0
    mask_path = write_raster(tmp_path / "mask.tif", mask)

    result = evaluate_layers(prediction_path, reference_path, mask_path=mask_path, window_size=16)
    scored = np.zeros((40, 50), dtype=bool)
    scored[5:, :40] = True
    expected = (
        metric_maps(normalize_optical(prediction), normalize_optical(reference)).sums(scored)[0].values()
    )
    assert result.pixels["all"] == scored.sum()
    for name, value in expected.items():
        assert result.metrics["all"][name] == pytest.approx(value, abs=1e-7), name


def test_cloudy_and_clear_pixels_reported_apart(tmp_path):
    prediction_path, reference_path, prediction, reference = layer_pair(tmp_path, height=48, width=48)
    cloudy = (reference // 10 + 300).astype(np.uint16)  # dark ground
    cloudy[:, 10:30, 10:30] = 7000  # a bright block: cloud
    cloudy_path = write_raster(tmp_path / "cloudy.tif", cloudy)
    result = evaluate_layers(prediction_path, reference_path, cloudy_path=cloudy_path, window_size=16)

    classes, _ = cloud_shadow_mask(cloudy)
    cloudy_pixels = (classes == 1) | (classes == 2)
    maps = metric_maps(normalize_optical(prediction), normalize_optical(reference))
    assert result.pixels == {"all": 48 * 48, "cloudy": cloudy_pixels.sum(), "clear": (classes == 0).sum()}
    assert 0 < result.pixels["cloudy"] < result.pixels["all"]
    for subset, selected in (("cloudy", cloudy_pixels), ("clear", classes == 0)):
        expected = maps.sums(selected)[0].values()
        for name, value in expected.items():
            assert result.metrics[subset][name] == pytest.approx(value, abs=1e-7), (subset, name)


def test_observed_predicted_and_blended_pixels_reported_apart(tmp_path):
    prediction_path, reference_path, prediction, reference = layer_pair(tmp_path, height=48, width=48)
    provenance = np.full((1, 48, 48), 3, np.uint8)  # predicted in clear sky
    provenance[0, :20] = 0  # observed
    provenance[0, 20:24] = 4  # blended
    provenance[0, 30:40, 5:15] = 1  # predicted under cloud
    provenance[0, 40:, 40:] = 2  # predicted under shadow
    provenance_path = write_raster(tmp_path / "provenance.tif", provenance, nodata=255)
    result = evaluate_layers(prediction_path, reference_path, provenance_path=provenance_path, window_size=16)

    maps = metric_maps(normalize_optical(prediction), normalize_optical(reference))
    selections = {
        "observed": provenance[0] == 0,
        "predicted": np.isin(provenance[0], (1, 2, 3)),
        "blended": provenance[0] == 4,
    }
    assert result.pixels == {"all": 48 * 48, **{name: int(sel.sum()) for name, sel in selections.items()}}
    for subset, selected in selections.items():
        for name, value in maps.sums(selected)[0].values().items():
            assert result.metrics[subset][name] == pytest.approx(value, abs=1e-7), (subset, name)
    assert result.document()["inputs"]["provenance"] == os.fspath(provenance_path)


def test_reports_are_written(tmp_path):
    prediction, reference, _, _ = layer_pair(tmp_path)
    result = evaluate_layers(
        prediction, reference, report_json=tmp_path / "r.json", report_html=tmp_path / "out" / "r.html"
    )
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["metrics"]["all"]["psnr"] == pytest.approx(result.metrics["all"]["psnr"])
    assert document["software"] == "glfcr_qgis" and document["version"]
    page = (tmp_path / "out" / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "PSNR" in page
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


@pytest.mark.parametrize(
    "change, match",
    [
        ({"size": (40, 49)}, "40 pixels but the reference is 50x40"),
        ({"transform": from_origin(ORIGIN[0] + 10, ORIGIN[1], PIXEL, PIXEL)}, "geotransform"),
        ({"crs": CRS.from_epsg(32632)}, "CRS"),
        ({"bands": 12}, "has 12 bands"),
    ],
)
def test_mismatched_inputs_are_clear_errors(tmp_path, change, match):
    height, width = change.get("size", (40, 50))
    prediction = write_raster(
        tmp_path / "prediction.tif",
        optical_dn(height, width, bands=change.get("bands", 13)),
        **{key: change[key] for key in ("transform", "crs") if key in change},
    )
    reference = write_raster(tmp_path / "reference.tif", optical_dn(40, 50))
    with pytest.raises(InputRasterError, match=match):
        evaluate_layers(prediction, reference)


def test_nothing_to_score_is_an_error(tmp_path):
    prediction, reference, _, _ = layer_pair(tmp_path)
    mask = write_raster(tmp_path / "mask.tif", np.zeros((1, 40, 50), dtype=np.uint8))
    with pytest.raises(InputRasterError, match="No pixel is left to score"):
        evaluate_layers(prediction, reference, mask_path=mask)


def test_cancel_writes_no_report(tmp_path):
    prediction, reference, _, _ = layer_pair(tmp_path)
    with pytest.raises(ProcessingCanceled):
        evaluate_layers(
            prediction, reference, report_json=tmp_path / "r.json", window_size=16, is_canceled=lambda: True
        )
    assert not (tmp_path / "r.json").exists()


def test_png_encoder_writes_a_valid_png():
    import zlib

    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    data = encode_png(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    raw = zlib.decompress(data[idat + 4 : idat + 4 + length])
    assert raw == b"\x00" + image[0].tobytes() + b"\x00" + image[1].tobytes()


# --- dataset evaluation -----------------------------------------------------------------------------


class StandIn(nn.Module):
    """A tiny image-to-image model with GLF-CR's signature (cloudy, sar) -> prediction."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(15, 13, 3, padding=1)

    def forward(self, cloudy: torch.Tensor, sar: torch.Tensor) -> torch.Tensor:
        return cloudy + 0.05 * self.conv(torch.cat([cloudy, sar], 1))


def write_official_triplet(root, roi, scene, patch, size=128, seed=0):
    touch_official_triplet(root, roi, scene, patch)
    write_raster(
        root / f"{roi}_s1" / f"s1_{scene}" / f"{roi}_s1_{scene}_p{patch}.tif", sar_db(size, size, seed)
    )
    write_raster(
        root / f"{roi}_s2" / f"s2_{scene}" / f"{roi}_s2_{scene}_p{patch}.tif", optical_dn(size, size, seed)
    )
    cloudy = optical_dn(size, size, seed + 1)
    cloudy[:, : size // 2] = 8000
    write_raster(
        root / f"{roi}_s2_cloudy" / f"s2_cloudy_{scene}" / f"{roi}_s2_cloudy_{scene}_p{patch}.tif", cloudy
    )


def test_dataset_scores_equal_independent_metrics_of_the_model_output():
    model = StandIn()
    result = evaluate_dataset(SAMPLES, model, split="test", csv_path=SAMPLES / "data.csv", device="cpu")
    assert [score.name for score in result.images] == [FALL]
    cloudy, sar, cloudfree = (
        torch.from_numpy(a)[None] for a in load_triplet(result_triplet(FALL), "center128")
    )
    assert cloudy.shape == (1, 13, 128, 128)
    with torch.no_grad():
        output = model(cloudy, sar)
    metrics = result.images[0].metrics
    assert metrics["psnr"] == pytest.approx(authors_psnr(output, cloudfree), abs=1e-6)
    assert metrics["ssim"] == pytest.approx(authors_ssim(output, cloudfree).item(), abs=1e-6)
    assert result.mean["psnr"] == metrics["psnr"] and result.std["psnr"] == 0.0


def result_triplet(name):
    from glfcr_qgis.core.evaluation.sen12mscr import read_data_csv

    return next(
        t
        for t in read_data_csv(SAMPLES / "data.csv", SAMPLES, "test")
        + read_data_csv(SAMPLES / "data.csv", SAMPLES, "train")
        if t.name == name
    )


def test_loader_prepares_patches_as_the_authors(tmp_path):
    from network_fixtures import reference_io

    cloudy, sar, _ = load_triplet(result_triplet(WINTER), "center128")
    reference = reference_io()
    assert torch.equal(torch.from_numpy(cloudy)[None], reference["cloudy"])
    assert torch.equal(torch.from_numpy(sar)[None], reference["sar"])
    full = load_triplet(result_triplet(WINTER), "full")
    assert full[0].shape == (13, 256, 256) and np.array_equal(full[0][:, 64:192, 64:192], cloudy)


def test_official_layout_batches_like_single_images(tmp_path):
    for patch in range(3):
        write_official_triplet(tmp_path, "ROIs1158_spring", 106, patch, seed=patch)
    write_official_triplet(tmp_path, "ROIs1158_spring", 5, 9)  # a training scene: not evaluated
    single = evaluate_dataset(tmp_path, StandIn(), split="test", device="cpu", batch_size=1)
    batched = evaluate_dataset(
        tmp_path,
        StandIn(),
        split="test",
        device="cpu",
        batch_size=2,
        crop="full",
    )
    assert [s.name for s in single.images] == [f"ROIs1158_spring_106_p{p}.tif" for p in range(3)]
    # 128x128 patches: the centre crop is the whole patch
    for one, other in zip(single.images, batched.images, strict=True):
        for name, value in one.metrics.items():
            assert other.metrics[name] == pytest.approx(value, abs=1e-6), name
    values = [s.metrics["psnr"] for s in single.images]
    assert single.mean["psnr"] == pytest.approx(np.mean(values))
    assert single.std["psnr"] == pytest.approx(np.std(values))


def test_dataset_reports_and_history(tmp_path):
    for patch in range(2):
        write_official_triplet(tmp_path / "data", "ROIs1970_fall", 139, patch, seed=patch)
    reports = {name: tmp_path / "out" / f"report.{name}" for name in ("json", "csv", "html")}
    history = tmp_path / "out" / "history.jsonl"
    for notes in ("first", "second"):
        result = evaluate_dataset(
            tmp_path / "data",
            StandIn(),
            device="cpu",
            model_name="stand-in",
            notes=notes,
            history=history,
            report_json=reports["json"],
            report_csv=reports["csv"],
            report_html=reports["html"],
        )
    document = json.loads(reports["json"].read_text())
    assert document["model_name"] == "stand-in" and document["notes"] == "second"
    assert document["settings"]["split"] == "test" and document["settings"]["crop"] == "center128"
    assert [image["image"] for image in document["images"]] == [s.name for s in result.images]
    assert document["mean"]["psnr"] == pytest.approx(result.mean["psnr"])
    rows = reports["csv"].read_text().splitlines()
    assert rows[0] == "index,image,psnr,ssim,ssim_centered,mae,rmse,sam" and len(rows) == 3
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert [line["notes"] for line in lines] == ["first", "second"]
    page = reports["html"].read_text()
    assert page.count("data:image/png;base64,") == 8 and "ROIs1970_fall_139_p1.tif" in page


def test_dataset_cancel_writes_nothing(tmp_path):
    write_official_triplet(tmp_path, "ROIs1970_fall", 139, 0)
    with pytest.raises(ProcessingCanceled):
        evaluate_dataset(
            tmp_path, StandIn(), device="cpu", report_json=tmp_path / "r.json", is_canceled=lambda: True
        )
    assert not (tmp_path / "r.json").exists()


class StagedStandIn(StandIn):
    """A stand-in reporting two stages per pass, as GLF-CR reports its blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.stages_run = 0

    def forward(self, cloudy, sar, *, on_stage=None):
        for done in (1, 2):
            self.stages_run += 1
            if on_stage is not None:
                on_stage(done, 2)
        return super().forward(cloudy, sar)


def test_dataset_progress_moves_and_cancel_stops_inside_a_forward_pass(tmp_path):
    for patch in range(2):
        write_official_triplet(tmp_path, "ROIs1970_fall", 139, patch, seed=patch)
    fractions = []
    evaluate_dataset(tmp_path, StagedStandIn(), device="cpu", progress=fractions.append)
    assert fractions == [0.25, 0.5, 0.5, 0.75, 1.0, 1.0]  # each stage, then each finished image
    network = StagedStandIn()
    fractions.clear()
    with pytest.raises(ProcessingCanceled):
        evaluate_dataset(
            tmp_path, network, device="cpu", report_json=tmp_path / "r.json",
            progress=fractions.append, is_canceled=lambda: bool(fractions),
        )  # fmt: skip
    assert network.stages_run == 2 and fractions == [0.25]  # stopped at the second stage of the first pass
    assert not (tmp_path / "r.json").exists()
