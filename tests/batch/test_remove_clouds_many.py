"""``remove_clouds_many`` on a real two-worker Dask cluster: equal outputs, resume, failures, dead workers,
cancel; its command line and its algorithm through qgis_process.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import rasterio
from batch_scenes import (
    BROKEN,
    CROPS,
    SAMPLES,
    SETTINGS,
    WIDE,
    WIDE_CROP,
    assert_same_raster,
    crop,
    partial_files_in,
    write_jobs_csv,
)
from qgis_helpers import REPO_ROOT, run_qgis_process

from glfcr_qgis.core import ProcessingCanceled, remove_clouds_many
from glfcr_qgis.core.batch.summary import SUMMARY_COLUMNS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint(shared_dir: Path) -> Path:
    return shared_dir / "reference" / "glfcr_random_ckpt.pth"


@pytest.fixture(scope="module")
def scenes(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """name -> (cloudy, sar) paths of the good scenes, plus the broken one."""
    folder = tmp_path_factory.mktemp("scenes")
    samples = shared_dir / SAMPLES
    paths = {}
    for name, (sample, row, column) in CROPS.items():
        cloudy = crop(samples / "s2_cloudy" / f"{sample}.tif", folder / f"{name}_s2.tif", row, column)
        sar = crop(samples / "s1" / f"{sample}.tif", folder / f"{name}_s1.tif", row, column)
        paths[name] = (str(cloudy), str(sar))
    paths[BROKEN] = (paths["fall"][0], paths["fall"][0])
    sample, row, column, height, width = WIDE_CROP
    paths[WIDE] = tuple(
        str(crop(samples / kind / f"{sample}.tif", folder / f"{WIDE}_{kind}.tif", row, column, height, width))
        for kind in ("s2_cloudy", "s1")
    )
    return paths


@pytest.fixture(scope="module")
def references(
    scenes: dict[str, tuple[str, str]], checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """name -> the output of a single-scene ``remove_clouds`` run (one torch thread, as the workers)."""
    import torch

    from glfcr_qgis.core import remove_clouds

    folder = tmp_path_factory.mktemp("references")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {
            name: remove_clouds(*scenes[name], checkpoint, folder / f"{name}.tif", **SETTINGS).output_path
            for name in CROPS
        }
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real local cluster of two worker processes, one task thread each, for the module's tests."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", memory_limit=0
    )
    client = Client(cluster, set_as_default=False)
    client.wait_for_workers(2, timeout=120)
    yield client
    client.close()
    cluster.close()



def run(jobs: Any, folder: Path, client: Any, checkpoint: Path, **kwargs: Any) -> Any:
    return remove_clouds_many(
        jobs, folder, weights=checkpoint, client=client, torch_threads=1, **SETTINGS, **kwargs
    )


def good_jobs(scenes: dict[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    return [(*scenes[name], name) for name in CROPS]


@pytest.fixture(scope="module")
def first_run(
    dask_client: Any,
    scenes: dict[str, tuple[str, str]],
    checkpoint: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The good scenes and the broken one, run once into a fresh folder; what was reported on the way."""
    folder = tmp_path_factory.mktemp("first_run")
    notes: list[str] = []
    fractions: list[float] = []
    result = run(
        [*good_jobs(scenes), (*scenes[BROKEN], BROKEN)],
        folder,
        dask_client,
        checkpoint,
        log=notes.append,
        progress=fractions.append,
    )
    return {"result": result, "folder": folder, "notes": notes, "fractions": fractions}


def test_outputs_equal_single_scene_runs(first_run: dict[str, Any], references: dict[str, Path]) -> None:
    result, folder = first_run["result"], first_run["folder"]
    statuses = {outcome.scene: outcome.status for outcome in result.outcomes}
    assert statuses == {**{name: "done" for name in CROPS}, BROKEN: "failed"}
    for name in CROPS:
        assert_same_raster(folder / f"{name}_cloudfree.tif", references[name])
    assert partial_files_in(folder) == []
    fractions = first_run["fractions"]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0


def test_broken_scene_is_reported_with_its_sentence(first_run: dict[str, Any]) -> None:
    result, folder = first_run["result"], first_run["folder"]
    (failed,) = result.failed
    # an optical raster given as SAR: its values are neither dB, power nor amplitude
    assert failed.scene == BROKEN and "SAR raster" in failed.error
    assert not (folder / f"{BROKEN}_cloudfree.tif").exists()
    assert any(note.startswith(f"Scene {BROKEN} failed: ") for note in first_run["notes"])


