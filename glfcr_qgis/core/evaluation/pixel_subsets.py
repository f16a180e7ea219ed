"""How Evaluate splits the scored pixels: by cloud mask class, and by Remove Clouds' provenance class.

DSen2-CR reports its scores for cloud-covered and clear pixels apart; given the cloudy image, its cloud
mask splits the scored pixels into cloudy (cloud or shadow) and clear ones. Given the provenance raster
of Remove Clouds (``core.scene.provenance``), they are split into observed (the input kept), predicted
(under cloud, shadow or in clear sky) and blended (the keep-clear transition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rasterio.io import DatasetReader
from rasterio.windows import Window

from ..io.raster_io import read_window

SUBSETS: tuple[str, ...] = ("all", "cloudy", "clear")
PROVENANCE_SUBSETS: tuple[str, ...] = ("observed", "predicted", "blended")
SUBSET_LABELS: dict[str, str] = {
    "all": "All scored pixels",
    "cloudy": "Cloudy (cloud or shadow)",
    "clear": "Clear",
    "observed": "Observed (input kept)",
    "predicted": "Predicted (under cloud, shadow or in clear sky)",
    "blended": "Blended transition",
}
# classes of the cloud mask raster written by cloud_mask()
_CLEAR, _CLOUD, _SHADOW, _MASK_NODATA = 0, 1, 2, 255
# classes of Remove Clouds' provenance raster in each subset
PROVENANCE_CLASSES: dict[str, tuple[int, ...]] = {"observed": (0,), "predicted": (1, 2, 3), "blended": (4,)}


@dataclass(frozen=True)
class PixelSubsets:
    """The rasters that split the scored pixels (either may be None): a cloud mask and a provenance."""

    classes: DatasetReader | None
    provenance: DatasetReader | None

    def subsets(self, scored: np.ndarray, window: Window) -> dict[str, np.ndarray]:
        """Scored pixels of each subset in ``window``.

        Args:
            scored: bool (h, w) of the window's scored pixels; pixels the cloud mask has no class for
                are taken out of it in place.
            window: the window of the rasters.

        Returns:
            Subset name -> bool (h, w); "all" is ``scored`` itself.
        """
        subsets = {"all": scored}
        if self.classes is not None:
            labels = read_window(self.classes, window, role="cloud mask")[0]
            scored &= labels != _MASK_NODATA
            subsets["cloudy"] = scored & ((labels == _CLOUD) | (labels == _SHADOW))
            subsets["clear"] = scored & (labels == _CLEAR)
        if self.provenance is not None:
            origin = read_window(self.provenance, window, role="provenance")[0]
            for subset, values in PROVENANCE_CLASSES.items():
                subsets[subset] = scored & np.isin(origin, values)
        return subsets
