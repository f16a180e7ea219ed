"""One scene of a batch run as a Dask task: keep an output made the same way, else run Remove Clouds.

The task never raises for the scene's own problems: a ``GlfcrError`` (a missing file, wrong bands, a bad
checkpoint) becomes a "failed" outcome holding its one sentence, so one broken scene does not stop the
others. Anything else (a bug, a dying worker) reaches the scheduler, which retries the task.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import GlfcrError, GlfcrWarning, ProcessingCanceled
from ..io.raster_io import sha256_file
from ..scene.run_settings import SETTINGS_TAG, settings_record
from .jobs import SceneJob
from .summary import CANCELED, DONE, FAILED, SKIPPED, SceneOutcome

# how often a running scene asks the scheduler whether the run was canceled; a round trip costs
# milliseconds, a tile of the network seconds
CANCEL_POLL_SECONDS = 1.0


def run_scene_job(
    job: SceneJob,
    output_folder: str,
    weights: str,
    settings: Mapping[str, Any],
    *,
    cancel_event: str | None = None,
    torch_threads: int | None = None,
) -> SceneOutcome:
    """Process one job on this worker (or keep its existing output) and say how it ended.

    Args:
        job: the scene.
        output_folder: folder of the outputs, as this worker sees it.
        weights: the GLF-CR checkpoint file, as this worker sees it.
        settings: keyword arguments of ``remove_clouds`` shared by every scene (the keywords of
            ``run_settings.settings_record``).
        cancel_event: name of the ``distributed.Event`` that is set when the run is canceled.
        torch_threads: threads for torch on the CPU; None shares the worker's cores among its task threads.

    Returns:
        The outcome: done, skipped (an output with the same checkpoint and settings exists), failed
        (with the error's sentence) or canceled (nothing written).
    """
    from ..scene.pipeline import remove_clouds

    start = time.perf_counter()
    output = Path(output_folder) / job.output_name
    worker = _worker_address()

    def outcome(status: str, **details: Any) -> SceneOutcome:
        return SceneOutcome(job.name, status, time.perf_counter() - start, worker=worker, **details)

    if output_is_current(output, weights, settings):
        return outcome(SKIPPED, output=str(output))
    if _cancel_check(cancel_event)():
        return outcome(CANCELED)
    _set_torch_threads(torch_threads)
    # a check of its own, so that its first answer (before the first batch) is fresh
    is_canceled = _cancel_check(cancel_event)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GlfcrWarning)
        try:
            result = remove_clouds(job.cloudy, job.sar, weights, output, **settings, is_canceled=is_canceled)
        except ProcessingCanceled:
            return outcome(CANCELED)
        except GlfcrError as err:
            return outcome(FAILED, error=str(err))
    notes = tuple(str(item.message) for item in caught if issubclass(item.category, GlfcrWarning))
    return outcome(DONE, device=result.device, output=str(output), warnings=notes)


def output_is_current(output: Path, weights: str, settings: Mapping[str, Any]) -> bool:
    """Whether ``output`` exists and records the same checkpoint SHA-256 and settings as this run's.

    An output that cannot be read, or lacks the records (written by an older version), is not current.
    """
    import rasterio
    from rasterio.errors import RasterioError

    if not output.is_file():
        return False
    try:
        with rasterio.open(output) as dataset:
            tags = dataset.tags()
    except RasterioError:
        return False
    recorded, checksum = tags.get(SETTINGS_TAG), tags.get("checkpoint_sha256")
    if not recorded or not checksum:
        return False
    try:
        same_settings = json.loads(recorded) == json.loads(settings_record(**settings))
    except ValueError:
        return False
    return same_settings and checksum == checkpoint_sha256(weights)


def checkpoint_sha256(path: str) -> str:
    """SHA-256 of the checkpoint file, computed once per file version in this process ("" if unreadable)."""
    try:
        status = os.stat(path)
    except OSError:
        return ""
    return _cached_sha256(str(path), status.st_size, status.st_mtime_ns)


@lru_cache(maxsize=8)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the key so that a replaced checkpoint is hashed again
    try:
        return sha256_file(path)
    except OSError:
        return ""


def _cancel_check(event_name: str | None) -> Callable[[], bool]:
    """``is_canceled`` for ``remove_clouds``: the run's cancel event, asked at most once a second."""
    if not event_name:
        return lambda: False
    from distributed import Event

    event = Event(event_name)
    last_asked, answer = -CANCEL_POLL_SECONDS, False

    def is_canceled() -> bool:
        nonlocal last_asked, answer
        if not answer and time.monotonic() - last_asked >= CANCEL_POLL_SECONDS:
            last_asked, answer = time.monotonic(), bool(event.is_set())
        return answer

    return is_canceled


def _set_torch_threads(requested: int | None) -> None:
    """Give torch the worker's cores: Dask's nanny starts workers with OMP_NUM_THREADS=1."""
    import torch

    if requested:
        threads = int(requested)
    else:
        from dask.system import CPU_COUNT  # honours cgroup quotas (containers)

        threads = max(1, CPU_COUNT // _worker_threads())
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _worker_threads() -> int:
    from distributed import get_worker

    try:
        return max(1, int(get_worker().state.nthreads))
    except (ValueError, AttributeError):
        return 1


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:  # called outside a worker
        import socket

        return socket.gethostname()