def test_summary_table_beside_the_outputs(first_run: dict[str, Any]) -> None:
    result, folder = first_run["result"], first_run["folder"]
    assert result.summary_csv == folder / "batch_summary.csv" and result.summary_json.parent == folder
    with open(result.summary_csv, encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert [row["scene"] for row in rows] == [*CROPS, BROKEN]
    for row in rows[:-1]:
        assert row["status"] == "done" and row["device"] == "cpu" and float(row["seconds"]) > 0
        assert row["worker"].startswith("tcp://") and row["error"] == ""
    assert rows[-1]["status"] == "failed" and "SAR raster" in rows[-1]["error"]
    document = json.loads(result.summary_json.read_text(encoding="utf-8"))
    assert document["counts"] == {"done": len(CROPS), "skipped": 0, "failed": 1, "canceled": 0}
    assert [row["status"] for row in document["scenes"]] == [row["status"] for row in rows]


def test_second_run_skips_every_finished_scene(
    first_run: dict[str, Any], dask_client: Any, scenes: dict[str, tuple[str, str]], checkpoint: Path
) -> None:
    folder = first_run["folder"]
    modified = {name: os.stat(folder / f"{name}_cloudfree.tif").st_mtime_ns for name in CROPS}
    result = run([*good_jobs(scenes), (*scenes[BROKEN], BROKEN)], folder, dask_client, checkpoint)
    assert result.counts == {"done": 0, "skipped": len(CROPS), "failed": 1, "canceled": 0}
    assert {name: os.stat(folder / f"{name}_cloudfree.tif").st_mtime_ns for name in CROPS} == modified


def test_other_settings_or_checkpoint_do_not_count_as_done(
    first_run: dict[str, Any], checkpoint: Path, tmp_path: Path
) -> None:
    from glfcr_qgis.core.batch.scene_task import output_is_current

    output = first_run["folder"] / "fall_cloudfree.tif"
    settings = {"tile_size": 64, "overlap": 16, "batch_size": None, "device": "auto", "output_type": "UInt16",
                "keep_clear": False, "cog": False, "precision": "float32", "mask_method": "authors",
                "sar_scale": "auto"}
    assert output_is_current(output, str(checkpoint), settings)
    assert not output_is_current(output, str(checkpoint), settings | {"overlap": 8})
    assert not output_is_current(output, str(checkpoint), settings | {"output_type": "Float32"})
    assert not output_is_current(output, str(checkpoint), settings | {"mask_method": "s2cloudless"})
    assert output_is_current(output, str(checkpoint), settings | {"mask_method": 0})
    other = tmp_path / "other.pth"
    other.write_bytes(checkpoint.read_bytes() + b"\0")
    assert not output_is_current(output, str(other), settings)
    assert not output_is_current(tmp_path / "missing_cloudfree.tif", str(checkpoint), settings)


def test_a_worker_killed_mid_scene_does_not_lose_it(
    first_run: dict[str, Any], dask_client: Any, scenes: dict[str, tuple[str, str]], checkpoint: Path,
    references: dict[str, Path], tmp_path: Path,
) -> None:
    # winter is finished already, so the one scene to compute is fall and the cluster has a free worker
    shutil.copy2(first_run["folder"] / "winter_cloudfree.tif", tmp_path)
    notes: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run, good_jobs(scenes), tmp_path, dask_client, checkpoint, log=notes.append)
        victim = worker_writing_a_scene(dask_client, tmp_path)
        pid = dask_client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        result = running.result(timeout=600)
    statuses = {outcome.scene: outcome.status for outcome in result.outcomes}
    assert statuses == {"winter": "skipped", "fall": "done"}
    assert result.outcomes[1].worker != victim
    for name in CROPS:
        assert_same_raster(tmp_path / f"{name}_cloudfree.tif", references[name])
    # the killed worker's temporary file went with the run's end
    assert partial_files_in(tmp_path) == []
    dask_client.wait_for_workers(2, timeout=120)


