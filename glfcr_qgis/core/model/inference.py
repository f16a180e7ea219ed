"""Running GLF-CR for prediction: model preparation and one batched forward pass.

Every product path (Remove Clouds, Evaluate on SEN12MS-CR, the benchmarks) runs the network
through these two functions, so speed settings and reduced precision live in one place.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import torch
from torch import nn

from ..errors import DeviceError, ParameterValueError
from .checkpoint import load_model
from .device import cpu_runs_bfloat16_natively, resolve_device

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16", "float16")

# called with the fraction of one forward pass done, 0..1; it may raise (e.g. ProcessingCanceled) to stop
StepCallback = Callable[[float], None]


def prepare_model(
    weights: str | os.PathLike[str] | nn.Module, device: str | torch.device = "auto"
) -> nn.Module:
    """A GLF-CR checkpoint path (or an already built network) as an eval-mode network on ``device``.

    Args:
        weights: checkpoint file, or an ``nn.Module`` taking (cloudy, sar) (tests pass stand-ins).
        device: "auto", "cpu", "cuda" or "cuda:N", or a ``torch.device``.
    """
    target = resolve_device(device)
    if isinstance(weights, nn.Module):
        return weights.to(target).eval()
    return load_model(weights, target)


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a precision that ``device`` cannot run, or runs slower than float32.

    Args:
        precision: one of ``PRECISIONS``.
        device: where the network runs.

    Raises:
        ParameterValueError: an unknown precision, or bfloat16 on a CPU without native bfloat16
            (AVX-512 BF16 or AMX), where it is emulated and many times slower than float32.
        DeviceError: float16 anywhere but on a CUDA GPU.
    """
    if precision not in PRECISIONS:
        raise ParameterValueError(
            f"Precision {precision!r} is not available; use one of {', '.join(PRECISIONS)}."
        )
    if device.type == "cpu" and precision == "float16":
        raise DeviceError("float16 runs only on CUDA GPUs: use float32 on the CPU.")
    if device.type == "cpu" and precision == "bfloat16" and not cpu_runs_bfloat16_natively():
        raise ParameterValueError(
            "bfloat16 is not native on this CPU (it has neither AVX-512 BF16 nor AMX), so float32 is faster "
            "on this CPU (bfloat16 is emulated, about 30x slower): choose float32, or bfloat16 on a CUDA GPU."
        )


def predict(
    model: nn.Module,
    cloudy: torch.Tensor,
    sar: torch.Tensor,
    *,
    precision: str = "float32",
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """One forward pass without autograd.

    Args:
        model: network from :func:`prepare_model`.
        cloudy: (B, 13, H, W) normalised optical reflectance on the model's device.
        sar: (B, 2, H, W) normalised SAR on the model's device.
        precision: "float32" (exact; the default), "bfloat16" (CUDA, or a CPU with AVX-512 BF16 or AMX) or
            "float16" (CUDA only): autocast for convolutions and matrix products; the output is float32.
        on_step: called with the fraction of this pass done after each stage of the network (each
            residual dense block and SAR fusion of GLF-CR; once at the end for other models). It may
            raise, e.g. ``ProcessingCanceled``, to stop within a fraction of one pass.

    Returns:
        (B, 13, H, W) float32 prediction in reflectance units.

    Raises:
        ParameterValueError: an unknown precision, or bfloat16 on a CPU without native bfloat16.
        DeviceError: float16 off CUDA.
    """
    check_precision(precision, cloudy.device)
    with torch.inference_mode():
        if precision == "float32":
            return _forward(model, cloudy, sar, on_step)
        dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
        with torch.autocast(cloudy.device.type, dtype=dtype):
            return _forward(model, cloudy, sar, on_step).float()


def _forward(
    model: nn.Module, cloudy: torch.Tensor, sar: torch.Tensor, on_step: StepCallback | None
) -> torch.Tensor:
    """Run ``model``, reporting its stages to ``on_step`` where its forward takes ``on_stage`` (GLF-CR)."""
    if on_step is None:
        return model(cloudy, sar)
    if "on_stage" in inspect.signature(model.forward).parameters:
        return model(cloudy, sar, on_stage=lambda done, total: on_step(done / total))
    output = model(cloudy, sar)
    on_step(1.0)
    return output
