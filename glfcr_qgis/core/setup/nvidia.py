"""Which CUDA major version the machine's NVIDIA driver supports, to pick the matching CuPy build.

Asked in order of reliability: the driver library itself (``cuDriverGetVersion``, no GPU context
needed), then ``nvidia-smi``'s header, then the kernel module's version on Linux. No driver: None.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .interpreter import NO_WINDOW

# The oldest Linux and Windows drivers that run each CUDA major version (CUDA's release notes).
_MIN_DRIVER = {13: (580, 0), 12: (525, 60)}
_SMI_CUDA = re.compile(r"CUDA Version:\s*(\d+)\.(\d+)")
_KERNEL_MODULE = re.compile(r"Kernel Module\s+(?:for \S+\s+)?(\d+)\.(\d+)")


def cuda_major_from_driver_api(version: int) -> int | None:
    """CUDA major version from ``cuDriverGetVersion``'s integer (12040 -> 12); None for 0."""
    return version // 1000 if version > 0 else None


def cuda_major_from_smi(text: str) -> int | None:
    """CUDA major version from ``nvidia-smi``'s header ("CUDA Version: 12.4"), or None."""
    match = _SMI_CUDA.search(text)
    return int(match.group(1)) if match else None


def cuda_major_from_driver_version(major: int, minor: int) -> int | None:
    """The newest CUDA major version a driver of this version runs (580 -> 13, 535 -> 12, 470 -> None)."""
    for cuda, minimum in sorted(_MIN_DRIVER.items(), reverse=True):
        if (major, minor) >= minimum:
            return cuda
    return None


def cuda_major_from_kernel_module(text: str) -> int | None:
    """CUDA major version from ``/proc/driver/nvidia/version`` ("... Kernel Module  550.54.14 ...")."""
    match = _KERNEL_MODULE.search(text)
    return cuda_major_from_driver_version(int(match.group(1)), int(match.group(2))) if match else None


def _driver_api_major() -> int | None:
    names = {"win32": ["nvcuda.dll"], "darwin": []}.get(sys.platform, ["libcuda.so.1", "libcuda.so"])
    for name in names:
        try:
            library = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        if library.cuDriverGetVersion(ctypes.byref(version)) == 0:
            return cuda_major_from_driver_api(version.value)
    return None


def _smi_major() -> int | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        completed = subprocess.run(
            [smi], capture_output=True, text=True, timeout=20, creationflags=NO_WINDOW, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return cuda_major_from_smi(completed.stdout)


def _kernel_module_major() -> int | None:
    try:
        return cuda_major_from_kernel_module(Path("/proc/driver/nvidia/version").read_text(encoding="utf-8"))
    except OSError:
        return None


def nvidia_cuda_major() -> int | None:
    """The CUDA major version this machine's NVIDIA driver supports, or None when there is no driver."""
    for ask in (_driver_api_major, _smi_major, _kernel_module_major):
        major = ask()
        if major is not None:
            return major
    return None
