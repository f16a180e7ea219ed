"""GLF-CR on a split of SEN12MS-CR, scored per image: the authors' ``test_CR.py``, with reports.

Every triplet is prepared exactly as the authors' data loader does it (read, NaN replaced by the
mean of the whole patch, optical clipped to [0, 10000] / 10000, SAR clipped to its dB range and
rescaled, then the centre 128 x 128 crop at offset 64 of a 256 x 256 patch), run through the
network, and its raw output (unclipped, as the authors score it) compared with the cloud-free patch.
Triplets of the same size are batched for speed; the metrics are computed per image, so they do
not depend on the batch size. The mean PSNR and SSIM over the split are what the authors' script
prints as its average.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import DatasetError, ParameterValueError, ProcessingCanceled
from ..io.normalization import S1_BANDS, S2_L1C_BANDS, fill_nan_with_mean, normalize_optical, normalize_sar
from ..io.raster_io import PathLike, open_raster, sha256_file
from ..model.device import resolve_device
from ..model.inference import predict, prepare_model
from .dataset_report import QuicklookPicker, quicklook_panels, write_dataset_reports
from .metric_sums import metric_maps
from .metrics import METRIC_NAMES
from .reports import (
    run_metadata,
)
from .sen12mscr import SPLITS, Triplet, list_triplets

ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]

# CROP choices: the authors' test crop, or the whole patch
CROPS: tuple[str, ...] = ("center128", "full")
CENTER_CROP_SIZE = 128
# the network works on multiples of this size (two halvings, 8-pixel windows)
SIZE_MULTIPLE = 16
DEFAULT_MODEL_NAME = "GLF-CR"
# quicklooks in the HTML report: the first images of the split and the worst by PSNR
QUICKLOOK_FIRST = 3
QUICKLOOK_WORST = 3


@dataclass(frozen=True)
class ImageScore:
    """The metrics of one triplet (``METRIC_NAMES`` -> value)."""

    name: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class DatasetEvaluation:
    """Per-image and summary metrics of a model on a dataset split.

    Attributes:
        images: one score per triplet, in listing order.
        mean, std: per metric, over the images (population standard deviation; undefined values skipped).
        model_name, notes: the user's labels of the run.
        checkpoint: the weights file ("" for a model object) and its SHA-256.
        settings: data root, listing, split, crop, device, batch size.

    """

    images: list[ImageScore]
    mean: dict[str, float]
    std: dict[str, float]
    model_name: str
    notes: str
    checkpoint: str
    checkpoint_sha256: str
    settings: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """Return all but the per-image scores, stamped with software and time (a history line)."""
        return {
            **run_metadata(),
            "algorithm": "evaluatedataset",
            "model_name": self.model_name,
            "notes": self.notes,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "settings": self.settings,
            "image_count": len(self.images),
            "mean": self.mean,
            "std": self.std,
        }

    def document(self) -> dict[str, Any]:
        """Return the JSON report: the summary plus every image's metrics."""
        return {**self.summary(), "images": [{"image": s.name, **s.metrics} for s in self.images]}


