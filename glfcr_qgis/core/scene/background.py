"""Background threads for Remove Clouds' strip loop: read-ahead and write-behind with bounded queues.

The network runs in the caller's thread; reading and normalising the next strips (``ReadAhead``) and
writing the finished rows (``WriteBehind``) run beside it, each in one thread that alone touches its
datasets (GDAL dataset handles are not thread-safe). The queues are bounded, so memory stays a few
strips whatever the scene. An exception in a background thread is raised again in the caller at its
next ``next()`` / ``submit()`` / ``finish()``; ``close()`` stops a thread within one item's work, so an
error or a cancel in the caller ends the run in seconds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

# how often a blocked put/get looks at the stop flag and the other side's health, in seconds
_POLL = 0.1


class _End:
    """Marks the end of the items."""


class _Failure:
    """Carries a background thread's exception to the caller."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate over ``items`` produced in a background thread, at most ``depth`` items ahead of the caller.

    Use as a context manager (``with ReadAhead(...) as strips: for strip in strips: ...``): leaving the
    block stops the producer, also on an error or a cancel in the loop.
    """

    def __init__(self, items: Iterable[T], depth: int = 1, name: str = "glfcr-read-ahead") -> None:
        """Start producing.

        Args:
            items: iterable evaluated in the background thread (a generator doing the reading).
            depth: items kept ready beyond the one being produced (>= 1).
            name: thread name (shows in debuggers and profilers).

        """
        self._items = items
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
            self._put(_End())
        except BaseException as error:  # noqa: BLE001 (handed to the caller, who raises it)
            self._put(_Failure(error))

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._done = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the producer (it finishes the item in hand) and wait for it."""
        self._stop.set()
        self._done = True
        while self._thread.is_alive():
            self._drain()
            self._thread.join(timeout=_POLL)
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class WriteBehind(Generic[T]):
    """Hand items to ``consume`` in a background thread, in order, at most ``depth`` waiting.

    ``finish()`` waits until every item is consumed; leaving the ``with`` block without ``finish()``
    (an error or a cancel in the caller) drops what is still queued and waits only for the item in hand.
    """

    def __init__(
        self, consume: Callable[[T], None], depth: int = 2, name: str = "glfcr-write-behind"
    ) -> None:
        """Start the consumer thread.

        Args:
            consume: called with each item, in the background thread.
            depth: items that may wait (>= 1); ``submit`` blocks beyond that.
            name: thread name.

        """
        self._consume = consume
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                continue
            if isinstance(item, _End):
                return
            try:
                self._consume(item)  # type: ignore[arg-type]
            except BaseException as error:  # noqa: BLE001 (raised in the caller)
                self._error = error
                self._stop.set()
                return

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, item: T) -> None:
        """Queue ``item``; raises the consumer's error if it failed on an earlier item."""
        while True:
            self._raise_if_failed()
            if self._stop.is_set():
                raise RuntimeError("the write-behind thread was stopped")
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every submitted item is consumed; raises the consumer's error if any."""
        while self._thread.is_alive():
            self._raise_if_failed()
            try:
                self._queue.put(_End(), timeout=_POLL)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._raise_if_failed()

    def close(self) -> None:
        """Stop the consumer after the item in hand, dropping queued items, and wait for it."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> WriteBehind[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
