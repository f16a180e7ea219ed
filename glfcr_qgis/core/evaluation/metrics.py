"""Quality metrics of cloud removal on [0, 1] reflectance: PSNR, SSIM, MAE, RMSE and SAM.

PSNR and SSIM are those of the GLF-CR authors' ``metrics.py``, reproduced to the last float32 bit
where it matters: SSIM filters in float32 with their 11x11 Gaussian whose centre sits at 5.5 (half a
pixel off; kept because the published numbers were made with it). ``ssim_centered`` is the same
index with the window centred at 5, as peers (UnCRtainTS) compute it. MAE, RMSE and SAM (degrees)
follow the peers that report them.

With a mask (non-zero = scored, one value per pixel shared by all bands), every metric is the mean
of its per-pixel map over the scored pixels: for PSNR that is the authors' masked form
``mse = sum(sq_diff * mask) / (sum(mask) * C)``, for SSIM the SSIM map averaged over scored pixels
(its windows still see the unscored neighbours). SAM leaves out pixels where either spectrum is
all zero (the angle is undefined there).

Large rasters are scored window by window: ``metric_maps`` takes each window with up to 5 pixels
of context on every side (``ContextMargins``) so its SSIM equals that of the whole image, and
``MetricSums`` adds the windows up in float64. Per-element maps stay float32 like the authors'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputRasterError

ArrayLike = torch.Tensor | np.ndarray

SSIM_WINDOW_SIZE = 11
SSIM_SIGMA = 1.5
# pixels of context SSIM needs on each side of a window to equal the whole-image result
SSIM_HALO = SSIM_WINDOW_SIZE // 2
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
# the authors' PSNR of identical images (their mse == 0 branch)
PSNR_IDENTICAL = 100.0

METRIC_NAMES: tuple[str, ...] = ("psnr", "ssim", "ssim_centered", "mae", "rmse", "sam")
METRIC_LABELS: dict[str, str] = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "ssim_centered": "SSIM (centred window)",
    "mae": "MAE",
    "rmse": "RMSE",
    "sam": "SAM (degrees)",
}


@dataclass(frozen=True)
class ContextMargins:
    """Rows/columns on each side of a window that are context for SSIM only, not scored.

    Zero on a side means that side is the true image border, where SSIM pads with zeros exactly
    as the whole-image convolution does.
    """

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def __post_init__(self) -> None:
        if min(self.top, self.bottom, self.left, self.right) < 0:
            raise ValueError(f"context margins must be >= 0, got {self}")


NO_CONTEXT = ContextMargins()


def as_image_batch(image: ArrayLike, device: torch.device | str | None = None) -> torch.Tensor:
    """Return an image or batch as a float32 tensor (B, C, H, W), on ``device`` when given.

    Args:
        image: (C, H, W) or (B, C, H, W) array or tensor, reflectance in [0, 1].
        device: where the tensor should live; None keeps a tensor where it is (NumPy goes to CPU).

    """
    tensor = torch.from_numpy(np.ascontiguousarray(image)) if isinstance(image, np.ndarray) else image
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4:
        raise InputRasterError(
            f"expected an image (C, H, W) or a batch (B, C, H, W), got shape {tuple(tensor.shape)}; "
            "pass band-first arrays"
        )
    # float32 like the authors' tensors; their Gaussian window is float32 too
    return tensor.to(device=device if device is not None else tensor.device, dtype=torch.float32)


def as_pixel_mask(
    mask: ArrayLike | None, batch: int, height: int, width: int, device: torch.device
) -> torch.Tensor:
    """Return a mask (non-zero = scored) as a float64 0/1 tensor (B, 1, H, W).

    Args:
        mask: None (every pixel), or (H, W), (B, H, W) or (B, 1, H, W); bool or numbers.
        batch: images in the batch.
        height: image rows.
        width: image columns.
        device: where the images live.

    """
    if mask is None:
        return torch.ones((batch, 1, height, width), dtype=torch.float64, device=device)
    tensor = torch.from_numpy(np.ascontiguousarray(mask)) if isinstance(mask, np.ndarray) else mask
    tensor = tensor.to(device=device)
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(1)
    if tensor.ndim != 4 or tensor.shape[1] != 1 or tuple(tensor.shape[2:]) != (height, width):
        raise InputRasterError(
            f"mask of shape {tuple(tensor.shape)} does not match the {height}x{width} images; "
            "give one value per pixel, (H, W) or (B, 1, H, W)"
        )
    return (tensor != 0).to(torch.float64).expand(batch, 1, height, width)


def gaussian_window(
    window_size: int = SSIM_WINDOW_SIZE,
    sigma: float = SSIM_SIGMA,
    *,
    centered: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Build the 2-D Gaussian SSIM window (window_size, window_size), float32, summing to 1.

    Args:
        window_size: side of the window.
        sigma: standard deviation in pixels.
        centered: centre the Gaussian at (window_size - 1) / 2; the authors' window (False) is
            centred at window_size / 2, half a pixel off.
        device: where the window should live.

    """
    centre = (window_size - 1) / 2 if centered else window_size / 2
    # built as the authors do (float32 from Python floats, normalised, outer product) for equal bits
    gauss = torch.tensor(
        [math.exp(-((x - centre) ** 2) / float(2 * sigma**2)) for x in range(window_size)],
        dtype=torch.float32,
    )
    gauss = gauss / gauss.sum()
    column = gauss.unsqueeze(1)
    return column.mm(column.t()).to(device)


