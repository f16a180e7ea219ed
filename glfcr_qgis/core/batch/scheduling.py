"""Remove clouds from many scenes on a Dask cluster: one task per scene, resumable and fault tolerant.

The client keeps a few more scenes in flight than the cluster can run at once (so a cancel has little
to take back and workers that join later get work), collects each outcome as it comes, resubmits a scene
whose task was lost (its worker died, or the cluster restarted) up to ``retries`` times, and writes the
summary table at the end. Outputs are written by the workers straight into the output folder, each
atomically, so the client and the workers must see that folder at the same path (a shared file system).
One run at a time per output folder: at its end a run removes the temporary files of its scenes that
killed workers left there.
"""

from __future__ import annotations

import inspect
import os
import queue
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, OutputWriteError, ParameterValueError, ProcessingCanceled
from ..io.output_guard import PlannedOutput, check_outputs
from ..io.raster_io import partial_files, remove_raster_files
from ..scene.mask_methods import check_mask_method
from ..scene.pipeline import remove_clouds
from ..scene.run_settings import check_settings, settings_record
from .cluster import batch_client, dashboard_link, scene_resources, task_slots
from .jobs import PathLike, SceneJob, scene_jobs
from .scene_task import run_scene_job
from .summary import (
    CANCELED,
    DONE,
    FAILED,
    SKIPPED,
    SUMMARY_STEM,
    SceneOutcome,
    count_statuses,
    write_summary,
)

if TYPE_CHECKING:
    from distributed import Client, Future

DEFAULT_RETRIES = 2
# seconds between looks at the cancel callback while no scene finishes
POLL_SECONDS = 0.25
# after a cancel, how long running scenes get to stop (they stop within one batch of tiles)
CANCEL_GRACE_SECONDS = 120.0


@dataclass(frozen=True)
class BatchResult:
    """What a ``remove_clouds_many`` run did.

    Attributes:
        outcomes: one per job, in the order of the jobs.
        summary_csv: the summary table (scene, status, seconds, device, worker, output, error).
        summary_json: the same table as JSON, with the counts per status.
    """

    outcomes: tuple[SceneOutcome, ...]
    summary_csv: Path
    summary_json: Path

    @property
    def counts(self) -> dict[str, int]:
        """Scenes per status: done, skipped, failed, canceled."""
        return count_statuses(self.outcomes)

    @property
    def failed(self) -> list[SceneOutcome]:
        """The scenes that failed, each with its error sentence."""
        return [outcome for outcome in self.outcomes if outcome.status == FAILED]


def remove_clouds_many(
    jobs: PathLike | Iterable[SceneJob | Sequence[PathLike]],
    output_folder: PathLike,
    *,
    weights: PathLike,
    client: Client | None = None,
    scheduler_address: str | None = None,
    retries: int = DEFAULT_RETRIES,
    torch_threads: int | None = None,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
    **settings: Any,
) -> BatchResult:
    """Run ``remove_clouds`` on every scene of ``jobs`` on a Dask cluster, writing ``<name>_cloudfree.tif``.

    Each scene is one task with the same settings. A scene whose output exists and records the same
    checkpoint SHA-256 and settings is skipped, so a run started again after a crash or a cancel does
    only what is missing. A scene that fails for its own reasons (a ``GlfcrError``) is reported with its
    sentence and does not stop the others; a task lost with its worker is run again. The summary table
    ``batch_summary.csv`` / ``.json`` is written into ``output_folder`` at the end, canceled or not.

    Args:
        jobs: a jobs CSV (columns cloudy, sar, name; see ``jobs.read_jobs_csv``) or (cloudy, sar[, name])
            items.
        output_folder: where outputs and the summary go; workers must see it at the same path.
        weights: the GLF-CR checkpoint file; workers must see it at the same path.
        client: a ``distributed.Client`` to use; when None, ``scheduler_address`` or a local cluster.
        scheduler_address: a running Dask scheduler (``tcp://host:8786``) to connect to.
        retries: times a scene is run again after its task was lost (beyond the scheduler's own
            ``allowed-failures`` for dying workers) or raised an unexpected error.
        torch_threads: torch threads per scene on the CPU (None: the worker's cores).
        progress: called with the fraction of scenes finished, 0..1.
        is_canceled: polled a few times a second; when it returns True no more scenes start, running
            ones stop within a batch of tiles, finished outputs are kept and the summary is written.
        log: receives one-line notes (the cluster, its dashboard, each scene's end).
        **settings: ``remove_clouds``'s settings (tile_size, overlap, batch_size, device, output_type,
            keep_clear, cog, precision, mask_method, sar_scale), the same for every scene; its defaults
            where left out. On a local GPU cluster each worker sees its GPU as ``cuda``.

    Returns:
        The outcome of every scene and the summary files.

    Raises:
        JobListError: the jobs cannot be read or are not usable.
        TileSizeError, ParameterValueError: unusable or unknown settings.
        CheckpointError: no checkpoint given, or it does not exist.
        MissingDependencyError: dask or distributed is missing.
        ClusterError: the scheduler cannot be reached, or a local cluster cannot start.
        OutputWriteError: the output folder cannot be created.
        ProcessingCanceled: ``is_canceled`` returned True (after the summary was written).
    """
    scenes = scene_jobs(jobs)
    settings = _complete_settings(settings)
    weights = _checked_weights(weights)
    folder = _output_folder(output_folder)
    _check_batch_outputs(folder, scenes, jobs, weights)
    note = log or (lambda text: None)
    with batch_client(client, scheduler_address, log=note) as active:
        link = dashboard_link(active)
        if link:
            note(f"Dask dashboard: {link}")
        run = _BatchRun(active, scenes, folder, weights, settings, retries, torch_threads, note)
        outcomes = run.run(progress or (lambda fraction: None), is_canceled or (lambda: False))
    summary_csv, summary_json = write_summary(outcomes, folder)
    result = BatchResult(tuple(outcomes), summary_csv, summary_json)
    if result.counts[CANCELED]:
        counts = result.counts
        raise ProcessingCanceled(
            f"Canceled with {counts[DONE] + counts[SKIPPED]} of {len(outcomes)} scenes finished; their "
            f"outputs are kept (summary in {summary_csv}) and running the same jobs again does only the rest."
        )
    return result


