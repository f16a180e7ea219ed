"""The output guard: never an input, a dataset's file or another output; an extension of its format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scene_rasters import write_raster

from glfcr_qgis.core.errors import OutputWriteError
from glfcr_qgis.core.io.output_guard import OUTPUT_FORMATS, PlannedOutput, check_outputs


@pytest.fixture
def raster(tmp_path: Path) -> Path:
    return write_raster(tmp_path / "in.tif", np.ones((2, 8, 8), dtype=np.uint8))


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("raster", ["a.tif", "a.TIFF"], ["a.png", "a.jpg", "a"]),
        ("json", ["r.json"], ["r.txt", "r.jsonl"]),
        ("csv", ["r.csv"], ["r.tsv"]),
        ("html", ["r.html", "r.htm"], ["r.pdf"]),
        ("jsonl", ["h.jsonl"], ["h.json", "h.csv"]),
    ],
)
def test_each_format_takes_its_own_extensions(
    tmp_path: Path, fmt: str, good: list[str], bad: list[str]
) -> None:
    for name in good:
        check_outputs([PlannedOutput(tmp_path / name, fmt, "report")])
    for name in bad:
        with pytest.raises(OutputWriteError, match=f"is written as {OUTPUT_FORMATS[fmt][0]}: name it with a"):
            check_outputs([PlannedOutput(tmp_path / name, fmt, "report")])


def test_outputs_not_asked_for_are_skipped() -> None:
    check_outputs([PlannedOutput(None, "json", "JSON report"), PlannedOutput("", "raster", "score")])


def test_an_input_under_any_name_is_refused(tmp_path: Path, raster: Path) -> None:
    os.symlink(raster, tmp_path / "link.tif")
    os.link(raster, tmp_path / "hard.tif")
    spellings = [raster, tmp_path / "link.tif", tmp_path / "hard.tif", tmp_path / "sub" / ".." / "in.tif"]
    for spelling in spellings:
        with pytest.raises(OutputWriteError, match="is also an input of this run.*never overwritten"):
            check_outputs([PlannedOutput(spelling, "raster", "output")], input_rasters=[raster])


def test_the_files_of_a_multi_file_raster_are_inputs(tmp_path: Path, raster: Path) -> None:
    vrt = tmp_path / "stack.vrt"
    with rasterio.open(raster) as source:
        vrt.write_text(
            f'<VRTDataset rasterXSize="8" rasterYSize="8"><VRTRasterBand dataType="Byte" band="1">'
            f"<SimpleSource><SourceFilename>{source.name}</SourceFilename><SourceBand>1</SourceBand>"
            "</SimpleSource></VRTRasterBand></VRTDataset>"
        )
    with pytest.raises(OutputWriteError, match="in.tif is also an input of this run"):
        check_outputs([PlannedOutput(raster, "raster", "output")], input_rasters=[vrt])
    check_outputs([PlannedOutput(tmp_path / "out.tif", "raster", "output")], input_rasters=[vrt])


def test_existing_files_inside_an_input_folder_are_refused(tmp_path: Path, raster: Path) -> None:
    listing = tmp_path / "data.csv"
    listing.write_text("3,s1,s2,s2c,a.tif\n")
    for output, fmt in ((listing, "csv"), (raster, "json")):
        with pytest.raises(OutputWriteError) as error:
            check_outputs([PlannedOutput(output, fmt, "report")], input_folders=[tmp_path])
    assert "is written as JSON" in str(error.value)  # the extension is checked first
    with pytest.raises(OutputWriteError, match="is a file of the input folder"):
        check_outputs([PlannedOutput(listing, "csv", "CSV report")], input_folders=[tmp_path])
    # a new file beside the dataset changes nothing of it
    beside = PlannedOutput(tmp_path / "results" / "r.csv", "csv", "CSV report")
    check_outputs([beside], input_folders=[tmp_path])


def test_two_outputs_may_not_share_a_file(tmp_path: Path) -> None:
    with pytest.raises(OutputWriteError, match="The mask and the score are the same file .*own file"):
        check_outputs(
            [
                PlannedOutput(tmp_path / "m.tif", "raster", "mask"),
                PlannedOutput(tmp_path / "m.tif", "raster", "score"),
            ]
        )


def test_a_folder_is_no_output_file(tmp_path: Path) -> None:
    (tmp_path / "out.json").mkdir()
    with pytest.raises(OutputWriteError, match="is a folder; give a file name"):
        check_outputs([PlannedOutput(tmp_path / "out.json", "json", "JSON report")])
