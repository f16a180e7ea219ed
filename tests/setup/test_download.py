"""The checkpoint downloader against a real HTTP server on 127.0.0.1: plain, resumed, confirmation pages,
rejections."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from disk_limits import TightDisk
from local_http import Route, drive_confirmation_page, local_server

from glfcr_qgis.core.errors import DownloadError, OutputWriteError, ProcessingCanceled
from glfcr_qgis.core.setup.confirm_page import confirmation_url, direct_download_url, looks_like_html
from glfcr_qgis.core.setup.download import AUTHORS_WEIGHTS_URL, download_checkpoint, partial_path


@pytest.fixture(scope="module")
def checkpoint_bytes(shared_dir: Path) -> bytes:
    return (shared_dir / "reference" / "glfcr_random_ckpt.pth").read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_plain_download_is_checked_and_moved_into_place(checkpoint_bytes: bytes, tmp_path: Path) -> None:
    destination = tmp_path / "weights" / "CR_net.pth"
    fractions: list[float] = []
    with local_server() as server:
        server.routes["/CR_net.pth"] = Route(checkpoint_bytes)
        result = download_checkpoint(server.url("/CR_net.pth"), destination, progress=fractions.append)
    assert destination.read_bytes() == checkpoint_bytes
    assert result.sha256 == hashlib.sha256(checkpoint_bytes).hexdigest()
    assert (result.size, result.resumed_from) == (len(checkpoint_bytes), 0)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert leftovers(destination.parent) == ["CR_net.pth"]  # no partial file, no state file


def test_a_connection_cut_mid_body_is_resumed_with_a_range_request(
    checkpoint_bytes: bytes, tmp_path: Path
) -> None:
    destination = tmp_path / "CR_net.pth"
    cut = 5 * 1024 * 1024 + 123
    messages: list[str] = []
    with local_server() as server:
        server.routes["/CR_net.pth"] = Route(checkpoint_bytes, cut_after=cut)
        download_checkpoint(server.url("/CR_net.pth"), destination, on_message=messages.append)
        ranges = [seen.headers.get("range") for seen in server.requests]
    assert ranges == [None, f"bytes={cut}-"]
    assert destination.read_bytes() == checkpoint_bytes
    assert any("resuming" in message for message in messages)


def test_a_canceled_download_resumes_in_the_next_call(checkpoint_bytes: bytes, tmp_path: Path) -> None:
    destination = tmp_path / "CR_net.pth"
    with local_server() as server:
        server.routes["/CR_net.pth"] = Route(checkpoint_bytes)
        fractions: list[float] = []
        with pytest.raises(ProcessingCanceled):
            download_checkpoint(
                server.url("/CR_net.pth"),
                destination,
                progress=fractions.append,
                is_canceled=lambda: bool(fractions) and fractions[-1] > 0.3,
            )
        kept = partial_path(destination).stat().st_size
        assert 0 < kept < len(checkpoint_bytes) and not destination.exists()
        result = download_checkpoint(server.url("/CR_net.pth"), destination)
        assert server.requests[-1].headers["range"] == f"bytes={kept}-"
        assert server.requests[-1].headers["if-range"] == '"v1"'
    assert result.resumed_from == kept
    assert destination.read_bytes() == checkpoint_bytes
    assert leftovers(tmp_path) == ["CR_net.pth"]


def test_a_server_ignoring_ranges_gets_the_file_from_the_start(
    checkpoint_bytes: bytes, tmp_path: Path
) -> None:
    destination = tmp_path / "CR_net.pth"
    with local_server() as server:
        server.routes["/f"] = Route(checkpoint_bytes, honour_range=False, cut_after=1_000_000)
        download_checkpoint(server.url("/f"), destination)
    assert destination.read_bytes() == checkpoint_bytes


def test_a_confirmation_page_is_followed(checkpoint_bytes: bytes, tmp_path: Path) -> None:
    destination = tmp_path / "CR_net.pth"
    messages: list[str] = []
    with local_server() as server:
        server.routes["/uc"] = Route(drive_confirmation_page("abc"), content_type="text/html; charset=utf-8")
        server.routes["/download"] = Route(checkpoint_bytes, needs_query={"id": "abc", "confirm": "t"})
        download_checkpoint(server.url("/uc?export=download&id=abc"), destination, on_message=messages.append)
        paths = [seen.path for seen in server.requests]
    assert paths == ["/uc", "/download"]
    assert destination.read_bytes() == checkpoint_bytes
    assert any("Virus scan warning" in message for message in messages)


def test_a_web_page_without_a_download_link_is_reported_and_not_saved(tmp_path: Path) -> None:
    destination = tmp_path / "CR_net.pth"
    page = b"<!doctype html><html><head><title>Sign in</title></head><body>Please sign in.</body></html>"
    with local_server() as server:
        # served as a binary type on purpose: the body, not the header, gives it away
        server.routes["/f"] = Route(page, content_type="application/octet-stream")
        with pytest.raises(DownloadError) as caught:
            download_checkpoint(server.url("/f"), destination)
    message = str(caught.value)
    assert "web page ('Sign in')" in message and "Choose file" in message
    assert leftovers(tmp_path) == []


def test_a_corrupt_file_is_rejected_and_nothing_is_left(checkpoint_bytes: bytes, tmp_path: Path) -> None:
    destination = tmp_path / "CR_net.pth"
    with local_server() as server:
        server.routes["/f"] = Route(checkpoint_bytes[: len(checkpoint_bytes) // 2])
        with pytest.raises(DownloadError) as caught:
            download_checkpoint(server.url("/f"), destination)
    assert "not a usable GLF-CR checkpoint" in str(caught.value)
    assert "weights_only=False" not in str(caught.value)
    assert leftovers(tmp_path) == []


def test_a_foreign_checkpoint_is_rejected_and_the_previous_file_kept(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pth"
    torch.save({"network": {"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(10)}}, foreign)
    destination = tmp_path / "out" / "CR_net.pth"
    destination.parent.mkdir()
    destination.write_bytes(b"previous")
    with local_server() as server:
        server.routes["/f"] = Route(foreign.read_bytes())
        with pytest.raises(DownloadError) as caught:
            download_checkpoint(server.url("/f"), destination)
    assert "is not a GLF-CR checkpoint" in str(caught.value)
    assert leftovers(destination.parent) == ["CR_net.pth"] and destination.read_bytes() == b"previous"


def test_a_wrong_checksum_is_rejected(checkpoint_bytes: bytes, tmp_path: Path) -> None:
    with local_server() as server:
        server.routes["/f"] = Route(checkpoint_bytes)
        with pytest.raises(DownloadError, match="not the expected"):
            download_checkpoint(server.url("/f"), tmp_path / "CR_net.pth", expected_sha256="0" * 64)
    assert leftovers(tmp_path) == []


def test_an_http_error_is_one_sentence(tmp_path: Path) -> None:
    with local_server() as server, pytest.raises(DownloadError) as caught:
        download_checkpoint(server.url("/missing.pth"), tmp_path / "CR_net.pth")
    assert str(caught.value).startswith("The server answered 404")
    assert leftovers(tmp_path) == []


def test_an_unreachable_server_is_reported_after_retries(tmp_path: Path) -> None:
    with local_server() as server:
        url = server.url("/f")
    # the server is gone: every connection is refused
    with pytest.raises(DownloadError, match="keeps failing"):
        download_checkpoint(url, tmp_path / "CR_net.pth", timeout=2, retries=1)


def test_the_authors_link_becomes_a_direct_download() -> None:
    assert "11EYrrqLzlqrDgrJNgIW7IY0nSz_S5y9Z" in AUTHORS_WEIGHTS_URL
    assert direct_download_url(AUTHORS_WEIGHTS_URL) == (
        "https://drive.google.com/uc?export=download&id=11EYrrqLzlqrDgrJNgIW7IY0nSz_S5y9Z"
    )
    assert direct_download_url("https://example.org/CR_net.pth") == "https://example.org/CR_net.pth"


def test_confirmation_links_of_older_pages_are_found() -> None:
    page = (
        b'<html><body><a id="uc-download-link" href="/uc?export=download&amp;confirm=AbCd&amp;id=xyz">'
        b"Download anyway</a></body></html>"
    )
    assert confirmation_url(page, "https://drive.google.com/uc?id=xyz") == (
        "https://drive.google.com/uc?export=download&confirm=AbCd&id=xyz"
    )
    assert confirmation_url(b"<html><title>Error 404</title></html>", "https://h/x") is None
    assert looks_like_html(b"  <!DOCTYPE html><html>", "") and not looks_like_html(
        b"PK\x03\x04", "application/zip"
    )


def test_a_full_disk_is_one_sentence_not_a_network_failure(
    checkpoint_bytes: bytes, tight_disk: TightDisk
) -> None:
    destination = tight_disk.folder / "CR_net.pth"
    with local_server() as server:
        server.routes["/CR_net.pth"] = Route(checkpoint_bytes)
        with tight_disk.full(), pytest.raises(OutputWriteError) as error:
            download_checkpoint(server.url("/CR_net.pth"), destination)
        requests = len(server.requests)
    message = str(error.value)
    assert message.startswith(f"Cannot write the output {destination}: ") and "network" not in message
    assert "free space or choose another folder" in message and requests == 1  # not retried
    assert not destination.exists()
