"""s2cloudless (Sentinel Hub's LightGBM pixel classifier) on a Sentinel-2 L1C scene, window by window.

The model and its classifier come from the ``s2cloudless`` package (Zupanc et al., Sentinel Hub, 2017;
Skakun et al., "Cloud Mask Intercomparison eXercise", RSE 274, 2022): the LightGBM booster text file it
ships and the ``PixelClassifier`` of its ``pixel_classifier.py``, which needs only NumPy and LightGBM.
The package's ``__init__`` imports ``utils`` (sentinelhub) and ``cloud_detector`` (OpenCV), so neither is
imported: the package is found with ``importlib.util.find_spec`` (which does not run it) and that one
file is loaded from its folder. The post-processing of ``S2PixelCloudDetector.get_mask_from_prob`` is
reproduced with NumPy/SciPy, bit for bit (see :func:`disk_average`).

Resolution: the classifier runs on 60 m pixels, 6 x 6 blocks of the 10 m input from its top-left corner,
each band the mean of the block's valid digital numbers divided by 10000. The authors trained it on
10 m pixels but run it in production on coarse pixels (160 m in Sentinel Hub, where they found the best
accuracy for the cost), and the defaults used here (average over a disk of radius 4, dilate by a disk of
radius 2) come from their examples on such pixels; 60 m is the native grid of three of its ten bands
(B01, B09, B10) and costs 36 times fewer evaluations of the 170-tree model than 10 m. Probability and
mask are then brought back to the 10 m grid by nearest neighbour.

Windowed and exact: a window is computed from the 60 m blocks it touches plus a halo of
``average_over + dilation_size`` blocks, padded at the scene's borders as the whole-image filters pad,
so the result equals the whole-scene result whatever the window.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import scipy.ndimage
from rasterio.io import DatasetReader
from rasterio.windows import Window

from ..errors import MissingDependencyError
from ..io.raster_io import nodata_mask, read_window

# the settings of the authors' examples (the class's own defaults are 1 and 1)
S2CLOUDLESS_THRESHOLD = 0.4
S2CLOUDLESS_AVERAGE_OVER = 4
S2CLOUDLESS_DILATION_SIZE = 2
# input pixels per side of one classified pixel: 60 m from the 10 m input
S2CLOUDLESS_BLOCK = 6
# blocks of real neighbours a window needs: the average reads 4 blocks, the dilation 2 more
S2CLOUDLESS_HALO = S2CLOUDLESS_AVERAGE_OVER + S2CLOUDLESS_DILATION_SIZE
# the package's MODEL_BAND_IDS: B01, B02, B04, B05, B08, B8A, B09, B10, B11, B12 of the 13 L1C bands
MODEL_BAND_INDICES: tuple[int, ...] = (0, 1, 3, 4, 7, 8, 9, 10, 11, 12)
MODEL_FILENAME = "pixel_s2_cloud_detector_lightGBM_v0.1.txt"
# versions installed and tested together (install.sh)
S2CLOUDLESS_REQUIREMENT = "s2cloudless==1.7.3"
LIGHTGBM_REQUIREMENT = "lightgbm==4.6.0"
MISSING_S2CLOUDLESS_MESSAGE = (
    "The s2cloudless method needs the Python packages s2cloudless and lightgbm: install them into the "
    f"plugin's environment with `pip install {LIGHTGBM_REQUIREMENT}` and "
    f"`pip install --no-deps {S2CLOUDLESS_REQUIREMENT}` (./install.sh does this), or choose another cloud "
    "mask method."
)
ROLE = "Sentinel-2 L1C"


def s2cloudless_folder() -> Path:
    """The installed ``s2cloudless`` package's folder, found without importing the package.

    Raises:
        MissingDependencyError: s2cloudless is not installed.
    """
    spec = importlib.util.find_spec("s2cloudless")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(MISSING_S2CLOUDLESS_MESSAGE)
    return Path(next(iter(spec.submodule_search_locations)))


def model_path() -> Path:
    """The LightGBM model file shipped inside the s2cloudless package."""
    path = s2cloudless_folder() / "models" / MODEL_FILENAME
    if not path.is_file():
        raise MissingDependencyError(
            f"The s2cloudless package at {path.parent.parent} lacks its model file {MODEL_FILENAME}; "
            f"reinstall it with `pip install --no-deps --force-reinstall {S2CLOUDLESS_REQUIREMENT}`."
        )
    return path


def s2cloudless_version() -> str:
    """Versions of the s2cloudless and lightgbm distributions in use, for output metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"s2cloudless {version('s2cloudless')}, lightgbm {version('lightgbm')}"
    except PackageNotFoundError:
        return "unknown"


