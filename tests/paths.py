"""Where the checkout and the shared test material are; imports nothing of QGIS.

Test modules that must also run on a machine without QGIS (the GPU tests, run on a GPU machine that
has torch and CuPy but no QGIS: ``bench/gpu_suite.py``) take their paths from here.
``GLFCR_SHARED_DIR`` points the tests at a copy of the shared material elsewhere (the default is
``../shared`` beside the checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("GLFCR_SHARED_DIR") or REPO_ROOT.parent / "shared")
