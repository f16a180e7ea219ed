"""Writing outputs safely: through hidden temporary files, every failure checked, moved into place only whole.

GDAL reports most write failures (a full disk, a file-size limit, a vanished folder) to its error
handler instead of failing the call, and GDAL 3.6 cannot report a failure while closing a file at all.
So the writes of an output run under a :class:`GdalFailureWatch`, which collects what GDAL signals as a
failure in the writing thread; an output is moved into place only when GDAL signalled nothing, Python
raised nothing and its bytes reached the disk (``fsync``). Otherwise every temporary file is deleted,
nothing is moved, and the caller gets one :class:`OutputWriteError` sentence.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import rasterio
from rasterio.errors import RasterioError, RasterioIOError

from ..errors import GlfcrError, OutputWriteError
from .output_guard import input_clash, protected_files

try:  # rasterio's exceptions for GDAL errors (CPLE_AppDefinedError, ...) are not RasterioErrors
    from rasterio._err import CPLE_BaseError
except ImportError:  # pragma: no cover (every rasterio 1.x has it)
    CPLE_BaseError = RasterioError

PathLike = str | os.PathLike[str]

# files GDAL may write beside a raster; they belong to it and move or go with it
GDAL_SIDECAR_SUFFIXES: tuple[str, ...] = (".aux.xml", ".ovr", ".msk")

# exceptions that mean "the bytes did not get written": from Python, from GDAL through rasterio
WRITE_ERRORS: tuple[type[BaseException], ...] = (OSError, RasterioError, RasterioIOError, CPLE_BaseError)

# rasterio (1.3, 1.4) logs GDAL's CE_Failure errors at INFO level with this prefix
_RASTERIO_LOGGER = "rasterio._env"
_FAILURE_PREFIX = "GDAL signalled an error"

# errno -> (the reason in words, the fix)
_FULL = "free space or choose another folder"
_DENIED = "choose a folder you can write to"
_REASONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device", _FULL),
    errno.EDQUOT: ("the disk quota is exceeded", _FULL),
    errno.EFBIG: ("the file is larger than this disk or process allows", _FULL),
    errno.EACCES: ("permission denied", _DENIED),
    errno.EPERM: ("permission denied", _DENIED),
    errno.EROFS: ("the file system is read-only", _DENIED),
    errno.ENOTDIR: ("a part of its folder path is a file, not a folder", _DENIED),
    errno.EEXIST: ("a part of its folder path is a file, not a folder", _DENIED),
    errno.EISDIR: ("it is a folder", "give a file name"),
    errno.ENOENT: ("its folder disappeared while writing", _DENIED),
}


def write_failure(destination: PathLike | Sequence[PathLike], cause: BaseException | str) -> OutputWriteError:
    """The one-sentence error for an output that could not be written.

    Args:
        destination: the output file the analyst asked for (not the temporary file), or the outputs
            written together when it is not known which of them failed.
        cause: the exception raised while writing, or the failure GDAL signalled.

    Returns:
        ``OutputWriteError("Cannot write the output X: <reason>; <fix>.")``.
    """
    code = getattr(cause, "errno", None)
    text = str(getattr(cause, "strerror", None) or cause)
    if code not in _REASONS:
        code = next((number for number in _REASONS if os.strerror(number).lower() in text.lower()), None)
    if code in _REASONS:
        reason, fix = _REASONS[code]
    else:
        # GDAL prefixes its messages with the function or the file; the sentence names the file itself
        reason = text.strip().splitlines()[0] if text.strip() else "the write failed"
        reason = reason.rsplit(":", 1)[-1].strip().rstrip(".") or reason
        fix = "choose another folder or free disk space"
    single = isinstance(destination, str | os.PathLike)
    names = [os.fspath(destination)] if single else [os.fspath(path) for path in destination]
    what = f"the output {names[-1]}"
    if len(names) > 1:
        what = f"the outputs {', '.join(names[:-1])} and {names[-1]}"
    return OutputWriteError(f"Cannot write {what}: {reason}; {fix}.")


class GdalFailureWatch(logging.Handler):
    """Collect the failures GDAL signals while writing outputs, which GDAL 3.6 does not raise.

    Inside ``with watch:`` the thread runs in a ``rasterio.Env`` (which routes GDAL's errors to
    Python's logging) and every CE_Failure GDAL signals in that thread is kept in ``failures``.
    GDAL reports an error to the thread that caused it: a thread that writes for the same outputs
    enters the same watch (``watch = GdalFailureWatch.current()`` in the thread that opened the
    outputs, ``with watch:`` in the writing thread). Long writers call :func:`check_write_failures`
    now and then to stop as soon as the disk is full. Any GDAL failure inside the watch counts, a
    failed read too: code inside it lets GDAL fail only where it raises anyway.

    Args:
        destinations: the outputs being written, named by the error.
    """

    _lock = threading.Lock()
    _active = 0
    _saved_level = logging.NOTSET
    _current = threading.local()

    def __init__(self, destinations: Sequence[PathLike] = ()) -> None:
        super().__init__(logging.INFO)
        self.destinations = list(destinations)
        self.failures: list[str] = []
        self._envs: dict[int, list[ExitStack]] = {}

    @classmethod
    def current(cls) -> GdalFailureWatch | None:
        """The innermost watch of this thread, to enter in a thread that writes for it (None outside)."""
        watches = getattr(cls._current, "watches", [])
        return watches[-1] if watches else None

    def check(self) -> None:
        """Raise the write error for the first failure GDAL signalled so far, if any.

        Raises:
            OutputWriteError: GDAL signalled a failure.
        """
        if self.failures:
            raise write_failure(self.destinations, self.failures[0])

    def __enter__(self) -> GdalFailureWatch:
        stack = ExitStack()
        stack.enter_context(rasterio.Env())
        with self._lock:
            self._envs.setdefault(threading.get_ident(), []).append(stack)
            if sum(len(envs) for envs in self._envs.values()) == 1:
                self._attach()
        watches = getattr(self._current, "watches", [])
        self._current.watches = [*watches, self]
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._current.watches = self._current.watches[:-1]
        with self._lock:
            envs = self._envs[threading.get_ident()]
            stack = envs.pop()
            if not envs:
                del self._envs[threading.get_ident()]
            if not self._envs:
                self._detach()
        stack.close()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread not in self._envs or not str(record.msg).startswith(_FAILURE_PREFIX):
            return
        args = record.args if isinstance(record.args, tuple) else ()
        self.failures.append(str(args[-1]) if args else record.getMessage())

    def _attach(self) -> None:
        logger = logging.getLogger(_RASTERIO_LOGGER)
        logger.addHandler(self)
        cls = type(self)
        if cls._active == 0:
            cls._saved_level = logger.level
        cls._active += 1
        # rasterio logs the failures at INFO: the logger must let INFO through while any watch runs
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)

    def _detach(self) -> None:
        logger = logging.getLogger(_RASTERIO_LOGGER)
        logger.removeHandler(self)
        cls = type(self)
        cls._active -= 1
        if cls._active == 0:
            logger.setLevel(cls._saved_level)


def check_write_failures() -> None:
    """Raise now if GDAL signalled a write failure for the outputs this thread is writing.

    Call it between blocks of a long write, so a full disk stops the run instead of the run going on
    to the end for an output that cannot be kept.

    Raises:
        OutputWriteError: GDAL signalled a failure inside the innermost :class:`GdalFailureWatch`.
    """
    watch = GdalFailureWatch.current()
    if watch is not None:
        watch.check()


@contextmanager
def atomic_outputs(paths: Sequence[PathLike], *, inputs: Sequence[PathLike] = ()) -> Iterator[list[Path]]:
    """Give temporary paths to write ``paths`` through; move them all into place only when the block succeeds.

    Each temporary file is hidden, in its destination's folder (so ``os.replace`` is atomic) and keeps
    the destination's extension (so GDAL picks the same driver). The block runs under a
    :class:`GdalFailureWatch`. When the block raises, GDAL signalled a failure, or a file cannot be
    flushed to disk, every temporary file is deleted with GDAL's sidecars, no destination changes,
    and a write failure becomes one ``OutputWriteError`` sentence.

    Args:
        paths: the final output files.
        inputs: files the operation reads; writing over one of them is refused.

    Yields:
        The temporary paths to write, in the order of ``paths``.

    Raises:
        OutputWriteError: a destination is an input, or an output cannot be written.
    """
    destinations = [Path(path).expanduser().absolute() for path in paths]
    protected = protected_files(inputs)
    for destination in destinations:
        if input_clash(destination, protected) is not None:
            raise OutputWriteError(
                f"The output {destination} is also an input of this operation; "
                "choose another output file (inputs are never overwritten)."
            )
    temps: list[Path] = []
    try:
        for destination in destinations:
            destination.parent.mkdir(parents=True, exist_ok=True)
            temps.append(_create_hidden_temp(destination))
    except OSError as err:
        _remove_all(temps)
        raise write_failure(destinations[len(temps)], err) from None
    watch = GdalFailureWatch(destinations)
    try:
        with watch:
            yield temps
        watch.check()
        for temp, destination in zip(temps, destinations, strict=True):
            _flush_to_disk(temp)
            _check_readable(temp, destination)
        for temp, destination in zip(temps, destinations, strict=True):
            os.replace(temp, destination)
            _move_sidecars(temp, destination)
    except BaseException as err:
        _remove_all(temps)
        if isinstance(err, WRITE_ERRORS) and not isinstance(err, GlfcrError):
            failed = _failed_destinations(err, temps, destinations)
            raise write_failure(failed, watch.failures[0] if watch.failures else err) from None
        raise


@contextmanager
def atomic_output(path: PathLike, *, inputs: Sequence[PathLike] = ()) -> Iterator[Path]:
    """:func:`atomic_outputs` for one file: yields its temporary path."""
    with atomic_outputs([path], inputs=inputs) as temps:
        yield temps[0]


def _failed_destinations(err: BaseException, temps: Sequence[Path], destinations: list[Path]) -> list[Path]:
    """The destinations an error is about: the one whose temporary file it names, else all of them."""
    files = (getattr(err, "filename", None), getattr(err, "filename2", None))
    named = {os.fspath(name) for name in files if name}
    failed = [dest for temp, dest in zip(temps, destinations, strict=False) if os.fspath(temp) in named]
    return failed or destinations


def _create_hidden_temp(destination: Path) -> Path:
    # not mkstemp: its files are private (0600) and the output must get the usual permissions (umask)
    for _ in range(100):
        temp = destination.parent / f".{destination.stem}.{secrets.token_hex(4)}.partial{destination.suffix}"
        try:
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return temp
    raise FileExistsError(errno.EEXIST, f"no free temporary name in {destination.parent}")


def partial_files(path: PathLike) -> list[Path]:
    """Temporary files ``atomic_output`` may have left for ``path`` when its process was killed.

    A run that ends normally removes its own; these are left only by a process that died mid-write
    (a killed worker), so they are safe to delete once no writer of ``path`` is running.
    """
    destination = Path(path).expanduser().absolute()
    pattern = f".{glob.escape(destination.stem)}.*.partial*"
    return sorted(candidate for candidate in destination.parent.glob(pattern) if candidate.is_file())


def _flush_to_disk(path: Path) -> None:
    # some file systems (NFS, quotas) report a full disk only when the data is flushed; Windows flushes
    # only handles open for writing
    descriptor = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _check_readable(temp: Path, destination: Path) -> None:
    """A GeoTIFF must open again: the last safety net for a failure GDAL reported to another thread."""
    if temp.suffix.lower() not in (".tif", ".tiff"):
        return
    try:
        with rasterio.Env(), rasterio.open(temp):
            pass
    except (RasterioError, RasterioIOError, CPLE_BaseError) as err:
        reason = str(err).strip().splitlines()[0].replace(f"{temp}: ", "").rstrip(".")
        raise OutputWriteError(
            f"Cannot write the output {destination}: the file written cannot be read back ({reason}); "
            "check the free space and the folder, then run again."
        ) from None


def remove_raster_files(path: PathLike) -> None:
    """Delete a raster file and GDAL's sidecars of it, ignoring those that do not exist."""
    path = Path(path)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in GDAL_SIDECAR_SUFFIXES)):
        try:
            candidate.unlink()
        except FileNotFoundError:
            pass


def _remove_all(temps: Sequence[Path]) -> None:
    for temp in temps:
        remove_raster_files(temp)


def _move_sidecars(temp: Path, destination: Path) -> None:
    # a sidecar left from an earlier output of the same name would describe the old raster
    for suffix in GDAL_SIDECAR_SUFFIXES:
        written, stale = Path(f"{temp}{suffix}"), Path(f"{destination}{suffix}")
        if written.exists():
            os.replace(written, stale)
        elif stale.exists():
            stale.unlink()
