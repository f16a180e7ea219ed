"""Natural-colour display of 13-band Sentinel-2 L1C layers: B4, B3, B2 as red, green, blue, 2-98 % stretch."""

from __future__ import annotations

from qgis.core import (
    QgsContrastEnhancement,
    QgsMapLayer,
    QgsMultiBandColorRenderer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
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


class NaturalColourStyler(QgsProcessingLayerPostProcessorInterface):
    """Post-processor that shows a Sentinel-2 L1C layer Processing loads in natural colour."""

    # Processing keeps only a raw pointer to a post-processor, so Python must hold a reference until it
    # has run. It keeps no state, so one instance serves every run.
    _instance: NaturalColourStyler | None = None

    def postProcessLayer(  # noqa: N802 (QGIS API name)
        self, layer: QgsMapLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:
        if isinstance(layer, QgsRasterLayer) and layer.bandCount() >= max(RED_BAND, GREEN_BAND, BLUE_BAND):
            apply_natural_colour(layer)

    @classmethod
    def instance(cls) -> NaturalColourStyler:
        """The shared post-processor, created on first use and kept alive for the session."""
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance
