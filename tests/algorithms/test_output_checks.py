"""Every algorithm refuses, before it starts, an output that is an input, a dataset file or another output.

Table-driven over every algorithm and every output parameter, in process (``processing.run`` runs
``checkParameterValues`` first); two of the cases again through ``qgis_process``. A refused run writes
nothing and changes no input.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import processing_run, run_qgis_process
from disk_limits import checksums
from network_fixtures import REFERENCE_CHECKPOINT
from scene_rasters import optical_dn, write_raster, write_scene
from test_metrics import SAMPLES

FALL = "ROIs1970_fall_139_p839.tif"
INPUT_REFUSED = "is also an input of this run"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Inputs of every algorithm in ``tmp_path/in`` (a copy of the SEN12MS-CR samples among them)."""
    folder = tmp_path / "in"
    folder.mkdir()
    cloudy, sar = write_scene(folder, 32, 32)
    reference = write_raster(folder / "reference.tif", optical_dn(32, 32, seed=5))
    dataset = Path(shutil.copytree(SAMPLES, folder / "sen12mscr"))
    (dataset / "notes.json").write_text("{}")
    return {"cloudy": cloudy, "sar": sar, "reference": reference, "dataset": dataset}


def as_text(params: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in params.items()}


def every_input(files: dict[str, Path]) -> list[Path]:
    return sorted(path for path in files["cloudy"].parent.rglob("*") if path.is_file())


def parameters(alg: str, files: dict[str, Path], out: Path) -> dict[str, Any]:
    """Good parameters of each algorithm, every output in ``out``."""
    dataset = files["dataset"]
    return {
        "glfcr:removeclouds": {
            "CLOUDY": files["cloudy"], "SAR": files["sar"], "WEIGHTS": REFERENCE_CHECKPOINT,
            "OUTPUT": out / "o.tif",
        },
        "glfcr:cloudmask": {"INPUT": files["cloudy"], "OUTPUT": out / "mask.tif", "SCORE": out / "score.tif"},
        "glfcr:preparesentinel1": {
            "INPUT": files["sar"], "REFERENCE": files["cloudy"], "OUTPUT": out / "s1.tif",
        },
        "glfcr:evaluate": {
            "PREDICTION": files["cloudy"], "REFERENCE": files["reference"],
            "REPORT_JSON": out / "r.json", "REPORT_HTML": out / "r.html",
        },
        "glfcr:evaluatedataset": {
            "DATASET_CSV": dataset / "data.csv", "DATA_ROOT": dataset, "WEIGHTS": REFERENCE_CHECKPOINT,
            "REPORT_JSON": out / "r.json", "REPORT_CSV": out / "r.csv", "REPORT_HTML": out / "r.html",
            "HISTORY": out / "h.jsonl",
        },
    }[alg]  # fmt: skip


# (algorithm, output parameter, what it is set to, expected words); {name} are the fixture's files
CASES = [
    ("glfcr:removeclouds", "OUTPUT", "{cloudy}", INPUT_REFUSED),
    ("glfcr:removeclouds", "OUTPUT", "{sar}", INPUT_REFUSED),
    ("glfcr:removeclouds", "OUTPUT", "{out}/o.png", "is written as GeoTIFF: name it with a .tif or .tiff"),
    ("glfcr:cloudmask", "OUTPUT", "{cloudy}", INPUT_REFUSED),
    ("glfcr:cloudmask", "SCORE", "{cloudy}", INPUT_REFUSED),
    ("glfcr:cloudmask", "SCORE", "{out}/mask.tif", "are the same file"),
    ("glfcr:cloudmask", "OUTPUT", "{out}/mask.png", "is written as GeoTIFF"),
    ("glfcr:cloudmask", "OUTPUT", "{out}/mask.jpg", "is written as GeoTIFF"),
    ("glfcr:preparesentinel1", "OUTPUT", "{sar}", INPUT_REFUSED),
    ("glfcr:preparesentinel1", "OUTPUT", "{cloudy}", INPUT_REFUSED),
    ("glfcr:preparesentinel1", "OUTPUT", "{out}/s1.vrt", "is written as GeoTIFF"),
    ("glfcr:evaluate", "REPORT_JSON", "{reference}", "is written as JSON"),
    ("glfcr:evaluate", "REPORT_HTML", "{cloudy}", "is written as HTML"),
    ("glfcr:evaluate", "REPORT_HTML", "{out}/r.json", "is written as HTML"),
    ("glfcr:evaluatedataset", "REPORT_CSV", "{dataset}/data.csv", INPUT_REFUSED),
    ("glfcr:evaluatedataset", "REPORT_JSON", "{dataset}/s1/" + FALL, "is written as JSON"),
    ("glfcr:evaluatedataset", "REPORT_JSON", "{dataset}/notes.json", "is a file of the input folder"),
    ("glfcr:evaluatedataset", "REPORT_HTML", "{out}/r.json", "is written as HTML"),
    ("glfcr:evaluatedataset", "HISTORY", "{dataset}/data.csv", "is written as JSON lines"),
    ("glfcr:evaluatedataset", "HISTORY", "{out}/r.json", "is written as JSON lines"),
    ("glfcr:evaluatedataset", "REPORT_CSV", "{out}/h.csv", None),  # a control: this one is fine
]


