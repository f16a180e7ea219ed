"""Where the algorithms find the GLF-CR checkpoint, and a cheap check that a file can be one.

The analyst downloads the authors' ``CR_net.pth`` once; the checkpoint parameter then defaults to the
file named by the environment variable ``GLFCR_WEIGHTS`` (handy for ``qgis_process``) or, failing that,
by the provider setting *Default GLF-CR checkpoint* (Settings > Options > Processing > Providers >
GLF-CR), which the checkpoint manager writes too; the older QGIS setting ``glfcr/weights`` is read when
that was never set.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from qgis.core import QgsProcessingParameterFile

from ..settings import LEGACY_CHECKPOINT_KEY, checkpoint_setting, set_checkpoint_setting

WEIGHTS_ENV = "GLFCR_WEIGHTS"
# kept for callers of the old name: the key read when the provider setting was never set
WEIGHTS_SETTING = LEGACY_CHECKPOINT_KEY
AUTHORS_REPOSITORY = "https://github.com/xufangchn/GLF-CR"

# first bytes of a legacy (non-zip) torch.save file: a pickle, protocol 2 or later
_PICKLE_MAGIC = b"\x80"


def default_weights_path() -> str:
    """Get the checkpoint named by ``GLFCR_WEIGHTS``, else by the provider setting ("" if neither)."""
    from_env = os.environ.get(WEIGHTS_ENV, "").strip()
    if from_env:
        return from_env
    return checkpoint_setting()


def set_default_weights_path(path: str) -> None:
    """Make ``path`` the default checkpoint of every algorithm (the provider setting on the options page)."""
    set_checkpoint_setting(path)


def checkpoint_parameter(name: str, description: str, **file_options: Any) -> QgsProcessingParameterFile:
    """The checkpoint parameter of an algorithm: it shows the default, and is required when there is none.

    It is optional only while a default exists (``default_weights_path``): qgis_process (3.22) checks a
    required file parameter without its default, so it would refuse runs that rely on
    ``GLFCR_WEIGHTS`` or the setting; the run then takes the default.

    Args:
        name: the parameter name.
        description: its label.
        **file_options: more ``QgsProcessingParameterFile`` options (``extension``, ``fileFilter``).
    """
    default = default_weights_path()
    return QgsProcessingParameterFile(
        name,
        description,
        behavior=QgsProcessingParameterFile.File,
        defaultValue=default or None,
        optional=bool(default),
        **file_options,
    )


def missing_weights_message() -> str:
    """What to tell an analyst who gave no checkpoint: where to get it and how to set it once."""
    return (
        "No GLF-CR weights given: download the authors' pretrained CR_net.pth from the link in the README "
        f"of {AUTHORS_REPOSITORY}, then choose it as the checkpoint, or set it once as the default in "
        f"Settings > Options > Processing > Providers > GLF-CR (or the environment variable {WEIGHTS_ENV})."
    )


def weights_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be a PyTorch checkpoint, or None when it may be one (without loading it).

    Reads a few bytes only: a missing or unreadable file, or a file that is neither a zip archive
    (``torch.save``'s format) nor a pickle, is reported; whether it holds GLF-CR's weights is checked
    when it is loaded.
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
        return None
    return (
        f"{path} is not a PyTorch checkpoint (neither a zip archive nor a pickle); the download may be "
        f"incomplete: download CR_net.pth again from the link in the README of {AUTHORS_REPOSITORY}."
    )
