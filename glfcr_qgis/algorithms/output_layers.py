"""Naming and styling the layers Processing loads from the algorithms' outputs.

An algorithm calls :func:`name_and_style_output` at the end of ``processAlgorithm``; when Processing
loads the output (the dialog, ``processing.runAndLoadResults``, batch mode) a fresh
:class:`OutputLayerStyler` names the layer after its input and applies the style.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qgis.core import (
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
)
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication

# applied to the loaded layer on the interface thread; warnings go to the feedback
LayerStyle = Callable[[QgsMapLayer, QgsProcessingFeedback], None]


class OutputLayerStyler(QgsProcessingLayerPostProcessorInterface):
    """Names one loaded output layer and applies its style; one object per run and output.

    Processing takes ownership of a post-processor and deletes it when the run's context goes, so
    one object must never serve two runs (the second would find it deleted). Processing keeps only a
    C++ pointer, so Python holds each one in ``_alive`` until then, lest Python free it first.
    """

    _alive: list[OutputLayerStyler] = []

    def __init__(self, name: str, style: LayerStyle | None = None) -> None:
        """Prepare the post-processor.

        Args:
            name: the layer name, e.g. "S2 scene cloud-free"; " (2)", " (3)", ... is added when the
                project already holds a layer of that name, so repeated runs can be told apart.
            style: applied to the layer after naming it.
        """
        super().__init__()
        self.name = name
        self.style = style

    def postProcessLayer(  # noqa: N802 (QGIS API name)
        self, layer: QgsMapLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:
        project = context.project() or QgsProject.instance()
        layer.setName(unique_layer_name(self.name, project, layer))
        if self.style is not None:
            self.style(layer, feedback)
        layer.triggerRepaint()

    @classmethod
    def keep_alive(cls, styler: OutputLayerStyler) -> None:
        """Hold ``styler`` until Processing deletes it; forget those it has deleted already."""
        cls._alive = [kept for kept in cls._alive if not sip.isdeleted(kept)]
        cls._alive.append(styler)


def name_and_style_output(
    context: QgsProcessingContext, destination: str, name: str, style: LayerStyle | None = None
) -> None:
    """Have the layer Processing loads from ``destination`` named ``name`` and styled by ``style``.

    Does nothing when the output is not loaded (``processing.run``, ``qgis_process``).
    """
    if not destination or not context.willLoadLayerOnCompletion(destination):
        return
    styler = OutputLayerStyler(name, style)
    OutputLayerStyler.keep_alive(styler)
    context.layerToLoadOnCompletionDetails(destination).setPostProcessor(styler)


def unique_layer_name(name: str, project: QgsProject, layer: QgsMapLayer | None = None) -> str:
    """``name``, or ``name (2)``, ``name (3)``, ... when other layers of ``project`` have that name."""
    others = [other for other in project.mapLayers().values() if layer is None or other.id() != layer.id()]
    taken = {other.name() for other in others}
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"


def qml_style(path: Path) -> LayerStyle:
    """A style applying the QML file ``path``; a file QGIS cannot apply is reported as a warning."""

    def apply(layer: QgsMapLayer, feedback: QgsProcessingFeedback) -> None:
        message, ok = layer.loadNamedStyle(str(path))
        if not ok:
            warning = QCoreApplication.translate("OutputLayerStyler", "Cannot apply the style {qml}: {why}")
            feedback.pushWarning(warning.format(qml=path, why=message))

    return apply


def input_layer_name(layer: QgsMapLayer | None, fallback: str) -> str:
    """The name an input layer shows in the project, or the stem of its file, or ``fallback``."""
    if layer is None:
        return fallback
    if layer.name():
        return layer.name()
    return Path(layer.source()).stem or fallback
