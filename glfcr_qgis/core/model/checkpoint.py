"""Reading and writing GLF-CR checkpoints: the one place where weights enter or leave the network.

Accepted layouts: the authors' ``{"network": state_dict}``, a plain state_dict, ``{"state_dict": ...}``
or ``{"model": ...}`` wrappers, and ``module.``-prefixed keys written from ``DataParallel``.
Checkpoints are untrusted files: they are read with ``weights_only=True``, which never runs code; a
file it refuses is explained with ``checkpoint_safety`` (what the pickle asked for), never with torch's
own advice, which suggests lifting the check.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from .checkpoint_safety import (
    AUTHORS_WEIGHTS,
    refused_global,
    unsafe_checkpoint_message,
    unsafe_global_problem,
)
from .device import resolve_device
from .network import GLFCR

# Derived from the tile size or the window size, not learned: a checkpoint may carry them or not.
DERIVED_SUFFIXES: tuple[str, ...] = (".attn_mask", ".relative_position_index")
_WRAPPER_KEYS: tuple[str, ...] = ("network", "state_dict", "model")
_LISTED = 8  # offending keys named in an error message
# the parts of torch's load errors that advise lifting the safety check: never passed on
_TORCH_ADVICE: tuple[str, ...] = (
    "weights_only", "Weights only load failed", "trusted source", "documentation", "add_safe_globals"
)


def _read(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"Checkpoint {str(path)!r} does not exist: give the path of a GLF-CR .pth file "
            "(the authors' CR_net.pth is linked from github.com/xufangchn/GLF-CR)."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refused a global: say what the file asked for, never torch's advice to lift the check
        refused = refused_global(str(error))
        problem = unsafe_global_problem(path)
        if problem or refused:
            raise CheckpointError(problem or unsafe_checkpoint_message(path, refused)) from None
        if _looks_like_torch_save(path):
            raise CheckpointError(
                f"{path} is not a plain weights file: it holds content that is not loaded for safety "
                f"({_reason(error)}); {AUTHORS_WEIGHTS}."
            ) from None
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint ({_reason(error)}): "
            "check that the download is complete and that it is a .pth file."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint ({_reason(error)}): "
            "check that the download is complete and that it is a .pth file."
        ) from None


def _looks_like_torch_save(path: Path) -> bool:
    """Whether the file is a zip archive or a pickle (protocol 2+), the two forms ``torch.save`` writes."""
    with open(path, "rb") as handle:
        head = handle.read(1)
    return head == b"\x80" or zipfile.is_zipfile(path)


def _reason(error: BaseException) -> str:
    """The first line of torch's message that states a cause (none of its advice about ``weights_only``)."""
    for line in str(error).splitlines():
        line = line.strip()
        if line and not any(advice in line for advice in _TORCH_ADVICE):
            return line.rstrip(".")
    return type(error).__name__


def _unwrap(obj: Any, path: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path!r} does not hold a state_dict of tensors (found {type(obj).__name__}): "
            "expected the authors' format {'network': state_dict} or a plain state_dict."
        )
    state = {str(k): v for k, v in obj.items()}
    if all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    return state


def _describe(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def _check_learned_keys(state: Mapping[str, torch.Tensor], model: GLFCR, path: str) -> None:
    expected = {k: v.shape for k, v in model.state_dict().items() if not k.endswith(DERIVED_SUFFIXES)}
    learned = {k: v for k, v in state.items() if not k.endswith(DERIVED_SUFFIXES)}
    missing = sorted(set(expected) - set(learned))
    unexpected = sorted(set(learned) - set(expected))
    misshaped = sorted(
        f"{k} {tuple(learned[k].shape)} (expected {tuple(expected[k])})"
        for k in set(expected) & set(learned)
        if learned[k].shape != expected[k]
    )
    if len(missing) == len(expected):
        raise CheckpointError(
            f"{path!r} is not a GLF-CR checkpoint: none of its {len(state)} keys belong to the network "
            f"(e.g. {_describe(sorted(state))}). Use the authors' CR_net.pth or a file saved by this plugin."
        )
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_describe(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_describe(unexpected)}")
    if misshaped:
        problems.append(f"{len(misshaped)} with the wrong shape: {_describe(misshaped)}")
    if problems:
        raise CheckpointError(
            f"{path!r} does not match the GLF-CR network; " + "; ".join(problems)
            + ". It may come from another model or another version of the code."
        )


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a plain state_dict (CPU tensors, wrappers and ``module.`` removed).

    Raises:
        CheckpointError: the file is missing, unreadable, unsafe or holds no state_dict.
    """
    return _unwrap(_read(path), str(path))


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> GLFCR:
    """Build GLF-CR, load a checkpoint strictly into it, and return it in eval mode on ``device``.

    Learned parameters must match exactly; the shifted-window masks and position indices stored by
    the authors' code are accepted and recomputed for each tile size.

    Args:
        path: checkpoint file (see module docstring for the accepted layouts).
        device: "auto", "cpu", "cuda" or "cuda:N".

    Raises:
        CheckpointError: unreadable file, or keys missing, unexpected or of the wrong shape (listed).
        DeviceError: the device is not available.
    """
    target = resolve_device(device)
    state = load_state_dict(path)
    model = GLFCR()
    _check_learned_keys(state, model, str(path))
    # position indices are recomputed by the network; keep its own copies when the file has none
    model.load_state_dict(state, strict=False)
    return model.to(target).eval()


def save_checkpoint(model: GLFCR, path: str | os.PathLike[str], **metadata: Any) -> None:
    """Write ``model`` in the authors' format, ``{"network": state_dict, **metadata}``.

    The state_dict includes the masks of 128 x 128 tiles that the authors' ``load_state_dict(strict=True)``
    expects. The file appears whole or not at all.

    Args:
        model: the network (its weights are copied to the CPU).
        path: destination ``.pth`` file.
        **metadata: extra top-level entries (tensors, numbers, strings, lists, dicts), e.g. ``epoch=3``.
    """
    if "network" in metadata:
        raise ValueError("'network' is reserved for the state_dict")
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    path = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({"network": state, **metadata}, handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
