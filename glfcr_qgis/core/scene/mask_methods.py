"""The cloud mask methods Cloud Mask and Remove Clouds' keep-clear choose from, behind one window interface.

- ``authors``: the detector of DSen2-CR, GLF-CR and UnCRtainTS (``cloud_detector``), exactly as the
  GLF-CR authors run it: spectral cloud score (threshold 0.2 by default) and a scene-relative shadow test.
- ``s2cloudless``: Sentinel Hub's LightGBM classifier (``s2cloudless_detector``) for the clouds at its
  example settings, with the authors' shadow test for the shadows (s2cloudless has no shadow class).
- ``product``: the L1C product's own ``MSK_CLASSI_B00`` (opaque clouds and cirrus; baseline 04.00 or
  later), resampled to the input's grid; it has no shadow class.

Each gives, for any window of the scene, the classes (0 clear, 1 cloud, 2 cloud shadow, 255 nodata)
equal to that part of the whole-scene result, and a continuous score where the method has one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from rasterio.io import DatasetReader
from rasterio.windows import Window

from ..errors import ParameterValueError
from ..io.raster_io import nodata_mask, read_window
from ..io.sentinel2_mask import (
    ProductCloudMask,
    is_product_path,
    locate_product_cloud_mask,
    product_cloud_mask_on_grid,
    read_product_clouds,
)
from .cloud_detector import (
    CLEAR,
    CLOUD,
    DEFAULT_THRESHOLD,
    MASK_NODATA,
    ROLE,
    SHADOW,
    CancelCallback,
    ProgressCallback,
    ShadowStatistics,
    check_threshold,
    scene_shadow_statistics,
    window_cloud_shadow_mask,
    window_shadow_mask,
)

MASK_METHODS: tuple[str, ...] = ("authors", "s2cloudless", "product")
MASK_METHOD_LABELS: dict[str, str] = {
    "authors": "GLF-CR authors' detector (DSen2-CR, Meraner et al. 2020)",
    "s2cloudless": "s2cloudless (Sentinel Hub) clouds at 60 m with the authors' shadow test",
    "product": "the L1C product's own mask MSK_CLASSI_B00 (opaque clouds, cirrus)",
}
DEFAULT_MASK_METHOD = "authors"

WindowClasses = Callable[[Window], tuple[np.ndarray, np.ndarray | None]]


def check_mask_method(method: str | int) -> str:
    """The method's name for a name or its index in :data:`MASK_METHODS`; ParameterValueError otherwise."""
    is_index = isinstance(method, int | np.integer) and not isinstance(method, bool)
    if is_index and 0 <= method < len(MASK_METHODS):
        return MASK_METHODS[int(method)]
    if isinstance(method, str) and method.strip().lower() in MASK_METHODS:
        return method.strip().lower()
    choices = ", ".join(f"{index} {name}" for index, name in enumerate(MASK_METHODS))
    raise ParameterValueError(f"Cloud mask method {method!r} is not available; use one of {choices}.")


@dataclass
class WindowMasker:
    """Classes (and score) of any window of a scene by one method.

    Attributes:
        method: the method's name (:data:`MASK_METHODS`).
        classify: window -> ``(classes, score)``: uint8 (h, w) and float (h, w) or None.
        has_score: whether ``classify`` gives a score (authors: cloud score; s2cloudless: probability).
        stats: the scene's shadow statistics (None for the product's mask).
        tags: what the method records in an output's metadata.
    """

    method: str
    classify: WindowClasses
    has_score: bool
    stats: ShadowStatistics | None
    tags: dict[str, str]


