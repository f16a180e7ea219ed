"""Base class of the GLF-CR Processing algorithms: the glue between Processing and the core library.

Every algorithm hands its work to one core function inside ``with self.core_call(feedback) as hooks:``
and passes ``progress=hooks.progress, is_canceled=hooks.is_canceled``; this context turns the core's
errors and warnings into what Processing shows the analyst.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qgis.core import (
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
        # QGIS cannot load a product path as a raster layer; the core checks products instead
        return super().checkParameterValues(for_qgis_checks(parameters, self.OPTICAL_INPUTS), context)

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
                raise QgsProcessingException(str(err)) from None
            except ImportError as err:
                if is_missing_torch(err):
                    announce_missing_torch()
                    raise QgsProcessingException(MISSING_TORCH_MESSAGE) from None
                raise


def _forward_glfcr_warnings(feedback: QgsProcessingFeedback, fallback: Any) -> Any:
    """A ``warnings.showwarning`` sending GlfcrWarnings to ``feedback`` and the others to ``fallback``."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if issubclass(category, GlfcrWarning):
            feedback.pushWarning(str(message))
        else:
            fallback(message, category, filename, lineno, file, line)

    return show
