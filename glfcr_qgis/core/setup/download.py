"""Downloading a GLF-CR checkpoint: resumable, cancelable, and never saved unless it loads as GLF-CR.

The file grows in a hidden ``.<name>.part`` beside the destination; a broken connection is resumed with
an HTTP range request (within the same call, and by the next call after a cancel or a failure, as
long as the server still has the same file). A web page answered instead of the file is followed when
it is a file-sharing host's confirmation page, and reported otherwise. When complete, the file must
load as a GLF-CR checkpoint (``weights_only=True``, keys and shapes checked) before it is moved into
place; a file that does not is deleted.
"""

from __future__ import annotations

import errno
import http.client
import http.cookiejar
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, DownloadError, OutputWriteError, ProcessingCanceled
from .checkpoint_info import check_structure, require_checker, sha256_of
from .confirm_page import confirmation_url, direct_download_url, looks_like_html, page_title
from .plan import format_size

# The GLF-CR authors' pretrained CR_net.pth, as linked from the README of github.com/xufangchn/GLF-CR.
AUTHORS_WEIGHTS_URL = "https://drive.google.com/file/d/11EYrrqLzlqrDgrJNgIW7IY0nSz_S5y9Z/view?usp=sharing"
CHUNK = 1024 * 1024
MAX_PAGES = 3  # confirmation pages followed before giving up
RETRIES = 5  # consecutive broken connections without progress
_HTML_LIMIT = 2 * 1024 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_USER_AGENT = "glfcr_qgis-downloader (urllib)"


@dataclass(frozen=True)
class DownloadResult:
    """A checkpoint that arrived, was checked, and is in place."""

    path: Path
    size: int
    sha256: str
    resumed_from: int
    url: str


def partial_path(destination: Path) -> Path:
    """The hidden file a download grows in before it is checked: ``.<name>.part`` beside the destination."""
    return destination.with_name(f".{destination.name}.part")


def _state_path(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.part.json")


# the write errors that retrying cannot cure
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS})


class _Transfer:
    """One download's state: the partial file, what the server said about it, and the retry budget."""

    def __init__(self, url: str, destination: Path, timeout: float) -> None:
        self.url = url
        self.destination = destination
        self.part = partial_path(destination)
        self.state_file = _state_path(destination)
        self.timeout = timeout
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.validator = ""
        self.total: int | None = None
        self.resumed_from = 0
        self._load_state()

    def _load_state(self) -> None:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
        if self.part.is_file() and state.get("url") == self.url:
            self.validator = state.get("validator", "")
            self.total = state.get("total")
            self.resumed_from = self.part.stat().st_size
        else:
            self.discard()

    def save_state(self) -> None:
        self.state_file.write_text(
            json.dumps({"url": self.url, "validator": self.validator, "total": self.total}), encoding="utf-8"
        )

    def have(self) -> int:
        return self.part.stat().st_size if self.part.is_file() else 0

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)

    def open(self, address: str) -> http.client.HTTPResponse:
        headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
        have = self.have()
        if have:
            headers["Range"] = f"bytes={have}-"
            if self.validator:
                headers["If-Range"] = self.validator  # a changed file is sent whole, not spliced
        return self.opener.open(urllib.request.Request(address, headers=headers), timeout=self.timeout)


def download_checkpoint(
    url: str,
    destination: str | os.PathLike[str],
    *,
    expected_sha256: str = "",
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
    on_message: Callable[[str], None] | None = None,
    timeout: float = 60,
    retries: int = RETRIES,
) -> DownloadResult:
    """Download the checkpoint at ``url`` to ``destination``, resuming an earlier partial download.

    Args:
        url: an http(s) address of the file, or a file-sharing page link (Google Drive's is turned into
            its download address; confirmation pages are followed).
        destination: where the checked checkpoint goes (replaced atomically when it exists).
        expected_sha256: when given, the file must have this SHA-256.
        progress: receives the fraction downloaded, 0..1 (when the size is known).
        is_canceled: polled between chunks; the partial file is kept so the next call resumes.
        on_message: receives notes (resumed, confirmation page followed, retrying).
        timeout: seconds without data before a connection counts as broken.
        retries: broken connections in a row (without new data) before giving up.

    Raises:
        DownloadError: unreachable, an HTTP error, a web page instead of the file, or a file that is not
            a GLF-CR checkpoint (deleted) or has another SHA-256.
        ProcessingCanceled: canceled; the partial file stays for the next call.
        MissingDependencyError: torch, needed to check the file, is missing (nothing is downloaded).
    """
    tell = on_message or (lambda _text: None)
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(
            f"Cannot create the folder {destination.parent} ({error.strerror}); choose another output."
        ) from None
    require_checker()  # torch checks the file: fail before downloading anything
    transfer = _Transfer(url, destination, timeout)
    if transfer.resumed_from:
        tell(f"Resuming: {format_size(transfer.resumed_from)} already downloaded in {transfer.part}.")
    address = direct_download_url(url)
    pages = failures = 0
    while True:
        if is_canceled is not None and is_canceled():
            raise ProcessingCanceled(
                f"Download canceled; {transfer.part} is kept and the next download resumes from it."
            )
        before = transfer.have()
        if transfer.total is not None and before == transfer.total:
            break
        try:
            response = _open(transfer, address, url)
            if response is None:
                tell("The file on the server changed since the partial download; starting over.")
                continue
            with response:
                head = response.read(min(CHUNK, 64 * 1024))
                if looks_like_html(head, response.headers.get("Content-Type", "")):
                    page = head + response.read(_HTML_LIMIT)
                    follow = confirmation_url(page, response.geturl())
                    if follow is None or pages >= MAX_PAGES:
                        raise DownloadError(_page_message(url, page, follow is not None))
                    pages += 1
                    tell(
                        f"The server answered with a confirmation page ('{page_title(page)}'); "
                        "following its download link."
                    )
                    address = follow
                    continue
                complete = _receive(transfer, response, head, progress, is_canceled)
        except (
            http.client.IncompleteRead,
            ConnectionError,
            TimeoutError,
            urllib.error.URLError,
            OSError,
        ) as error:
            if isinstance(error, DownloadError | OutputWriteError | urllib.error.HTTPError):
                raise
            complete = False
            reason = getattr(error, "reason", None) or error
            failures = 0 if transfer.have() > before else failures + 1
            if failures > retries:
                raise DownloadError(
                    f"The download from {url} keeps failing ({reason}); check the network and run the "
                    "download again: "
                    f"the {format_size(transfer.have())} already received are kept and it resumes from there."
                ) from None
            tell(f"Connection broken ({reason}) after {format_size(transfer.have())}; resuming.")
            time.sleep(min(0.2 * 2**failures, 5.0))
        if complete:
            break
    return _finish(transfer, url, expected_sha256, tell)


