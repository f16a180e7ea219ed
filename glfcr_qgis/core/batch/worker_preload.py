"""Dask preload of the workers of a local cluster: Ctrl-C in a terminal is for the client to handle.

A terminal sends Ctrl-C to every process of its foreground group, the local workers included. A worker
that died of it would take its running scene, and that scene's temporary file, with it; ignoring it
lets the client cancel the run, and the scene stop cleanly before its next batch of tiles.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    """Called by Dask in each worker process at its start (``preload``)."""
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
