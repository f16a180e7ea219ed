"""The plugin's version and links, read from ``metadata.txt`` (their single source).

Plain Python (no qgis), so ``glfcr_qgis.core`` can stamp outputs with the version.
"""

from __future__ import annotations

import configparser
from functools import lru_cache
from importlib import resources
from pathlib import Path

METADATA_PATH = Path(__file__).resolve().parent / "metadata.txt"


@lru_cache(maxsize=1)
def plugin_metadata() -> dict[str, str]:
    """The ``[general]`` section of ``metadata.txt`` as a dict of strings."""
    # interpolation off: the about text may hold '%'
    parser = configparser.ConfigParser(interpolation=None)
    # through importlib.resources: Dask workers may import the package from an uploaded ZIP
    parser.read_string(resources.files(__package__).joinpath("metadata.txt").read_text(encoding="utf-8"))
    return dict(parser["general"])


def plugin_version() -> str:
    """The plugin version, e.g. ``"0.1.0"``."""
    return plugin_metadata()["version"]


def plugin_icon_path() -> Path:
    """The plugin icon file named by ``metadata.txt``."""
    return METADATA_PATH.parent / plugin_metadata()["icon"]
