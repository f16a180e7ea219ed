"""Base class of the GLF-CR Processing algorithms: the glue between Processing and the core library.

Every algorithm hands its work to one core function inside ``with self.core_call(feedback) as hooks:``
and passes ``progress=hooks.progress, is_canceled=hooks.is_canceled``; this context turns the core's
errors and warnings into what Processing shows the analyst.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMessageLog,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..core.errors import GlfcrError, GlfcrWarning
from ..dependencies import MISSING_TORCH_MESSAGE, announce_missing_torch, is_missing_torch, require_torch
from ..version import plugin_icon_path, plugin_metadata
from .optical_inputs import for_qgis_checks
from .run_checks import run_problem


class CoreHooks:
    """Progress and cancel callbacks in the form the core library takes them."""

    def __init__(self, feedback: QgsProcessingFeedback) -> None:
        self._feedback = feedback

    def progress(self, fraction: float) -> None:
        """Report progress as a fraction 0..1 of the whole algorithm."""
        self._feedback.setProgress(100.0 * min(max(float(fraction), 0.0), 1.0))

    def is_canceled(self) -> bool:
        """Whether the analyst pressed Cancel."""
        return bool(self._feedback.isCanceled())


# Toolbox group id -> its name (translated when shown)
GROUPS: dict[str, str] = {"cloudremoval": "Cloud removal", "evaluation": "Evaluation"}


class GlfcrAlgorithm(QgsProcessingAlgorithm):
    """Common parts of the algorithms of the ``glfcr`` provider (group, help, icon, error handling)."""

    # raster-layer parameters that also take a Sentinel-2 product path (see optical_inputs)
    OPTICAL_INPUTS: tuple[str, ...] = ()
    # the Toolbox group, a key of GROUPS
    GROUP_ID = "cloudremoval"
    # output parameter -> the format its file must have (a key of core.io.output_guard.OUTPUT_FORMATS)
    OUTPUT_FORMATS: Mapping[str, str] = {}

    def tr(self, text: str) -> str:
        """Translate ``text`` in the context of the algorithm's class."""
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self) -> GlfcrAlgorithm:  # noqa: N802 (QGIS API name)
        return type(self)()

    def groupId(self) -> str:  # noqa: N802
        return self.GROUP_ID

    def group(self) -> str:
        return QCoreApplication.translate("GlfcrAlgorithm", GROUPS[self.GROUP_ID])

    def helpUrl(self) -> str:  # noqa: N802
        return plugin_metadata()["homepage"]

    def icon(self) -> QIcon:
        return QIcon(str(plugin_icon_path()))

    def checkParameterValues(  # noqa: N802
        self, parameters: dict[str, Any], context: QgsProcessingContext
    ) -> tuple[bool, str]:
        problem = self.check_before_run(parameters, context) or self.input_problem(parameters, context)
        if problem:
            return False, problem
        # QGIS cannot load a product path as a raster layer; the core checks products instead
        return super().checkParameterValues(for_qgis_checks(parameters, self.OPTICAL_INPUTS), context)

    def input_problem(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """Say why the inputs cannot be used ("" when they can): the subclass's own checks.

        ``checkParameterValues`` runs them after ``check_before_run`` and before QGIS's generic checks, so
        their sentences come first and nothing is checked twice.
        """
        return ""

    def check_before_run(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        """Why the run cannot start ("" when it can): a number out of range, an unreadable raster, or an
        output that is an input, repeats another or has the wrong extension (``run_checks``).

        ``checkParameterValues`` here calls it first; an algorithm with checks of its own calls it before
        them, so a refused run has written nothing. The outputs and their formats are the class's
        ``OUTPUT_FORMATS``.
        """
        return run_problem(self, parameters, context, self.OUTPUT_FORMATS)

    def require_torch(self) -> None:
        """Fail with the one-sentence set-up instruction when torch cannot be imported.

        Raises:
            QgsProcessingException: torch is missing.
        """
        try:
            # in the worker thread: loading torch's libraries first lets the interface thread run meanwhile
            require_torch()
        except GlfcrError as err:
            raise QgsProcessingException(str(err)) from None

    @contextmanager
    def core_call(self, feedback: QgsProcessingFeedback | None) -> Iterator[CoreHooks]:
        """Run core code with Processing's progress, cancel, warnings and errors wired in.

        ``GlfcrWarning``s are shown as Processing warnings as they happen; a ``GlfcrError`` or a missing
        torch becomes a ``QgsProcessingException`` whose message is the error's own sentence
        (Processing shows it without a traceback). Other exceptions are bugs and pass unchanged.

        Args:
            feedback: the feedback ``processAlgorithm`` received (a silent one is used when None).

        Yields:
            Callbacks to pass to the core function as ``progress`` and ``is_canceled``.
        """
        feedback = feedback if feedback is not None else QgsProcessingFeedback()
        with warnings.catch_warnings():
            # "always": the same warning from a loop is still news for each tile/file it names
            warnings.simplefilter("always", GlfcrWarning)
            warnings.showwarning = _forward_glfcr_warnings(feedback, warnings.showwarning)
            try:
                yield CoreHooks(feedback)
            except QgsProcessingException:
                raise
            except GlfcrError as err:
                raise _exception_said_once(str(err)) from None
            except ImportError as err:
                if is_missing_torch(err):
                    announce_missing_torch()
                    raise _exception_said_once(MISSING_TORCH_MESSAGE) from None
                raise


def _exception_said_once(message: str) -> QgsProcessingException:
    """The exception that stops the run with ``message``, printed once by ``qgis_process``.

    ``qgis_process`` prints a failed algorithm's message twice (three times without ``--json``): from
    Processing's log and from its console feedback. There the message goes to the log once and the
    exception is left blank; everywhere else (the dialog, ``processing.run``) it carries the message.
    """
    if QgsApplication.instance() is not None and QgsApplication.instance().platform() == "qgis_process":
        QgsMessageLog.logMessage(message, "Processing", Qgis.Critical)
        return QgsProcessingException("")
    return QgsProcessingException(message)


def _forward_glfcr_warnings(feedback: QgsProcessingFeedback, fallback: Any) -> Any:
    """A ``warnings.showwarning`` sending GlfcrWarnings to ``feedback`` and the others to ``fallback``."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if issubclass(category, GlfcrWarning):
            feedback.pushWarning(str(message))
        else:
            fallback(message, category, filename, lineno, file, line)

    return show
