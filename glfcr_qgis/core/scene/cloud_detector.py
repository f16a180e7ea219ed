"""Cloud and cloud-shadow mask of Sentinel-2 L1C scenes: the detector of DSen2-CR, GLF-CR and UnCRtainTS.

The detector (Meraner et al., "Cloud removal in Sentinel-2 imagery using a deep residual neural network
and SAR-optical data fusion", ISPRS J. 166, 2020; adapted by them from Sam Murphy's
cloud-masking-sentinel2) is reproduced operation for operation from the authors'
``get_cloud_cloudshadow_mask``, including its float32 arithmetic and the edge handling of the SciPy
filters it calls, so the mask of a 256x256 patch equals theirs pixel for pixel.

Scenes of any size are processed in blocks with bounded memory: a first pass gathers the image-wide
statistics of the shadow test, a second computes each block from the block plus a halo of real
neighbours, padded at the scene's borders exactly as the whole-image filters pad, so the result does
not depend on the block size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import scipy.signal
from rasterio.io import DatasetReader
from rasterio.windows import Window

from ..errors import ParameterValueError, ProcessingCanceled
from ..io.normalization import OPTICAL_SCALE
from ..io.raster_io import iter_windows, nodata_mask, read_window, window_count

# classes of the output mask (Byte)
CLEAR = 0
CLOUD = 1
SHADOW = 2
MASK_NODATA = 255
SCORE_NODATA = -9999.0
CLASS_NAMES: dict[int, str] = {CLEAR: "clear", CLOUD: "cloud", SHADOW: "cloud shadow"}
# embedded GeoTIFF palette (GDAL keeps RGB only; the QML style adds transparency for clear and nodata)
CLASS_COLORS: dict[int, tuple[int, int, int, int]] = {
    CLEAR: (160, 160, 160, 255),
    CLOUD: (255, 221, 0, 255),
    SHADOW: (0, 40, 140, 255),
    MASK_NODATA: (0, 0, 0, 0),
}
DEFAULT_THRESHOLD = 0.2
ROLE = "Sentinel-2 L1C"

# 0-based band indices in the L1C order B1, B2, B3, B4, B5, B6, B7, B8, B8A, B9, B10, B11, B12
_B1, _B2, _B3, _B4, _B8, _B10, _B11 = 0, 1, 2, 3, 7, 10, 11

_CLOSING_SIZE = 5
_BOX_SIZE = 7
_MEDIAN_SIZE = 5
# real neighbours read around each block: a closing is a dilation then an erosion, so it reaches
# 2 * (5 // 2) = 4 pixels, the box mean 3 more (tests check that one pixel less changes the result)
_SCORE_REACH = 2 * (_CLOSING_SIZE // 2) + _BOX_SIZE // 2
_SHADOW_REACH = _MEDIAN_SIZE // 2
HALO = max(_SCORE_REACH, _SHADOW_REACH)

ProgressCallback = Callable[[float], None]
CancelCallback = Callable[[], bool]


@dataclass(frozen=True)
class ShadowStatistics:
    """Image-wide statistics of the shadow test, over the valid pixels of the whole scene.

    The authors compute them over the image they are given, so a mask depends on the extent it is
    computed on; these make a block-wise computation equal to the whole-scene one.

    Attributes:
        csi_min: minimum of CSI = (B8 + B11) / 2, reflectance.
        csi_mean: mean of CSI, reflectance.
        blue_min: minimum of B2, reflectance.
        blue_mean: mean of B2, reflectance.
        pixel_count: valid pixels they were computed over.
    """

    csi_min: float
    csi_mean: float
    blue_min: float
    blue_mean: float
    pixel_count: int

    @property
    def thresholds(self) -> tuple[np.float32, np.float32]:
        """(T3, T4): shadow where CSI < T3 and B2 < T4.

        The authors compare their float32 bands with these in float32 (NumPy 1 casts the scalar down),
        so they are rounded to float32 here, which keeps the result the same under NumPy 2.
        """
        t3 = self.csi_min + 3 / 4 * (self.csi_mean - self.csi_min)
        t4 = self.blue_min + 5 / 6 * (self.blue_mean - self.blue_min)
        return np.float32(t3), np.float32(t4)


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float if it lies in (0, 1], else raise ParameterValueError."""
    threshold = float(threshold)
    if not 0.0 < threshold <= 1.0:
        raise ParameterValueError(
            f"The cloud score threshold must lie in (0, 1], got {threshold:g}; "
            f"use {DEFAULT_THRESHOLD} (the authors' default) or 0.5 for thick clouds only."
        )
    return threshold


