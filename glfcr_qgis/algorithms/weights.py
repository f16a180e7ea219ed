"""Where the algorithms find the GLF-CR checkpoint, and a cheap check that a file can be one.

The analyst downloads the authors' ``CR_net.pth`` once; the checkpoint parameter then defaults to the
file named by the environment variable ``GLFCR_WEIGHTS`` (handy for ``qgis_process``) or, failing that,
by the QGIS setting ``glfcr/weights``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from qgis.core import QgsSettings

from ..core.model.checkpoint_safety import unsafe_global_problem

WEIGHTS_ENV = "GLFCR_WEIGHTS"
WEIGHTS_SETTING = "glfcr/weights"
AUTHORS_REPOSITORY = "https://github.com/xufangchn/GLF-CR"

# first bytes of a legacy (non-zip) torch.save file: a pickle, protocol 2 or later
_PICKLE_MAGIC = b"\x80"


def default_weights_path() -> str:
    """Get the checkpoint named by ``GLFCR_WEIGHTS`` or the QGIS setting ``glfcr/weights`` ("" if neither)."""
    from_env = os.environ.get(WEIGHTS_ENV, "").strip()
    if from_env:
        return from_env
    return str(QgsSettings().value(WEIGHTS_SETTING, "", type=str) or "").strip()


def set_default_weights_path(path: str) -> None:
    """Make ``path`` the default checkpoint of every algorithm (the QGIS setting ``glfcr/weights``)."""
    QgsSettings().setValue(WEIGHTS_SETTING, str(path))


def missing_weights_message() -> str:
    """What to tell an analyst who gave no checkpoint: where to get it and how to set it once."""
    return (
        "No GLF-CR weights given: download the authors' pretrained CR_net.pth from the link in the README of "
        f"{AUTHORS_REPOSITORY}, then choose it as the checkpoint, or set the environment variable "
        f"{WEIGHTS_ENV} (or the QGIS setting {WEIGHTS_SETTING}) to its path."
    )


def weights_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be a PyTorch checkpoint, or None when it may be one (without loading it).

    Reads a few bytes and the pickle's opcodes, without torch: a missing or unreadable file, a file
    that is neither a zip archive (``torch.save``'s format) nor a pickle, and a pickle that asks to
    run code or to build other objects than tensors are reported; whether it holds GLF-CR's weights
    is checked when it is loaded.
    """
    if not path:
        return missing_weights_message()
    file = Path(path)
    if not file.is_file():
        return (
            f"The GLF-CR weights file {path} does not exist; choose the downloaded CR_net.pth "
            f"(linked from the README of {AUTHORS_REPOSITORY})."
        )
    try:
        with open(file, "rb") as stream:
            head = stream.read(4)
    except OSError as err:
        return (
            f"The GLF-CR weights file {path} cannot be read ({err.strerror or err}); check its permissions."
        )
    if zipfile.is_zipfile(file) or head.startswith(_PICKLE_MAGIC):
        # a file that would run code is refused here, before a run, without torch
        return unsafe_global_problem(file)
    return (
        f"{path} is not a PyTorch checkpoint (neither a zip archive nor a pickle); the download may be "
        f"incomplete: download CR_net.pth again from the link in the README of {AUTHORS_REPOSITORY}."
    )
