from __future__ import annotations

from pathlib import Path

import pytest
from qgis_helpers import SHARED_DIR

from glfcr_qgis.core.errors import DatasetError
from glfcr_qgis.core.evaluation.sen12mscr import (
    list_triplets,
    official_split,
    read_data_csv,
    scan_official_layout,
)

SAMPLES = SHARED_DIR / "data" / "sen12mscr_samples"


def touch_official_triplet(root: Path, roi: str, scene: int, patch: int, *, skip: str = "") -> None:
    """Empty files of one triplet in the official layout (listing does not read them)."""
    paths = {
        "s1": root / f"{roi}_s1" / f"s1_{scene}" / f"{roi}_s1_{scene}_p{patch}.tif",
        "s2": root / f"{roi}_s2" / f"s2_{scene}" / f"{roi}_s2_{scene}_p{patch}.tif",
        "s2_cloudy": root
        / f"{roi}_s2_cloudy"
        / f"s2_cloudy_{scene}"
        / f"{roi}_s2_cloudy_{scene}_p{patch}.tif",
    }
    for kind, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind != skip:
            path.touch()


def test_authors_csv_splits_of_the_samples():
    test = read_data_csv(SAMPLES / "data.csv", SAMPLES, "test")
    train = read_data_csv(SAMPLES / "data.csv", SAMPLES, "train")
    assert [t.name for t in test] == ["ROIs1970_fall_139_p839.tif"]
    assert [t.name for t in train] == ["ROIs2017_winter_112_p797.tif"]
    assert test[0].sar == SAMPLES / "s1" / "ROIs1970_fall_139_p839.tif"
    assert test[0].cloudfree == SAMPLES / "s2_cloudfree" / "ROIs1970_fall_139_p839.tif"
    assert test[0].cloudy == SAMPLES / "s2_cloudy" / "ROIs1970_fall_139_p839.tif"
    assert list_triplets(SAMPLES, "test", SAMPLES / "data.csv") == test


def test_empty_split_is_an_error():
    with pytest.raises(DatasetError, match="val split .* is empty"):
        list_triplets(SAMPLES, "val", SAMPLES / "data.csv")


def test_official_split_by_season_and_scene():
    assert official_split("fall", 139) == "test"
    assert official_split("spring", 17) == "val"
    assert official_split("summer", 17) == "val"
    assert official_split("winter", 17) == "train"
    assert official_split("winter", 112) == "train"


def test_official_layout(tmp_path):
    touch_official_triplet(tmp_path, "ROIs1158_spring", 106, 30)
    touch_official_triplet(tmp_path, "ROIs1158_spring", 106, 4)
    touch_official_triplet(tmp_path, "ROIs1970_fall", 139, 839)
    touch_official_triplet(tmp_path, "ROIs2017_winter", 22, 1)
    touch_official_triplet(tmp_path, "ROIs1868_summer", 5, 7)
    (tmp_path / "ROIs1158_spring_s1" / "s1_106" / "notes.txt").touch()

    test = list_triplets(tmp_path, "test")
    assert [t.name for t in test] == [
        "ROIs1158_spring_106_p4.tif",
        "ROIs1158_spring_106_p30.tif",
        "ROIs1970_fall_139_p839.tif",
    ]
    first = test[0]
    assert first.sar == tmp_path / "ROIs1158_spring_s1" / "s1_106" / "ROIs1158_spring_s1_106_p4.tif"
    assert first.cloudfree == tmp_path / "ROIs1158_spring_s2" / "s2_106" / "ROIs1158_spring_s2_106_p4.tif"
    assert first.cloudy == (
        tmp_path / "ROIs1158_spring_s2_cloudy" / "s2_cloudy_106" / "ROIs1158_spring_s2_cloudy_106_p4.tif"
    )
    assert [t.name for t in scan_official_layout(tmp_path, "val")] == ["ROIs2017_winter_22_p1.tif"]
    assert [t.name for t in scan_official_layout(tmp_path, "train")] == ["ROIs1868_summer_5_p7.tif"]


def test_missing_files_are_listed_with_their_count(tmp_path):
    for patch in range(7):
        touch_official_triplet(tmp_path, "ROIs1970_fall", 139, patch, skip="s2_cloudy")
    with pytest.raises(DatasetError) as caught:
        list_triplets(tmp_path, "test")
    message = str(caught.value)
    assert message.startswith("7 file(s) of the test split")
    assert "ROIs1970_fall_s2_cloudy_139_p0.tif" in message and "and 2 more" in message


def test_missing_files_of_a_listing(tmp_path):
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("3,s1,s2_cloudfree,s2_cloudy,a.tif\n3,s1,s2_cloudfree,s2_cloudy,b.tif\n")
    with pytest.raises(DatasetError, match=r"6 file\(s\) .* missing: .*a\.tif"):
        list_triplets(tmp_path, "test", csv_path)


def test_layout_without_the_split_is_empty(tmp_path):
    touch_official_triplet(tmp_path, "ROIs2017_winter", 112, 797)
    with pytest.raises(DatasetError, match="test split .* is empty; point the data root"):
        list_triplets(tmp_path, "test")


@pytest.mark.parametrize(
    "content, match",
    [("3,s1,s2,a.tif\n", "expected 5 columns"), ("4,s1,s2_cloudfree,s2_cloudy,a.tif\n", "split '4'")],
)
def test_malformed_listing(tmp_path, content, match):
    csv_path = tmp_path / "data.csv"
    csv_path.write_text(content)
    with pytest.raises(DatasetError, match=match):
        read_data_csv(csv_path, tmp_path, "test")


def test_missing_root_and_listing(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        list_triplets(tmp_path / "nowhere", "test")
    with pytest.raises(DatasetError, match="cannot read the dataset listing"):
        list_triplets(tmp_path, "test", tmp_path / "missing.csv")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_listing_saved_by_excel_with_a_byte_order_mark_reads_as_utf8(tmp_path, newline):
    csv_path = tmp_path / "data.csv"
    rows = ["3,s1,s2_cloudfree,s2_cloudy,ROIs1970_fall_139_p839.tif", "1,s1,s2_cloudfree,s2_cloudy,é.tif"]
    csv_path.write_bytes(b"\xef\xbb\xbf" + newline.join(rows).encode("utf-8") + newline.encode())
    assert [t.name for t in read_data_csv(csv_path, tmp_path, "test")] == ["ROIs1970_fall_139_p839.tif"]
    assert [t.name for t in read_data_csv(csv_path, tmp_path, "train")] == ["é.tif"]


def test_a_listing_in_another_encoding_names_the_file_and_line(tmp_path):
    csv_path = tmp_path / "data.csv"
    csv_path.write_bytes("3,s1,s2_cloudfree,s2_cloudy,a.tif\n3,s1,s2_cloudfree,s2_cloudy,é.tif\n".encode("cp1252"))
    with pytest.raises(DatasetError) as caught:
        read_data_csv(csv_path, tmp_path, "test")
    assert str(caught.value) == (
        f"{csv_path}, line 2: the listing is not UTF-8 text (byte 0xe9 is not UTF-8); save it as UTF-8 "
        "(in Excel: CSV UTF-8)"
    )
