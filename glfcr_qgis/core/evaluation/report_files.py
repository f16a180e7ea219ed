"""Writing the report files of an evaluation: JSON, CSV, a JSON-lines history, any text.

Every file is written to a hidden temporary file beside the destination and moved into place when
complete; the reports of one run are moved into place together (``write_text_files``), so a run that
fails to write one of them leaves none.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputWriteError
from ..io.raster_io import PathLike
from ..io.safe_writes import atomic_outputs, write_failure


def json_ready(value: Any) -> Any:
    """``value`` with NaN/inf as None, NumPy scalars as Python numbers and paths as strings (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_text_files(files: Mapping[PathLike, str], *, inputs: Sequence[PathLike] = ()) -> None:
    """Write UTF-8 text files together: all of them complete, or none at all.

    Raises:
        OutputWriteError: a file cannot be written (then none is), or one of them is in ``inputs``.

    """
    paths = list(files)
    with atomic_outputs(paths, inputs=inputs) as temps:
        for temp, path in zip(temps, paths, strict=True):
            try:
                temp.write_text(files[path], encoding="utf-8")
            except OSError as err:
                raise write_failure(path, err) from None


def write_text(path: PathLike, text: str, *, inputs: Sequence[PathLike] = ()) -> None:
    """Write a UTF-8 text file atomically (complete or not at all).

    Raises:
        OutputWriteError: the file cannot be written, or it is one of ``inputs``.

    """
    write_text_files({path: text}, inputs=inputs)


def json_text(document: Mapping[str, Any]) -> str:
    """``document`` as indented strict JSON (NaN written as null), with a final newline."""
    return json.dumps(json_ready(document), indent=2, allow_nan=False) + "\n"


def write_json(path: PathLike, document: Mapping[str, Any], *, inputs: Sequence[PathLike] = ()) -> None:
    """Write ``document`` as indented strict JSON (NaN written as null)."""
    write_text(path, json_text(document), inputs=inputs)


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A CSV table with a header row; undefined numbers are left empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                "" if cell is None or (isinstance(cell, float) and not math.isfinite(cell)) else cell
                for cell in row
            ]
        )
    return buffer.getvalue()


def write_csv(
    path: PathLike, header: Sequence[str], rows: Sequence[Sequence[Any]], *, inputs: Sequence[PathLike] = ()
) -> None:
    """Write a CSV table with a header row; undefined numbers are left empty."""
    write_text(path, csv_text(header, rows), inputs=inputs)


def history_text(path: PathLike, record: Mapping[str, Any]) -> str:
    """The history file ``path`` (JSON lines; missing = empty) with ``record`` added as its last line.

    Raises:
        OutputWriteError: the file exists but cannot be read, or is not a JSON-lines text file (then
            it is not one this plugin wrote, and is left alone).

    """
    target = Path(path)
    try:
        previous = target.read_bytes().decode("utf-8") if target.exists() else ""
    except OSError as err:
        raise OutputWriteError(
            f"Cannot read the history file {target}: {err.strerror or err}; choose another file."
        ) from None
    except UnicodeDecodeError:
        raise OutputWriteError(
            f"The history file {target} is not UTF-8 text, so not a JSON-lines history; choose a .jsonl "
            "file this plugin wrote, or a new one."
        ) from None
    for number, line in enumerate(previous.splitlines(), start=1):
        try:
            if line.strip():
                json.loads(line)
        except ValueError:
            raise OutputWriteError(
                f"The history file {target} is not a JSON-lines history (line {number} is not JSON); choose "
                "a .jsonl file this plugin wrote, or a new one."
            ) from None
    if previous and not previous.endswith("\n"):
        previous += "\n"
    return previous + json.dumps(json_ready(record), allow_nan=False) + "\n"


def append_json_line(path: PathLike, record: Mapping[str, Any]) -> None:
    """Append ``record`` as one JSON line to a history file (created if missing).

    The file is rewritten through a temporary copy, so a failure never leaves a torn last line.
    """
    write_text(path, history_text(path, record))
