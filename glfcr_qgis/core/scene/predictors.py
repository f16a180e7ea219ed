"""The network wrapped for Remove Clouds' strip loop: NumPy batches on the CPU, device tensors on a GPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .strip_runner import BatchPredictor, StepCallback

if TYPE_CHECKING:  # torch is imported when a run starts
    import torch
    from torch import nn


def uses_device_blending(device: torch.device) -> bool:
    """Whether tiles are staged, blended and copied back on the device (CUDA) rather than with NumPy."""
    return device.type == "cuda"


def batch_predictor(
    model: nn.Module, device: torch.device, precision: str, *, tensors: bool = False
) -> BatchPredictor:
    """Wrap the network for batches: float32 (B, 13, T, T) and (B, 2, T, T) -> (B, 13, T, T).

    NumPy arrays in and out; with ``tensors``, tensors already on the device in and the prediction left
    there (device blending).
    """
    import torch

    from ..model.inference import predict

    def run(cloudy: np.ndarray, sar: np.ndarray, on_step: StepCallback | None = None) -> np.ndarray:
        inputs = torch.from_numpy(cloudy).to(device), torch.from_numpy(sar).to(device)
        return predict(model, *inputs, precision=precision, on_step=on_step).float().cpu().numpy()

    def run_on_device(
        cloudy: torch.Tensor, sar: torch.Tensor, on_step: StepCallback | None = None
    ) -> torch.Tensor:
        return predict(model, cloudy, sar, precision=precision, on_step=on_step).float()

    return run_on_device if tensors else run
