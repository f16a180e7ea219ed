"""CUDA kernels of GLF-CR compiled at run time with CuPy (no build step, no C++ extension)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def cupy_available() -> bool:
    """True when CuPy imports and sees a CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or a CuPy build that does not match the driver
        return False


__all__ = ["cupy_available"]
