"""The compute device from a user's words ("auto", "cpu", "cuda", "cuda:N"), and native CPU arithmetic."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from ..errors import DeviceError

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")
# /proc/cpuinfo flags of native bfloat16 arithmetic (x86: AVX-512 BF16, AMX; Arm: the BF16 extension)
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@functools.lru_cache(maxsize=1)
def cpu_runs_bfloat16_natively() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX; BF16 on Arm).

    Elsewhere PyTorch emulates bfloat16 and a forward pass is many times slower than in float32
    (about 30x on an AVX2-only CPU). Asks PyTorch's CPU feature probe, then ``/proc/cpuinfo``.
    """
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if any(getattr(torch.cpu, probe, lambda: False)() for probe in probes):
        return True
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features") and BFLOAT16_CPU_FLAGS & set(value.split()):
            return True
    return False


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
        raise DeviceError(
            f"Device {name!r} does not exist: this machine has {count} CUDA GPU(s), cuda:0..cuda:{count - 1}."
        )
    return device
