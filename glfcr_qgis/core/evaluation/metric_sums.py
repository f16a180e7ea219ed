"""Metrics of large rasters, window by window: per-pixel metric maps reduced to float64 sums that add up.

``metric_maps`` takes a window with up to 5 pixels of context on every side (``ContextMargins``) so its
SSIM equals that of the whole image; ``MetricMaps.sums`` reduces the maps under any mask, and
``MetricSums`` add up over windows and images to the metrics of the whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields

import torch

from .metrics import (
    NO_CONTEXT,
    ArrayLike,
    ContextMargins,
    as_image_batch,
    as_pixel_mask,
    check_same_shape,
    psnr_from_mse,
    sam_map,
    ssim_map,
    weighted_sum,
)


@dataclass
class MetricSums:
    """Float64 totals from which every metric of a set of scored pixels follows.

    Sums over windows or images add up (``+``, ``sum``) to the sums of the whole.
    """

    bands: int
    pixels: float = 0.0
    squared_error: float = 0.0
    absolute_error: float = 0.0
    ssim: float = 0.0
    ssim_centered: float = 0.0
    sam: float = 0.0
    sam_pixels: float = 0.0

    def __add__(self, other: MetricSums) -> MetricSums:
        if other.bands != self.bands:
            raise ValueError(f"cannot add sums over {self.bands} and {other.bands} bands")
        values = {
            f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "bands"
        }
        return MetricSums(bands=self.bands, **values)

    def _mean(self, total: float) -> float:
        elements = self.pixels * self.bands
        return total / elements if elements > 0 else math.nan

    def mse(self) -> float:
        """Mean squared error over scored pixels and bands."""
        return self._mean(self.squared_error)

    def psnr(self) -> float:
        """PSNR in dB for a peak of 1 (the authors' formula); 100 for identical images."""
        return psnr_from_mse(self.mse())

    def values(self) -> dict[str, float]:
        """Every metric by name (``METRIC_NAMES``); NaN where nothing was scored."""
        mse = self.mse()
        return {
            "psnr": psnr_from_mse(mse),
            "ssim": self._mean(self.ssim),
            "ssim_centered": self._mean(self.ssim_centered),
            "mae": self._mean(self.absolute_error),
            "rmse": math.sqrt(mse) if not math.isnan(mse) else math.nan,
            "sam": self.sam / self.sam_pixels if self.sam_pixels > 0 else math.nan,
        }


def total(sums: Iterable[MetricSums], bands: int) -> MetricSums:
    """Add up ``sums`` (empty: zero sums over ``bands`` bands)."""
    result = MetricSums(bands=bands)
    for item in sums:
        result = result + item
    return result


@dataclass(frozen=True)
class MetricMaps:
    """Per-pixel maps of a batch, computed once and reduced under any number of masks.

    Attributes:
        squared_error, absolute_error, ssim, ssim_centered: (B, C, H, W) float32.
        sam: (B, 1, H, W) float64 degrees, NaN where undefined.

    """

    squared_error: torch.Tensor
    absolute_error: torch.Tensor
    ssim: torch.Tensor
    ssim_centered: torch.Tensor
    sam: torch.Tensor

    def sums(self, mask: ArrayLike | None = None) -> list[MetricSums]:
        """Per-image sums over the pixels where ``mask`` is non-zero (None: all).

        Args:
            mask: (H, W), (B, H, W) or (B, 1, H, W); non-zero = scored.

        Returns:
            One ``MetricSums`` per image of the batch.

        """
        batch, bands, height, width = self.squared_error.shape
        weights = as_pixel_mask(mask, batch, height, width, self.squared_error.device)
        sam_defined = torch.isfinite(self.sam)
        sam_weights = weights * sam_defined
        per_image = {
            "pixels": weights.sum(dim=(1, 2, 3)),
            "squared_error": weighted_sum(self.squared_error, weights),
            "absolute_error": weighted_sum(self.absolute_error, weights),
            "ssim": weighted_sum(self.ssim, weights),
            "ssim_centered": weighted_sum(self.ssim_centered, weights),
            "sam": weighted_sum(torch.where(sam_defined, self.sam, 0.0), sam_weights),
            "sam_pixels": sam_weights.sum(dim=(1, 2, 3)),
        }
        columns = {name: values.cpu().tolist() for name, values in per_image.items()}
        return [MetricSums(bands=bands, **{name: columns[name][i] for name in columns}) for i in range(batch)]


def metric_maps(
    prediction: ArrayLike,
    reference: ArrayLike,
    *,
    context: ContextMargins = NO_CONTEXT,
) -> MetricMaps:
    """Every per-pixel metric map of a batch (or of one window with SSIM context).

    Args:
        prediction: (C, H, W) or (B, C, H, W) reflectance in [0, 1]; for a window, the window plus
            ``context`` rows/columns around it.
        reference: the same for the reference.
        context: the margins that are context only (see ``ContextMargins``).

    Returns:
        The maps over the scored part (the arrays less their context margins).

    """
    img1 = as_image_batch(prediction)
    img2 = as_image_batch(reference, device=img1.device)
    check_same_shape(img1, img2)
    height, width = img1.shape[2:]
    rows = slice(context.top, height - context.bottom)
    cols = slice(context.left, width - context.right)
    core1, core2 = img1[..., rows, cols], img2[..., rows, cols]
    difference = core1 - core2
    return MetricMaps(
        squared_error=difference**2,
        absolute_error=difference.abs(),
        ssim=ssim_map(img1, img2, context=context),
        ssim_centered=ssim_map(img1, img2, centered=True, context=context),
        sam=sam_map(core1, core2),
    )