def _pixel_classifier_module() -> ModuleType:
    """``s2cloudless/pixel_classifier.py`` loaded on its own: it imports only NumPy and LightGBM."""
    source = s2cloudless_folder() / "pixel_classifier.py"
    spec = importlib.util.spec_from_file_location("glfcr_qgis_s2cloudless_pixel_classifier", source)
    if spec is None or spec.loader is None or not source.is_file():
        raise MissingDependencyError(MISSING_S2CLOUDLESS_MESSAGE)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as err:  # lightgbm missing
        raise MissingDependencyError(MISSING_S2CLOUDLESS_MESSAGE) from err
    return module


@functools.lru_cache(maxsize=1)
def pixel_classifier() -> Any:
    """The package's ``PixelClassifier`` around its LightGBM booster, loaded once per process."""
    module = _pixel_classifier_module()
    from lightgbm import Booster

    return module.PixelClassifier(Booster(model_file=str(model_path())))


def cloud_probability(features: np.ndarray) -> np.ndarray:
    """Cloud probability of each pixel, as ``S2PixelCloudDetector.get_cloud_probability_maps``.

    Args:
        features: float32 (H, W, 10) reflectance of the model's ten bands (:data:`MODEL_BAND_INDICES`).

    Returns:
        float32 (H, W) in [0, 1].
    """
    if features.shape[0] == 0 or features.shape[1] == 0:
        return np.zeros(features.shape[:2], dtype=np.float32)
    return pixel_classifier().image_predict_proba(features[np.newaxis])[0, ..., 1].astype(np.float32)


def disk(radius: int) -> np.ndarray:
    """The disk structuring element of s2cloudless (``cv2_disk``, skimage's ``disk``): uint8 (2r+1, 2r+1)."""
    rows, cols = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (rows * rows + cols * cols <= radius * radius).astype(np.uint8)


def disk_average(probability: np.ndarray, radius: int = S2CLOUDLESS_AVERAGE_OVER) -> np.ndarray:
    """Mean over a disk with mirrored borders, as s2cloudless's ``cv2.filter2D(..., BORDER_REFLECT)``.

    OpenCV sums the disk's taps row by row in float32 with fused multiply-adds of the float32 weight
    1/taps; a float32 product is exact in float64, so adding it there and rounding back to float32 after
    each tap gives OpenCV's numbers (checked bit for bit against OpenCV 4.10 in the tests).

    Args:
        probability: float32 (H, W).
        radius: disk radius in pixels.

    Returns:
        float32 (H, W).
    """
    footprint = disk(radius)
    weight = np.float64(np.float32(1.0 / footprint.sum()))
    padded = np.pad(probability.astype(np.float32, copy=False), radius, mode="symmetric").astype(np.float64)
    height, width = probability.shape
    total = np.zeros((height, width), dtype=np.float32)
    for row, col in zip(*np.nonzero(footprint), strict=True):
        total = (weight * padded[row : row + height, col : col + width] + total).astype(np.float32)
    return total


def cloud_mask_from_probability(
    probability: np.ndarray,
    threshold: float = S2CLOUDLESS_THRESHOLD,
    average_over: int = S2CLOUDLESS_AVERAGE_OVER,
    dilation_size: int = S2CLOUDLESS_DILATION_SIZE,
) -> np.ndarray:
    """``S2PixelCloudDetector.get_mask_from_prob``: average, threshold (strictly above), dilate.

    Returns:
        bool (H, W), True on cloud.
    """
    averaged = disk_average(probability, average_over) if average_over else probability
    cloudy = averaged > threshold
    if dilation_size:
        # cv2.dilate's default border adds nothing from outside the image, as border_value=0 here
        cloudy = scipy.ndimage.binary_dilation(cloudy, structure=disk(dilation_size).astype(bool))
    return cloudy


