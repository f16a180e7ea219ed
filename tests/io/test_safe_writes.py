"""Every write is checked: GDAL's and Python's failures become one sentence and leave no file behind."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.errors
from disk_limits import TightDisk
from rasterio.transform import from_origin

from glfcr_qgis.core.errors import OutputWriteError
from glfcr_qgis.core.evaluation.report_files import write_text_files
from glfcr_qgis.core.io.safe_writes import (
    GdalFailureWatch,
    atomic_output,
    atomic_outputs,
    check_write_failures,
    write_failure,
)

PROFILE = {
    "driver": "GTiff",
    "width": 128,
    "height": 128,
    "count": 3,
    "dtype": "uint16",
    "crs": "EPSG:32631",
    "transform": from_origin(600000, 5000000, 10, 10),
    "tiled": True,
    "blockxsize": 64,
    "blockysize": 64,
    "compress": "deflate",
}


def noise() -> np.ndarray:
    """Incompressible pixels: a few dozen KB however the GeoTIFF is compressed."""
    return np.random.default_rng(0).integers(0, 65535, size=(3, 128, 128)).astype(np.uint16)


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device; free space or choose"),
        (OSError(errno.EACCES, "Permission denied"), "permission denied; choose a folder you can write to"),
        ("_tiffWriteProc:No space left on device", "no space left on device; free space or choose"),
        ("TIFFWriteDirectoryTagData:IO error writing tag data", "IO error writing tag data; choose another"),
    ],
)
def test_a_write_failure_is_one_sentence(cause: object, expected: str) -> None:
    message = str(write_failure("/data/out.tif", cause))  # type: ignore[arg-type]
    assert message.startswith("Cannot write the output /data/out.tif: ") and expected in message
    assert message.endswith(".") and message.count(". ") == 0


def test_gdal_failures_while_writing_a_full_disk_raise_and_leave_nothing(tight_disk: TightDisk) -> None:
    output = tight_disk.folder / "out.tif"
    with tight_disk.full(), pytest.raises(OutputWriteError) as error:
        with atomic_output(output) as temp, rasterio.open(temp, "w", **PROFILE) as dataset:
            dataset.write(noise())
    assert str(error.value) == f"Cannot write the output {output}: {tight_disk.reason}."
    assert tight_disk.files() == []


def test_text_files_written_together_leave_none_when_one_fails(tight_disk: TightDisk) -> None:
    files = {tight_disk.folder / "a.json": "{}\n", tight_disk.folder / "b.html": "<html>" + "x" * 100_000}
    with tight_disk.full(), pytest.raises(OutputWriteError, match=tight_disk.reason):
        write_text_files(files)
    assert tight_disk.files() == []


def test_a_long_write_can_stop_at_the_first_failure_gdal_signals(tmp_path: Path) -> None:
    output = tmp_path / "out.tif"
    with GdalFailureWatch([output]) as watch:
        check_write_failures()  # nothing signalled yet
        with pytest.raises(rasterio.errors.RasterioIOError):
            rasterio.open(tmp_path / "vanished" / "block.tif")  # GDAL signals a failure (CE_Failure)
        assert len(watch.failures) == 1
        with pytest.raises(OutputWriteError, match=f"Cannot write the output {output}: "):
            check_write_failures()


def test_outputs_written_together_appear_together(tmp_path: Path) -> None:
    paths = [tmp_path / "mask.bin", tmp_path / "score.bin"]
    with pytest.raises(RuntimeError):
        with atomic_outputs(paths) as temps:
            temps[0].write_bytes(b"complete")
            raise RuntimeError("the second output failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_outputs(paths) as temps:
        for temp in temps:
            temp.write_bytes(b"complete")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mask.bin", "score.bin"]


def test_a_geotiff_that_does_not_read_back_is_not_moved_into_place(tmp_path: Path) -> None:
    output = tmp_path / "out.tif"
    with pytest.raises(OutputWriteError, match=f"output {output}: the file written cannot be read back"):
        with atomic_output(output) as temp:
            temp.write_bytes(b"II*\x00 truncated")  # what another thread's failed write could leave
    assert list(tmp_path.iterdir()) == []


def test_the_watch_restores_the_logging_level_it_lowered() -> None:
    logger = logging.getLogger("rasterio._env")
    before = logger.level
    with GdalFailureWatch() as outer, GdalFailureWatch():
        assert logger.getEffectiveLevel() <= logging.INFO
    assert logger.level == before and outer.failures == []