class _BatchRun:
    """The client side of one run: submit, collect, resubmit lost scenes, cancel."""

    def __init__(
        self,
        client: Client,
        scenes: list[SceneJob],
        folder: Path,
        weights: str,
        settings: dict[str, Any],
        retries: int,
        torch_threads: int | None,
        log: Callable[[str], None],
    ) -> None:
        self.client = client
        self.scenes = scenes
        self.folder = folder
        self.weights = weights
        self.settings = settings
        self.retries = max(0, int(retries))
        self.torch_threads = torch_threads
        self.log = log
        self.resources = scene_resources(client)
        self.run_id = uuid.uuid4().hex[:12]
        # futures report here when they end (from Dask's callback thread)
        self.finished: queue.Queue[Future] = queue.Queue()
        self.in_flight: dict[str, tuple[Future, SceneJob]] = {}
        self.attempts: dict[str, int] = {}
        self.outcomes: dict[str, SceneOutcome] = {}

    def run(self, progress: Callable[[float], None], is_canceled: Callable[[], bool]) -> list[SceneOutcome]:
        from distributed import Event

        cancel_event = Event(f"glfcr-cancel-{self.run_id}", client=self.client)
        waiting = list(reversed(self.scenes))
        progress(0.0)
        try:
            while waiting or self.in_flight:
                if is_canceled():
                    cancel_event.set()
                    self._stop_running()
                    break
                while waiting and len(self.in_flight) < self._window():
                    self._submit(waiting.pop(), cancel_event.name)
                self._collect(self._next_finished(POLL_SECONDS), waiting)
                progress(len(self.outcomes) / len(self.scenes))
        finally:
            if self.in_flight:
                # stopped by an exception (a second Ctrl-C) or scenes that did not stop in time: tell
                # remote workers to stop, and leave the temporary files they may still be writing
                cancel_event.set()
                for future, _ in self.in_flight.values():
                    future.cancel()
            else:
                self._remove_partial_files()
        return [self.outcomes.get(job.name) or SceneOutcome(job.name, CANCELED) for job in self.scenes]

    def _window(self) -> int:
        # the cluster may grow or shrink (adaptive scaling, dead workers), so ask each time
        return max(2, 2 * task_slots(self.client, self.resources))

    def _submit(self, job: SceneJob, cancel_event: str) -> None:
        attempt = self.attempts.get(job.name, 0) + 1
        self.attempts[job.name] = attempt
        future = self.client.submit(
            run_scene_job,
            job,
            str(self.folder),
            self.weights,
            self.settings,
            cancel_event=cancel_event,
            torch_threads=self.torch_threads,
            key=f"glfcr-scene-{job.name}-{self.run_id}-{attempt}",
            resources=self.resources,
            pure=False,
        )
        self.in_flight[future.key] = (future, job)
        future.add_done_callback(self.finished.put)

    def _next_finished(self, timeout: float) -> Future | None:
        try:
            return self.finished.get(timeout=timeout)
        except queue.Empty:
            return None

    def _collect(self, future: Future | None, waiting: list[SceneJob]) -> None:
        if future is None or future.key not in self.in_flight:
            return
        _, job = self.in_flight.pop(future.key)
        if future.status == "finished":
            outcome: SceneOutcome = future.result()
            self.outcomes[job.name] = outcome
            if outcome.status == FAILED:
                self.log(f"Scene {job.name} failed: {outcome.error}")
            elif outcome.status == DONE:
                self.log(f"Scene {job.name} done in {outcome.seconds:.1f} s on {outcome.device}.")
            elif outcome.status == SKIPPED:
                self.log(f"Scene {job.name} skipped: its output has the same checkpoint and settings.")
            for warning in outcome.warnings:
                self.log(f"Scene {job.name}: {warning}")
            return
        # the task was lost (its worker died, the cluster restarted) or raised something unexpected
        reason = _loss_reason(future)
        if self.attempts[job.name] <= self.retries:
            self.log(f"Scene {job.name} is run again ({reason}).")
            waiting.append(job)
        else:
            self.outcomes[job.name] = SceneOutcome(
                job.name,
                FAILED,
                error=f"The scene did not finish in {self.attempts[job.name]} tries ({reason}); check the "
                "workers' logs and memory, or run it alone with Remove Clouds.",
            )
            self.log(f"Scene {job.name} failed: {self.outcomes[job.name].error}")

    def _stop_running(self) -> None:
        """After a cancel: let running scenes stop (they poll the cancel event), then collect them."""
        import time

        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while self.in_flight and time.monotonic() < deadline:
            future = self._next_finished(POLL_SECONDS)
            if future is not None and future.key in self.in_flight:
                _, job = self.in_flight.pop(future.key)
                if future.status == "finished" and future.result().status != CANCELED:
                    self.outcomes[job.name] = future.result()

    def _remove_partial_files(self) -> None:
        # a worker killed while writing leaves its temporary file; no writer of ours runs any more
        for job in self.scenes:
            for path in partial_files(self.folder / job.output_name):
                remove_raster_files(path)


