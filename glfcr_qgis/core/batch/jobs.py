"""The list of scenes a batch run processes: (cloudy, SAR, name) jobs from Python or from a jobs CSV.

A jobs CSV has a header row with the columns ``cloudy``, ``sar`` and, optionally, ``name`` (in any order,
any case; UTF-8 with or without a byte-order mark, as spreadsheets save it). Relative paths are relative
to the CSV's folder; absolute paths, GDAL virtual paths (``/vsis3/...``, ``/vsicurl/...``) and URLs are
kept as written. A job's ``name`` names its output, ``<name>_cloudfree.tif``; it defaults to the cloudy
file's name without extension (for a product's ``MTD_MSIL1C.xml``, its ``.SAFE`` folder's name).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import JobListError

PathLike = str | os.PathLike[str]

OUTPUT_SUFFIX = "_cloudfree.tif"
REQUIRED_COLUMNS: tuple[str, ...] = ("cloudy", "sar")
NAME_COLUMN = "name"
# extensions left out of a default name (S2A_..._T31UDQ_20230704T105031.SAFE.zip -> S2A_..._T31UDQ_...)
_SCENE_SUFFIXES = (".zip", ".safe", ".tif", ".tiff", ".vrt", ".jp2", ".img")
# files that stand for the product whose folder holds them
_PRODUCT_METADATA_FILES = ("mtd_msil1c.xml", "manifest.safe")
# characters that have a meaning in paths on some system, so a name holding one cannot name a file
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass(frozen=True)
class SceneJob:
    """One scene to process: its inputs and the name its output is called after.

    Attributes:
        cloudy: Sentinel-2 L1C raster (13 bands), a path or a GDAL path.
        sar: Sentinel-1 raster (VV, VH in dB), a path or a GDAL path.
        name: the output is ``<name>_cloudfree.tif`` in the output folder.
    """

    cloudy: str
    sar: str
    name: str

    @property
    def output_name(self) -> str:
        """File name of the job's output."""
        return f"{self.name}{OUTPUT_SUFFIX}"


def scene_jobs(jobs: PathLike | Iterable[SceneJob | Sequence[PathLike]]) -> list[SceneJob]:
    """The jobs of a batch run, checked: from a jobs CSV path or from (cloudy, sar[, name]) items.

    Args:
        jobs: a jobs CSV file, or items that are ``SceneJob``s or (cloudy, sar) / (cloudy, sar, name)
            sequences; relative paths in items are relative to the current folder.

    Returns:
        The jobs with paths made absolute (GDAL virtual paths and URLs kept) and names filled in.

    Raises:
        JobListError: the CSV cannot be read or lacks a column, an item is not a pair or triple, a name
            cannot name a file or two jobs share a name, or there are no jobs.
    """
    if isinstance(jobs, str | os.PathLike):
        return read_jobs_csv(jobs)
    listed = []
    for number, item in enumerate(jobs, start=1):
        if isinstance(item, SceneJob):
            item = (item.cloudy, item.sar, item.name)
        if isinstance(item, str | os.PathLike) or len(item) not in (2, 3):
            raise JobListError(
                f"Job {number} is {item!r}, not a (cloudy, sar) pair or a (cloudy, sar, name) triple: give "
                "each scene as its cloudy and SAR paths, optionally with a name."
            )
        name = str(item[2]) if len(item) == 3 else ""
        listed.append(_job(str(item[0]), str(item[1]), name, base=Path.cwd(), where=f"Job {number}"))
    return _checked(listed, source="the job list")


def read_jobs_csv(path: PathLike) -> list[SceneJob]:
    """Read a jobs CSV (columns ``cloudy``, ``sar``, optional ``name``); empty rows are skipped.

    Raises:
        JobListError: the file cannot be read, lacks a column, or its rows are not usable jobs.
    """
    path = Path(path).expanduser().absolute()
    try:
        # utf-8-sig reads files with and without the byte-order mark spreadsheets write
        with open(path, encoding="utf-8-sig", newline="") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise JobListError(
            f"Cannot read the jobs file {path}: {reason}; give a UTF-8 CSV file with the columns cloudy, sar "
            "and name."
        ) from err
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise JobListError(
            f"The jobs file {path} has no column {' or '.join(missing)} in its header row: its first row "
            "must name the columns cloudy, sar and (optionally) name."
        )
    cloudy, sar = header.index("cloudy"), header.index("sar")
    name = header.index(NAME_COLUMN) if NAME_COLUMN in header else None
    jobs = []
    for line, row in enumerate(rows[1:], start=2):
        cells = [cell.strip() for cell in row] + [""] * len(header)
        jobs.append(
            _job(
                cells[cloudy],
                cells[sar],
                cells[name] if name is not None else "",
                base=path.parent,
                where=f"Row {line} of {path}",
            )
        )
    return _checked(jobs, source=str(path))


def _job(cloudy: str, sar: str, name: str, *, base: Path, where: str) -> SceneJob:
    if not cloudy or not sar:
        raise JobListError(f"{where} lacks the {'cloudy' if not cloudy else 'SAR'} image: give both paths.")
    cloudy, sar = _located(cloudy, base), _located(sar, base)
    name = name.strip() or _default_name(cloudy)
    if _UNSAFE_NAME.search(name) or name in (".", ".."):
        raise JobListError(
            f"{where}: the name {name!r} cannot name an output file; use letters, digits, '-', '_' and '.'."
        )
    return SceneJob(cloudy=cloudy, sar=sar, name=name)


def _default_name(cloudy: str) -> str:
    """The cloudy input's name without extensions; a product's metadata file is named by its folder."""
    path = PurePosixPath(cloudy.split("?")[0].replace("\\", "/"))
    if path.name.lower() in _PRODUCT_METADATA_FILES:
        path = path.parent
    name = path.name
    while PurePosixPath(name).suffix.lower() in _SCENE_SUFFIXES:
        name = PurePosixPath(name).stem
    return name


def _located(path: str, base: Path) -> str:
    """An input path as workers should open it: relative ones made absolute against ``base``."""
    if path.startswith("/vsi") or "://" in path:
        return path
    # joining an absolute path keeps it as it is
    return str((base / Path(path).expanduser()).absolute())


def _checked(jobs: list[SceneJob], *, source: str) -> list[SceneJob]:
    if not jobs:
        raise JobListError(f"There are no scenes in {source}: list at least one cloudy and SAR pair.")
    seen: dict[str, SceneJob] = {}
    for job in jobs:
        # case-folded: two names differing only in case are one file on Windows and macOS
        key = job.name.casefold()
        if key in seen:
            raise JobListError(
                f"Two scenes in {source} are named {job.name!r} ({seen[key].cloudy} and {job.cloudy}), so "
                "they would write the same output: give each a name of its own."
            )
        seen[key] = job
    return jobs
