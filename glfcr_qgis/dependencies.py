"""Finding the plugin's Python dependencies (PyTorch) from inside QGIS's own Python.

QGIS runs the plugin with its own Python, which has no torch. Three places can hold it, all appended
to ``sys.path`` after QGIS's own entries (so QGIS's numpy and GDAL bindings always win):

- the profile's dependency folder ``<profile>/python/glfcr_dependencies/py311`` that *Install
  dependencies* (``glfcr:installdependencies``) fills; added when the plugin loads
  (``add_profile_dependencies``),
- the checkout's ``.venv`` that ``install.sh`` makes, found through the link in the QGIS profile,
- folders named by ``GLFCR_PYTHONPATH``.

No qgis import here: ``glfcr_qgis/__init__.py`` calls this before anything else loads.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .core.errors import MissingDependencyError
from .core.setup.folders import PENDING_SUFFIX, activate_pending, dependency_folder

EXTRA_PATH_ENV = "GLFCR_PYTHONPATH"
# Set to 1 to ignore the checkout's .venv (to see what a user without torch sees).
NO_VENV_ENV = "GLFCR_NO_VENV"

MISSING_TORCH_MESSAGE = (
    "PyTorch (the Python package 'torch') is not installed for QGIS's Python: run the algorithm "
    "GLF-CR cloud removal > Setup > Install dependencies (glfcr:installdependencies; in a checkout, "
    "./install.sh), "
    f"or point the environment variable {EXTRA_PATH_ENV} at a site-packages folder holding torch."
)
# Called (without arguments) when an algorithm finds torch missing; the desktop GUI offers the install.
_missing_torch_listeners: list[Callable[[], None]] = []


def venv_site_packages(package_dir: Path | None = None) -> list[Path]:
    """Site-packages folders of the ``.venv`` beside the (link-resolved) package, if any.

    Args:
        package_dir: the ``glfcr_qgis`` folder; defaults to this module's folder.

    Returns:
        Existing ``.venv/lib/python3.X/site-packages`` folders for this interpreter's version.
    """
    package_dir = package_dir or Path(__file__).resolve().parent
    lib = package_dir.resolve().parent / ".venv" / "lib"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = lib / version / "site-packages"
    return [candidate] if candidate.is_dir() else []


def add_venv_to_path() -> list[str]:
    """Append the checkout's venv and ``GLFCR_PYTHONPATH`` entries to ``sys.path``.

    Appended, not prepended, so QGIS's own packages (numpy 1.24 that GDAL was built against)
    win over anything of the same name in the venv.

    Returns:
        The folders that were added (already present ones are skipped).
    """
    extra = [p for p in os.environ.get(EXTRA_PATH_ENV, "").split(os.pathsep) if p]
    if os.environ.get(NO_VENV_ENV, "") not in ("1", "true", "yes"):
        extra += [str(p) for p in venv_site_packages()]
    added = []
    for folder in extra:
        if folder not in sys.path and Path(folder).is_dir():
            sys.path.append(folder)
            added.append(folder)
    return added


def torch_available() -> bool:
    """Whether ``import torch`` can be found, without paying for importing it."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


# torch's native libraries in the order they depend on each other (lib/ of the torch package, then _C)
_TORCH_LIBRARIES = (
    "lib/libtorch_global_deps.so",
    "lib/libc10.so",
    "lib/libtorch_cpu.so",
    "lib/libtorch.so",
    "lib/libtorch_python.so",
)


