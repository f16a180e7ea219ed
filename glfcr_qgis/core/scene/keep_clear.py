"""Keep clear pixels: how much of the prediction each output pixel takes, from the cloud mask.

Used by Remove Clouds' ``keep_clear``: pixels the cloud mask (the chosen ``mask_methods`` method) calls
clear keep their input values, and the prediction fades in over a few pixels towards cloud and shadow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.ndimage
from rasterio.windows import Window

from .cloud_detector import CLOUD, SHADOW
from .mask_methods import WindowClasses

# pixels over which kept clear pixels fade into predicted cloud and shadow pixels (keep_clear)
KEEP_CLEAR_FEATHER = 5


class ClearPixelShare:
    """How much of the network's prediction each output pixel takes when clear pixels are kept.

    1 on cloud and cloud-shadow pixels of the cloud mask, falling linearly to 0 at ``feather`` pixels
    from the nearest one, so clear pixels keep their input values and the seam between kept and
    predicted pixels is soft.
    """

    def __init__(self, optical: Any, classify: WindowClasses, feather: int = KEEP_CLEAR_FEATHER) -> None:
        """Prepare the share computation.

        Args:
            optical: open 13-band L1C dataset (its size bounds the windows asked of ``classify``).
            classify: window -> (classes, score) of the cloud mask (``WindowMasker.classify``).
            feather: width of the transition in pixels (>= 1).

        """
        self.optical = optical
        self.classify = classify
        self.feather = int(feather)

    def __call__(self, top: int, count: int) -> np.ndarray:
        """Share of the prediction for scene rows ``top`` to ``top + count - 1``: float32 (count, width)."""
        return self.rows(top, count)[0]

    def rows(self, top: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Share of the prediction and mask classes for scene rows ``top`` to ``top + count - 1``.

        Returns:
            ``(share, classes)``: float32 (count, width) in [0, 1] and uint8 (count, width) (0 clear,
            1 cloud, 2 cloud shadow, 255 nodata).

        """
        # the feather reaches `feather` rows beyond the block
        grown_top = max(0, top - self.feather)
        grown_bottom = min(self.optical.height, top + count + self.feather)
        window = Window(0, grown_top, self.optical.width, grown_bottom - grown_top)
        classes, _ = self.classify(window)
        cloudy = (classes == CLOUD) | (classes == SHADOW)
        share = np.zeros(cloudy.shape, dtype=np.float32)
        if cloudy.any():
            distance = scipy.ndimage.distance_transform_edt(~cloudy)
            share = np.clip(1.0 - distance / self.feather, 0.0, 1.0).astype(np.float32)
        rows = slice(top - grown_top, top - grown_top + count)
        return share[rows], classes[rows]
