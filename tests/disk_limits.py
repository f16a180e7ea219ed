"""A disk that is full on demand, for the write-failure tests: a small tmpfs, or else a file-size limit.

Where the tests may mount (root with CAP_SYS_ADMIN), ``tight_disk.folder`` is a 1 MiB tmpfs that
``tight_disk.full()`` fills up, so writes fail with ENOSPC ("No space left on device") exactly as on a
full disk, in this process and in subprocesses alike. Elsewhere ``full()`` sets this process's
RLIMIT_FSIZE to 0 (SIGXFSZ ignored), so every write to a regular file fails with EFBIG; subprocess
tests that need the real full disk skip there (``tight_disk.is_tmpfs``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TMPFS_SIZE = "1m"


class TightDisk:
    """A folder whose disk can be made full for the duration of a ``with tight_disk.full():`` block."""

    def __init__(self, folder: Path, is_tmpfs: bool) -> None:
        self.folder = folder
        self.is_tmpfs = is_tmpfs
        # the words the OutputWriteError must use for this kind of failure
        self.reason = (
            "no space left on device" if is_tmpfs else "the file is larger than this disk or process allows"
        ) + "; free space or choose another folder"

    @contextmanager
    def full(self) -> Iterator[None]:
        """Inside the block, writing a byte more to a file in ``folder`` fails."""
        if self.is_tmpfs:
            filler = self.folder / ".filler"
            _fill(filler)
            try:
                yield
            finally:
                filler.unlink()
        else:
            previous = resource.getrlimit(resource.RLIMIT_FSIZE)
            handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, previous[1]))
            try:
                yield
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, previous)
                signal.signal(signal.SIGXFSZ, handler)

    def files(self) -> list[str]:
        """Names in the folder (the filler excepted)."""
        return sorted(name for name in os.listdir(self.folder) if name != ".filler")


def _fill(path: Path) -> None:
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 2]


def _mount_tmpfs(folder: Path) -> bool:
    # GLFCR_TESTS_NO_TMPFS=1 tries the file-size-limit path where mounting would work
    if os.name != "posix" or os.geteuid() != 0 or os.environ.get("GLFCR_TESTS_NO_TMPFS"):
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def tight_disk(tmp_path: Path) -> Iterator[TightDisk]:
    """A folder on a disk that ``full()`` fills (a tmpfs where mounting works, else RLIMIT_FSIZE)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = _mount_tmpfs(folder)
    try:
        yield TightDisk(folder, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def checksums(*paths: Path) -> dict[Path, str]:
    """SHA-256 of each file, to show that a failed run changed no input."""
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}
