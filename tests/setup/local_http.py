"""A real HTTP server on 127.0.0.1 for the downloader tests: ranges, cut connections, confirmation pages."""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the server answers for one path.

    Args:
        body: the file's bytes.
        content_type: the Content-Type header.
        honour_range: answer ``Range`` requests with 206 (else always the whole file with 200).
        cut_after: bytes of the body sent before the connection is dropped, for the first ``cuts`` answers.
        cuts: how many answers are cut.
        etag: the ETag header ('' for none).
        needs_query: the answer is 404 unless the query holds these parameters.
    """

    body: bytes
    content_type: str = "application/octet-stream"
    honour_range: bool = True
    cut_after: int | None = None
    cuts: int = 1
    etag: str = '"v1"'
    needs_query: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    """One request the server received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


class LocalServer:
    """Routes by path; records every request in ``requests``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API name)
                parsed = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                server.requests.append(
                    Seen(parsed.path, query, {k.lower(): v for k, v in self.headers.items()})
                )
                route = server.routes.get(parsed.path)
                if route is None or any(query.get(k) != v for k, v in route.needs_query.items()):
                    self.send_error(404, "Not Found")
                    return
                body, start = route.body, 0
                requested = self.headers.get("Range", "")
                if requested.startswith("bytes=") and route.honour_range:
                    start = int(requested[len("bytes=") :].split("-")[0])
                    if start >= len(body):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(part)))
                if route.etag:
                    self.send_header("ETag", route.etag)
                self.end_headers()
                if route.cut_after is not None and route.cuts > 0:
                    route.cuts -= 1
                    self.wfile.write(part[: route.cut_after])
                    self.wfile.flush()
                    # drop the connection mid-body, as a flaky network does
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def local_server() -> Iterator[LocalServer]:
    """A started server, shut down afterwards."""
    server = LocalServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def drive_confirmation_page(file_id: str) -> bytes:
    """A page shaped like the one a file-sharing host answers for large files (a GET form with a token)."""
    return (
        "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
        "<p>Google Drive can't scan this file for viruses. CR_net.pth (57M) is too large to scan.</p>"
        '<form id="download-form" action="/download" method="get">'
        '<input type="submit" id="uc-download-link" value="Download anyway"/>'
        f'<input type="hidden" name="id" value="{file_id}">'
        '<input type="hidden" name="export" value="download">'
        '<input type="hidden" name="confirm" value="t">'
        '<input type="hidden" name="uuid" value="0b5f0c53-1234"></form></body></html>'
    ).encode()
