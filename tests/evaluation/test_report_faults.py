"""Evaluation reports on a full disk and over the inputs: refused or failed runs leave no file (core)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from disk_limits import TightDisk, checksums
from test_evaluate import StandIn, layer_pair
from test_metrics import SAMPLES

from glfcr_qgis.core.errors import OutputWriteError
from glfcr_qgis.core.evaluation.dataset_evaluation import evaluate_dataset
from glfcr_qgis.core.evaluation.layers import evaluate_layers

FALL = "ROIs1970_fall_139_p839.tif"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A copy of the shared samples (never write tests against the shared folder itself)."""
    return Path(shutil.copytree(SAMPLES, tmp_path / "sen12mscr"))


def dataset_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_layer_reports_on_a_full_disk_leave_neither(tmp_path: Path, tight_disk: TightDisk) -> None:
    prediction, reference, _, _ = layer_pair(tmp_path)
    before = checksums(prediction, reference)
    report_json, report_html = tight_disk.folder / "r.json", tight_disk.folder / "r.html"
    with tight_disk.full(), pytest.raises(OutputWriteError) as error:
        evaluate_layers(prediction, reference, report_json=report_json, report_html=report_html)
    assert str(error.value) == f"Cannot write the output {report_json}: {tight_disk.reason}."
    assert tight_disk.files() == [] and checksums(prediction, reference) == before


def test_dataset_reports_on_a_full_disk_leave_none_and_keep_the_history(
    dataset: Path, tight_disk: TightDisk
) -> None:
    history = tight_disk.folder / "history.jsonl"
    history.write_text('{"run": 1}\n')
    before = checksums(history, *dataset_files(dataset))
    reports = {f"report_{kind}": tight_disk.folder / f"r.{kind}" for kind in ("json", "csv", "html")}
    with tight_disk.full(), pytest.raises(OutputWriteError, match=tight_disk.reason):
        evaluate_dataset(
            dataset, StandIn(), csv_path=dataset / "data.csv", device="cpu", history=history, **reports
        )
    assert tight_disk.files() == ["history.jsonl"] and checksums(history, *dataset_files(dataset)) == before


def test_a_refused_report_leaves_no_other_report(tmp_path: Path) -> None:
    prediction, reference, _, _ = layer_pair(tmp_path)
    # GDAL reads a GeoTIFF whatever its name: the check is on the file, not only on the extension
    disguised = Path(shutil.copyfile(prediction, tmp_path / "prediction.json"))
    before = checksums(disguised, reference)
    html = tmp_path / "r.html"
    with pytest.raises(OutputWriteError, match="JSON report .*reference.tif is written as JSON"):
        evaluate_layers(disguised, reference, report_json=reference, report_html=html)
    with pytest.raises(OutputWriteError, match="prediction.json is also an input of this run"):
        evaluate_layers(disguised, reference, report_json=disguised, report_html=html)
    assert not html.exists() and checksums(disguised, reference) == before


@pytest.mark.parametrize(
    ("report", "target", "expected"),
    [
        ("report_csv", "data.csv", "is also an input of this run"),
        ("report_json", f"s1/{FALL}", "is written as JSON"),
        ("report_json", "data.json", None),  # a new file beside the dataset is fine, see below
        ("history", "data.csv", "is written as JSON lines"),
        ("history", "s1", "is written as JSON lines"),
    ],
)
def test_dataset_reports_never_overwrite_the_dataset(
    dataset: Path, tmp_path: Path, report: str, target: str, expected: str | None
) -> None:
    before = checksums(*dataset_files(dataset))
    others = {"report_html": tmp_path / "r.html"}
    if expected is None:
        (dataset / target).write_text("{}")  # an existing file of the dataset folder
        expected = "is a file of the input folder"
    with pytest.raises(OutputWriteError, match=expected):
        evaluate_dataset(
            dataset, StandIn(), csv_path=dataset / "data.csv", device="cpu", **{report: dataset / target},
            **others,
        )  # fmt: skip
    assert not (tmp_path / "r.html").exists()
    after = checksums(*dataset_files(dataset))
    assert {path: after[path] for path in before} == before


def test_a_history_that_is_no_json_lines_is_left_alone(dataset: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    notes.write_text("my notes, not JSON\n")
    with pytest.raises(OutputWriteError, match="line 1 is not JSON"):
        evaluate_dataset(
            dataset, StandIn(), csv_path=dataset / "data.csv", device="cpu", history=notes,
            report_json=tmp_path / "r.json",
        )  # fmt: skip
    assert notes.read_text() == "my notes, not JSON\n" and not (tmp_path / "r.json").exists()
