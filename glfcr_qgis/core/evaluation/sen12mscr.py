"""Listing SEN12MS-CR triplets (SAR, cloud-free, cloudy) of a split.

Two sources: the authors' ``data.csv`` (no header: ``split, s1_folder, s2_cloudfree_folder,
s2_cloudy_folder, file_name``; split 1 train, 2 validation, 3 test; folders relative to the data
root), or the official archive layout under the data root, split by scene as in the GLF-CR paper::

    ROIs1158_spring_s1/s1_1/ROIs1158_spring_s1_1_p30.tif
    ROIs1158_spring_s2/s2_1/ROIs1158_spring_s2_1_p30.tif
    ROIs1158_spring_s2_cloudy/s2_cloudy_1/ROIs1158_spring_s2_cloudy_1_p30.tif

A scene is the number ``N`` of the ``s1_N`` folder within its season (``ROIs1158_spring``,
``ROIs1868_summer``, ``ROIs1970_fall``, ``ROIs2017_winter``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError

SPLITS: tuple[str, ...] = ("test", "val", "train")
# the split column of data.csv
CSV_SPLIT_CODES: dict[str, str] = {"1": "train", "2": "val", "3": "test"}

# scenes (season, s1_N folder number) held out by the GLF-CR paper; all others are training
TEST_SCENES: frozenset[tuple[str, int]] = frozenset(
    [("spring", n) for n in (106, 123, 140, 31, 44)]
    + [("summer", n) for n in (119, 73)]
    + [("fall", 139)]
    + [("winter", n) for n in (108, 63)]
)
VALIDATION_SCENES: frozenset[tuple[str, int]] = frozenset(
    [("winter", n) for n in (22, 107, 130, 84)]
    + [("summer", n) for n in (19, 80, 127, 17)]
    + [("fall", 65)]
    + [("spring", 17)]
)

_SEASON_FOLDER = re.compile(r"^(?P<roi>ROIs\d+_(?P<season>spring|summer|fall|winter))_s1$")
_SCENE_FOLDER = re.compile(r"^s1_(?P<scene>\d+)$")
_PATCH_FILE = re.compile(
    r"^(?P<prefix>ROIs\d+_(?:spring|summer|fall|winter))_s1_(?P<scene>\d+)_p(?P<patch>\d+)\.tiff?$"
)
# how many missing files an error names before it only counts them
MISSING_LISTED = 5


@dataclass(frozen=True)
class Triplet:
    """One SEN12MS-CR sample: the three co-registered 256x256 patches of a location.

    Attributes:
        name: file name identifying the patch, e.g. ``ROIs1970_fall_139_p839.tif``.
        split: ``train``, ``val`` or ``test``.
        sar: Sentinel-1 VV, VH patch (dB).
        cloudfree: Sentinel-2 cloud-free patch (13 bands, DN).
        cloudy: Sentinel-2 cloudy patch (13 bands, DN).

    """

    name: str
    split: str
    sar: Path
    cloudfree: Path
    cloudy: Path


def official_split(season: str, scene: int) -> str:
    """Return the split (``test``, ``val`` or ``train``) of a scene of the official archive."""
    if (season, scene) in TEST_SCENES:
        return "test"
    if (season, scene) in VALIDATION_SCENES:
        return "val"
    return "train"


def read_data_csv(csv_path: str | Path, data_root: str | Path, split: str) -> list[Triplet]:
    """Read the triplets of one split from the authors' ``data.csv``, in file order.

    Args:
        csv_path: the listing (no header).
        data_root: the folder the listed folders are relative to.
        split: ``test``, ``val`` or ``train``.

    Raises:
        DatasetError: unreadable or malformed listing.

    """
    _check_split(split)
    root = Path(data_root)
    triplets = []
    for line_number, row in enumerate(csv.reader(io.StringIO(_read_listing(csv_path), newline="")), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 5:
            raise DatasetError(
                f"{csv_path}, line {line_number}: expected 5 columns (split, s1_folder, "
                f"s2_cloudfree_folder, s2_cloudy_folder, file_name), found {len(row)}; "
                "fix the listing"
            )
        code, sar_folder, cloudfree_folder, cloudy_folder, file_name = (cell.strip() for cell in row)
        if code not in CSV_SPLIT_CODES:
            raise DatasetError(
                f"{csv_path}, line {line_number}: split {code!r} is not 1 (train), 2 (validation) "
                "or 3 (test); fix the listing"
            )
        if CSV_SPLIT_CODES[code] != split:
            continue
        triplets.append(
            Triplet(
                name=file_name,
                split=split,
                sar=root / sar_folder / file_name,
                cloudfree=root / cloudfree_folder / file_name,
                cloudy=root / cloudy_folder / file_name,
            )
        )
    return triplets


def _read_listing(csv_path: str | Path) -> str:
    """The text of a listing: UTF-8, with or without the byte-order mark Excel writes.

    Raises:
        DatasetError: the file cannot be read, or is not UTF-8 (naming the first line that is not).

    """
    try:
        data = Path(csv_path).read_bytes()
    except OSError as err:
        raise DatasetError(
            f"cannot read the dataset listing {csv_path}: {err.strerror or err}; check the path"
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DatasetError(
            f"{csv_path}, line {line}: the listing is not UTF-8 text (byte 0x{data[err.start]:02x} is not "
            "UTF-8); save it as UTF-8 (in Excel: CSV UTF-8)"
        ) from None


def scan_official_layout(data_root: str | Path, split: str) -> list[Triplet]:
    """Find the triplets of one split in the official SEN12MS-CR folder layout.

    Args:
        data_root: folder holding ``ROIs*_<season>_s1``, ``..._s2`` and ``..._s2_cloudy`` folders.
        split: ``test``, ``val`` or ``train``.

    Returns:
        Triplets sorted by season folder, scene number and patch number.

    """
    _check_split(split)
    root = Path(data_root)
    found = []
    for season_dir in _subfolders(root):
        season_match = _SEASON_FOLDER.match(season_dir.name)
        if not season_match:
            continue
        roi, season = season_match["roi"], season_match["season"]
        for scene_dir in _subfolders(season_dir):
            scene_match = _SCENE_FOLDER.match(scene_dir.name)
            if not scene_match or official_split(season, int(scene_match["scene"])) != split:
                continue
            for sar_file in scene_dir.iterdir():
                patch_match = _PATCH_FILE.match(sar_file.name)
                if not patch_match or patch_match["prefix"] != roi:
                    continue
                scene, patch, suffix = patch_match["scene"], patch_match["patch"], sar_file.suffix
                found.append(
                    (
                        (roi, int(scene), int(patch)),
                        Triplet(
                            name=f"{roi}_{scene}_p{patch}{suffix}",
                            split=split,
                            sar=sar_file,
                            cloudfree=root
                            / f"{roi}_s2"
                            / f"s2_{scene}"
                            / f"{roi}_s2_{scene}_p{patch}{suffix}",
                            cloudy=root
                            / f"{roi}_s2_cloudy"
                            / f"s2_cloudy_{scene}"
                            / f"{roi}_s2_cloudy_{scene}_p{patch}{suffix}",
                        ),
                    )
                )
    return [triplet for _, triplet in sorted(found, key=lambda item: item[0])]


def list_triplets(
    data_root: str | Path,
    split: str,
    csv_path: str | Path | None = None,
) -> list[Triplet]:
    """List the triplets of a split, every file checked to exist.

    Args:
        data_root: the dataset folder.
        split: ``test``, ``val`` or ``train``.
        csv_path: the authors' ``data.csv``; None scans the official layout under ``data_root``.

    Raises:
        DatasetError: the data root is not a folder, files are missing, or the split is empty.

    """
    _check_split(split)
    if not Path(data_root).is_dir():
        raise DatasetError(f"the data root {data_root} is not a folder; give the folder holding SEN12MS-CR")
    if csv_path:
        triplets = read_data_csv(csv_path, data_root, split)
        source = f"the listing {csv_path}"
    else:
        triplets = scan_official_layout(data_root, split)
        source = f"{data_root} (official SEN12MS-CR layout)"
    if not triplets:
        hint = (
            "check the split column (1 train, 2 validation, 3 test)"
            if csv_path
            else "point the data root at the folder holding ROIs*_s1, ROIs*_s2 and ROIs*_s2_cloudy folders, "
            "or give the dataset CSV"
        )
        raise DatasetError(f"the {split} split of {source} is empty; {hint}")
    missing = [path for t in triplets for path in (t.sar, t.cloudfree, t.cloudy) if not path.is_file()]
    if missing:
        listed = ", ".join(str(path) for path in missing[:MISSING_LISTED])
        more = f" and {len(missing) - MISSING_LISTED} more" if len(missing) > MISSING_LISTED else ""
        raise DatasetError(
            f"{len(missing)} file(s) of the {split} split of {source} are missing: {listed}{more}; "
            "complete the dataset or fix the data root"
        )
    return triplets


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(path for path in folder.iterdir() if path.is_dir())
    except OSError as err:
        raise DatasetError(f"cannot list {folder}: {err.strerror or err}; check the data root") from None