def to_reflectance(image_dn: np.ndarray) -> np.ndarray:
    """L1C digital numbers -> float32 reflectance, unclipped, as the authors' detector sees them.

    Args:
        image_dn: (13, H, W) digital numbers (reflectance x 10000), any numeric type.

    Returns:
        (13, H, W) float32; the authors read the file as float32 and divide in float32.
    """
    return image_dn.astype(np.float32, copy=False) / np.float32(OPTICAL_SCALE)


def _rescale(values: np.ndarray, old_min: float, old_max: float) -> np.ndarray:
    # same expression as the authors': the range is a Python float, the arithmetic float32
    return ((values - old_min) / (old_max - old_min)).astype(np.float32, copy=False)


def _normalized_difference(band_a: np.ndarray, band_b: np.ndarray) -> np.ndarray:
    total = band_a + band_b
    total[total == 0] = 0.001  # the authors' guard against dividing by zero
    return (band_a - band_b) / total


def raw_cloud_score(reflectance: np.ndarray) -> np.ndarray:
    """Per-pixel cloud score before the spatial filters (the authors' spectral tests).

    Args:
        reflectance: (13, H, W) float32 L1C reflectance (see :func:`to_reflectance`).

    Returns:
        (H, W) float32; 1 = cloud until a test says otherwise.
    """
    r = reflectance
    score = np.ones(r.shape[1:], dtype=np.float32)
    # clouds are reasonably bright in the blue and aerosol/cirrus bands
    score = np.minimum(score, _rescale(r[_B2], 0.1, 0.5))
    score = np.minimum(score, _rescale(r[_B1], 0.1, 0.3))
    score = np.minimum(score, _rescale(r[_B1] + r[_B10], 0.15, 0.2))
    # clouds are reasonably bright in all visible bands
    score = np.minimum(score, _rescale(r[_B4] + r[_B3] + r[_B2], 0.2, 0.8))
    # but clouds are not snow
    ndsi = _normalized_difference(r[_B3], r[_B11])
    return np.minimum(score, _rescale(ndsi, 0.8, 0.6))


def _csi(reflectance: np.ndarray) -> np.ndarray:
    return (reflectance[_B8] + reflectance[_B11]) / np.float32(2.0)


@dataclass
class _StatisticsAccumulator:
    """Min and mean of CSI and B2 gathered block by block."""

    csi_min: float = np.inf
    csi_sum: float = 0.0
    blue_min: float = np.inf
    blue_sum: float = 0.0
    count: int = 0

    def add(self, reflectance: np.ndarray, valid: np.ndarray) -> None:
        csi = _csi(reflectance)[valid]
        blue = reflectance[_B2][valid]
        if csi.size == 0:
            return
        # float64 sums: the mean is then exact to ~1e-16 whatever the blocks, far below float32 rounding
        self.csi_min = min(self.csi_min, float(csi.min()))
        self.csi_sum += float(csi.sum(dtype=np.float64))
        self.blue_min = min(self.blue_min, float(blue.min()))
        self.blue_sum += float(blue.sum(dtype=np.float64))
        self.count += int(csi.size)

    def result(self) -> ShadowStatistics:
        if self.count == 0:
            return ShadowStatistics(np.nan, np.nan, np.nan, np.nan, 0)
        return ShadowStatistics(
            csi_min=self.csi_min,
            csi_mean=self.csi_sum / self.count,
            blue_min=self.blue_min,
            blue_mean=self.blue_sum / self.count,
            pixel_count=self.count,
        )


def scene_shadow_statistics(
    dataset: DatasetReader,
    *,
    block_size: int | tuple[int, int] = 1024,
    progress: ProgressCallback | None = None,
    is_canceled: CancelCallback | None = None,
) -> ShadowStatistics:
    """Statistics of the shadow test over the valid pixels of a whole scene, read block by block.

    Args:
        dataset: open 13-band L1C dataset (nodata: its declared nodata values and NaN).
        block_size: block side in pixels (or rows, columns).
        progress: called with the fraction of this pass done, 0..1.
        is_canceled: polled between blocks.

    Raises:
        ProcessingCanceled: ``is_canceled`` returned True.
    """
    accumulator = _StatisticsAccumulator()
    windows = window_count(dataset.height, dataset.width, block_size)
    for done, window in enumerate(iter_windows(dataset.height, dataset.width, block_size), start=1):
        check_canceled(is_canceled)
        block = read_window(dataset, window, role=ROLE)
        accumulator.add(to_reflectance(block), ~nodata_mask(block, dataset.nodatavals))
        if progress is not None:
            progress(done / windows)
    return accumulator.result()


