"""What happened to each scene of a batch run, and the summary table written beside the outputs."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..io.safe_writes import atomic_outputs

DONE = "done"
SKIPPED = "skipped"
FAILED = "failed"
CANCELED = "canceled"
STATUSES: tuple[str, ...] = (DONE, SKIPPED, FAILED, CANCELED)

SUMMARY_STEM = "batch_summary"
SUMMARY_COLUMNS: tuple[str, ...] = ("scene", "status", "seconds", "device", "worker", "output", "error")


@dataclass(frozen=True)
class SceneOutcome:
    """The end of one scene of a batch run.

    Attributes:
        scene: the job's name.
        status: "done" (written now), "skipped" (an output with the same checkpoint and settings was
            there), "failed" (see ``error``) or "canceled" (the run was canceled before it finished).
        seconds: wall time the scene took on its worker (0 when it never ran).
        device: the torch device it ran on ("" when it did not run the network).
        worker: the Dask worker that handled it (its address).
        output: the output file ("" unless done or skipped).
        error: one sentence saying why it failed ("" otherwise).
        warnings: warnings the run raised (GlfcrWarning sentences).
    """

    scene: str
    status: str
    seconds: float = 0.0
    device: str = ""
    worker: str = ""
    output: str = ""
    error: str = ""
    warnings: tuple[str, ...] = ()

    def row(self) -> dict[str, str | float]:
        """The outcome as a row of the summary table (``SUMMARY_COLUMNS``)."""
        values = asdict(self)
        values["seconds"] = round(self.seconds, 3)
        return {column: values[column] for column in SUMMARY_COLUMNS}


def count_statuses(outcomes: Sequence[SceneOutcome]) -> dict[str, int]:
    """Scenes per status, every status present (0 when none)."""
    return {status: sum(outcome.status == status for outcome in outcomes) for status in STATUSES}


def write_summary(outcomes: Sequence[SceneOutcome], folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``batch_summary.csv`` and ``batch_summary.json`` into ``folder`` (together, atomically).

    Returns:
        The CSV and JSON paths.

    Raises:
        OutputWriteError: the folder cannot be written.
    """
    folder = Path(folder)
    csv_path, json_path = folder / f"{SUMMARY_STEM}.csv", folder / f"{SUMMARY_STEM}.json"
    rows = [outcome.row() for outcome in outcomes]
    document = {"counts": count_statuses(outcomes), "scenes": rows}
    # both tables appear together, or neither
    with atomic_outputs([csv_path, json_path]) as (csv_temp, json_temp):
        with open(csv_temp, "w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=SUMMARY_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        json_temp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return csv_path, json_path
