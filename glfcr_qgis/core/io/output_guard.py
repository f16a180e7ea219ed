"""The one check of a run's outputs before any work: never an input, never twice, the right extension.

Every operation (and every Processing algorithm, before it starts) calls :func:`check_outputs` with
the files it will write, the files it reads and the folders it reads from. An output may not be an
input file (or a file of a multi-file input raster, such as a VRT's sources), an existing file inside
an input folder (a dataset's root), or another output of the same run; its extension must match its
format. A refused run has written nothing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError

from ..errors import OutputWriteError

PathLike = str | os.PathLike[str]

# output format -> (its name in messages, the extensions a file of it may have)
OUTPUT_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "raster": ("GeoTIFF", (".tif", ".tiff")),
    "json": ("JSON", (".json",)),
    "csv": ("CSV", (".csv",)),
    "html": ("HTML", (".html", ".htm")),
    "jsonl": ("JSON lines", (".jsonl",)),
    "checkpoint": ("PyTorch checkpoint", (".pth", ".pt")),
}


@dataclass(frozen=True)
class PlannedOutput:
    """A file a run is about to write.

    Attributes:
        path: the file; None or "" for an output not asked for.
        format: a key of ``OUTPUT_FORMATS``.
        label: how messages name it, e.g. ``"JSON report"``.
    """

    path: PathLike | None
    format: str
    label: str


def check_outputs(
    outputs: Iterable[PlannedOutput],
    *,
    input_rasters: Iterable[PathLike | None] = (),
    input_files: Iterable[PathLike | None] = (),
    input_folders: Iterable[PathLike | None] = (),
) -> None:
    """Refuse outputs that would overwrite an input or each other, or whose extension is not their format's.

    Cheap: reads no pixel (a raster input is opened for its list of files).

    Args:
        outputs: the files the run will write (None or "" paths are skipped: outputs not asked for).
        input_rasters: rasters the run reads; every file of each (GDAL's file list: a VRT's sources,
            a product's images, sidecars) is protected, and a raster given as a folder (a ``.SAFE``
            product) is an input folder.
        input_files: other files the run reads (protected as they are, without opening them).
        input_folders: folders the run reads from (a dataset's root): no existing file inside may be an
            output (a new file beside the data is fine).

    Raises:
        OutputWriteError: one sentence naming the output, what it clashes with and what to do.
    """
    planned = [output for output in outputs if output.path]
    for output in planned:
        _check_extension(output)
    rasters = [raster for raster in input_rasters if raster]
    sources = [path for raster in rasters for path in companion_files(raster)]
    sources += [os.fspath(file) for file in input_files if file]
    protected = protected_files(sources)
    # a raster given as a folder (a .SAFE product) is a dataset of its own
    folders = [Path(_key(folder)) for folder in input_folders if folder]
    folders += [Path(_key(raster)) for raster in rasters if os.path.isdir(raster)]
    seen: dict[str, PlannedOutput] = {}
    for output in planned:
        key = _key(output.path)
        if os.path.isdir(key):
            raise OutputWriteError(
                f"The {output.label} {os.fspath(output.path)} is a folder; give a file name for it."
            )
        clash = input_clash(output.path, protected)
        if clash is not None:
            alias = "" if os.fspath(clash) == os.fspath(output.path) else f" ({clash})"
            raise OutputWriteError(
                f"The {output.label} {os.fspath(output.path)} is also an input of this run{alias}; choose "
                "another file: inputs are never overwritten."
            )
        for folder in folders:
            if os.path.exists(key) and Path(key).is_relative_to(folder):
                raise OutputWriteError(
                    f"The {output.label} {os.fspath(output.path)} is a file of the input folder {folder}; "
                    "choose a file outside the dataset: inputs are never overwritten."
                )
        if key in seen:
            raise OutputWriteError(
                f"The {seen[key].label} and the {output.label} are the same file {os.fspath(output.path)}; "
                "give each output its own file."
            )
        seen[key] = output


def input_clash(path: PathLike, inputs: Iterable[PathLike] | dict[str, Path]) -> Path | None:
    """The input that writing ``path`` would overwrite (the same file under any name), or None.

    Args:
        path: an output file.
        inputs: input files, or a mapping made by :func:`protected_files` (faster for many outputs).
    """
    protected = inputs if isinstance(inputs, dict) else protected_files(inputs)
    return protected.get(_key(path)) or _hard_link_of(path, protected.values())


def protected_files(paths: Iterable[PathLike]) -> dict[str, Path]:
    """Input files by one spelling each (see :func:`input_clash`)."""
    return {_key(path): Path(path) for path in paths}


def companion_files(path: PathLike) -> list[str]:
    """The file itself and, for a raster GDAL opens, every file of the dataset (VRT sources, sidecars)."""
    files = [os.fspath(path)]
    if not os.path.isfile(path):
        return files
    try:
        # inside an Env GDAL's complaints about a file that is no raster go to logging, not the console
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.Env(), rasterio.open(path) as dataset:
                files += [name for name in dataset.files if not name.startswith("/vsi")]
    except (RasterioError, RasterioIOError, OSError):
        pass  # not a raster: the file alone
    return files


def _check_extension(output: PlannedOutput) -> None:
    name, extensions = OUTPUT_FORMATS[output.format]
    suffix = Path(os.fspath(output.path)).suffix.lower()
    if suffix not in extensions:
        allowed = " or ".join(extensions)
        got = f"'{suffix}'" if suffix else "no extension"
        raise OutputWriteError(
            f"The {output.label} {os.fspath(output.path)} is written as {name}: name it with a {allowed} "
            f"extension (got {got})."
        )


def _key(path: PathLike) -> str:
    """One spelling per file: absolute, links resolved, case folded where the file system folds it."""
    return os.path.normcase(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _hard_link_of(path: PathLike, sources: Iterable[Path]) -> Path | None:
    """The source that is the same file as an existing ``path`` under another name (a hard link)."""
    try:
        target = os.stat(path)
    except OSError:
        return None
    for source in sources:
        try:
            found = os.stat(source)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
            return source
    return None