def _loss_reason(future: Future) -> str:
    if future.status == "cancelled":
        return "its task was lost, e.g. the cluster restarted"
    try:
        error = future.exception(timeout=5)
    except Exception as err:  # noqa: BLE001 (any failure to fetch the error is itself the reason)
        error = err
    name = type(error).__name__
    return "its worker died" if name == "KilledWorker" else f"{name}: {error}"


def _complete_settings(given: dict[str, Any]) -> dict[str, Any]:
    """``remove_clouds``'s settings: the given ones, checked, and its defaults for the others."""
    # the settings shared by every scene are those an output records (per-scene arguments such as the
    # provenance path or an area of interest are not among them); defaults are remove_clouds's own
    shared = inspect.signature(settings_record).parameters
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(remove_clouds).parameters.items()
        if name in shared
    }
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ParameterValueError(
            f"Remove Clouds on many scenes has no setting {', '.join(unknown)}; the settings are "
            f"{', '.join(defaults)}."
        )
    settings = defaults | given
    check_settings(**{name: settings[name] for name in inspect.signature(check_settings).parameters})
    check_mask_method(settings["mask_method"])
    return settings


def _checked_weights(weights: PathLike) -> str:
    if not str(weights or "").strip():
        raise CheckpointError(
            "No GLF-CR weights given: pass the checkpoint file (e.g. the authors' CR_net.pth) as weights, or "
            "set the environment variable GLFCR_WEIGHTS for the command line."
        )
    path = Path(weights).expanduser().absolute()
    if not path.is_file():
        raise CheckpointError(
            f"The GLF-CR weights file {path} does not exist; give the checkpoint's path as the workers and "
            "this machine see it (a shared folder)."
        )
    return str(path)


def _check_batch_outputs(folder: Path, scenes: Sequence[SceneJob], jobs: Any, weights: str) -> None:
    """Refuse, before any scene runs, outputs or summary tables that would overwrite an input."""
    outputs = [
        PlannedOutput(folder / f"{SUMMARY_STEM}.csv", "csv", "summary table"),
        PlannedOutput(folder / f"{SUMMARY_STEM}.json", "json", "summary table (JSON)"),
        *(PlannedOutput(folder / job.output_name, "raster", f"output of scene {job.name}") for job in scenes),
    ]
    jobs_file = jobs if isinstance(jobs, str | os.PathLike) else None
    inputs = [jobs_file, weights, *(path for job in scenes for path in (job.cloudy, job.sar))]
    check_outputs(outputs, input_files=inputs)


def _output_folder(folder: PathLike) -> Path:
    path = Path(folder).expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputWriteError(
            f"Cannot create the output folder {path}: {err.strerror or err}; choose a folder you can write "
            "to."
        ) from err
    if not os.access(path, os.W_OK):
        raise OutputWriteError(f"The output folder {path} is not writable; choose a folder you can write to.")
    return path