def _open(transfer: _Transfer, address: str, url: str) -> http.client.HTTPResponse | None:
    """Open ``address``; None when the server says the partial file is past its end (the file changed)."""
    try:
        return transfer.open(address)
    except urllib.error.HTTPError as error:
        if error.code == 416 and transfer.have():
            transfer.discard()
            return None
        raise DownloadError(
            f"The server answered {error.code} ({error.reason}) for {url}: check the address, or download "
            "the "
            "file in a browser and choose it with Choose file."
        ) from None


def _receive(
    transfer: _Transfer,
    response: http.client.HTTPResponse,
    head: bytes,
    progress: Callable[[float], None] | None,
    is_canceled: Callable[[], bool] | None,
) -> bool:
    """Write the answer's body to the partial file; True when the file is complete."""
    start = 0
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if response.status == 206 and match and int(match.group(1)) == transfer.have():
        start = transfer.have()
        transfer.total = int(match.group(3)) if match.group(3) != "*" else None
    else:
        # the whole file (the server ignored the range, or the file changed): start over
        length = response.headers.get("Content-Length", "")
        transfer.total = int(length) if length.isdigit() else None
    transfer.validator = response.headers.get("ETag") or response.headers.get("Last-Modified") or ""
    try:
        transfer.save_state()
        received = _write_body(transfer, response, head, start, progress, is_canceled)
    except OSError as error:
        if error.errno not in _DISK_ERRNOS:
            raise
        # a full disk is no network failure: no retry, and the sentence says what to do
        raise OutputWriteError(
            f"Cannot write the output {transfer.destination}: {(error.strerror or str(error)).lower()}; free "
            f"space or choose another folder (the {format_size(transfer.have())} received so far stay in "
            f"{transfer.part}, and the next download resumes from there)."
        ) from None
    if transfer.total is not None and received < transfer.total:
        raise ConnectionResetError(
            f"the server closed the connection at {received} of {transfer.total} bytes"
        )
    return True


def _write_body(
    transfer: _Transfer,
    response: http.client.HTTPResponse,
    head: bytes,
    start: int,
    progress: Callable[[float], None] | None,
    is_canceled: Callable[[], bool] | None,
) -> int:
    """Append the answer's body to the partial file; returns the bytes it then holds."""
    with open(transfer.part, "ab" if start else "wb") as handle:
        chunk = head
        received = start
        while chunk:
            handle.write(chunk)
            received += len(chunk)
            if progress is not None and transfer.total:
                progress(min(received / transfer.total, 1.0))
            if is_canceled is not None and is_canceled():
                handle.flush()
                raise ProcessingCanceled(
                    f"Download canceled; {transfer.part} is kept and the next download resumes from it."
                )
            chunk = response.read(CHUNK)
    return received


def _finish(
    transfer: _Transfer, url: str, expected_sha256: str, tell: Callable[[str], None]
) -> DownloadResult:
    size = transfer.have()
    digest = sha256_of(transfer.part)
    if expected_sha256 and digest.lower() != expected_sha256.strip().lower():
        transfer.discard()
        raise DownloadError(
            f"The file downloaded from {url} has SHA-256 {digest}, not the expected "
            f"{expected_sha256.strip()}; "
            "it was deleted."
        )
    tell(f"Downloaded {format_size(size)}; checking that it is a GLF-CR checkpoint.")
    try:
        check_structure(transfer.part)
    except CheckpointError as error:
        transfer.discard()
        raise DownloadError(
            f"The file downloaded from {url} is not a usable GLF-CR checkpoint and was deleted: {error}"
        ) from None
    try:
        os.replace(transfer.part, transfer.destination)
    except OSError as error:
        raise DownloadError(
            f"Cannot write {transfer.destination} ({error.strerror}); the checked download stays in "
            f"{transfer.part}."
        ) from None
    transfer.state_file.unlink(missing_ok=True)
    return DownloadResult(transfer.destination, size, digest, transfer.resumed_from, url)


def _page_message(url: str, page: bytes, had_link: bool) -> str:
    title = page_title(page) or "no title"
    if had_link:
        reason = "and kept asking for confirmation"
    else:
        reason = "without a download link to follow"
    return (
        f"{url} answered with a web page ('{title}') instead of the checkpoint, {reason}: open the address "
        "in a "
        "browser, download the file there and choose it with Choose file (or give the file's direct address)."
    )