def check_canceled(is_canceled: CancelCallback | None) -> None:
    if is_canceled is not None and is_canceled():
        raise ProcessingCanceled("Processing was canceled; no output was written.")


def shadow_statistics(image_dn: np.ndarray, valid: np.ndarray | None = None) -> ShadowStatistics:
    """Statistics of the shadow test over the valid pixels of an in-memory image.

    Args:
        image_dn: (13, H, W) L1C digital numbers.
        valid: (H, W) bool, True where the pixel has data; None = every pixel.
    """
    accumulator = _StatisticsAccumulator()
    reflectance = to_reflectance(image_dn)
    accumulator.add(reflectance, np.ones(reflectance.shape[1:], bool) if valid is None else valid)
    return accumulator.result()


@dataclass(frozen=True)
class _Halo:
    """Pixels of real neighbours around a block, per side; 0 on a side where the scene ends."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def inner(self, shape: tuple[int, int], reach: int) -> tuple[slice, slice]:
        """Slices of an array with this halo selecting the block grown by ``reach`` (within the scene)."""
        rows, cols = shape
        return (
            slice(self.top - min(reach, self.top), rows - self.bottom + min(reach, self.bottom)),
            slice(self.left - min(reach, self.left), cols - self.right + min(reach, self.right)),
        )

    def zero_padding(self, reach: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """``np.pad`` widths that grow :meth:`inner` to the block plus ``reach`` on every side."""
        return (
            (reach - min(reach, self.top), reach - min(reach, self.bottom)),
            (reach - min(reach, self.left), reach - min(reach, self.right)),
        )


def _classify(
    reflectance: np.ndarray,
    valid: np.ndarray,
    stats: ShadowStatistics,
    threshold: float,
    halo: _Halo,
) -> tuple[np.ndarray, np.ndarray]:
    """Classes and cloud score of the block inside ``halo`` (see :func:`cloud_shadow_mask`)."""
    smooth = _smoothed_cloud_score(reflectance, valid, halo)
    shadow = _shadow(reflectance, valid, stats, halo)
    block_valid = valid[halo.inner(valid.shape, 0)]
    classes = np.full(block_valid.shape, CLEAR, dtype=np.uint8)
    classes[shadow] = SHADOW
    classes[smooth >= threshold] = CLOUD  # cloud wins over shadow
    classes[~block_valid] = MASK_NODATA
    return classes, smooth


def _smoothed_cloud_score(reflectance: np.ndarray, valid: np.ndarray, halo: _Halo) -> np.ndarray:
    """The authors' cloud score after closing and box mean, for the block inside ``halo``: float64."""
    shape = valid.shape
    score = raw_cloud_score(reflectance)
    # missing pixels count as clear; at the scene's border the filters pad that way too (box, median)
    score[~valid] = 0.0
    # The authors call scipy.ndimage grey_closing with its default mode 'reflect' (edge pixel repeated:
    # d c b a | a b c d). On a side where the scene ends the block is cut there too, so the same mode
    # pads it exactly as the whole image; on the other sides real neighbours are used and the closing is
    # wrong only within 4 pixels of the array's edge, outside what the box mean below reads.
    closed = scipy.ndimage.grey_closing(score, size=(_CLOSING_SIZE, _CLOSING_SIZE), mode="reflect")
    box_reach = _BOX_SIZE // 2
    # The authors' scipy.signal.convolve2d(mode='same') pads with zeros at the image border: pad zeros
    # where the scene ends, then a 'valid' convolution adds the same 49 terms in the same order.
    closed = np.pad(closed[halo.inner(shape, box_reach)], halo.zero_padding(box_reach))
    box = np.ones((_BOX_SIZE, _BOX_SIZE)) / _BOX_SIZE**2
    return np.clip(scipy.signal.convolve2d(closed, box, mode="valid"), 0.00001, 1.0)


