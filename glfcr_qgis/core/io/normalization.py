"""Band order and value scaling of the GLF-CR release (Sentinel-2 L1C and Sentinel-1 GRD).

The network sees optical reflectance in [0, 1] (digital numbers / 10000) and SAR backscatter
rescaled from a fixed dB range to [0, 1], exactly as the authors' data loader prepares it.
"""

from __future__ import annotations

import numpy as np

S2_L1C_BANDS: tuple[str, ...] = (
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
)
S1_BANDS: tuple[str, ...] = ("VV", "VH")

OPTICAL_SCALE = 10000.0
# dB ranges of the authors' loader, per SAR band (VV, VH)
SAR_CLIP_MIN: tuple[float, float] = (-25.0, -32.5)
SAR_CLIP_MAX: tuple[float, float] = (0.0, 0.0)

# 0-based band indices of the natural-colour composite (B4, B3, B2)
NATURAL_COLOUR_BANDS: tuple[int, int, int] = (3, 2, 1)


def fill_nan_with_mean(image: np.ndarray) -> np.ndarray:
    """Replace NaN by the mean of the whole array (all bands together), as the authors' loader does.

    Args:
        image: array of any shape; modified in place when it is a float array.

    Returns:
        The same array, without NaN (unless it was all NaN).
    """
    nan = np.isnan(image)
    if nan.any():
        image[nan] = np.nanmean(image)
    return image


def normalize_optical(dn: np.ndarray) -> np.ndarray:
    """Sentinel-2 L1C digital numbers (bands, ...) -> float32 reflectance clipped to [0, 1]."""
    return (np.clip(dn.astype(np.float32, copy=False), 0.0, OPTICAL_SCALE) / np.float32(OPTICAL_SCALE)).astype(
        np.float32, copy=False
    )


def normalize_sar(db: np.ndarray) -> np.ndarray:
    """Sentinel-1 VV, VH backscatter in dB (2, ...) -> float32 in [0, 1] over the authors' dB ranges."""
    if db.shape[0] != 2:
        raise ValueError(f"SAR array must have 2 bands (VV, VH), got {db.shape[0]}")
    out = np.empty(db.shape, dtype=np.float32)
    for band, (lo, hi) in enumerate(zip(SAR_CLIP_MIN, SAR_CLIP_MAX)):
        # same operation order as the authors' loader: clip, shift, divide
        out[band] = (np.clip(db[band].astype(np.float32, copy=False), lo, hi) - np.float32(lo)) / np.float32(hi - lo)
    return out


def denormalize_optical(reflectance: np.ndarray) -> np.ndarray:
    """Network output in reflectance units -> float32 digital numbers (x 10000), unclipped."""
    return reflectance.astype(np.float32, copy=False) * np.float32(OPTICAL_SCALE)
