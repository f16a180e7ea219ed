"""Recognising a web page where a file was expected, and the confirmation link file-sharing hosts put in it.

Large files on file-sharing hosts are often answered first with an HTML page ("this file is too large
to scan for viruses: download anyway?") holding a form or a link that carries a confirmation token;
following it gives the file.
"""

from __future__ import annotations

import re
import urllib.parse
from html.parser import HTMLParser

_HTML_START = re.compile(rb"^\s*(<!doctype html|<html|<head|<body|<!--|<meta|<title)", re.IGNORECASE)
_DRIVE_FILE = re.compile(r"/file/d/([A-Za-z0-9_-]+)")


def looks_like_html(head: bytes, content_type: str) -> bool:
    """Whether an answer is a web page: an HTML content type, or a body that starts like one."""
    if "text/html" in (content_type or "").lower():
        return True
    return bool(_HTML_START.match(head[:512]))


def direct_download_url(url: str) -> str:
    """Direct-download address of a file link (Google Drive's ``/file/d/<id>/view``), else ``url``."""
    parsed = urllib.parse.urlparse(url)
    if parsed.hostname == "drive.google.com":
        match = _DRIVE_FILE.search(parsed.path)
        query = urllib.parse.parse_qs(parsed.query)
        file_id = match.group(1) if match else (query.get("id") or [None])[0]
        if file_id:
            return f"https://drive.google.com/uc?export=download&id={file_id}"
    return url


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.links: list[dict[str, str]] = []
        self.forms: list[tuple[dict[str, str], list[tuple[str, str]]]] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "title":
            self._in_title = True
        elif tag == "a" and attributes.get("href"):
            self.links.append(attributes)
        elif tag == "form":
            self.forms.append((attributes, []))
        elif tag == "input" and self.forms and attributes.get("name"):
            if attributes.get("type", "text").lower() in ("hidden", "text", "submit"):
                self.forms[-1][1].append((attributes["name"], attributes.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def read_page(html: bytes) -> _PageParser:
    """Parse a page (errors in the markup are tolerated)."""
    parser = _PageParser()
    parser.feed(html.decode("utf-8", errors="replace"))
    parser.close()
    return parser


def page_title(html: bytes) -> str:
    """The page's title, whitespace collapsed ('' when it has none)."""
    return " ".join(read_page(html).title.split())


def confirmation_url(html: bytes, page_url: str) -> str | None:
    """The address a download confirmation page asks to follow, or None when the page offers none.

    Recognised: a GET form carrying a ``confirm`` field (or named ``download-form``), and a link whose
    address carries ``confirm=`` (or with the id ``uc-download-link``).
    """
    page = read_page(html)
    for attributes, fields in page.forms:
        names = {name for name, _ in fields}
        if attributes.get("method", "get").lower() != "get":
            continue
        if "confirm" in names or attributes.get("id") == "download-form":
            action = urllib.parse.urljoin(page_url, attributes.get("action") or page_url)
            separator = "&" if urllib.parse.urlparse(action).query else "?"
            return action + separator + urllib.parse.urlencode(fields)
    for attributes in page.links:
        href = attributes["href"]
        if "confirm=" in href or attributes.get("id") == "uc-download-link":
            return urllib.parse.urljoin(page_url, href)
    return None