def preload_torch_libraries() -> list[str]:
    """Load torch's native libraries without holding Python's GIL, before ``import torch`` does.

    ``import torch`` loads libtorch_cpu (hundreds of MB, with its static initialisers) while holding
    the GIL, for up to a second or more on a busy laptop. In QGIS the import runs in the worker thread of
    a Processing task, and the interface thread waits for the GIL (its Python widgets and slots need it):
    the window freezes. ``dlopen`` called through ctypes releases the GIL, so loading the libraries
    this way first lets the interface thread run; ``import torch`` then finds them loaded. Linux only
    (elsewhere, and on any failure, ``import torch`` simply loads them itself).

    Returns:
        The libraries loaded (none when torch is already imported, missing, or not a Linux build).
    """
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return []
    try:
        spec = importlib.util.find_spec("torch")
        package = Path(next(iter(spec.submodule_search_locations or []))) if spec else None
        libc = ctypes.CDLL(None)
        dlopen = libc.dlopen
    except (ImportError, ValueError, StopIteration, OSError, AttributeError):
        return []
    dlopen.argtypes, dlopen.restype = [ctypes.c_char_p, ctypes.c_int], ctypes.c_void_p
    loaded = []
    for name in _TORCH_LIBRARIES:
        path = package / name if package else None
        # the flags torch itself uses: its global dependencies global, the rest local (loaded via _C)
        scope = os.RTLD_GLOBAL if name == _TORCH_LIBRARIES[0] else os.RTLD_LOCAL
        if path is None or not path.is_file() or not dlopen(os.fsencode(path), os.RTLD_NOW | scope):
            break
        loaded.append(str(path))
    return loaded


def require_torch() -> None:
    """Import torch or fail with the one-sentence set-up instruction.

    Its native libraries are loaded first without the GIL (``preload_torch_libraries``), so importing
    it in a worker thread does not freeze QGIS's window.

    Raises:
        MissingDependencyError: torch cannot be imported.
    """
    preload_torch_libraries()
    try:
        import torch  # noqa: F401
    except ImportError:
        announce_missing_torch()
        raise MissingDependencyError(MISSING_TORCH_MESSAGE) from None


def is_missing_torch(err: BaseException) -> bool:
    """Whether an ImportError is about torch itself (not some other missing module)."""
    name = getattr(err, "name", None) or ""
    return isinstance(err, ImportError) and (name == "torch" or name.startswith("torch."))


def profile_dependency_folder(profile_dir: str | os.PathLike[str]) -> Path:
    """The dependency folder of a profile for this Python: ``<profile>/python/glfcr_dependencies/py311``."""
    return dependency_folder(profile_dir, (sys.version_info.major, sys.version_info.minor))


def add_profile_dependencies(profile_dir: str | os.PathLike[str]) -> Path:
    """Put the profile's dependency folder on ``sys.path`` (appended), activating a pending install first.

    Called when the plugin loads, before anything imports torch. The folder is appended even before
    it exists, so an install later in the session is found without restarting QGIS.

    Returns:
        The folder.
    """
    folder = profile_dependency_folder(profile_dir)
    activate_pending(folder)
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    return folder


def refresh_after_install(folder: str | os.PathLike[str]) -> bool:
    """Make a freshly installed dependency folder importable in this QGIS session.

    Returns:
        True when torch can now be imported without restarting QGIS; False when a restart is needed
        (torch was already imported from elsewhere, or the install waits to replace a folder in use).
    """
    folder = str(folder)
    if folder not in sys.path:
        sys.path.append(folder)
    # forget the finders' listings of the folder taken before the install (and the "not there" answers)
    importlib.invalidate_caches()
    if "torch" in sys.modules or Path(folder + PENDING_SUFFIX).exists():
        return False  # the torch in memory is the old one, or the new folder waits for a restart
    return torch_available()


def on_missing_torch(listener: Callable[[], None]) -> None:
    """Register ``listener`` to be called when an algorithm finds torch missing (the GUI's install offer)."""
    if listener not in _missing_torch_listeners:
        _missing_torch_listeners.append(listener)


def forget_missing_torch_listener(listener: Callable[[], None]) -> None:
    """Unregister a listener added with ``on_missing_torch`` (at plugin unload)."""
    if listener in _missing_torch_listeners:
        _missing_torch_listeners.remove(listener)


def announce_missing_torch() -> None:
    """Tell the listeners that an algorithm needed torch and found it missing."""
    for listener in list(_missing_torch_listeners):
        listener()
