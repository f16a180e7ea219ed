"""The files of a Sentinel-1 SAFE product: a ``.SAFE`` folder, its ``manifest.safe``, or a ``.zip``.

Products come from the Copernicus hubs zipped (``S1A_IW_GRDH_1SDV_...zip`` holding ``S1A_...SAFE/``);
analysts also unzip them. XML is read through Python (``zipfile`` for a zip) and measurement TIFFs through
GDAL's ``/vsizip/`` paths, so nothing is extracted.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

from ...errors import RasterReadError

MANIFEST = "manifest.safe"


class SafeFiles:
    """Names and contents of the files of one SAFE product.

    Attributes:
        path: the path given (folder, manifest or zip).
        name: the product name (``S1B_IW_GRDH_1SDV_...``), without ``.SAFE``.
        names: every file of the product, relative to its root, with forward slashes.

    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open a product; see ``locate`` for what ``path`` may be.

        Raises:
            RasterReadError: ``path`` is none of a SAFE folder, its manifest or a zip holding one.

        """
        found = locate_manifest(path)
        if found is None:
            raise RasterReadError(
                f"{os.fspath(path)} is not a SAFE product (no manifest.safe in it); give the product's "
                ".zip, its "
                ".SAFE folder or the manifest.safe inside it."
            )
        self.path = Path(path)
        self._zip_path, root = found
        self._root = root
        self.name = PurePosixPath(root.rstrip("/")).name.removesuffix(".SAFE") or self.path.stem
        if self._zip_path is not None:
            with zipfile.ZipFile(self._zip_path) as archive:
                members = archive.namelist()
            self.names = sorted(m[len(root) :] for m in members if m.startswith(root) and not m.endswith("/"))
        else:
            base = Path(root)
            self.names = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())

    def read(self, name: str) -> bytes:
        """The bytes of the product file ``name`` (relative to the product root).

        Raises:
            RasterReadError: the file cannot be read.

        """
        try:
            if self._zip_path is not None:
                with zipfile.ZipFile(self._zip_path) as archive:
                    return archive.read(self._root + name)
            return (Path(self._root) / name).read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile) as err:
            raise RasterReadError(
                f"Cannot read {name} of the Sentinel-1 product {self.path}: {err}; re-download the product."
            ) from err

    def gdal_path(self, name: str) -> str:
        """A path GDAL opens for the product file ``name`` (``/vsizip/`` inside a zip)."""
        if self._zip_path is not None:
            return f"/vsizip/{self._zip_path}/{self._root}{name}"
        return str(Path(self._root) / name)


def locate_manifest(path: str | os.PathLike[str]) -> tuple[str | None, str] | None:
    """Where a product's files are: (zip file or None, root folder ending in "/"), or None if not a product.

    ``path`` may be a ``.SAFE`` folder, the ``manifest.safe`` in one, or a zip holding ``<name>.SAFE/
    manifest.safe`` (or ``manifest.safe`` at its top).
    """
    path = Path(path)
    if path.is_dir() and (path / MANIFEST).is_file():
        return None, str(path.absolute()) + "/"
    if path.is_file() and path.name.lower() == MANIFEST:
        return None, str(path.absolute().parent) + "/"
    if path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                manifests = [m for m in archive.namelist() if PurePosixPath(m).name.lower() == MANIFEST]
        except (OSError, zipfile.BadZipFile):
            return None
        if manifests:
            shallowest = min(manifests, key=lambda m: m.count("/"))
            return str(path.absolute()), shallowest[: -len(MANIFEST)]
    return None


def is_sentinel1_product(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a Sentinel-1 SAFE product (folder, manifest or zip); reads the manifest only."""
    try:
        return b"SENTINEL-1" in SafeFiles(path).read(MANIFEST).upper()
    except (RasterReadError, OSError):
        return False
