"""Installing the plan into the profile's dependency folder with ``pip install --target``, all or nothing.

pip writes into a new hidden folder beside the live one, the result is imported by QGIS's Python in
a separate process, and only then replaces the live folder: a failed, canceled or broken install
leaves the previous state exactly as it was. pip's whole output goes to ``install.log`` beside it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InstallError
from .folders import (
    LOG_NAME,
    dependency_folder,
    pending_folder,
    remove_distribution,
    remove_leftovers,
    staging_folder,
    swap_into_place,
)
from .interpreter import NO_WINDOW, PythonProbe, python_environment, qgis_python
from .nvidia import nvidia_cuda_major
from .pip_runner import pip_failure_sentence, run_pip
from .plan import (
    InstallPlan,
    base_plan,
    constraint_arguments,
    format_size,
    pip_version_tuple,
    resolve_plan,
    write_constraints,
)

# unpacked wheels take about twice their download; the download itself sits in pip's cache too
DISK_FACTOR = 3
RAW_PROGRESS_PIP = (24, 1)
_RAW_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)$")
_VERIFY_CODE = (
    "import importlib.util, sys\n"
    "sys.path.append(sys.argv[1])\n"
    "import torch\n"
    "missing = [name for name in sys.argv[2:] if importlib.util.find_spec(name) is None]\n"
    "print('torch', torch.__version__, 'imports from the new folder'"
    " + (', missing: ' + ', '.join(missing) if missing else ''))\n"
    "sys.exit(1 if missing else 0)\n"
)


@dataclass(frozen=True)
class InstallResult:
    """A finished install."""

    folder: Path
    installed: tuple[str, ...]
    activated: bool
    log_path: Path
    seconds: float


class PipProgress:
    """Turns pip's output into a fraction of the whole install, weighting packages by download size."""

    def __init__(self, plan: InstallPlan, report: Callable[[float], None] | None) -> None:
        self._report = report
        self._files = [(Path(p.url).name.lower().replace("%2b", "+"), p.size or 0) for p in plan.packages]
        self._total = sum(size for _, size in self._files) or 1
        self._done = 0
        self._current = 0
        self._seen: set[str] = set()

    def line(self, text: str) -> None:
        """Account for one line of pip's output."""
        raw = _RAW_PROGRESS.match(text.strip())
        if raw:
            self._emit(0.85 * (self._done + int(raw.group(1))) / self._total)
            return
        lowered = text.lower()
        for name, size in self._files:
            if name and name in lowered and name not in self._seen:
                self._seen.add(name)
                self._done += self._current
                self._current = size
                self._emit(0.85 * self._done / self._total)
                return
        if "installing collected packages" in lowered:
            self._emit(0.85)

    def _emit(self, fraction: float) -> None:
        if self._report is not None:
            self._report(min(max(fraction, 0.0), 1.0))


def check_disk_space(plan: InstallPlan, free_bytes: int) -> None:
    """Refuse to start when the folder's disk cannot hold the download and its unpacked files.

    Raises:
        InstallError: not enough free space.
    """
    size = plan.download_bytes
    if size is not None and free_bytes < DISK_FACTOR * size:
        raise InstallError(
            f"Not enough disk space for the dependencies in {plan.folder.parent}: about "
            f"{format_size(DISK_FACTOR * size)} "
            f"are needed and {format_size(free_bytes)} are free; free some space and run Install "
            "dependencies again."
        )


