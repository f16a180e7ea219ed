"""Shared fixtures: a headless QGIS with the ``glfcr`` provider, the shared test material, and runners.

Run algorithms in tests with the helpers re-exported here (``from conftest import run_qgis_process``
or ``from qgis_helpers import ...``): ``processing_run`` in-process, ``run_qgis_process`` as a
``qgis_process.bin`` subprocess; both load the plugin from this checkout.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One OpenMP thread for torch here and in the qgis_process subprocesses (they inherit it), unless the
# caller chose otherwise: on two cores shared with other processes, torch's second thread spins at
# barriers waiting for a core, and a forward pass ran 2-3x slower with two threads than with one.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from paths import REPO_ROOT, SHARED_DIR  # noqa: E402,F401  (re-exported for test modules)

try:
    from qgis_helpers import (  # noqa: E402,F401  (re-exported for test modules)
        QGIS_PROCESS,
        RecordingFeedback,
        processing_run,
        run_qgis_process,
        run_qgis_process_command,
        start_qgis,
    )
except ImportError as error:
    # a GPU machine has torch and CuPy but no QGIS: the torch-only tests (bench/gpu_suite.py) still run
    if error.name is None or not error.name.startswith("qgis"):
        raise
    QGIS_IMPORT_ERROR: ImportError | None = error
else:
    QGIS_IMPORT_ERROR = None


@pytest.fixture(scope="session")
def qgis_app() -> Iterator[Any]:
    """Headless QgsApplication with Processing initialised and the ``glfcr`` provider registered."""
    if QGIS_IMPORT_ERROR is not None:
        pytest.skip(f"QGIS is not importable here ({QGIS_IMPORT_ERROR})")
    # exitQgis() is left out on purpose: tearing QGIS down at interpreter exit can crash the run
    yield start_qgis()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared test material (``reference/``, ``data/``) beside the repository; never copied into it."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared test material not found at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture
def recording_feedback() -> RecordingFeedback:
    """A Processing feedback that records warnings, infos, errors and progress."""
    return RecordingFeedback()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` when no CUDA device is usable (torch is imported only if there are any)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in gpu_items:
            item.add_marker(skip)
