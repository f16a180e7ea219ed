from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from glfcr_qgis.core.errors import InputRasterError, OutputWriteError, RasterReadError
from glfcr_qgis.core.io.raster_io import (
    atomic_output,
    iter_windows,
    nodata_mask,
    open_raster,
    output_profile,
    set_band_descriptions,
    sha256_file,
    window_count,
)

PROFILE = {
    "driver": "GTiff",
    "width": 10,
    "height": 8,
    "crs": "EPSG:32631",
    "transform": from_origin(500000, 4000000, 10, 10),
}


def write_raster(path: Path, bands: int, dtype: str = "uint16", nodata: float | None = None) -> Path:
    data = np.random.default_rng(0).integers(0, 10000, (bands, 8, 10)).astype(dtype)
    with rasterio.open(path, "w", **PROFILE, count=bands, dtype=dtype, nodata=nodata) as dst:
        dst.write(data)
    return path


def test_open_raster_yields_open_dataset(tmp_path):
    path = write_raster(tmp_path / "s2.tif", 13)
    with open_raster(path, role="cloudy optical", expected_bands=13) as dataset:
        assert dataset.count == 13 and not dataset.closed
    assert dataset.closed


def test_open_raster_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope.tif"
    with pytest.raises(RasterReadError, match="nope.tif.*No such file"):
        with open_raster(missing, role="cloudy optical"):
            pass


def test_open_raster_not_a_raster(tmp_path):
    text = tmp_path / "notes.tif"
    text.write_text("hello")
    with pytest.raises(RasterReadError, match="cloudy optical raster .*notes.tif"):
        with open_raster(text, role="cloudy optical"):
            pass


def test_open_raster_optical_band_count_explains_l1c(tmp_path):
    path = write_raster(tmp_path / "l2a.tif", 12)
    with pytest.raises(InputRasterError, match=r"has 12 bands; .*B1\.\.B12 .*L2A products lack B10"):
        with open_raster(path, role="cloudy optical", expected_bands=13):
            pass


def test_open_raster_sar_band_count(tmp_path):
    path = write_raster(tmp_path / "s1.tif", 1, "float32")
    with pytest.raises(InputRasterError, match="has 1 band; GLF-CR needs 2 bands VV, VH in dB"):
        with open_raster(path, role="SAR", expected_bands=2):
            pass


def test_iter_windows_cover_raster_once_row_major():
    windows = list(iter_windows(100, 120, (37, 53)))
    assert len(windows) == window_count(100, 120, (37, 53)) == 9
    assert (windows[0].row_off, windows[0].col_off) == (0, 0)
    assert (windows[1].row_off, windows[1].col_off) == (0, 53)
    hits = np.zeros((100, 120), dtype=int)
    for window in windows:
        hits[window.toslices()] += 1
    assert (hits == 1).all()


def test_output_profile_keeps_grid_and_tiles(tmp_path):
    profile = output_profile(PROFILE, count=1, dtype="uint8", nodata=255)
    assert profile["crs"] == "EPSG:32631" and profile["transform"] == PROFILE["transform"]
    assert (profile["width"], profile["height"], profile["dtype"]) == (10, 8, "uint8")
    with rasterio.open(tmp_path / "out.tif", "w", **profile) as dst:
        dst.write(np.zeros((1, 8, 10), dtype=np.uint8))
    with rasterio.open(tmp_path / "out.tif") as src:
        assert src.profile["tiled"] and src.profile["compress"] == "deflate" and src.nodata == 255


def test_atomic_output_moves_into_place(tmp_path):
    final = tmp_path / "out.tif"
    with atomic_output(final) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".") and temp.suffix == ".tif"
        with rasterio.open(temp, "w", **output_profile(PROFILE, count=1, dtype="uint8", nodata=None)) as dst:
            dst.write(np.ones((1, 8, 10), dtype=np.uint8))
    assert sorted(os.listdir(tmp_path)) == ["out.tif"]
    mode = stat.S_IMODE(final.stat().st_mode)
    assert mode & 0o044, "output must not be private like a mkstemp file"


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    final = tmp_path / "out.tif"
    with pytest.raises(RuntimeError):
        with atomic_output(final) as temp:
            temp.write_bytes(b"half")
            Path(f"{temp}.aux.xml").write_text("<x/>")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_atomic_output_keeps_previous_output_on_error(tmp_path):
    final = tmp_path / "out.tif"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(final):
            raise RuntimeError("boom")
    assert final.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.tif"]


def test_atomic_output_unwritable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputWriteError, match="choose a folder you can write to"):
        with atomic_output(blocker / "out.tif"):
            pass


def test_atomic_output_refuses_to_overwrite_input(tmp_path):
    source = write_raster(tmp_path / "in.tif", 2)
    with pytest.raises(OutputWriteError, match="also an input"):
        with atomic_output(source, inputs=[source]):
            pass


def test_nodata_mask_any_band_or_nan():
    array = np.ones((3, 2, 2), dtype=np.float32)
    array[1, 0, 0] = -9999
    array[2, 1, 1] = np.nan
    expected = np.array([[True, False], [False, True]])
    assert (nodata_mask(array, -9999) == expected).all()
    assert (nodata_mask(array, (None, -9999, None)) == expected).all()
    assert nodata_mask(array, None).sum() == 1


def test_sha256_file(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_set_band_descriptions(tmp_path):
    path = tmp_path / "named.tif"
    with rasterio.open(path, "w", **output_profile(PROFILE, count=2, dtype="uint8", nodata=None)) as dst:
        set_band_descriptions(dst, ["VV", "VH"])
    with rasterio.open(path) as src:
        assert src.descriptions == ("VV", "VH")
