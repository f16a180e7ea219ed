"""Running GLF-CR for prediction: model preparation and one batched forward pass.

Every product path (Remove Clouds, Evaluate on SEN12MS-CR, the benchmarks) runs the network
through these two functions, so speed settings and reduced precision live in one place.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..errors import DeviceError
from .checkpoint import load_model
from .device import resolve_device

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "float16")


def prepare_model(weights: str | os.PathLike[str] | nn.Module, device: str | torch.device = "auto") -> nn.Module:
    """A GLF-CR checkpoint path (or an already built network) as an eval-mode network on ``device``.

    Args:
        weights: checkpoint file, or an ``nn.Module`` taking (cloudy, sar) (tests pass stand-ins).
        device: "auto", "cpu", "cuda" or "cuda:N", or a ``torch.device``.
    """
    target = resolve_device(device)
    if isinstance(weights, nn.Module):
        return weights.to(target).eval()
    return load_model(weights, target)


def predict(model: nn.Module, cloudy: torch.Tensor, sar: torch.Tensor, *, precision: str = "float32") -> torch.Tensor:
    """One forward pass without autograd.

    Args:
        model: network from :func:`prepare_model`.
        cloudy: (B, 13, H, W) normalised optical reflectance on the model's device.
        sar: (B, 2, H, W) normalised SAR on the model's device.
        precision: "float32" (exact; the default), "bfloat16" (CPU with AVX-512 BF16/AMX, or CUDA) or
            "float16" (CUDA only): autocast for convolutions and matrix products; the output is float32.

    Returns:
        (B, 13, H, W) float32 prediction in reflectance units.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    with torch.inference_mode():
        if precision == "float32":
            return model(cloudy, sar)
        if precision == "float16" and cloudy.device.type != "cuda":
            raise DeviceError("float16 runs only on CUDA GPUs: use bfloat16 on the CPU, or float32.")
        dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
        with torch.autocast(cloudy.device.type, dtype=dtype):
            return model(cloudy, sar).float()
