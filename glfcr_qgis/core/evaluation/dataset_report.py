"""Reports of an evaluation on SEN12MS-CR: JSON, per-image CSV, HTML with quicklooks, history line."""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..io.raster_io import PathLike
from .metrics import METRIC_NAMES
from .report_files import csv_text, history_text, json_text, write_text_files
from .reports import (
    comparison_panels,
    format_metric,
    html_figure,
    html_page,
    html_settings,
    html_table,
    metric_cells,
    metric_header,
    run_metadata,
)

if TYPE_CHECKING:  # the evaluation module imports this one
    import torch

    from .dataset_evaluation import DatasetEvaluation, ImageScore


def quicklook_panels(
    cloudy: torch.Tensor, prediction: torch.Tensor, cloudfree: torch.Tensor
) -> list[tuple[str, np.ndarray]]:
    arrays = [tensor.detach().float().cpu().numpy() for tensor in (cloudy, prediction, cloudfree)]
    return comparison_panels(arrays[1], arrays[2], arrays[0])


class QuicklookPicker:
    """Keeps the quicklook panels of the first images and of the worst by PSNR seen so far."""

    def __init__(self, first: int, worst: int) -> None:
        self._first_count = first
        self._worst_count = worst
        self.first: list[tuple[int, ImageScore, list[tuple[str, np.ndarray]]]] = []
        # max-heap on PSNR through negation: the root is the best of the kept worst ones
        self._worst: list[tuple[float, int, ImageScore, list[tuple[str, np.ndarray]]]] = []

    def offer(
        self, index: int, score: ImageScore, make_panels: Callable[[], list[tuple[str, np.ndarray]]]
    ) -> None:
        """Consider image number ``index``; ``make_panels`` is called only if it is kept."""
        if index < self._first_count:
            self.first.append((index, score, make_panels()))
            return
        psnr = score.metrics["psnr"]
        if self._worst_count == 0 or not math.isfinite(psnr):
            return
        if len(self._worst) < self._worst_count:
            heapq.heappush(self._worst, (-psnr, index, score, make_panels()))
        elif psnr < -self._worst[0][0]:
            heapq.heapreplace(self._worst, (-psnr, index, score, make_panels()))

    def worst(self) -> list[tuple[int, ImageScore, list[tuple[str, np.ndarray]]]]:
        """Return the kept worst images after the first ones, worst first."""
        return [
            (index, score, panels)
            for _, index, score, panels in sorted(self._worst, key=lambda item: -item[0])
        ]


def write_dataset_reports(
    result: DatasetEvaluation,
    quicklooks: QuicklookPicker,
    report_json: PathLike | None,
    report_csv: PathLike | None,
    report_html: PathLike | None,
    history: PathLike | None,
) -> None:
    """Write the reports asked for (None = not asked), all together or, when one fails, none of them.

    Raises:
        OutputWriteError: a report cannot be written, or the history file is not a JSON-lines history.
    """
    files: dict[PathLike, str] = {}
    if report_json:
        files[report_json] = json_text(result.document())
    if report_csv:
        rows = [
            [index, score.name, *(score.metrics[name] for name in METRIC_NAMES)]
            for index, score in enumerate(result.images)
        ]
        files[report_csv] = csv_text(["index", "image", *METRIC_NAMES], rows)
    if report_html:
        files[report_html] = _dataset_html(result, quicklooks)
    if history:
        record = {**result.summary(), "report_json": os.fspath(report_json) if report_json else None}
        files[history] = history_text(history, record)
    write_text_files(files)


def _quicklook_heading(first: int, worst: int) -> str:
    heading = f"Quicklooks: the first {first} image{'s' if first != 1 else ''}"
    return heading + (f" and the {worst} worst by PSNR" if worst else "")


def _dataset_html(result: DatasetEvaluation, quicklooks: QuicklookPicker) -> str:
    metadata = run_metadata()
    summary_rows = [
        ["Mean", *metric_cells(result.mean)],
        ["Standard deviation", *metric_cells(result.std)],
    ]
    worst = quicklooks.worst()
    worst_indices = {index for index, _, _ in worst}
    image_rows = [
        [str(index), score.name, *metric_cells(score.metrics)] for index, score in enumerate(result.images)
    ]
    figures = [
        html_figure(
            f"#{index} {score.name}: PSNR {format_metric('psnr', score.metrics['psnr'])} dB, "
            f"SSIM {format_metric('ssim', score.metrics['ssim'])}",
            panels,
        )
        for index, score, panels in [*quicklooks.first, *worst]
    ]
    settings = {
        "model name": result.model_name,
        "notes": result.notes,
        "checkpoint": result.checkpoint or "(model object)",
        "checkpoint SHA-256": result.checkpoint_sha256,
        **result.settings,
        "images": len(result.images),
    }
    split = result.settings["split"]
    sections = [
        (
            f"Summary over {len(result.images)} image(s)",
            html_table(["", *metric_header()], summary_rows)
            + '<p class="note">Reflectance scale [0, 1]; the network output is scored unclipped, as in the '
            "authors' test script. SSIM as in the authors' code (Gaussian centred at 5.5); the "
            "centred-window "
            "SSIM beside it. Standard deviation over images (population).</p>",
        ),
        ("Run", html_settings(settings)),
        (
            _quicklook_heading(len(quicklooks.first), len(worst)),
            '<p class="note">Natural colour (B4, B3, B2) with the reference\'s 2-98 % stretch (the cloudy '
            "image: its own); "
            "the error is the mean absolute difference over the 13 bands.</p>" + "".join(figures),
        ),
        (
            "Per image",
            '<div class="scroll">'
            + html_table(
                ["#", "Image", *metric_header()],
                image_rows,
                numeric_from=2,
                row_classes=["worst" if i in worst_indices else "" for i in range(len(image_rows))],
            )
            + "</div>",
        ),
    ]
    subtitle = f"{result.model_name} · {metadata['software']} {metadata['version']} · {metadata['timestamp']}"
    return html_page(f"GLF-CR evaluation on SEN12MS-CR, {split} split", subtitle, sections)