def block_reflectance(
    image_dn: np.ndarray, valid: np.ndarray, block: int = S2CLOUDLESS_BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """The model's ten bands on ``block`` x ``block`` pixel blocks from the top-left corner.

    Each band is the mean of the block's valid digital numbers divided by 10000 (float64, then rounded
    to float32); blocks on the last row/column may be smaller.

    Args:
        image_dn: (13, H, W) L1C digital numbers.
        valid: (H, W) bool, True where the pixel has data.
        block: block side in pixels.

    Returns:
        ``(features, block_valid)``: float32 (ceil(H/block), ceil(W/block), 10) and bool, True where the
        block holds a valid pixel.
    """
    bands, height, width = image_dn.shape
    rows, cols = -(-height // block), -(-width // block)
    pad = ((0, rows * block - height), (0, cols * block - width))
    weights = np.pad(valid, pad).reshape(rows, block, cols, block).astype(np.float64)
    counts = weights.sum(axis=(1, 3))
    features = np.empty((rows, cols, len(MODEL_BAND_INDICES)), dtype=np.float32)
    for out, band in enumerate(MODEL_BAND_INDICES):
        values = np.pad(image_dn[band].astype(np.float64), pad).reshape(rows, block, cols, block)
        # sums of at most 36 integers: exact in float64 whatever the order
        sums = (values * weights).sum(axis=(1, 3))
        mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        features[..., out] = (mean / 10000.0).astype(np.float32)
    return features, counts > 0


def s2cloudless_mask(
    image_dn: np.ndarray, valid: np.ndarray | None = None, threshold: float = S2CLOUDLESS_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """s2cloudless cloud mask and probability of an in-memory image, on the 10 m grid.

    Args:
        image_dn: (13, H, W) L1C digital numbers.
        valid: (H, W) bool; None = every pixel. Blocks without a valid pixel get probability 0.
        threshold: probability threshold of the averaged probability.

    Returns:
        ``(cloud, probability)``: bool (H, W) and float32 (H, W), each pixel its 60 m block's value.
    """
    valid = np.ones(image_dn.shape[1:], dtype=bool) if valid is None else valid
    cloud, probability = _coarse_mask(image_dn, valid, threshold)
    return _to_fine(cloud, image_dn.shape[1:]), _to_fine(probability, image_dn.shape[1:])


def _coarse_mask(image_dn: np.ndarray, valid: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    features, block_valid = block_reflectance(image_dn, valid)
    probability = np.zeros(block_valid.shape, dtype=np.float32)
    # one row per valid block: the classifier is per pixel, so leaving out empty blocks changes nothing
    probability[block_valid] = cloud_probability(features[block_valid][np.newaxis])[0]
    return cloud_mask_from_probability(probability, threshold), probability


def _to_fine(coarse: np.ndarray, shape: tuple[int, ...], row0: int = 0, col0: int = 0) -> np.ndarray:
    """Nearest-neighbour values of the 10 m pixels ``row0..`` x ``col0..`` from their 60 m blocks."""
    rows = (row0 + np.arange(shape[0])) // S2CLOUDLESS_BLOCK
    cols = (col0 + np.arange(shape[1])) // S2CLOUDLESS_BLOCK
    return coarse[np.ix_(rows, cols)]


def window_s2cloudless_mask(
    dataset: DatasetReader, window: Window, threshold: float = S2CLOUDLESS_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """s2cloudless mask and probability of one window, equal to that part of the whole-scene result.

    Reads the 60 m blocks the window touches plus a halo of ``average_over + dilation_size`` blocks
    (fewer where the scene ends).

    Returns:
        ``(cloud, probability)`` of the window, as :func:`s2cloudless_mask` returns them.
    """
    block, reach = S2CLOUDLESS_BLOCK, S2CLOUDLESS_HALO
    row0, col0 = int(window.row_off), int(window.col_off)
    row1, col1 = row0 + int(window.height), col0 + int(window.width)
    blocks_down, blocks_across = -(-dataset.height // block), -(-dataset.width // block)
    # blocks touched, then grown by the halo within the scene
    top, left = max(row0 // block - reach, 0), max(col0 // block - reach, 0)
    bottom = min(-(-row1 // block) + reach, blocks_down)
    right = min(-(-col1 // block) + reach, blocks_across)
    read = Window(
        left * block,
        top * block,
        min(right * block, dataset.width) - left * block,
        min(bottom * block, dataset.height) - top * block,
    )
    image_dn = read_window(dataset, read, role=ROLE)
    valid = ~nodata_mask(image_dn, dataset.nodatavals)
    # The filters pad the array's own edges; where the scene goes on the halo keeps that padding
    # out of the window (the average reads 4 blocks, the dilation 2 more).
    cloud, probability = _coarse_mask(image_dn, valid, threshold)
    shape = (row1 - row0, col1 - col0)
    origin = (row0 - top * block, col0 - left * block)
    return _to_fine(cloud, shape, *origin), _to_fine(probability, shape, *origin)
