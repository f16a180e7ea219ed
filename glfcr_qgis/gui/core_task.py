"""A ``QgsTask`` running one core function off the interface thread, its log, progress and cancel wired in."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from ..core.errors import GlfcrError, ProcessingCanceled


class CoreTask(QgsTask):
    """Runs ``work(task)`` in QGIS's task manager; ``work`` may call ``log``, ``report``, ``is_canceled``.

    Signals (delivered on the interface thread): ``lineReceived(str)`` for each log line,
    ``succeeded(object)`` with ``work``'s result, ``failed(str, str)`` with the one-sentence error and a log.
    """

    lineReceived = pyqtSignal(str)  # noqa: N815 (Qt signal naming)
    fractionChanged = pyqtSignal(float)  # noqa: N815
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(str, str)

    def __init__(self, description: str, work: Callable[[CoreTask], Any]) -> None:
        super().__init__(description, QgsTask.CanCancel)
        self._work = work
        self._result: Any = None
        self._error = ("", "")

    def log(self, line: str) -> None:
        """Send one line to the dialog's log (any thread)."""
        self.lineReceived.emit(line)

    def report(self, fraction: float) -> None:
        """Report progress as a fraction 0..1 (any thread)."""
        self.setProgress(100.0 * fraction)
        self.fractionChanged.emit(fraction)

    def is_canceled(self) -> bool:
        """Whether Cancel was pressed (here or in QGIS's task list)."""
        return bool(self.isCanceled())

    def run(self) -> bool:  # runs in a worker thread
        try:
            self._result = self._work(self)
            return True
        except ProcessingCanceled as error:
            self._error = (str(error), "")
        except GlfcrError as error:
            self._error = (str(error), getattr(error, "log", ""))
        except Exception as error:  # noqa: BLE001 (a bug must reach the dialog, not vanish in a thread)
            self._error = (f"Unexpected error: {error}.", traceback.format_exc())
        return False

    def finished(self, result: bool) -> None:  # runs on the interface thread
        if result:
            self.succeeded.emit(self._result)
        else:
            not_started = ("Canceled before it started: nothing was changed.", "")
            self.failed.emit(*(self._error if self._error[0] else not_started))


def start(task: CoreTask) -> CoreTask:
    """Hand ``task`` to QGIS's task manager and return it (keep a reference while it runs)."""
    QgsApplication.taskManager().addTask(task)
    return task
