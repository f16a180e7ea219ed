"""Jobs lists and jobs CSVs (columns, BOM, relative paths, names); the batch code loads without dask."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from batch_scenes import write_jobs_csv
from qgis_helpers import REPO_ROOT, SHARED_DIR

from glfcr_qgis.core import CheckpointError, JobListError, MissingDependencyError
from glfcr_qgis.core.batch.jobs import SceneJob, read_jobs_csv, scene_jobs


def test_csv_with_bom_relative_paths_and_default_names(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    path = write_jobs_csv(
        tmp_path / "jobs.csv",
        [("data/a_s2.tif", "data/a_s1.tif", "north"), ("/abs/b_s2.tif", "/vsis3/bucket/b_s1.tif", "")],
    )
    assert read_jobs_csv(path) == [
        SceneJob(str(tmp_path / "data/a_s2.tif"), str(tmp_path / "data/a_s1.tif"), "north"),
        SceneJob("/abs/b_s2.tif", "/vsis3/bucket/b_s1.tif", "b_s2"),
    ]


def test_csv_columns_in_any_order_and_case_without_bom(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text("Name,SAR,Cloudy\n\nx,s1.tif,s2.tif\n", encoding="utf-8")
    assert read_jobs_csv(path) == [SceneJob(str(tmp_path / "s2.tif"), str(tmp_path / "s1.tif"), "x")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cloudy,name\na.tif,a\n", "has no column sar in its header row"),
        ("cloudy,sar\n", "There are no scenes in"),
        ("cloudy,sar,name\na.tif,b.tif,x\nc.tif,d.tif,X\n", "Two scenes in .* are named 'X'"),
        ("cloudy,sar,name\na.tif,b.tif,../x\n", "the name '../x' cannot name an output file"),
        ("cloudy,sar,name\na.tif,,x\n", "Row 2 of .* lacks the SAR image"),
    ],
)
def test_unusable_csv_gets_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(JobListError, match=message):
        read_jobs_csv(path)


def test_missing_csv_and_python_lists(tmp_path: Path) -> None:
    with pytest.raises(JobListError, match="Cannot read the jobs file .*missing.csv"):
        scene_jobs(tmp_path / "missing.csv")
    assert scene_jobs([("/a.tif", "/b.tif"), ("/c.tif", "/d.tif", "d")]) == [
        SceneJob("/a.tif", "/b.tif", "a"),
        SceneJob("/c.tif", "/d.tif", "d"),
    ]
    with pytest.raises(JobListError, match="Job 1 is '/a.tif', not a"):
        scene_jobs(["/a.tif"])


def test_without_distributed_the_batch_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from glfcr_qgis.core.batch.scheduling import remove_clouds_many

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"\0")
    with pytest.raises(MissingDependencyError, match="needs the Python packages dask and distributed"):
        remove_clouds_many([("/a.tif", "/b.tif")], tmp_path / "out", weights=weights)


def test_default_names_of_products_and_rasters() -> None:
    jobs = scene_jobs([
        ("/p/S2A_MSIL1C_20230704T105031_N0509_R051_T31UDQ_20230704T125420.SAFE/MTD_MSIL1C.xml", "/s1/a.tif"),
        ("/p/S2B_MSIL1C_20230709T105029_N0509_R051_T31UDQ_20230709T113650.SAFE.zip", "/s1/b.zip"),
        ("/vsis3/bucket/T31UDR_20230704.tif", "/vsis3/bucket/T31UDR_s1.tif"),
    ])
    assert [job.name for job in jobs] == [
        "S2A_MSIL1C_20230704T105031_N0509_R051_T31UDQ_20230704T125420",
        "S2B_MSIL1C_20230709T105029_N0509_R051_T31UDQ_20230709T113650",
        "T31UDR_20230704",
    ]


def test_unknown_or_unusable_settings_are_refused_before_any_cluster(tmp_path: Path) -> None:
    from glfcr_qgis.core import ParameterValueError, TileSizeError
    from glfcr_qgis.core.batch.scheduling import remove_clouds_many

    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"\0")
    with pytest.raises(ParameterValueError, match="has no setting tile; the settings are tile_size"):
        remove_clouds_many([("/a.tif", "/b.tif")], tmp_path, weights=weights, tile=64)
    with pytest.raises(TileSizeError):
        remove_clouds_many([("/a.tif", "/b.tif")], tmp_path, weights=weights, tile_size=40)
    with pytest.raises(CheckpointError, match="missing.pth does not exist"):
        remove_clouds_many([("/a.tif", "/b.tif")], tmp_path, weights=tmp_path / "missing.pth")


def test_loading_the_package_and_listing_algorithms_imports_no_dask() -> None:
    script = (
        "import sys\n"
        "import glfcr_qgis.core, glfcr_qgis.core.batch, glfcr_qgis.batch\n"
        "from qgis.core import QgsApplication\n"
        "app = QgsApplication([], False); app.initQgis()\n"
        "from glfcr_qgis.provider import GlfcrProvider\n"
        "provider = GlfcrProvider(); provider.loadAlgorithms()\n"
        "ids = [alg.id() for alg in provider.algorithms()]\n"
        "assert 'glfcr:removecloudsmany' in ids, ids\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0 and completed.stdout.strip().endswith("ok"), completed.stderr


def test_algorithm_parameters_and_checks(qgis_app: Any, tmp_path: Path) -> None:
    from qgis.core import QgsApplication, QgsProcessingContext

    algorithm = QgsApplication.processingRegistry().createAlgorithmById("glfcr:removecloudsmany")
    names = [definition.name() for definition in algorithm.parameterDefinitions()]
    assert names[:3] == ["JOBS", "SCHEDULER", "WEIGHTS"] and names[-1] == "OUTPUT_FOLDER"
    for setting in ("DEVICE", "TILE_SIZE", "OVERLAP", "BATCH_SIZE", "OUTPUT_TYPE", "KEEP_CLEAR", "PRECISION",
                    "RETRIES", "TORCH_THREADS"):
        assert setting in names
    assert {output.name() for output in algorithm.outputDefinitions()} >= {
        "DONE", "SKIPPED", "FAILED", "SUMMARY_CSV", "SUMMARY_JSON", "OUTPUT_FOLDER"}
    jobs = write_jobs_csv(tmp_path / "jobs.csv", [("a.tif", "b.tif", "a")])
    checkpoint = SHARED_DIR / "reference" / "glfcr_random_ckpt.pth"
    params = {
        "JOBS": str(jobs), "OUTPUT_FOLDER": str(tmp_path / "out"), "TILE_SIZE": 40, "WEIGHTS": str(checkpoint)
    }
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    assert not ok and "multiple of 16" in message
    params |= {"TILE_SIZE": 64, "OVERLAP": 16, "WEIGHTS": str(tmp_path / "missing.pth")}
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    assert not ok and "missing.pth does not exist" in message
