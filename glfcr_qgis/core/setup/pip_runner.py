"""Running pip with QGIS's Python: output streamed line by line, cancel in a second, one-sentence failures."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InstallError, ProcessingCanceled
from .interpreter import NO_WINDOW, python_environment

_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|"
    r"Name or service not known|Network is unreachable|ConnectTimeoutError|ReadTimeoutError|"
    r"Max retries exceeded|"
    r"ProxyError|SSLError|Connection refused|getaddrinfo failed|No route to host",
    re.IGNORECASE,
)
_DISK_FULL = re.compile(r"No space left on device|Errno 28|not enough space on the disk", re.IGNORECASE)
_NOT_FOUND = re.compile(
    r"No matching distribution found for (\S+)|Could not find a version that satisfies the requirement (\S+)"
)
_CONFLICT = re.compile(r"Cannot install (.+?) because these package versions have conflicting dependencies")
_PERMISSION = re.compile(r"Permission denied|Errno 13|Access is denied", re.IGNORECASE)


@dataclass(frozen=True)
class PipRun:
    """A finished pip run: its exit code and everything it printed."""

    returncode: int
    log: str


def run_pip(
    python: str,
    arguments: Sequence[str],
    *,
    on_line: Callable[[str], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
    env: dict[str, str] | None = None,
) -> PipRun:
    """Run ``python -m pip <arguments>``, passing each output line to ``on_line`` as it comes.

    Raises:
        ProcessingCanceled: ``is_canceled`` turned true; pip was stopped.
        InstallError: the interpreter could not be started.
    """
    command = [python, "-m", "pip", *arguments]
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            env=env or python_environment(),
            creationflags=NO_WINDOW,
        )
    except OSError as error:
        raise InstallError(f"QGIS's Python {python} could not be started ({error}).") from None
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\r\n"))
        lines.put(None)

    reader = threading.Thread(target=read, name="pip-output", daemon=True)
    reader.start()
    log: list[str] = []
    finished = False
    while not finished:
        if is_canceled is not None and is_canceled():
            _stop(process)
            reader.join(timeout=5)
            process.stdout.close()
            raise ProcessingCanceled("Install canceled: pip was stopped and nothing was changed.")
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            finished = True
            continue
        log.append(line)
        if on_line is not None:
            on_line(line)
    returncode = process.wait()
    process.stdout.close()
    return PipRun(returncode, "\n".join(log))


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    deadline = time.monotonic() + 5
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()


def pip_failure_sentence(run: PipRun, folder: Path, what: str = "install") -> str:
    """One sentence saying why pip failed and what to do, read from its log.

    Args:
        run: the failed run.
        folder: where it was installing (named in the disk and permission messages).
        what: "install" or "size check", for the message.
    """
    log = run.log
    if _DISK_FULL.search(log):
        return (
            f"pip ran out of disk space while installing into {folder}: free some space (or choose another "
            "profile) and run Install dependencies again."
        )
    if _NETWORK.search(log):
        return (
            "pip could not reach its package index (no network, or a proxy or certificate problem): "
            "check the connection and pip's own configuration (pip.conf, PIP_INDEX_URL, a proxy), then run "
            "Install dependencies again."
        )
    not_found = _NOT_FOUND.search(log)
    if not_found:
        requirement = next(group for group in not_found.groups() if group)
        return (
            f"pip found no {requirement} for this Python in its configured index: check that this QGIS's "
            "Python version and system are supported by that release, or point pip's own configuration at an "
            "index that has it."
        )
    conflict = _CONFLICT.search(log)
    if conflict:
        return (
            f"pip cannot install {conflict.group(1)}: the versions asked for conflict with QGIS's numpy or "
            "with a "
            "constraint in pip's own configuration (see pip's log below)."
        )
    if _PERMISSION.search(log):
        return (
            f"pip may not write into {folder} (permission denied): check the folder's permissions and run "
            "Install dependencies again."
        )
    last = next((line.strip() for line in reversed(log.splitlines()) if line.strip()), "no output")
    return f"pip's {what} failed with exit code {run.returncode} ({last[:200]}); see pip's log below."