def install_dependencies(
    plan: InstallPlan,
    pip_version: str,
    *,
    on_line: Callable[[str], None] | None = None,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
) -> InstallResult:
    """Install ``plan.requirements`` into ``plan.folder`` through QGIS's Python and pip.

    Args:
        plan: from ``base_plan`` (and ``resolve_plan`` for sizes and progress weights).
        pip_version: the interpreter's pip version (picks the progress format).
        on_line: receives each line pip prints.
        progress: receives the fraction done, 0..1.
        is_canceled: polled several times a second; pip is stopped when it turns true.

    Raises:
        InstallError: pip failed or the result does not import; one sentence, with pip's log in ``log``.
        ProcessingCanceled: canceled; the previous folder is untouched.
    """
    started = time.monotonic()
    root = plan.folder.parent
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root)
    check_disk_space(plan, shutil.disk_usage(root).free)
    log_lines = [plan.describe(), ""]
    tracker = PipProgress(plan, progress)

    def take(line: str) -> None:
        log_lines.append(line)
        tracker.line(line)
        if on_line is not None:
            on_line(line)

    staging = staging_folder(plan.folder)
    scratch = Path(tempfile.mkdtemp(prefix=f".{plan.folder.name}-tmp-", dir=root))
    try:
        env = python_environment()
        # pip's temporary files on the same disk as the result, so the space check above holds for them
        env.update(TMPDIR=str(scratch), TEMP=str(scratch), TMP=str(scratch))
        bar = "raw" if pip_version_tuple(pip_version) >= RAW_PROGRESS_PIP else "off"
        arguments = [
            "install",
            "--target",
            str(staging),
            "--progress-bar",
            bar,
            # byte-compiling torch's thousands of modules takes minutes on a small machine; Python compiles
            # each module the first time it is imported instead
            "--no-compile",
            *constraint_arguments(write_constraints(scratch, plan.constraints)),
            *plan.requirements,
        ]
        take("$ python -m pip " + " ".join(arguments))
        run = run_pip(plan.python, arguments, on_line=take, is_canceled=is_canceled, env=env)
        if run.returncode != 0:
            raise InstallError(pip_failure_sentence(run, plan.folder), "\n".join(log_lines))
        for constraint in plan.constraints:
            # QGIS's copy comes first on sys.path; pip's copy of it would only take space
            remove_distribution(staging, re.split(r"[<>=!~]", constraint, maxsplit=1)[0])
        take(verify_folder(plan, staging))
        if progress is not None:
            progress(0.95)
        activated = swap_into_place(staging, plan.folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _write_log(root / LOG_NAME, log_lines)
    if progress is not None:
        progress(1.0)
    installed = installed_distributions(plan.folder if activated else pending_folder(plan.folder))
    return InstallResult(plan.folder, installed, activated, root / LOG_NAME, time.monotonic() - started)


def verify_folder(plan: InstallPlan, folder: Path) -> str:
    """Import torch from ``folder`` in a new QGIS Python, as the plugin will (after QGIS's own entries).

    Raises:
        InstallError: it does not import; nothing is moved into place.
    """
    others = [
        spec.split("==")[0].replace("-", "_") for spec in plan.requirements if not spec.startswith("torch")
    ]
    modules = ["cupy" if name.startswith("cupy") else name for name in others]
    try:
        completed = subprocess.run(
            [plan.python, "-c", _VERIFY_CODE, str(folder), *modules],
            capture_output=True,
            text=True,
            timeout=600,
            env=python_environment(),
            creationflags=NO_WINDOW,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise InstallError(
            f"The installed packages could not be checked ({error}); nothing was changed."
        ) from None
    output = (completed.stdout + completed.stderr).strip()
    if completed.returncode != 0:
        last = output.splitlines()[-1] if output else f"exit code {completed.returncode}"
        raise InstallError(
            f"pip installed the packages but torch does not import from them in QGIS's Python "
            f"({last[:200]}); "
            "nothing was changed.",
            output,
        )
    return "Check: " + output


def installed_distributions(folder: Path) -> tuple[str, ...]:
    """``name version`` of each distribution in a ``--target`` folder."""
    names = []
    for info in sorted(folder.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        names.append(f"{name} {version}")
    return tuple(names)


def _write_log(path: Path, lines: list[str]) -> None:
    try:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError:
        pass  # the log is a convenience; a full disk is reported by the install itself


@dataclass(frozen=True)
class PreparedInstall:
    """QGIS's Python (checked) and the plan for a profile: everything the install needs."""

    probe: PythonProbe
    plan: InstallPlan


def prepare_install(
    profile_dir: str | Path,
    *,
    gpu_packages: bool = True,
    resolve: bool = True,
    on_line: Callable[[str], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
) -> PreparedInstall:
    """Find QGIS's Python, the profile's folder and the NVIDIA driver; with ``resolve``, ask pip for sizes.

    Args:
        profile_dir: the QGIS profile folder (``QgsApplication.qgisSettingsDirPath()``).
        gpu_packages: add CuPy when an NVIDIA driver is found (False: torch only).
        resolve: run pip's dry run for the exact packages and the download size (seconds, needs the index).
        on_line: receives pip's output during the dry run.
        is_canceled: stops the dry run.

    Raises:
        InstallError: no usable Python or pip, or pip could not resolve the packages.
    """
    import numpy  # QGIS's own: its version is pinned so pip never replaces it

    probe = qgis_python()
    folder = dependency_folder(profile_dir, probe.version)
    plan = base_plan(probe.path, folder, numpy.__version__, nvidia_cuda_major() if gpu_packages else None)
    if resolve:
        plan = resolve_plan(plan, probe.pip_version, on_line=on_line, is_canceled=is_canceled)
    return PreparedInstall(probe, plan)