def ssim_map(
    prediction: ArrayLike,
    reference: ArrayLike,
    *,
    centered: bool = False,
    context: ContextMargins = NO_CONTEXT,
) -> torch.Tensor:
    """Per-pixel, per-band SSIM of the authors' ``metrics.py`` (float32).

    Args:
        prediction: (C, H, W) or (B, C, H, W), reflectance in [0, 1].
        reference: the same shape.
        centered: use the centred Gaussian window (``ssim_centered``) instead of the authors'.
        context: rows/columns at the edges that are context only; the map covers the rest.

    Returns:
        (B, C, H - top - bottom, W - left - right) SSIM values.

    """
    img1 = as_image_batch(prediction)
    img2 = as_image_batch(reference, device=img1.device)
    check_same_shape(img1, img2)
    channels = img1.shape[1]
    window = gaussian_window(centered=centered, device=img1.device).expand(
        channels, 1, SSIM_WINDOW_SIZE, SSIM_WINDOW_SIZE
    )
    if context == NO_CONTEXT:
        padding = SSIM_HALO
    else:
        # context beyond the halo is never read by the filter: trim it
        trim = [max(m - SSIM_HALO, 0) for m in (context.top, context.bottom, context.left, context.right)]
        height, width = img1.shape[2:]
        rows = slice(trim[0], height - trim[1])
        cols = slice(trim[2], width - trim[3])
        img1, img2 = img1[..., rows, cols], img2[..., rows, cols]
        # zeros only where the true image border is, as the whole-image convolution pads
        pads = [
            SSIM_HALO - min(m, SSIM_HALO) for m in (context.left, context.right, context.top, context.bottom)
        ]
        img1, img2 = F.pad(img1, pads), F.pad(img2, pads)
        padding = 0

    # the authors' expression, operation for operation, so float32 rounding matches theirs
    mu1 = F.conv2d(img1, window, padding=padding, groups=channels)
    mu2 = F.conv2d(img2, window, padding=padding, groups=channels)
    mu1_sq = mu1.pow(2)
    mu2_sq = mu2.pow(2)
    mu1_mu2 = mu1 * mu2
    sigma1_sq = F.conv2d(img1 * img1, window, padding=padding, groups=channels) - mu1_sq
    sigma2_sq = F.conv2d(img2 * img2, window, padding=padding, groups=channels) - mu2_sq
    sigma12 = F.conv2d(img1 * img2, window, padding=padding, groups=channels) - mu1_mu2
    return ((2 * mu1_mu2 + SSIM_C1) * (2 * sigma12 + SSIM_C2)) / (
        (mu1_sq + mu2_sq + SSIM_C1) * (sigma1_sq + sigma2_sq + SSIM_C2)
    )