@pytest.mark.parametrize(("alg", "output", "value", "expected"), CASES)
def test_outputs_are_checked_before_the_run(
    qgis_app: Any,
    files: dict[str, Path],
    tmp_path: Path,
    alg: str,
    output: str,
    value: str,
    expected: str | None,
) -> None:
    from qgis.core import QgsApplication, QgsProcessingContext

    out = tmp_path / "out"
    params = parameters(alg, files, out)
    params[output] = value.format(out=out, **files)
    before = checksums(*every_input(files))
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(alg)
    ok, message = algorithm.checkParameterValues(as_text(params), QgsProcessingContext())
    if expected is None:
        assert (ok, message) == (True, "")
    else:
        assert not ok and expected in message and message.count(". ") == 0, message
        assert f"({output})" in message  # names the parameter
    assert not out.exists() and checksums(*every_input(files)) == before


THROUGH_PROCESSING = {CASES[0][:3], ("glfcr:evaluatedataset", "REPORT_CSV", "{dataset}/data.csv")}


@pytest.mark.parametrize(
    ("alg", "output", "value", "expected"), [case for case in CASES if case[:3] in THROUGH_PROCESSING]
)
def test_a_refused_run_through_processing_writes_nothing(
    qgis_app: Any, files: dict[str, Path], tmp_path: Path, alg: str, output: str, value: str, expected: str
) -> None:
    from qgis.core import QgsProcessingException

    out = tmp_path / "out"
    params = {**parameters(alg, files, out), output: value.format(out=out, **files)}
    before = checksums(*every_input(files))
    with pytest.raises(QgsProcessingException, match=expected):
        processing_run(alg, as_text(params))
    assert not out.exists() and checksums(*every_input(files)) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("alg", "output", "value"),
    [("glfcr:evaluatedataset", "HISTORY", "{dataset}/data.csv"), ("glfcr:cloudmask", "OUTPUT", "{cloudy}")],
)
def test_qgis_process_refuses_an_output_over_an_input(
    files: dict[str, Path], tmp_path: Path, alg: str, output: str, value: str
) -> None:
    out = tmp_path / "out"
    params = {**parameters(alg, files, out), output: value.format(out=out, **files)}
    before = checksums(*every_input(files))
    run = run_qgis_process(alg, params)
    assert run["returncode"] != 0
    message = f"{value.format(out=out, **files)} "
    assert (run["stdout"] + run["stderr"]).count(message) == 1, run["stderr"]
    assert not out.exists() and checksums(*every_input(files)) == before


def test_numbers_declare_their_range_and_a_value_outside_names_it(
    qgis_app: Any, files: dict[str, Path]
) -> None:
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingParameterNumber

    registry = QgsApplication.processingRegistry()
    for algorithm in registry.providerById("glfcr").algorithms():
        alg = algorithm.id()
        for definition in algorithm.parameterDefinitions():
            if isinstance(definition, QgsProcessingParameterNumber):
                bounded = definition.maximum() < 1e300 and definition.minimum() > -1e300
                assert bounded, (alg, definition.name())
    algorithm = registry.createAlgorithmById("glfcr:removeclouds")
    params = as_text(parameters("glfcr:removeclouds", files, Path("/tmp")))
    for name, value, expected in (
        ("TILE_SIZE", 8, "is 8, outside the range it accepts: give a value from 16 to 4096."),
        ("TILE_SIZE", 8192, "is 8192, outside the range it accepts: give a value from 16 to 4096."),
        ("BATCH_SIZE", 300, "is 300, outside the range it accepts: give a value from 0 to 256."),
    ):
        ok, message = algorithm.checkParameterValues({**params, name: value}, QgsProcessingContext())
        assert not ok and message.endswith(expected) and f"({name})" in message


def test_a_raster_with_a_broken_header_is_called_damaged(
    qgis_app: Any, files: dict[str, Path], tmp_path: Path
) -> None:
    from qgis.core import QgsApplication, QgsProcessingContext

    broken = tmp_path / "broken.tif"
    data = bytearray(files["cloudy"].read_bytes())
    data[4:8] = b"\xff\xff\xff\x7f"  # the first directory's offset points past the end
    broken.write_bytes(bytes(data))
    inputs = (("glfcr:removeclouds", "CLOUDY"), ("glfcr:cloudmask", "INPUT"), ("glfcr:evaluate", "REFERENCE"))
    for alg, name in inputs:
        params = as_text(parameters(alg, files, tmp_path / "out"))
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(alg)
        ok, message = algorithm.checkParameterValues({**params, name: str(broken)}, QgsProcessingContext())
        assert not ok and f"({name}) file {broken} is damaged or not a raster: GDAL cannot read it" in message
        assert "not found" not in message and message.endswith("re-download or re-export it.")