def evaluate_dataset(
    data_root: PathLike,
    weights: PathLike | nn.Module,
    *,
    split: str = "test",
    csv_path: PathLike | None = None,
    crop: str = "center128",
    device: str | torch.device = "auto",
    batch_size: int = 1,
    model_name: str = DEFAULT_MODEL_NAME,
    notes: str = "",
    report_json: PathLike | None = None,
    report_csv: PathLike | None = None,
    report_html: PathLike | None = None,
    history: PathLike | None = None,
    progress: ProgressCallback | None = None,
    is_canceled: CancelCheck | None = None,
) -> DatasetEvaluation:
    """Run GLF-CR on every triplet of a SEN12MS-CR split and score it against the cloud-free patch.

    Args:
        data_root: the dataset folder (official layout, or the folders ``csv_path`` names).
        weights: GLF-CR checkpoint file, or a model taking normalised (B, 13, H, W) cloudy and
            (B, 2, H, W) SAR tensors and returning (B, 13, H, W).
        split: ``test``, ``val`` or ``train``.
        csv_path: the authors' ``data.csv`` listing; None scans the official layout.
        crop: ``center128`` (the authors' test: centre 128 x 128 at offset 64) or ``full``.
        device: "auto", "cpu", "cuda" or "cuda:N".
        batch_size: triplets per forward pass (same-sized triplets only).
        model_name: the model's label in the reports.
        notes: free text for the reports.
        report_json: optional JSON report (settings, per-image metrics, mean, std).
        report_csv: optional CSV with one row per image.
        report_html: optional self-contained HTML report with quicklooks.
        history: optional JSON-lines file to which the run's summary is appended.
        progress: called with the fraction done, 0..1, after every stage of the network.
        is_canceled: polled between the network's stages; when it returns True, ProcessingCanceled is raised
            and nothing is written.

    Returns:
        Per-image metrics, means and standard deviations.

    Raises:
        DatasetError: missing files, an empty split, or patches the chosen crop cannot use.
        RasterReadError, InputRasterError: a patch cannot be read or has the wrong band count.
        ParameterValueError: unknown split or crop, or a batch size below 1.
        CheckpointError, DeviceError: the weights or the device cannot be used.
        OutputWriteError: a report cannot be written.
        ProcessingCanceled: ``is_canceled`` returned True.

    """
    if split not in SPLITS:
        raise ParameterValueError(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")
    if crop not in CROPS:
        raise ParameterValueError(f"Unknown crop {crop!r}; use 'center128' (the authors' test) or 'full'.")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ParameterValueError(f"Batch size {batch_size} is not a positive whole number; use 1 or more.")
    report = progress or (lambda fraction: None)
    canceled = is_canceled or (lambda: False)

    triplets = list_triplets(data_root, split, csv_path)
    model, torch_device, checkpoint, checksum = _load_network(weights, device)
    scores: list[ImageScore] = []
    quicklooks = QuicklookPicker(QUICKLOOK_FIRST, QUICKLOOK_WORST)
    for batch in _batches(triplets, int(batch_size), crop):
        if canceled():
            raise ProcessingCanceled("Evaluation canceled; no report was written.")
        cloudy, sar, cloudfree = (
            torch.from_numpy(np.stack(arrays)).to(torch_device) for arrays in zip(*batch.arrays, strict=True)
        )
        on_step = _step_hook(report, canceled, len(scores), len(batch.triplets), len(triplets))
        prediction = predict(model, cloudy, sar, on_step=on_step)
        if prediction.shape != cloudfree.shape:
            raise DatasetError(
                f"The model returned {tuple(prediction.shape)} for inputs {tuple(cloudy.shape)}; "
                "it must return 13 bands of the input size (is the checkpoint a GLF-CR one?)"
            )
        for i, image_sums in enumerate(metric_maps(prediction, cloudfree).sums()):
            score = ImageScore(batch.triplets[i].name, image_sums.values())
            views = cloudy[i], prediction[i], cloudfree[i]
            quicklooks.offer(len(scores), score, lambda views=views: quicklook_panels(*views))
            scores.append(score)
        report(len(scores) / len(triplets))

    mean, std = _mean_std(scores)
    result = DatasetEvaluation(
        images=scores,
        mean=mean,
        std=std,
        model_name=model_name,
        notes=notes,
        checkpoint=checkpoint,
        checkpoint_sha256=checksum,
        settings={
            "data_root": os.fspath(data_root),
            "dataset_csv": os.fspath(csv_path) if csv_path else None,
            "split": split,
            "crop": crop,
            "device": str(torch_device),
            "batch_size": int(batch_size),
        },
    )
    write_dataset_reports(result, quicklooks, report_json, report_csv, report_html, history)
    return result


@dataclass(frozen=True)
class _Batch:
    triplets: list[Triplet]
    arrays: list[tuple[np.ndarray, np.ndarray, np.ndarray]]


def load_triplet(triplet: Triplet, crop: str = "center128") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One triplet prepared as the authors' loader does: normalised, NaN filled, cropped.

    Args:
        triplet: the three files.
        crop: ``center128`` or ``full``.

    Returns:
        (cloudy (13, h, w), sar (2, h, w), cloudfree (13, h, w)) float32 in [0, 1].

    Raises:
        DatasetError: the patches differ in size or do not suit the crop.

    """
    with open_raster(triplet.cloudy, role="cloudy", expected_bands=len(S2_L1C_BANDS)) as dataset:
        cloudy = normalize_optical(fill_nan_with_mean(dataset.read()))
    with open_raster(triplet.sar, role="SAR", expected_bands=len(S1_BANDS)) as dataset:
        sar = normalize_sar(fill_nan_with_mean(dataset.read()))
    with open_raster(triplet.cloudfree, role="cloud-free", expected_bands=len(S2_L1C_BANDS)) as dataset:
        cloudfree = normalize_optical(fill_nan_with_mean(dataset.read()))
    height, width = cloudy.shape[1:]
    if sar.shape[1:] != (height, width) or cloudfree.shape[1:] != (height, width):
        raise DatasetError(
            f"The patches of {triplet.name} differ in size (cloudy {width}x{height}, SAR "
            f"{sar.shape[2]}x{sar.shape[1]}, cloud-free {cloudfree.shape[2]}x{cloudfree.shape[1]}); "
            "remove or repair this triplet"
        )
    if crop == "center128":
        if min(height, width) < CENTER_CROP_SIZE:
            raise DatasetError(
                f"{triplet.name} is {width}x{height}, smaller than the {CENTER_CROP_SIZE}x{CENTER_CROP_SIZE} "
                "centre crop; evaluate the full patch instead"
            )
        # offset 64 for the 256x256 SEN12MS-CR patches, as the authors' test loader crops
        top, left = (height - CENTER_CROP_SIZE) // 2, (width - CENTER_CROP_SIZE) // 2
        window = (slice(None), slice(top, top + CENTER_CROP_SIZE), slice(left, left + CENTER_CROP_SIZE))
        return tuple(np.ascontiguousarray(a[window]) for a in (cloudy, sar, cloudfree))  # type: ignore[return-value]
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise DatasetError(
            f"{triplet.name} is {width}x{height}; the network needs sides that are multiples of "
            f"{SIZE_MULTIPLE}: use the centre crop"
        )
    return cloudy, sar, cloudfree


def _batches(triplets: Sequence[Triplet], batch_size: int, crop: str) -> Iterator[_Batch]:
    """Consecutive triplets grouped up to ``batch_size``, a new batch whenever the size changes."""
    batch = _Batch([], [])
    for triplet in triplets:
        arrays = load_triplet(triplet, crop)
        if batch.arrays and (len(batch.arrays) == batch_size or arrays[0].shape != batch.arrays[0][0].shape):
            yield batch
            batch = _Batch([], [])
        batch.triplets.append(triplet)
        batch.arrays.append(arrays)
    if batch.arrays:
        yield batch


def _load_network(
    weights: PathLike | nn.Module, device: str | torch.device
) -> tuple[nn.Module, torch.device, str, str]:
    """Load the model: (model in eval mode, device, checkpoint path, SHA-256); paths "" for a model object."""
    torch_device = resolve_device(device)
    model = prepare_model(weights, torch_device)
    if isinstance(weights, nn.Module):
        return model, torch_device, "", ""
    return model, torch_device, os.fspath(weights), sha256_file(weights)


def _mean_std(scores: Sequence[ImageScore]) -> tuple[dict[str, float], dict[str, float]]:
    mean, std = {}, {}
    for name in METRIC_NAMES:
        values = np.array([score.metrics[name] for score in scores], dtype=np.float64)
        values = values[np.isfinite(values)]
        mean[name] = float(values.mean()) if values.size else math.nan
        std[name] = float(values.std()) if values.size else math.nan
    return mean, std




def _step_hook(
    report: ProgressCallback, canceled: CancelCheck, done: int, batch: int, total: int
) -> Callable[[float], None]:
    """The network's per-stage callback for one batch: progress inside it, cancel between its blocks."""

    def on_step(fraction: float) -> None:
        if canceled():
            raise ProcessingCanceled("Evaluation canceled; no report was written.")
        report((done + fraction * batch) / total)

    return on_step
