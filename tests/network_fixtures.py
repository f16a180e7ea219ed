"""Shared loaders for the reference checkpoint and input/output pair (read from ../shared)."""

from __future__ import annotations

import functools

import pytest
import torch
from paths import SHARED_DIR

REFERENCE_CHECKPOINT = SHARED_DIR / "reference" / "glfcr_random_ckpt.pth"
REFERENCE_IO = SHARED_DIR / "reference" / "glfcr_reference_io.pt"


def require_reference_checkpoint() -> None:
    """Skip where the 73 MB reference checkpoint is not at hand (a GPU machine gets the small files only)."""
    if not REFERENCE_CHECKPOINT.is_file():
        pytest.skip(
            f"reference checkpoint not found at {REFERENCE_CHECKPOINT}; bench/gpu_suite.py compares CUDA "
            "with the CPU path on seeded weights instead"
        )


@functools.lru_cache(maxsize=1)
def reference_io() -> dict:
    return torch.load(REFERENCE_IO, weights_only=True)


@functools.lru_cache(maxsize=1)
def reference_model() -> torch.nn.Module:
    """The reference checkpoint as an eval-mode network on the CPU, loaded once per test session.

    Shared by the tests that only run it (73 MB to read each time otherwise); tests of loading itself
    call ``load_model``.
    """
    from glfcr_qgis.core.model.inference import prepare_model

    return prepare_model(REFERENCE_CHECKPOINT, "cpu")


@functools.lru_cache(maxsize=1)
def reference_state_dict() -> dict[str, torch.Tensor]:
    return torch.load(REFERENCE_CHECKPOINT, weights_only=True)["network"]
