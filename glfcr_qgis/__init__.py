"""GLF-CR cloud removal for QGIS: a Processing provider over the plain-Python library ``glfcr_qgis.core``.

Importing the package makes the checkout's ``.venv`` (torch) importable; it never imports torch or
qgis itself, so ``glfcr_qgis.core`` can be used from any Python.
"""

from __future__ import annotations

from typing import Any

from .dependencies import add_venv_to_path

add_venv_to_path()


def classFactory(iface: Any) -> Any:  # noqa: N802 (QGIS API name)
    """Entry point QGIS calls to load the plugin."""
    from .plugin import GlfcrPlugin

    return GlfcrPlugin(iface)