def sam_map(prediction: ArrayLike, reference: ArrayLike) -> torch.Tensor:
    """Per-pixel spectral angle in degrees between the band vectors, float64.

    Args:
        prediction: (C, H, W) or (B, C, H, W), reflectance.
        reference: the same shape.

    Returns:
        (B, 1, H, W) angles in [0, 180]; NaN where either vector is all zero.

    """
    img1 = as_image_batch(prediction).double()
    img2 = as_image_batch(reference, device=img1.device).double()
    check_same_shape(img1, img2)
    dot = (img1 * img2).sum(dim=1, keepdim=True)
    norms = img1.norm(dim=1, keepdim=True) * img2.norm(dim=1, keepdim=True)
    cosine = torch.where(norms > 0, dot / norms.clamp_min(torch.finfo(torch.float64).tiny), torch.nan)
    return torch.rad2deg(torch.arccos(cosine.clamp(-1.0, 1.0)))


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on [0, 1] data; 100 when it is 0, NaN when undefined."""
    if math.isnan(mse):
        return math.nan
    if mse == 0:
        return PSNR_IDENTICAL
    return 20 * math.log10(1.0 / math.sqrt(mse))


def psnr(prediction: ArrayLike, reference: ArrayLike, mask: ArrayLike | None = None) -> float:
    """PSNR in dB over all bands (peak 1), as the authors' ``PSNR``; 100 for identical images.

    Args:
        prediction: (C, H, W) or (B, C, H, W) reflectance in [0, 1].
        reference: the same shape.
        mask: optional per-pixel mask, non-zero = scored: mse = sum(sq_diff * mask) / (sum(mask) * C).

    """
    img1, img2 = _pair(prediction, reference)
    return psnr_from_mse(_masked_mean((img1 - img2) ** 2, mask))


def ssim(prediction: ArrayLike, reference: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean SSIM over bands and pixels, as the authors' ``SSIM`` (Gaussian centred at 5.5).

    Args:
        prediction: (C, H, W) or (B, C, H, W) reflectance in [0, 1].
        reference: the same shape.
        mask: optional per-pixel mask, non-zero = scored; the SSIM map is averaged over those pixels.

    """
    return _masked_mean(ssim_map(prediction, reference), mask)


def ssim_centered(prediction: ArrayLike, reference: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean SSIM with the Gaussian window centred on its middle pixel (as UnCRtainTS computes it).

    Args:
        prediction: (C, H, W) or (B, C, H, W) reflectance in [0, 1].
        reference: the same shape.
        mask: optional per-pixel mask, non-zero = scored.

    """
    return _masked_mean(ssim_map(prediction, reference, centered=True), mask)


def mae(prediction: ArrayLike, reference: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean absolute error over bands and (scored) pixels, in reflectance units.

    Args:
        prediction: (C, H, W) or (B, C, H, W) reflectance in [0, 1].
        reference: the same shape.
        mask: optional per-pixel mask, non-zero = scored.

    """
    img1, img2 = _pair(prediction, reference)
    return _masked_mean((img1 - img2).abs(), mask)


def rmse(prediction: ArrayLike, reference: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Root mean squared error over bands and (scored) pixels, in reflectance units.

    Args:
        prediction: (C, H, W) or (B, C, H, W) reflectance in [0, 1].
        reference: the same shape.
        mask: optional per-pixel mask, non-zero = scored.

    """
    img1, img2 = _pair(prediction, reference)
    return math.sqrt(_masked_mean((img1 - img2) ** 2, mask))


def sam(prediction: ArrayLike, reference: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean spectral angle in degrees over (scored) pixels with a defined angle.

    Args:
        prediction: (C, H, W) or (B, C, H, W) reflectance.
        reference: the same shape.
        mask: optional per-pixel mask, non-zero = scored.

    """
    angles = sam_map(prediction, reference)
    weights = as_pixel_mask(mask, angles.shape[0], angles.shape[2], angles.shape[3], angles.device)
    weights = weights * torch.isfinite(angles)
    count = float(weights.sum())
    return (
        float(weighted_sum(torch.where(weights > 0, angles, 0.0), weights).sum()) / count
        if count
        else math.nan
    )


def _pair(prediction: ArrayLike, reference: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    img1 = as_image_batch(prediction)
    img2 = as_image_batch(reference, device=img1.device)
    check_same_shape(img1, img2)
    return img1, img2


def check_same_shape(img1: torch.Tensor, img2: torch.Tensor) -> None:
    if img1.shape != img2.shape:
        raise InputRasterError(
            f"prediction {tuple(img1.shape)} and reference {tuple(img2.shape)} differ in shape; "
            "compare images of the same bands and size"
        )


def weighted_sum(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-image float64 sum of ``values`` (B, C, H, W) times ``weights`` (B, 1, H, W)."""
    return (values.double() * weights).sum(dim=(1, 2, 3))


def _masked_mean(values: torch.Tensor, mask: ArrayLike | None) -> float:
    """Mean of ``values`` (B, C, H, W) over the bands and the pixels where ``mask`` is non-zero."""
    batch, bands, height, width = values.shape
    weights = as_pixel_mask(mask, batch, height, width, values.device)
    elements = float(weights.sum()) * bands
    return float(weighted_sum(values, weights).sum()) / elements if elements else math.nan
