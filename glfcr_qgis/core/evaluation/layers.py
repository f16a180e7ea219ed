"""Scoring a cloud-removed raster against a reference raster of the same grid, window by window.

Both rasters hold the 13 Sentinel-2 L1C bands in digital numbers and are scored as reflectance,
clipped to [0, 10000] and divided by 10000 as the GLF-CR data loader prepares every optical image.
Pixels that are nodata (or NaN) in any band of either raster are not scored; an optional mask
raster (non-zero = scored) restricts the scoring further. Given the cloudy image, the cloud/shadow
detector splits the scored pixels into cloudy (cloud or shadow) and clear ones; given Remove Clouds'
provenance raster, they are split into observed (input kept), predicted and blended pixels, as
DSen2-CR reports cloud-covered and clear pixels apart. Every metric is reported for each subset.

Memory stays bounded whatever the raster size: windows are read one at a time with 5 pixels of
context for SSIM, and their float64 sums add up to the whole-image result.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.windows import Window

from ..errors import GlfcrWarning, InputRasterError, ParameterValueError, ProcessingCanceled
from ..io.normalization import S2_L1C_BANDS, normalize_optical
from ..io.optical_input import open_optical
from ..io.output_guard import PlannedOutput, check_outputs
from ..io.raster_io import PathLike, iter_windows, nodata_mask, open_raster, read_window, window_count
from .metric_sums import MetricSums, metric_maps
from .metrics import SSIM_HALO, ContextMargins
from .pixel_subsets import PROVENANCE_SUBSETS, SUBSET_LABELS, SUBSETS, PixelSubsets
from .report_files import json_text, write_text_files
from .reports import (
    comparison_panels,
    html_figure,
    html_page,
    html_settings,
    html_table,
    metric_cells,
    metric_header,
    run_metadata,
)

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]

DEFAULT_WINDOW_SIZE = 512
# longest side of the report's quicklooks, in pixels
QUICKLOOK_SIDE = 512
# progress share of the cloud mask pass when the cloudy image is given
_CLOUD_MASK_SHARE = 0.4
_BANDS = len(S2_L1C_BANDS)


@dataclass(frozen=True)
class LayerEvaluation:
    """Metrics of a prediction raster against its reference.

    Attributes:
        metrics: subset ("all", and "cloudy", "clear" when a cloudy image was given) -> metric name
            (``METRIC_NAMES``) -> value; NaN where the subset has no pixel.
        pixels: subset -> number of scored pixels.
        width, height: raster size in pixels.
        inputs: the files read, by role.
        settings: the options used.

    """

    metrics: dict[str, dict[str, float]]
    pixels: dict[str, int]
    width: int
    height: int
    inputs: dict[str, str | None]
    settings: dict[str, Any]

    def document(self) -> dict[str, Any]:
        """Return the evaluation as a JSON-ready dict (the JSON report), stamped with software and time."""
        return {
            **run_metadata(),
            "algorithm": "evaluate",
            "inputs": self.inputs,
            "settings": self.settings,
            "size": {"width": self.width, "height": self.height},
            "pixels": self.pixels,
            "metrics": self.metrics,
        }


def evaluate_layers(
    prediction_path: PathLike,
    reference_path: PathLike,
    *,
    mask_path: PathLike | None = None,
    cloudy_path: PathLike | None = None,
    provenance_path: PathLike | None = None,
    cloud_threshold: float = 0.2,
    window_size: int = DEFAULT_WINDOW_SIZE,
    report_json: PathLike | None = None,
    report_html: PathLike | None = None,
    progress: ProgressCallback | None = None,
    is_canceled: CancelCheck | None = None,
) -> LayerEvaluation:
    """Score a 13-band prediction raster against a reference raster of the same grid.

    Args:
        prediction_path: the cloud-removed image, 13 bands B1..B12, digital numbers.
        reference_path: the cloud-free reference on the same grid (size, CRS, transform).
        mask_path: optional 1-band raster on the same grid; non-zero pixels are scored, others not.
        cloudy_path: optional cloudy image (13 bands, same grid); its cloud/shadow mask splits the
            scored pixels into cloudy and clear.
        provenance_path: optional provenance raster of Remove Clouds (1 band, same grid); splits the
            scored pixels into observed (class 0), predicted (1, 2, 3) and blended (4).
        cloud_threshold: cloud score threshold of the detector, in (0, 1].
        window_size: side of the windows read at a time; memory grows with its square.
        report_json: optional JSON report to write.
        report_html: optional self-contained HTML report (tables and quicklooks).
        progress: called with the fraction done, 0..1.
        is_canceled: polled between windows; when it returns True, ProcessingCanceled is raised
            and no report is written.

    Returns:
        The metrics per subset.

    Raises:
        RasterReadError: an input cannot be read.
        InputRasterError: wrong band counts, different grids, or no pixel to score.
        ParameterValueError: a window size below 16.
        OutputWriteError: a report cannot be written.
        ProcessingCanceled: ``is_canceled`` returned True.

    """
    if int(window_size) != window_size or window_size < 16:
        raise ParameterValueError(
            f"Window size {window_size} is too small; use 16 pixels or more (512 is a good size)."
        )
    check_outputs(
        [
            PlannedOutput(report_json, "json", "JSON report"),
            PlannedOutput(report_html, "html", "HTML report"),
        ],
        input_rasters=[prediction_path, reference_path, mask_path, cloudy_path, provenance_path],
    )
    report = progress or (lambda fraction: None)
    canceled = is_canceled or (lambda: False)
    inputs = {
        "prediction": os.fspath(prediction_path),
        "reference": os.fspath(reference_path),
        "mask": os.fspath(mask_path) if mask_path else None,
        "cloudy": os.fspath(cloudy_path) if cloudy_path else None,
        "provenance": os.fspath(provenance_path) if provenance_path else None,
    }
    settings: dict[str, Any] = {
        "scaling": "digital numbers clipped to [0, 10000] and divided by 10000",
        "window_size": int(window_size),
        "cloud_threshold": float(cloud_threshold) if cloudy_path else None,
    }

    with ExitStack() as stack:
        prediction = stack.enter_context(
            open_optical(prediction_path, role="prediction")
        )
        reference = stack.enter_context(open_optical(reference_path, role="reference"))
        check_same_grid(prediction, reference, "prediction", "reference")
        mask = None
        if mask_path:
            mask = stack.enter_context(open_raster(mask_path, role="mask"))
            check_same_grid(mask, reference, "mask", "reference")
        classes = None
        start = 0.0
        if cloudy_path:
            classes_path = _cloud_classes(stack, cloudy_path, reference, cloud_threshold, report, canceled)
            classes = stack.enter_context(open_raster(classes_path, role="cloud mask", expected_bands=1))
            start = _CLOUD_MASK_SHARE

        provenance = None
        if provenance_path:
            provenance = stack.enter_context(
                open_raster(provenance_path, role="provenance", expected_bands=1)
            )
            check_same_grid(provenance, reference, "provenance", "reference")
        subsets = (SUBSETS if classes is not None else SUBSETS[:1]) + (
            PROVENANCE_SUBSETS if provenance is not None else ()
        )
        sums = {subset: MetricSums(bands=_BANDS) for subset in subsets}
        labels = PixelSubsets(classes, provenance)
        windows = window_count(reference.height, reference.width, window_size)
        for done, window in enumerate(iter_windows(reference.height, reference.width, window_size), start=1):
            if canceled():
                raise ProcessingCanceled("Evaluation canceled; no report was written.")
            for subset, window_sums in _score_window(prediction, reference, mask, labels, window).items():
                sums[subset] = sums[subset] + window_sums
            report(start + (1.0 - start) * done / windows)

        result = LayerEvaluation(
            metrics={subset: sums[subset].values() for subset in subsets},
            pixels={subset: int(sums[subset].pixels) for subset in subsets},
            width=reference.width,
            height=reference.height,
            inputs=inputs,
            settings=settings,
        )
        if result.pixels["all"] == 0:
            raise InputRasterError(
                "No pixel is left to score: every pixel is nodata in the prediction or the reference"
                + (" or outside the mask" if mask is not None else "")
                + "; check the inputs' nodata values and the mask."
            )
        for subset in subsets[1:]:
            # an empty provenance subset is normal (nothing is observed without keep-clear)
            if result.pixels[subset] == 0 and subset in SUBSETS:
                warnings.warn(
                    f"No {subset} pixel in the cloud mask of {inputs['cloudy']}: "
                    f"the {subset} metrics are undefined.",
                    GlfcrWarning,
                    stacklevel=2,
                )
        files = {report_json: json_text(result.document())} if report_json else {}
        if report_html:
            panels = _quicklook_panels(prediction, reference, stack, cloudy_path)
            files[report_html] = _layer_html(result, panels)
    write_text_files(files, inputs=_input_paths(inputs))
    return result


def check_same_grid(dataset: DatasetReader, reference: DatasetReader, role: str, reference_role: str) -> None:
    """Fail unless two rasters share size, CRS and transform.

    Raises:
        InputRasterError: naming what differs and the fix.

    """
    fix = f"resample or clip the {role} onto the {reference_role}'s grid (e.g. with Warp or Align Rasters)"
    if (dataset.width, dataset.height) != (reference.width, reference.height):
        raise InputRasterError(
            f"The {role} raster is {dataset.width}x{dataset.height} pixels but the {reference_role} is "
            f"{reference.width}x{reference.height}; {fix}."
        )
    if dataset.crs != reference.crs:
        raise InputRasterError(
            f"The {role} raster's CRS ({dataset.crs}) differs from the {reference_role}'s "
            f"({reference.crs}); {fix}."
        )
    pixel = max(abs(reference.transform.a), abs(reference.transform.e), 1e-12)
    # a thousandth of a pixel absorbs rounding in how coordinates were stored
    if any(
        abs(a - b) > 1e-3 * pixel for a, b in zip(dataset.transform[:6], reference.transform[:6], strict=True)
    ):
        raise InputRasterError(
            f"The {role} raster's geotransform {tuple(dataset.transform[:6])} differs from the "
            f"{reference_role}'s {tuple(reference.transform[:6])}; {fix}."
        )


def _cloud_classes(
    stack: ExitStack,
    cloudy_path: PathLike,
    reference: DatasetReader,
    threshold: float,
    report: ProgressCallback,
    canceled: CancelCheck,
) -> Path:
    """Write the cloud mask of the cloudy image into a temporary folder (removed with ``stack``)."""
    from ..scene.cloud_masking import cloud_mask

    with open_optical(cloudy_path, role="cloudy") as cloudy:
        check_same_grid(cloudy, reference, "cloudy", "reference")
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="glfcr_evaluate_")))
    return cloud_mask(
        cloudy_path,
        folder / "cloud_mask.tif",
        threshold=threshold,
        progress=lambda fraction: report(_CLOUD_MASK_SHARE * fraction),
        is_canceled=canceled,
    ).mask_path


def _score_window(
    prediction: DatasetReader,
    reference: DatasetReader,
    mask: DatasetReader | None,
    labels: PixelSubsets,
    window: Window,
) -> dict[str, MetricSums]:
    """Score one window per subset, reading SSIM context from the neighbouring pixels."""
    row0, col0 = int(window.row_off), int(window.col_off)
    row1, col1 = row0 + int(window.height), col0 + int(window.width)
    top, left = max(row0 - SSIM_HALO, 0), max(col0 - SSIM_HALO, 0)
    bottom, right = min(row1 + SSIM_HALO, reference.height), min(col1 + SSIM_HALO, reference.width)
    context = ContextMargins(top=row0 - top, bottom=bottom - row1, left=col0 - left, right=right - col1)
    extended = Window(left, top, right - left, bottom - top)
    core = (slice(context.top, context.top + row1 - row0), slice(context.left, context.left + col1 - col0))

    scored = np.ones((row1 - row0, col1 - col0), dtype=bool)
    images = []
    for dataset, role in ((prediction, "prediction"), (reference, "reference")):
        raw = read_window(dataset, extended, role=role)
        scored &= ~nodata_mask(raw[(slice(None), *core)], dataset.nodatavals)
        values = normalize_optical(raw)
        # a NaN would spread through the SSIM filters into its neighbours' scores
        images.append(
            np.where(np.isfinite(values), values, np.float32(0.0)) if values.dtype.kind == "f" else values
        )
    if mask is not None:
        mask_values = read_window(mask, window, role="mask")
        scored &= (mask_values[0] != 0) & ~nodata_mask(mask_values[:1], mask.nodatavals[:1])
    subsets = labels.subsets(scored, window)
    if not scored.any():
        return {subset: MetricSums(bands=_BANDS) for subset in subsets}
    maps = metric_maps(images[0], images[1], context=context)
    return {subset: maps.sums(selected)[0] for subset, selected in subsets.items()}


def _quicklook_read(dataset: DatasetReader) -> np.ndarray:
    """Read a decimated (13, h, w) reflectance copy, at most QUICKLOOK_SIDE pixels a side; NaN = nodata."""
    factor = max(1, -(-max(dataset.height, dataset.width) // QUICKLOOK_SIDE))
    shape = (dataset.count, max(1, dataset.height // factor), max(1, dataset.width // factor))
    raw = dataset.read(out_shape=shape, resampling=Resampling.nearest)
    values = normalize_optical(raw).astype(np.float32)
    values[:, nodata_mask(raw, dataset.nodatavals)] = np.nan
    return values


def _quicklook_panels(
    prediction: DatasetReader, reference: DatasetReader, stack: ExitStack, cloudy_path: PathLike | None
) -> list[tuple[str, np.ndarray]]:
    cloudy = None
    if cloudy_path:
        cloudy = _quicklook_read(
            stack.enter_context(open_optical(cloudy_path, role="cloudy"))
        )
    return comparison_panels(_quicklook_read(prediction), _quicklook_read(reference), cloudy)


def _layer_html(result: LayerEvaluation, panels: list[tuple[str, np.ndarray]]) -> str:
    rows = [
        [SUBSET_LABELS[subset], f"{result.pixels[subset]:,}", *metric_cells(result.metrics[subset])]
        for subset in result.metrics
    ]
    metadata = run_metadata()
    sections = [
        (
            "Metrics",
            html_table(["Pixels", "Scored pixels", *metric_header()], rows)
            + '<p class="note">Reflectance scale [0, 1]. SSIM as in the GLF-CR authors\' code '
            "(Gaussian window centred at 5.5); the centred-window SSIM is given beside it. "
            "Masked metrics are means over the scored pixels.</p>",
        ),
        (
            "Quicklooks",
            html_figure(
                "Natural colour (B4, B3, B2), 2-98 % stretch of the reference (the cloudy image: its own)",
                panels,
            ),
        ),
        (
            "Inputs and settings",
            html_settings({**result.inputs, **result.settings, "size": f"{result.width} x {result.height}"}),
        ),
    ]
    subtitle = f"{metadata['software']} {metadata['version']}, {metadata['timestamp']}"
    return html_page("Evaluation of a cloud-removed image", subtitle, sections)


def _input_paths(inputs: dict[str, str | None]) -> list[str]:
    return [path for path in inputs.values() if path]
