"""The Dask cluster a batch run uses: one given by the caller, one at a scheduler address, or a local one.

A local cluster is sized to the machine: one worker per CUDA GPU, each seeing only its GPU and declaring
the resource ``GPU=1``; without CUDA, one worker process with one task thread, since torch already spreads
one scene over all cores. ``dask`` and ``distributed`` are imported only here and in the task, when a batch
runs, so the rest of the package works without them.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClusterError, MissingDependencyError

if TYPE_CHECKING:
    from distributed import Client

MISSING_DASK_MESSAGE = (
    "Processing many scenes needs the Python packages dask and distributed, which are not installed: run "
    "./install.sh in the glfcr_qgis checkout, or pip-install the dask and distributed versions named in "
    "glfcr_qgis/tested_versions.txt into the Python that runs GLF-CR."
)
# the resource a GPU worker declares and each scene asks for, so that two scenes never share a GPU
GPU_RESOURCE = "GPU"
# run in each local worker at its start (restarts included): Ctrl-C is the client's
WORKER_PRELOAD = "glfcr_qgis.core.batch.worker_preload"
CONNECT_TIMEOUT_SECONDS = 30


def require_distributed() -> None:
    """Fail with the set-up sentence when ``dask.distributed`` cannot be imported.

    Raises:
        MissingDependencyError: dask or distributed is missing.
    """
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise MissingDependencyError(MISSING_DASK_MESSAGE) from None


@contextmanager
def batch_client(
    client: Client | None = None, scheduler_address: str | None = None, *, log: Callable[[str], None]
) -> Iterator[Client]:
    """The client to submit scenes through; a cluster started here is closed at exit.

    Args:
        client: an existing client (kept open at exit).
        scheduler_address: a running scheduler, e.g. ``tcp://10.0.0.5:8786``, when ``client`` is None.
        log: receives one-line notes (the cluster used, its dashboard).

    Raises:
        MissingDependencyError: dask or distributed is missing.
        ClusterError: the scheduler cannot be reached, or a local cluster cannot start.
    """
    require_distributed()
    from distributed import Client

    if client is not None:
        yield client
        return
    if scheduler_address:
        try:
            connected = Client(scheduler_address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise ClusterError(
                f"Cannot reach the Dask scheduler at {scheduler_address}: {err}; check the address and that "
                "the scheduler is running, or leave the scheduler blank to run on this machine."
            ) from err
        log(f"Connected to the Dask scheduler at {scheduler_address}.")
        try:
            yield connected
        finally:
            connected.close()
        return
    cluster = start_local_cluster(log=log)
    try:
        with Client(cluster, set_as_default=False) as local:
            yield local
    finally:
        cluster.close()


def start_local_cluster(*, gpus: int | None = None, log: Callable[[str], None] = lambda note: None) -> Any:
    """Start a Dask cluster on this machine, sized to it (see the module's note).

    Args:
        gpus: CUDA GPUs to use, one worker each; None counts them (0 without CUDA).
        log: receives a note saying what was started.

    Returns:
        The cluster (``LocalCluster`` or, with GPUs, a ``SpecCluster`` of one nanny per GPU).

    Raises:
        ClusterError: the cluster cannot start.
    """
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster
    from distributed.system import MEMORY_LIMIT

    _use_python_for_workers()
    gpus = cuda_device_count() if gpus is None else gpus
    # Dask would give each worker the memory share of its task threads (1 of the machine's cores), and
    # its nanny restarts a worker above that: a worker here holds a whole scene's strips and the network
    memory_limit = MEMORY_LIMIT // max(1, gpus)
    # any free port: several clusters (and other programs) may run on this machine
    dashboard = ":0"
    try:
        if gpus:
            visible = _visible_gpu_ids(gpus)
            workers = {
                f"gpu-{gpu}": {
                    "cls": Nanny,
                    "options": {
                        "nthreads": 1,
                        "resources": {GPU_RESOURCE: 1},
                        "memory_limit": memory_limit,
                        "preload": [WORKER_PRELOAD],
                        # each worker sees one GPU, as cuda:0
                        "env": {"CUDA_VISIBLE_DEVICES": gpu},
                    },
                }
                for gpu in visible
            }
            scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": dashboard}}
            cluster = SpecCluster(workers=workers, scheduler=scheduler, name="glfcr-local")
            log(f"Started a local Dask cluster of {len(visible)} GPU worker(s), one scene per GPU.")
        else:
            cluster = LocalCluster(
                n_workers=1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=dashboard,
                memory_limit=memory_limit,
                preload=[WORKER_PRELOAD],
            )
            log("Started a local Dask cluster of one CPU worker; torch uses all cores for each scene.")
    except (OSError, RuntimeError, TimeoutError) as err:
        raise ClusterError(
            f"Cannot start a local Dask cluster: {str(err).rstrip('.')}; give the address of a running "
            "scheduler instead."
        ) from err
    return cluster


def cuda_device_count() -> int:
    """CUDA GPUs torch can use here (0 without torch or CUDA)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def scene_resources(client: Client) -> dict[str, float] | None:
    """What each scene task asks for: one GPU when the cluster's workers declare GPUs, else nothing."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    has_gpus = any(GPU_RESOURCE in info.get("resources", {}) for info in workers.values())
    return {GPU_RESOURCE: 1} if has_gpus else None


def task_slots(client: Client, resources: dict[str, float] | None) -> int:
    """Scenes the cluster can run at once now: its GPUs, or its task threads."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
    if resources:
        return int(sum(info.get("resources", {}).get(GPU_RESOURCE, 0) for info in workers))
    return int(sum(info.get("nthreads", 0) for info in workers))


def dashboard_link(client: Client) -> str:
    """The cluster's dashboard address, or "" when it serves none."""
    try:
        services = client.scheduler_info(n_workers=0).get("services", {})
        return str(client.dashboard_link) if "dashboard" in services else ""
    except (AttributeError, KeyError, OSError):
        return ""


def _visible_gpu_ids(count: int) -> list[str]:
    """The GPU ids to hand out, one per worker, honouring a CUDA_VISIBLE_DEVICES already set."""
    already = [item.strip() for item in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if item.strip()]
    return already[:count] if already else [str(index) for index in range(count)]


def _use_python_for_workers() -> None:
    """Start worker processes with this Python's own interpreter, also inside QGIS.

    Worker processes are spawned with ``sys.executable``, which inside QGIS is the QGIS program itself
    (Windows) or whichever ``python3`` comes first on PATH (Linux), possibly another installation whose
    standard library does not match this one: use the interpreter of the Python QGIS embeds instead.
    """
    base = Path(sys.base_exec_prefix).resolve()
    executable = Path(sys.executable).resolve() if sys.executable else Path()
    if executable.name.lower().startswith("python") and executable.is_relative_to(base):
        return
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (base / "bin" / f"python{version}", base / "bin" / "python3", base / "python.exe"):
        if candidate.is_file():
            multiprocessing.set_executable(str(candidate))
            return
    raise ClusterError(
        f"Cannot find the Python interpreter to start Dask workers with (this program is {sys.executable}); "
        "start a Dask scheduler and workers yourself and give the scheduler's address."
    )
