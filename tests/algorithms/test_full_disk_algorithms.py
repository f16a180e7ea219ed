"""The algorithms on a full disk: the run fails with one sentence (once on stderr), leaves no file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import rasterio
from conftest import processing_run, run_qgis_process
from disk_limits import TightDisk, checksums
from network_fixtures import REFERENCE_CHECKPOINT
from rasterio.windows import Window
from scene_rasters import write_raster
from test_metrics import SAMPLES

WINTER = "ROIs2017_winter_112_p797.tif"


def crop(folder: str, destination: Path, side: int = 64) -> Path:
    """The top-left ``side`` pixels of a real SEN12MS-CR sample, written as a GeoTIFF."""
    with rasterio.open(SAMPLES / folder / WINTER) as source:
        window = Window(0, 0, side, side)
        return write_raster(
            destination, source.read(window=window), transform=source.window_transform(window), crs=source.crs
        )


def test_cloud_mask_in_qgis_on_a_full_disk(qgis_app: Any, tmp_path: Path, tight_disk: TightDisk) -> None:
    from qgis.core import QgsProcessingException

    source = crop("s2_cloudy", tmp_path / "cloudy.tif")
    before = checksums(source)
    mask, score = tight_disk.folder / "mask.tif", tight_disk.folder / "score.tif"
    with tight_disk.full(), pytest.raises(QgsProcessingException) as error:
        processing_run("glfcr:cloudmask", {"INPUT": str(source), "OUTPUT": str(mask), "SCORE": str(score)})
    assert str(error.value) == f"Cannot write the outputs {mask} and {score}: {tight_disk.reason}."
    assert tight_disk.files() == [] and checksums(source) == before


def test_evaluate_reports_in_qgis_on_a_full_disk(qgis_app: Any, tight_disk: TightDisk) -> None:
    from qgis.core import QgsProcessingException

    prediction, reference = SAMPLES / "s2_cloudy" / WINTER, SAMPLES / "s2_cloudfree" / WINTER
    before = checksums(prediction, reference)
    report_json, report_html = tight_disk.folder / "r.json", tight_disk.folder / "r.html"
    params = {
        "PREDICTION": str(prediction), "REFERENCE": str(reference),
        "REPORT_JSON": str(report_json), "REPORT_HTML": str(report_html),
    }  # fmt: skip
    with tight_disk.full(), pytest.raises(QgsProcessingException) as error:
        processing_run("glfcr:evaluate", params)
    assert str(error.value) == f"Cannot write the output {report_json}: {tight_disk.reason}."
    assert tight_disk.files() == [] and checksums(prediction, reference) == before


@pytest.mark.slow
def test_qgis_process_remove_clouds_on_a_full_disk(tmp_path: Path, tight_disk: TightDisk) -> None:
    if not tight_disk.is_tmpfs:
        pytest.skip("needs a tmpfs to fill (mounting is not allowed here): a file-size limit would stop QGIS")
    cloudy, sar = crop("s2_cloudy", tmp_path / "cloudy.tif"), crop("s1", tmp_path / "sar.tif")
    before = checksums(cloudy, sar, REFERENCE_CHECKPOINT)
    output = tight_disk.folder / "clear.tif"
    params = {"CLOUDY": cloudy, "SAR": sar, "WEIGHTS": REFERENCE_CHECKPOINT, "DEVICE": 1, "OUTPUT": output}
    with tight_disk.full():
        run = run_qgis_process(
            "glfcr:removeclouds", params, extra_env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        )
    printed = run["stdout"] + run["stderr"]
    sentence = f"Cannot write the output {output}: {tight_disk.reason}."
    assert run["returncode"] != 0 and printed.count(sentence) == 1, printed
    assert "Traceback" not in printed and "CPLE_" not in printed and "weights_only" not in printed
    assert tight_disk.files() == [] and checksums(cloudy, sar, REFERENCE_CHECKPOINT) == before
