"""The dynamic filter of GLF-CR (the authors' ``KernelConv2D``): a per-pixel K x K filter per channel.

``out[b, c, y, x] = sum_{i, j < K} pad[b, c, y + i, x + j] * kernel[b, c*K*K + i*K + j, y, x]``
with ``pad`` the input replicate-padded by (K - 1) / 2 on every side.

The authors ship this op only as a CUDA extension. Here it has a PyTorch implementation for every
device and a CuPy ``RawKernel`` implementation (``glfcr_qgis.kernels``) used for CUDA tensors when
CuPy is importable.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from ..errors import GlfcrWarning

_cuda_fallback_warned = False


def _check_shapes(input: torch.Tensor, kernel: torch.Tensor, kernel_size: int) -> None:
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    if input.dim() != 4 or kernel.dim() != 4:
        raise ValueError("input and kernel must be 4-D tensors (B, C, H, W) and (B, C*K*K, H, W)")
    b, c, h, w = input.shape
    expected = (b, c * kernel_size * kernel_size, h, w)
    if tuple(kernel.shape) != expected:
        raise ValueError(f"kernel must have shape {expected} for input {tuple(input.shape)}, got {tuple(kernel.shape)}")


def kernel_conv2d_torch(input: torch.Tensor, kernel: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Dynamic filter in plain PyTorch, differentiable through autograd.

    Accumulates the K*K shifted products one at a time rather than unfolding the input, so the
    extra memory is one padded copy of the input instead of K*K copies.

    Args:
        input: (B, C, H, W) features.
        kernel: (B, C*K*K, H, W) per-pixel filters, tap (i, j) of channel c at index c*K*K + i*K + j.
        kernel_size: K, odd.

    Returns:
        (B, C, H, W) filtered features.
    """
    _check_shapes(input, kernel, kernel_size)
    b, c, h, w = input.shape
    k = kernel_size
    half = (k - 1) // 2
    padded = F.pad(input, (half, half, half, half), mode="replicate") if half else input
    taps = kernel.view(b, c, k * k, h, w)
    out = padded[:, :, 0:h, 0:w] * taps[:, :, 0]
    for tap in range(1, k * k):
        i, j = divmod(tap, k)
        out = out.addcmul(padded[:, :, i : i + h, j : j + w], taps[:, :, tap])
    return out


def kernel_conv2d(input: torch.Tensor, kernel: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Dynamic filter on any device: CuPy kernels for CUDA tensors when CuPy imports, else PyTorch.

    Args:
        input: (B, C, H, W) features.
        kernel: (B, C*K*K, H, W) per-pixel filters (layout of the authors' ``KernelConv2D``).
        kernel_size: K, odd.

    Returns:
        (B, C, H, W) filtered features; differentiable with respect to both inputs.
    """
    if input.is_cuda:
        from ...kernels import cupy_available

        if cupy_available():
            from ...kernels.kernel_conv2d import kernel_conv2d_cupy

            _check_shapes(input, kernel, kernel_size)
            return kernel_conv2d_cupy(input, kernel, kernel_size)
        _warn_cuda_fallback()
    return kernel_conv2d_torch(input, kernel, kernel_size)


def _warn_cuda_fallback() -> None:
    global _cuda_fallback_warned
    if not _cuda_fallback_warned:
        _cuda_fallback_warned = True
        warnings.warn(
            "CuPy is not installed, so the dynamic filter runs as plain PyTorch on the GPU (slower); "
            "install cupy-cuda12x or cupy-cuda13x to match your CUDA for the fused kernel.",
            GlfcrWarning,
            stacklevel=3,
        )


def generate_and_apply_filters(
    input: torch.Tensor,
    features: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    kernel_size: int,
    negative_slope: float,
    channel_chunk: int = 8,
) -> torch.Tensor:
    """``kernel_conv2d(input, leaky_relu(conv1x1(features)), K)`` without the full filter tensor.

    The authors' filter generator ends in a 1x1 convolution to C*K*K channels (2400 for GLF-CR,
    157 MB per 256-pixel tile) that the dynamic filter reads once. Here the filters of a few
    channels at a time are made and used while they are in cache. Inference only (no autograd).

    Args:
        input: (B, C, H, W) features to filter.
        features: (B, F, H, W) input of the generator's last 1x1 convolution.
        weight: (C*K*K, F, 1, 1) weight of that convolution; bias: (C*K*K,).
        kernel_size: K, odd.
        negative_slope: slope of the LeakyReLU after the convolution.
        channel_chunk: channels of ``input`` handled per step.

    Returns:
        (B, C, H, W) filtered features.
    """
    b, c, h, w = input.shape
    k = kernel_size
    taps_per_channel = k * k
    if weight.shape[0] != c * taps_per_channel:
        raise ValueError(f"weight must have {c * taps_per_channel} output channels, got {weight.shape[0]}")
    half = (k - 1) // 2
    padded = F.pad(input, (half, half, half, half), mode="replicate") if half else input
    matrix = weight.view(weight.shape[0], -1)
    flat_features = features.reshape(b, features.shape[1], h * w)
    out = torch.empty_like(input)
    for start in range(0, c, channel_chunk):
        stop = min(c, start + channel_chunk)
        rows = slice(start * taps_per_channel, stop * taps_per_channel)
        taps = torch.matmul(matrix[rows], flat_features).add_(bias[rows].view(1, -1, 1))
        taps = F.leaky_relu_(taps, negative_slope).view(b, stop - start, taps_per_channel, h, w)
        part = padded[:, start:stop]
        accumulator = out[:, start:stop]
        torch.mul(part[:, :, 0:h, 0:w], taps[:, :, 0], out=accumulator)
        for tap in range(1, taps_per_channel):
            i, j = divmod(tap, k)
            accumulator.addcmul_(part[:, :, i : i + h, j : j + w], taps[:, :, tap])
    return out