def worker_writing_a_scene(client: Any, folder: Path, timeout: float = 300) -> str:
    """Wait until a scene's temporary output exists, then return the worker processing that scene."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        writing = [name.split(".")[1].removesuffix("_cloudfree") for name in partial_files_in(folder)]
        for worker, keys in client.processing().items():
            if any(f"glfcr-scene-{scene}-" in str(key) for key in keys for scene in writing):
                return worker
        time.sleep(0.05)
    raise AssertionError("no scene started writing")


def test_cancel_stops_running_scenes_and_a_new_run_does_the_rest(
    first_run: dict[str, Any], dask_client: Any, scenes: dict[str, tuple[str, str]], checkpoint: Path,
    tmp_path: Path,
) -> None:
    # the finished scenes are skipped at once; the cancel reaches the wide scene before its second tile
    for name in CROPS:
        shutil.copy2(first_run["folder"] / f"{name}_cloudfree.tif", tmp_path)
    jobs = [*good_jobs(scenes), (*scenes[WIDE], WIDE)]
    cancel = threading.Event()

    def cancel_once_a_scene_is_finished(fraction: float) -> None:
        if fraction > 0:
            cancel.set()

    with pytest.raises(ProcessingCanceled, match="running the same jobs again does only the rest"):
        run(jobs, tmp_path, dask_client, checkpoint, progress=cancel_once_a_scene_is_finished,
            is_canceled=cancel.is_set)
    with open(tmp_path / "batch_summary.csv", encoding="utf-8") as stream:
        statuses = {row["scene"]: row["status"] for row in csv.DictReader(stream)}
    assert statuses == {"winter": "skipped", "fall": "skipped", WIDE: "canceled"}
    assert not (tmp_path / f"{WIDE}_cloudfree.tif").exists() and partial_files_in(tmp_path) == []

    result = run(jobs, tmp_path, dask_client, checkpoint)
    assert [outcome.status for outcome in result.outcomes] == ["skipped", "skipped", "done"]
    with rasterio.open(scenes[WIDE][0]) as cloudy, rasterio.open(tmp_path / f"{WIDE}_cloudfree.tif") as out:
        assert (out.count, out.shape, out.transform) == (13, cloudy.shape, cloudy.transform)
        assert out.read().any() and json.loads(out.tags()["settings"])["overlap"] == SETTINGS["overlap"]


def test_command_line_on_a_running_scheduler(
    first_run: dict[str, Any], dask_client: Any, scenes: dict[str, tuple[str, str]], checkpoint: Path,
    tmp_path: Path,
) -> None:
    # fall is done already: it is skipped only if the command line passes the same checkpoint and settings
    (tmp_path / "out").mkdir()
    shutil.copy2(first_run["folder"] / "fall_cloudfree.tif", tmp_path / "out" / "fall_cloudfree.tif")
    # paths relative to the CSV's folder, as a jobs file kept beside its data would hold them
    rows = [(os.path.relpath(scenes[name][0], tmp_path), os.path.relpath(scenes[name][1], tmp_path), name)
            for name in ("fall", BROKEN)]
    jobs = write_jobs_csv(tmp_path / "jobs.csv", rows)
    completed = subprocess.run(
        [sys.executable, "-m", "glfcr_qgis.batch", str(jobs), str(tmp_path / "out"),
         "--scheduler", dask_client.scheduler.address, "--tile-size", "64", "--overlap", "16",
         "--torch-threads", "1"],
        cwd=REPO_ROOT, env=os.environ | {"GLFCR_WEIGHTS": str(checkpoint)},
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert f"Scene {BROKEN} failed: Cannot tell whether the SAR raster" in completed.stderr
    assert "0 scenes done, 1 skipped (already done), 1 failed" in completed.stdout
    assert "100% of the scenes finished" in completed.stderr


def test_qgis_process_on_a_local_cluster(
    scenes: dict[str, tuple[str, str]], checkpoint: Path, references: dict[str, Path], tmp_path: Path
) -> None:
    jobs = write_jobs_csv(tmp_path / "jobs.csv", [(*scenes[name], name) for name in ("winter", BROKEN)])
    folder = tmp_path / "out"
    settings = {key.upper(): value for key, value in SETTINGS.items()}
    result = run_qgis_process(
        "glfcr:removecloudsmany",
        {"JOBS": jobs, "OUTPUT_FOLDER": folder, "SCHEDULER": "", "WEIGHTS": checkpoint, "TORCH_THREADS": 1,
         **settings},
    )
    assert result["returncode"] == 0, result["stderr"]
    outputs = result["results"]
    assert (outputs["DONE"], outputs["SKIPPED"], outputs["FAILED"]) == (1, 0, 1)
    assert outputs["SUMMARY_CSV"] == str(folder / "batch_summary.csv")
    assert Path(outputs["SUMMARY_JSON"]).is_file()
    assert "Started a local Dask cluster of one CPU worker" in result["log"]["info"][0]
    broken = f"Scene {BROKEN} failed: Cannot tell whether the SAR raster"
    assert any(broken in error for error in result["log"]["errors"])
    assert_same_raster(folder / "winter_cloudfree.tif", references["winter"])