@contextmanager
def open_window_masker(
    dataset: DatasetReader,
    method: str | int = DEFAULT_MASK_METHOD,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    product: str | os.PathLike[str] | None = None,
    block_size: int | tuple[int, int] = 1024,
    progress: ProgressCallback | None = None,
    is_canceled: CancelCallback | None = None,
) -> Iterator[WindowMasker]:
    """Prepare a method on an open 13-band scene (a statistics pass for the shadow test where needed).

    Args:
        dataset: the open 13-band L1C scene (its grid and nodata define the mask's).
        method: a name of :data:`MASK_METHODS` or its index.
        threshold: cloud score threshold of the authors' detector, in (0, 1] (other methods use their own).
        product: the L1C product whose mask the ``product`` method reads (folder, MTD_MSIL1C.xml, zip).
        block_size: block size of the statistics pass.
        progress: called with the fraction of the preparation done, 0..1.
        is_canceled: polled between blocks of the statistics pass.

    Raises:
        ParameterValueError: an unknown method, a bad threshold, or the product method without a product.
        MissingDependencyError: s2cloudless or lightgbm is not installed (s2cloudless method).
        InputRasterError, RasterReadError: the product or its mask cannot be used.
        ProcessingCanceled: ``is_canceled`` returned True.
    """
    method = check_mask_method(method)
    threshold = check_threshold(threshold)
    if method == "product":
        if product is None or not is_product_path(product):
            raise ParameterValueError(
                "The product's own cloud mask needs the Sentinel-2 L1C product: give the product (.SAFE "
                "folder, MTD_MSIL1C.xml or zip) as the input, or name it as the product of the mask."
            )
        located = locate_product_cloud_mask(product)
        with product_cloud_mask_on_grid(located, dataset) as warped:
            if progress is not None:
                progress(1.0)
            yield WindowMasker(
                method, _product_classes(dataset, warped, located), False, None, _product_tags(located)
            )
        return
    if method == "s2cloudless":
        from .s2cloudless_detector import pixel_classifier

        pixel_classifier()  # a missing package fails here, before the statistics pass
    stats = scene_shadow_statistics(
        dataset, block_size=block_size, progress=progress, is_canceled=is_canceled
    )
    if method == "authors":
        yield WindowMasker(
            method,
            lambda window: window_cloud_shadow_mask(dataset, window, stats, threshold),
            True,
            stats,
            {"cloud_mask_method": method, "cloud_mask_threshold": str(threshold)},
        )
        return
    yield WindowMasker(method, _s2cloudless_classes(dataset, stats), True, stats, _s2cloudless_tags())


def _s2cloudless_classes(dataset: DatasetReader, stats: ShadowStatistics) -> WindowClasses:
    from .s2cloudless_detector import window_s2cloudless_mask

    def classify(window: Window) -> tuple[np.ndarray, np.ndarray]:
        cloud, probability = window_s2cloudless_mask(dataset, window)
        valid = ~nodata_mask(read_window(dataset, window, role=ROLE), dataset.nodatavals)
        return combine_classes(cloud, window_shadow_mask(dataset, window, stats), valid), probability

    return classify


def _product_classes(
    dataset: DatasetReader, warped: DatasetReader, located: ProductCloudMask
) -> WindowClasses:
    def classify(window: Window) -> tuple[np.ndarray, None]:
        cloud = read_product_clouds(warped, window, name=located.mask_path)
        valid = ~nodata_mask(read_window(dataset, window, role=ROLE), dataset.nodatavals)
        return combine_classes(cloud, np.zeros_like(cloud), valid), None

    return classify


def combine_classes(cloud: np.ndarray, shadow: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mask classes from cloud and shadow flags: cloud wins over shadow; nodata where not ``valid``."""
    classes = np.full(valid.shape, CLEAR, dtype=np.uint8)
    classes[shadow] = SHADOW
    classes[cloud] = CLOUD
    classes[~valid] = MASK_NODATA
    return classes


def _s2cloudless_tags() -> dict[str, str]:
    from .s2cloudless_detector import (
        S2CLOUDLESS_AVERAGE_OVER,
        S2CLOUDLESS_BLOCK,
        S2CLOUDLESS_DILATION_SIZE,
        S2CLOUDLESS_THRESHOLD,
        s2cloudless_version,
    )

    return {
        "cloud_mask_method": "s2cloudless",
        "cloud_mask_threshold": str(S2CLOUDLESS_THRESHOLD),
        "s2cloudless_version": s2cloudless_version(),
        "s2cloudless_settings": (
            f"average_over={S2CLOUDLESS_AVERAGE_OVER}, dilation_size={S2CLOUDLESS_DILATION_SIZE}, "
            f"computed on {S2CLOUDLESS_BLOCK}x{S2CLOUDLESS_BLOCK}-pixel blocks (60 m), nearest to 10 m; "
            "shadow: the authors' test"
        ),
    }


def _product_tags(located: ProductCloudMask) -> dict[str, str]:
    return {
        "cloud_mask_method": "product",
        "cloud_mask_source": f"{located.product} MSK_CLASSI_B00 (opaque clouds, cirrus), nearest",
        "cloud_mask_product_baseline": located.baseline,
    }