def _shadow(reflectance: np.ndarray, valid: np.ndarray, stats: ShadowStatistics, halo: _Halo) -> np.ndarray:
    """The authors' cloud-shadow test, median-filtered, for the block inside ``halo``: bool."""
    t3, t4 = stats.thresholds
    candidates = (_csi(reflectance) < t3) & (reflectance[_B2] < t4) & valid
    # The authors median-filter the 0/-1 shadow map with scipy.signal.medfilt2d(., 5), which pads with
    # zeros: the median of 25 values in {-1, 0} is -1 exactly when 13 or more are -1, so counting
    # (integer, 8x faster) gives the same map; zeros are padded where the scene ends.
    candidates = np.pad(candidates[halo.inner(valid.shape, _SHADOW_REACH)], halo.zero_padding(_SHADOW_REACH))
    kernel = np.ones((_MEDIAN_SIZE, _MEDIAN_SIZE), dtype=np.uint8)
    votes = scipy.signal.correlate2d(candidates.astype(np.uint8), kernel, mode="valid")
    return votes > (_MEDIAN_SIZE**2) // 2


def cloud_shadow_mask(
    image_dn: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    stats: ShadowStatistics | None = None,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cloud and shadow classes of an in-memory Sentinel-2 L1C image (the authors' detector).

    Args:
        image_dn: (13, H, W) L1C digital numbers, bands B1..B12 in order (B8A after B8).
        threshold: cloud where the smoothed cloud score >= threshold, in (0, 1].
        stats: shadow-test statistics; None = computed from this image, as the authors do.
        valid: (H, W) bool, True where the pixel has data; None = every pixel. Missing pixels are
            classed nodata, left out of the statistics and count as clear in their neighbours' filters.

    Returns:
        ``(classes, score)``: classes (H, W) uint8 (0 clear, 1 cloud, 2 cloud shadow, 255 nodata) and the
        smoothed cloud score (H, W) float64 in [1e-5, 1].
    """
    if image_dn.ndim != 3 or image_dn.shape[0] != 13:
        raise ValueError(f"expected a (13, H, W) L1C image, got shape {image_dn.shape}")
    threshold = check_threshold(threshold)
    valid = np.ones(image_dn.shape[1:], dtype=bool) if valid is None else valid
    if stats is None:
        stats = shadow_statistics(image_dn, valid)
    return _classify(to_reflectance(image_dn), valid, stats, threshold, _Halo())


def window_cloud_shadow_mask(
    dataset: DatasetReader, window: Window, stats: ShadowStatistics, threshold: float = DEFAULT_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """Cloud and shadow classes of one window of a scene, equal to that part of the whole-scene mask.

    Reads the window with a halo of :data:`HALO` real neighbours (fewer where the scene ends).

    Args:
        dataset: open 13-band L1C dataset.
        window: the part of the scene to classify.
        stats: statistics of the whole scene (:func:`scene_shadow_statistics`).
        threshold: cloud score threshold in (0, 1].

    Returns:
        ``(classes, score)`` of the window, as :func:`cloud_shadow_mask` returns them.
    """
    reflectance, valid, halo = _read_with_halo(dataset, window, HALO)
    return _classify(reflectance, valid, stats, threshold, halo)


def window_shadow_mask(dataset: DatasetReader, window: Window, stats: ShadowStatistics) -> np.ndarray:
    """The authors' cloud-shadow test alone on one window, equal to that part of the whole-scene test.

    Used where another detector finds the clouds (s2cloudless has no shadow class).

    Returns:
        bool (window height, window width), True on shadow; False where the input is nodata.
    """
    reflectance, valid, halo = _read_with_halo(dataset, window, _SHADOW_REACH)
    return _shadow(reflectance, valid, stats, halo) & valid[halo.inner(valid.shape, 0)]


def _read_with_halo(
    dataset: DatasetReader, window: Window, reach: int
) -> tuple[np.ndarray, np.ndarray, _Halo]:
    """Reflectance (13, h, w) and validity (h, w) of ``window`` grown by up to ``reach`` real neighbours."""
    height, width = dataset.height, dataset.width
    row0, col0 = int(window.row_off), int(window.col_off)
    row1, col1 = row0 + int(window.height), col0 + int(window.width)
    halo = _Halo(
        top=min(reach, row0),
        bottom=min(reach, height - row1),
        left=min(reach, col0),
        right=min(reach, width - col1),
    )
    grown = Window(
        col0 - halo.left,
        row0 - halo.top,
        col1 - col0 + halo.left + halo.right,
        row1 - row0 + halo.top + halo.bottom,
    )
    block = read_window(dataset, grown, role=ROLE)
    return to_reflectance(block), ~nodata_mask(block, dataset.nodatavals), halo


