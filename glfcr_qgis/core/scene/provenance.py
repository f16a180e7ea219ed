"""Which output pixels of Remove Clouds were observed and which were predicted: the provenance raster.

One Byte class per pixel of the output grid, from the cloud mask's classes and the share of the
network's prediction each pixel took (``keep_clear``) for the same rows:

- 0 observed: the input value was kept (keep-clear, clear pixel beyond the feather);
- 1 predicted under cloud, 2 predicted under cloud shadow, 3 predicted in clear sky (the network's
  value; without keep-clear every valid pixel is predicted, and clear ones are class 3);
- 4 blended: the feathered transition, where the output mixes input and prediction (0 < share < 1);
- 255 nodata, where the output is nodata.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.io import DatasetWriter
from rasterio.windows import Window

from ..io.raster_io import output_profile, set_band_descriptions
from .cloud_detector import CLOUD, SHADOW
from .mask_methods import WindowClasses

OBSERVED = 0
PREDICTED_CLOUD = 1
PREDICTED_SHADOW = 2
PREDICTED_CLEAR = 3
BLENDED = 4
PROVENANCE_NODATA = 255
# class -> name (also the keys of the counts a run reports)
PROVENANCE_NAMES: dict[int, str] = {
    OBSERVED: "observed",
    PREDICTED_CLOUD: "predicted under cloud",
    PREDICTED_SHADOW: "predicted under cloud shadow",
    PREDICTED_CLEAR: "predicted in clear sky",
    BLENDED: "blended transition",
    PROVENANCE_NODATA: "nodata",
}
PROVENANCE_COLORS: dict[int, tuple[int, int, int, int]] = {
    OBSERVED: (200, 200, 200, 255),
    PREDICTED_CLOUD: (230, 80, 30, 255),
    PREDICTED_SHADOW: (40, 60, 160, 255),
    PREDICTED_CLEAR: (250, 190, 60, 255),
    BLENDED: (150, 110, 190, 255),
    PROVENANCE_NODATA: (0, 0, 0, 0),
}


def provenance_classes(valid: np.ndarray, classes: np.ndarray, share: np.ndarray | None) -> np.ndarray:
    """Provenance of a block of output pixels.

    Args:
        valid: bool (h, w), pixels where the output holds data.
        classes: uint8 (h, w), the cloud mask's classes of the same pixels.
        share: float32 (h, w), the prediction's share of each output value (keep-clear), or None when
            every output value is the prediction.

    Returns:
        uint8 (h, w) of the classes of this module.
    """
    predicted = np.full(classes.shape, PREDICTED_CLEAR, dtype=np.uint8)
    predicted[classes == CLOUD] = PREDICTED_CLOUD
    predicted[classes == SHADOW] = PREDICTED_SHADOW
    if share is not None:
        predicted[share <= 0.0] = OBSERVED
        predicted[(share > 0.0) & (share < 1.0)] = BLENDED
    predicted[~valid] = PROVENANCE_NODATA
    return predicted


class ProvenanceRecorder:
    """Writes the provenance of the rows the strip loop finishes and counts the pixels of each class.

    A ``strip_runner.RowHook``: the loop calls it with each block of finished rows.
    """

    def __init__(self, destination: DatasetWriter, classify: WindowClasses) -> None:
        """Record into ``destination`` (an open 1-band Byte raster on the output grid).

        Args:
            destination: the provenance raster being written.
            classify: the cloud mask, asked for rows whose classes the loop does not pass (no keep-clear).
        """
        self.destination = destination
        self.classify = classify
        self.counts = np.zeros(256, dtype=np.int64)

    def __call__(
        self, top: int, count: int, valid: np.ndarray, classes: np.ndarray | None, share: np.ndarray | None
    ) -> None:
        """Record scene rows ``top`` to ``top + count - 1`` (arrays of shape (count, width))."""
        window = Window(0, top, valid.shape[1], count)
        if classes is None:
            classes, _ = self.classify(window)
        block = provenance_classes(valid, classes, share)
        self.destination.write(block, 1, window=window)
        self.counts += np.bincount(block.ravel(), minlength=256)

    def class_counts(self) -> dict[str, int]:
        """Pixels per class, keyed by :data:`PROVENANCE_NAMES`."""
        return {name: int(self.counts[value]) for value, name in PROVENANCE_NAMES.items()}


@contextmanager
def new_provenance_raster(
    path: Path, source_profile: dict[str, Any], tags: dict[str, str]
) -> Iterator[DatasetWriter]:
    """A new paletted Byte GeoTIFF on the grid of ``source_profile``, its classes named in the metadata."""
    profile = output_profile(source_profile, count=1, dtype="uint8", nodata=PROVENANCE_NODATA)
    with rasterio.open(path, "w", **profile) as dataset:
        set_band_descriptions(dataset, ["provenance"])
        dataset.write_colormap(1, PROVENANCE_COLORS)
        dataset.update_tags(1, **{f"CLASS_{value}": name for value, name in PROVENANCE_NAMES.items()})
        dataset.update_tags(**tags)
        yield dataset
