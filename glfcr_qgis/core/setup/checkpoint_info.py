"""What the checkpoint manager shows about a checkpoint file: size, SHA-256 and whether it loads as GLF-CR.

The structural check goes through the one checkpoint loader (``model.checkpoint.load_model``:
``weights_only=True``, every learned key and shape compared with the network), imported only when a
check runs, so this module loads without torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, MissingDependencyError, ProcessingCanceled

_BLOCK = 4 * 1024 * 1024
NO_TORCH_FOR_CHECK = (
    "Checking a checkpoint needs PyTorch, which QGIS's Python does not have yet: run Install dependencies "
    "first."
)


@dataclass(frozen=True)
class CheckpointInfo:
    """The facts about one checkpoint file; ``problem`` is a sentence when it cannot be used."""

    path: str
    size: int | None
    sha256: str | None
    loads_as_glfcr: bool | None  # None: not checked (missing torch or not asked)
    problem: str | None


def sha256_of(path: str | os.PathLike[str], is_canceled: Callable[[], bool] | None = None) -> str:
    """The file's SHA-256 as 64 hex digits, read in blocks (a cancel stops between blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            if is_canceled is not None and is_canceled():
                raise ProcessingCanceled("Checksum canceled.")
            digest.update(block)
    return digest.hexdigest()


def require_checker() -> None:
    """Fail when the structural check cannot run (torch missing).

    Raises:
        MissingDependencyError: torch is not importable.
    """
    if importlib.util.find_spec("torch") is None:
        raise MissingDependencyError(NO_TORCH_FOR_CHECK)


def check_structure(path: str | os.PathLike[str]) -> None:
    """Load ``path`` into the GLF-CR network on the CPU (safe loading, keys and shapes checked).

    Raises:
        CheckpointError: unreadable, unsafe, or not GLF-CR's weights (the sentence says which).
        MissingDependencyError: torch is missing.
    """
    require_checker()
    from ..model.checkpoint import load_model

    load_model(path, device="cpu")


def inspect_checkpoint(
    path: str, check: bool = True, is_canceled: Callable[[], bool] | None = None
) -> CheckpointInfo:
    """Describe the checkpoint at ``path`` for the checkpoint manager; never raises for a bad file.

    Args:
        path: the file ('' when none is chosen).
        check: also load it as GLF-CR (about a second on a CPU; needs torch).
        is_canceled: stops the checksum between blocks.
    """
    if not path:
        return CheckpointInfo("", None, None, None, "No checkpoint is chosen.")
    file = Path(path)
    if not file.is_file():
        return CheckpointInfo(path, None, None, False, f"{path} does not exist.")
    try:
        size = file.stat().st_size
        digest = sha256_of(file, is_canceled)
    except OSError as error:
        return CheckpointInfo(path, None, None, False, f"{path} cannot be read ({error.strerror or error}).")
    if not check:
        return CheckpointInfo(path, size, digest, None, None)
    try:
        check_structure(file)
    except MissingDependencyError as error:
        return CheckpointInfo(path, size, digest, None, str(error))
    except CheckpointError as error:
        return CheckpointInfo(path, size, digest, False, str(error))
    return CheckpointInfo(path, size, digest, True, None)
