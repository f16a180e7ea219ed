"""Finding QGIS's own Python interpreter, the one that must run pip so wheels match QGIS's Python.

Inside QGIS ``sys.executable`` is not always Python: on Windows (OSGeo4W and the standalone installer)
it is ``qgis-bin.exe`` and on macOS the app's ``QGIS`` binary; running that with ``-m pip`` would start
another QGIS. The candidates are derived from a :class:`PythonLayout` (what ``sys`` reports), a plain
description so the Windows and macOS layouts are tested as data on any machine.
"""

from __future__ import annotations

import json
import ntpath
import os
import posixpath
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InstallError

_PYTHON_NAME = re.compile(r"python(3(\.\d+)?)?(\.exe)?", re.IGNORECASE)
# Windows: keep a console window from flashing up for every pip run
NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


@dataclass(frozen=True)
class PythonLayout:
    """What the running interpreter says about itself (``sys.platform``, ``sys.executable``, prefixes)."""

    platform: str
    executable: str
    prefix: str
    base_prefix: str
    version: tuple[int, int]

    @property
    def is_windows(self) -> bool:
        """Whether paths are Windows paths."""
        return self.platform.startswith("win")


@dataclass(frozen=True)
class PythonProbe:
    """What an interpreter reported when run: path, version, pip version ('' when none) and ``sys.prefix``."""

    path: str
    version: tuple[int, int]
    pip_version: str
    prefix: str = ""


def running_layout() -> PythonLayout:
    """The layout of the interpreter this code runs in (QGIS's, inside QGIS)."""
    return PythonLayout(
        platform=sys.platform,
        executable=sys.executable or "",
        prefix=sys.prefix,
        base_prefix=getattr(sys, "base_prefix", sys.prefix),
        version=(sys.version_info.major, sys.version_info.minor),
    )


def python_candidates(layout: PythonLayout) -> list[str]:
    """Paths that may be the layout's Python interpreter, most likely first (none checked on disk).

    Args:
        layout: the running interpreter's description.

    Returns:
        Candidate executables without duplicates: the platform's usual places (``<prefix>\\python.exe`` on
        Windows, ``<prefix>/bin/python3.X`` elsewhere, the app bundle's ``Contents/MacOS/bin`` on macOS),
        then the executable itself when it is named like a Python. It comes last because an embedded
        interpreter (QGIS on Linux) reports whatever ``python3`` comes first on ``PATH``, e.g. a pyenv shim.
    """
    path = ntpath if layout.is_windows else posixpath
    major, minor = layout.version
    exe_dir = path.dirname(layout.executable) if layout.executable else ""
    names = [f"python{major}.{minor}", f"python{major}", "python"]
    candidates: list[str] = []
    if layout.is_windows:
        # OSGeo4W and the standalone installer: sys.prefix is <root>\apps\Python3XY holding python.exe
        for folder in (layout.prefix, layout.base_prefix):
            candidates += [path.join(folder, "python.exe"), path.join(folder, "python3.exe")]
        if exe_dir:
            apps = path.join(path.dirname(exe_dir), "apps", f"Python{major}{minor}")
            candidates += [
                path.join(apps, "python.exe"),
                path.join(exe_dir, "python3.exe"),
                path.join(exe_dir, "python.exe"),
            ]
    else:
        for folder in (layout.prefix, layout.base_prefix):
            candidates += [path.join(folder, "bin", name) for name in names]
        if layout.platform == "darwin" and exe_dir:
            # QGIS.app/Contents/MacOS/QGIS: the bundle's Python lies in MacOS/bin or in the framework
            framework = path.join(
                path.dirname(exe_dir), "Frameworks", "Python.framework", "Versions", f"{major}.{minor}", "bin"
            )
            candidates += [path.join(exe_dir, "bin", name) for name in names]
            candidates += [path.join(framework, name) for name in names]
    if layout.executable and _PYTHON_NAME.fullmatch(path.basename(layout.executable)):
        candidates.append(layout.executable)
    return list(dict.fromkeys(candidates))


def find_python(layout: PythonLayout, is_file: Callable[[str], bool] = os.path.isfile) -> str | None:
    """The first candidate interpreter of ``layout`` that exists, or None."""
    return next((candidate for candidate in python_candidates(layout) if is_file(candidate)), None)


def python_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running QGIS's Python and pip: the caller's, less what would redirect pip elsewhere."""
    env = dict(os.environ if base is None else base)
    for key in (
        "PIP_TARGET",
        "PIP_PREFIX",
        "PIP_USER",
        "PIP_ROOT",
        "PIP_REQUIRE_VIRTUALENV",
        "PYTHONSTARTUP",
    ):
        env.pop(key, None)
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONIOENCODING="utf-8", PIP_NO_INPUT="1")
    return env


_PROBE_CODE = (
    "import json, sys\n"
    "try:\n    import pip; version = pip.__version__\nexcept ImportError:\n    version = ''\n"
    "print(json.dumps({'version': list(sys.version_info[:2]), 'pip': version, 'prefix': sys.prefix}))\n"
)


def probe_python(path: str, expected: tuple[int, int], timeout: float = 60) -> PythonProbe:
    """Run ``path`` to learn its version and pip, and check it is the running Python's version.

    Raises:
        InstallError: it does not run, is another Python version, or has no pip.
    """
    try:
        completed = subprocess.run(
            [path, "-c", _PROBE_CODE],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=python_environment(),
            creationflags=NO_WINDOW,
            check=False,
        )
        report = json.loads(completed.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as error:
        raise InstallError(
            f"QGIS's Python {path} does not run ({error}); reinstall QGIS or set up torch by hand."
        ) from None
    version = tuple(report["version"])
    if version != tuple(expected):
        raise InstallError(
            f"{path} is Python {version[0]}.{version[1]}, not QGIS's Python {expected[0]}.{expected[1]}; "
            "install the dependencies by hand with QGIS's own Python."
        )
    if not report["pip"]:
        raise InstallError(
            f"QGIS's Python ({path}) has no pip: install it (on Debian and Ubuntu: sudo apt install "
            "python3-pip) "
            "and run Install dependencies again."
        )
    return PythonProbe(path, (version[0], version[1]), report["pip"], report.get("prefix", ""))


def qgis_python(
    layout: PythonLayout | None = None, is_file: Callable[[str], bool] = os.path.isfile
) -> PythonProbe:
    """Find and check QGIS's Python interpreter (the running one's layout by default).

    Each existing candidate is run; the first whose ``sys.prefix`` is the layout's is QGIS's own. When
    none says so (an unusual packaging), the first of the right version with pip is taken.

    Raises:
        InstallError: no candidate exists, or none is usable (the first one's reason).
    """
    layout = layout or running_layout()
    candidates = [candidate for candidate in python_candidates(layout) if is_file(candidate)]
    if not candidates:
        raise InstallError(
            f"QGIS's Python interpreter was not found beside {layout.executable or 'QGIS'} or in "
            f"{layout.prefix}; "
            "install the dependencies by hand with QGIS's own Python."
        )
    own = {_real(layout.prefix), _real(layout.base_prefix)}
    fallback: PythonProbe | None = None
    first_error: InstallError | None = None
    for candidate in candidates:
        try:
            probe = probe_python(candidate, layout.version)
        except InstallError as error:
            first_error = first_error or error
            continue
        if _real(probe.prefix) in own:
            return probe
        fallback = fallback or probe
    if fallback is not None:
        return fallback
    assert first_error is not None
    raise first_error


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(path)) if path else ""
