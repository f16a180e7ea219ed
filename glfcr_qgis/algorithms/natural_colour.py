"""Natural-colour display of 13-band Sentinel-2 L1C layers: B4, B3, B2 as red, green, blue, 2-98 % stretch."""

from __future__ import annotations

from qgis.core import (
    QgsContrastEnhancement,
    QgsMapLayer,
    QgsMultiBandColorRenderer,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
)

from ..core.io.normalization import NATURAL_COLOUR_BANDS

# 1-based band numbers of B4, B3, B2 in the L1C band order
RED_BAND, GREEN_BAND, BLUE_BAND = (index + 1 for index in NATURAL_COLOUR_BANDS)
CUMULATIVE_CUT = (0.02, 0.98)
# pixels sampled per band for the stretch; QGIS's own default for layer statistics
STRETCH_SAMPLE_SIZE = 250_000


def apply_natural_colour(layer: QgsRasterLayer) -> None:
    """Show ``layer`` in natural colour: B4, B3, B2 as RGB, each stretched over its 2-98 % cumulative cut.

    Args:
        layer: a raster layer with the 13 Sentinel-2 L1C bands in order.

    """
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, RED_BAND, GREEN_BAND, BLUE_BAND)
    setters = (
        renderer.setRedContrastEnhancement,
        renderer.setGreenContrastEnhancement,
        renderer.setBlueContrastEnhancement,
    )
    for band, set_enhancement in zip((RED_BAND, GREEN_BAND, BLUE_BAND), setters, strict=True):
        low, high = provider.cumulativeCut(band, *CUMULATIVE_CUT, layer.extent(), STRETCH_SAMPLE_SIZE)
        enhancement = QgsContrastEnhancement(provider.dataType(band))
        enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
        enhancement.setMinimumValue(low)
        enhancement.setMaximumValue(high)
        set_enhancement(enhancement)
    # remembered so that QGIS recomputes the same kind of stretch when the analyst asks it to
    origin = renderer.minMaxOrigin()
    origin.setLimits(QgsRasterMinMaxOrigin.CumulativeCut)
    origin.setCumulativeCutLower(CUMULATIVE_CUT[0])
    origin.setCumulativeCutUpper(CUMULATIVE_CUT[1])
    renderer.setMinMaxOrigin(origin)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def natural_colour_style(layer: QgsMapLayer, feedback: QgsProcessingFeedback) -> None:
    """Remove Clouds' output style (a ``LayerStyle``): natural colour where the layer has the L1C bands."""
    if is_l1c_raster(layer):
        apply_natural_colour(layer)


def is_l1c_raster(layer: QgsMapLayer | None) -> bool:
    """Whether ``layer`` is a raster with at least the bands up to B4 (natural colour can show it)."""
    return isinstance(layer, QgsRasterLayer) and layer.bandCount() >= max(RED_BAND, GREEN_BAND, BLUE_BAND)


def project_layers_of(project: QgsProject, layer_id: str, source: str) -> list[QgsRasterLayer]:
    """The input's raster layers in ``project``: the layer ``layer_id``, else those reading ``source``."""
    layer = project.mapLayer(layer_id) if layer_id else None
    if layer is not None:
        return [layer] if isinstance(layer, QgsRasterLayer) else []
    return [
        candidate
        for candidate in project.mapLayers().values()
        if isinstance(candidate, QgsRasterLayer) and source and candidate.source() == source
    ]
