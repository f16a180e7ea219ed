"""Cloud Mask of a whole scene, block by block, written as GeoTIFFs, by one of the ``mask_methods``.

A first pass gathers the scene-wide shadow statistics (the authors' detector and s2cloudless), a second
classifies each block with its halo and writes the class raster (with a palette) and, optionally, the
continuous score; the method is recorded in the outputs' metadata.
"""

from __future__ import annotations

import os
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from ..errors import GlfcrWarning, ParameterValueError
from ..io.area_of_interest import AreaOfInterest
from ..io.optical_input import open_optical, optical_input_tags
from ..io.output_guard import PlannedOutput, check_outputs
from ..io.raster_io import (
    iter_windows,
    output_profile,
    set_band_descriptions,
    window_count,
)
from ..io.safe_writes import atomic_outputs, check_write_failures
from .cloud_detector import (
    CLASS_COLORS,
    CLASS_NAMES,
    CLEAR,
    CLOUD,
    DEFAULT_THRESHOLD,
    MASK_NODATA,
    ROLE,
    SCORE_NODATA,
    SHADOW,
    CancelCallback,
    ProgressCallback,
    check_canceled,
    check_threshold,
)
from .mask_methods import DEFAULT_MASK_METHOD, check_mask_method, open_window_masker

# band description of the score output per method
SCORE_DESCRIPTIONS: dict[str, str] = {
    "authors": "cloud score",
    "s2cloudless": "cloud probability (s2cloudless)",
}


@dataclass(frozen=True)
class CloudMaskResult:
    """What :func:`cloud_mask` wrote and found.

    Attributes:
        mask_path: the class raster (Byte: 0 clear, 1 cloud, 2 cloud shadow, 255 nodata).
        score_path: the continuous cloud score raster (Float32), or None when not asked for.
        threshold: cloud score threshold used.
        cloud_pixels: pixels classed cloud.
        shadow_pixels: pixels classed cloud shadow.
        clear_pixels: pixels classed clear.
        nodata_pixels: pixels without data in the input.
        method: the cloud mask method used (``mask_methods.MASK_METHODS``).
    """

    mask_path: Path
    score_path: Path | None
    threshold: float
    cloud_pixels: int
    shadow_pixels: int
    clear_pixels: int
    nodata_pixels: int
    method: str = DEFAULT_MASK_METHOD

    @property
    def valid_pixels(self) -> int:
        """Pixels with data (cloud + shadow + clear)."""
        return self.cloud_pixels + self.shadow_pixels + self.clear_pixels

    def _fraction(self, count: int) -> float:
        return count / self.valid_pixels if self.valid_pixels else 0.0

    @property
    def cloud_fraction(self) -> float:
        """Share of the valid pixels classed cloud (0..1)."""
        return self._fraction(self.cloud_pixels)

    @property
    def shadow_fraction(self) -> float:
        """Share of the valid pixels classed cloud shadow (0..1)."""
        return self._fraction(self.shadow_pixels)

    @property
    def clear_fraction(self) -> float:
        """Share of the valid pixels classed clear (0..1)."""
        return self._fraction(self.clear_pixels)


