"""Choice of the compute device from a user's words ("auto", "cpu", "cuda", "cuda:N")."""

from __future__ import annotations

import torch

from ..errors import DeviceError

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn a device name into a usable ``torch.device``.

    Args:
        name: "auto" (the first CUDA GPU when there is one, else the CPU), "cpu", "cuda" or "cuda:N".

    Returns:
        The device.

    Raises:
        DeviceError: CUDA was asked for where there is none, or the name is not a device.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = name.strip().lower()
    if text == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise DeviceError(f"Unknown device {name!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'.") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise DeviceError(f"Device {name!r} is not supported: use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"Device {name!r} was requested but PyTorch sees no CUDA GPU here "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}): "
            "choose 'cpu' or 'auto', or install a CUDA build of PyTorch."
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(f"Device {name!r} does not exist: this machine has {count} CUDA GPU(s), cuda:0..cuda:{count - 1}.")
    return device
