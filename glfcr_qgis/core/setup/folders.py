"""The folder the plugin installs its Python packages into: one per QGIS profile and per Python version.

``<profile>/python/glfcr_dependencies/py311/`` holds what ``pip install --target`` wrote. A new install
goes into a hidden folder beside it and replaces it only once it imports; where the old folder cannot
be moved (Windows keeps loaded DLLs locked), the new one waits as ``py311.pending`` and replaces it
when the plugin next loads, before anything is imported from it.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import uuid
from pathlib import Path, PurePath

DEPENDENCIES_FOLDER = "glfcr_dependencies"
PENDING_SUFFIX = ".pending"
LOG_NAME = "install.log"


def python_tag(version: tuple[int, int]) -> str:
    """``py311`` for Python 3.11."""
    return f"py{version[0]}{version[1]}"


def dependencies_root(profile_dir: str | os.PathLike[str]) -> Path:
    """``<profile>/python/glfcr_dependencies``: everything the installer writes lives below it.

    A ``PureWindowsPath`` or ``PurePosixPath`` profile keeps its flavour (the layouts of other systems are
    tested as data).
    """
    profile = profile_dir if isinstance(profile_dir, PurePath) else Path(profile_dir)
    return profile / "python" / DEPENDENCIES_FOLDER  # type: ignore[return-value]


def dependency_folder(profile_dir: str | os.PathLike[str], version: tuple[int, int]) -> Path:
    """The folder on ``sys.path`` for a profile and Python version: ``.../glfcr_dependencies/py311``."""
    return dependencies_root(profile_dir) / python_tag(version)


def pending_folder(folder: Path) -> Path:
    """Where an install waits when ``folder`` could not be replaced while QGIS runs."""
    return folder.with_name(folder.name + PENDING_SUFFIX)


def staging_folder(folder: Path) -> Path:
    """A new, empty, hidden folder beside ``folder`` for pip to install into."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}-new-", dir=folder.parent))


def swap_into_place(new: Path, folder: Path) -> bool:
    """Make ``new`` the dependency folder, removing the previous one.

    Returns:
        True when done now; False when the previous folder is in use, so ``new`` waits as the pending
        folder until the plugin next loads (``activate_pending``).
    """
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}-old-{uuid.uuid4().hex[:8]}")
        try:
            os.replace(folder, old)
        except OSError:
            pending = pending_folder(folder)
            shutil.rmtree(pending, ignore_errors=True)
            os.replace(new, pending)
            return False
    os.replace(new, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(pending_folder(folder), ignore_errors=True)
    return True


def activate_pending(folder: Path) -> bool:
    """Move a pending install into place (called before the folder is put on ``sys.path``).

    Returns:
        True when a pending install was activated.
    """
    pending = pending_folder(folder)
    if not pending.is_dir():
        return False
    try:
        return swap_into_place(pending, folder)
    except OSError:
        return False


def remove_leftovers(root: Path) -> None:
    """Delete staging and old folders of interrupted earlier runs (never the live or pending one)."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name.startswith(".") and (
            "-new-" in entry.name or "-old-" in entry.name or "-tmp-" in entry.name
        ):
            shutil.rmtree(entry, ignore_errors=True)


def remove_distribution(folder: Path, name: str) -> bool:
    """Delete an installed distribution from a ``--target`` folder, file by file from its ``RECORD``.

    Used for numpy, which pip puts into the folder when another package needs it although QGIS's own
    copy, earlier on ``sys.path``, is the one that is imported.

    Returns:
        True when the distribution was there.
    """
    normalised = name.lower().replace("-", "_")
    removed = False
    emptied: set[Path] = set()
    for info in folder.glob("*.dist-info"):
        if info.name.split("-", 1)[0].lower().replace("-", "_") != normalised:
            continue
        record = info / "RECORD"
        if record.is_file():
            with open(record, encoding="utf-8", newline="") as handle:
                for row in csv.reader(handle):
                    target = (folder / row[0]).resolve() if row else None
                    if target is not None and target.is_relative_to(folder.resolve()) and target.is_file():
                        target.unlink()
                        emptied.add(target.parent)
        shutil.rmtree(info, ignore_errors=True)
        removed = True
    # the distribution's own folders, deepest first, once they hold nothing more
    top = folder.resolve()
    for path in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        while path != top and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
            path = path.parent
    return removed