def cloud_mask(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    score_path: str | os.PathLike[str] | None = None,
    block_size: int | tuple[int, int] = 1024,
    method: str | int = DEFAULT_MASK_METHOD,
    product_path: str | os.PathLike[str] | None = None,
    extent: AreaOfInterest | None = None,
    progress: ProgressCallback | None = None,
    is_canceled: CancelCallback | None = None,
) -> CloudMaskResult:
    """Write the cloud/shadow mask of a Sentinel-2 L1C scene of any size, block by block.

    The result equals the method's whole-scene result (for the authors' detector,
    :func:`cloud_shadow_mask` on the whole scene at once), whatever ``block_size``.

    Args:
        input_path: 13-band L1C raster, digital numbers 0..10000, bands B1..B12 in order; or an L1C
            product (``.SAFE`` folder, ``MTD_MSIL1C.xml``, ``.zip``, ``SENTINEL2_L1C:`` subdataset).
        output_path: Byte GeoTIFF to write: 0 clear, 1 cloud, 2 cloud shadow, 255 nodata, with a palette.
        threshold: cloud score threshold of the authors' detector in (0, 1]; 0.2 is their default.
        score_path: optional Float32 GeoTIFF of the continuous score (nodata -9999): the authors' smoothed
            cloud score, or s2cloudless's cloud probability; the product's mask has none.
        block_size: block side in pixels (or rows, columns); memory grows with its square.
        method: ``"authors"`` (0), ``"s2cloudless"`` (1) or ``"product"`` (2), see ``mask_methods``.
        product_path: the L1C product whose own mask the ``product`` method reads; defaults to the input
            when the input is a product (.SAFE folder, MTD_MSIL1C.xml, zip).
        extent: optional area of interest: only the window of the input covering it is classified and
            written (the shadow statistics are then those of the window).
        progress: called with the fraction done, 0..1.
        is_canceled: polled between blocks; when it returns True nothing is written.

    Returns:
        Paths written and pixel counts per class.

    Raises:
        ParameterValueError: threshold outside (0, 1], an unknown method, a score asked of the product's
            mask, or the product method without a product.
        MissingDependencyError: the s2cloudless method without its packages.
        RasterReadError: the input cannot be read.
        InputRasterError: the input does not have 13 bands, or the product has no raster mask.
        OutputWriteError: an output cannot be written.
        ProcessingCanceled: ``is_canceled`` returned True.
    """
    threshold = check_threshold(threshold)
    method = check_mask_method(method)
    if method == "product" and score_path is not None:
        raise ParameterValueError(
            "The product's own cloud mask has no continuous score; leave the score output empty."
        )
    check_outputs(
        [
            PlannedOutput(output_path, "raster", "cloud mask output"),
            PlannedOutput(score_path, "raster", "cloud score output"),
        ],
        input_rasters=[input_path, product_path],
    )
    report = progress or (lambda fraction: None)
    counts = np.zeros(256, dtype=np.int64)
    inputs = [input_path]

    with (
        open_optical(input_path, role=ROLE, extent=extent) as source,
        open_window_masker(
            source,
            method,
            threshold=threshold,
            product=input_path if product_path is None else product_path,
            block_size=block_size,
            progress=lambda f: report(f / 2),
            is_canceled=is_canceled,
        ) as masker,
    ):
        height, width = source.height, source.width
        mask_profile = output_profile(source.profile, count=1, dtype="uint8", nodata=MASK_NODATA)
        score_profile = output_profile(
            source.profile, count=1, dtype="float32", nodata=SCORE_NODATA, predictor=3
        )
        destinations = [output_path] if score_path is None else [output_path, score_path]
        # both files appear together or not at all
        with atomic_outputs(destinations, inputs=inputs) as temps, ExitStack() as outputs:
            mask_dst = outputs.enter_context(rasterio.open(temps[0], "w", **mask_profile))
            set_band_descriptions(mask_dst, ["cloud mask"])
            mask_dst.write_colormap(1, CLASS_COLORS)
            class_tags = {f"CLASS_{value}": name for value, name in CLASS_NAMES.items()}
            mask_dst.update_tags(1, **class_tags)
            if method == "authors":
                mask_dst.update_tags(1, THRESHOLD=str(threshold))
            mask_dst.update_tags(**masker.tags)
            mask_dst.update_tags(**optical_input_tags(source))
            score_dst = None
            if score_path is not None:
                score_dst = outputs.enter_context(rasterio.open(temps[1], "w", **score_profile))
                set_band_descriptions(score_dst, [SCORE_DESCRIPTIONS[method]])
                score_dst.update_tags(**masker.tags)

            windows = window_count(height, width, block_size)
            for done, window in enumerate(iter_windows(height, width, block_size), start=1):
                check_canceled(is_canceled)
                classes, score = masker.classify(window)
                mask_dst.write(classes, 1, window=window)
                if score_dst is not None and score is not None:
                    score = score.astype(np.float32)
                    score[classes == MASK_NODATA] = SCORE_NODATA
                    score_dst.write(score, 1, window=window)
                counts += np.bincount(classes.ravel(), minlength=256)
                check_write_failures()
                report(0.5 + 0.5 * done / windows)
            if counts[MASK_NODATA] == height * width:
                warnings.warn(
                    f"Every pixel of {os.fspath(input_path)} is nodata; the mask is nodata everywhere.",
                    GlfcrWarning,
                    stacklevel=2,
                )

    return CloudMaskResult(
        mask_path=Path(output_path),
        score_path=Path(score_path) if score_path is not None else None,
        threshold=threshold,
        cloud_pixels=int(counts[CLOUD]),
        shadow_pixels=int(counts[SHADOW]),
        clear_pixels=int(counts[CLEAR]),
        nodata_pixels=int(counts[MASK_NODATA]),
        method=method,
    )
