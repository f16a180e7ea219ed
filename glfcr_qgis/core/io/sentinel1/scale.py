"""The scale a SAR raster holds (dB, linear power or amplitude): from its metadata, else from its values.

GLF-CR was trained on sigma0 in dB (Earth Engine's ``COPERNICUS/S1_GRD``), but analysts have SNAP exports in
linear power (``Sigma0_VV``) or dB (``Sigma0_VV_db``), RTC products in linear power or amplitude, and Earth
Engine exports in dB. The metadata (units, band names, tags, the file names of ASF and OPERA RTC products)
decides where it speaks; otherwise the values do: dB backscatter is mostly negative, while linear power
and amplitude are positive and differ by a square, which the typical levels of VV and VH and their ratio
tell apart. When neither settles it the caller must say (``SAR_SCALE``) rather than have it guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ...errors import ParameterValueError
from .calibration import NOISE_FLOOR

SCALES: tuple[str, ...] = ("auto", "db", "linear", "amplitude")
SCALE_LABELS: dict[str, str] = {"db": "dB", "linear": "linear power", "amplitude": "amplitude"}

# Plausible medians of sigma0 over a scene, in dB, and of VV minus VH (the cross-polarisation ratio):
# land, forest, water and towns all fall inside; a hypothesis that puts a scene outside is rejected.
VV_MEDIAN_DB = (-25.0, -3.0)
VH_MEDIAN_DB = (-32.0, -10.0)
CROSS_RATIO_DB = (3.5, 13.0)
# share of negative values above which values are dB, and below which they are linear (in between: unsure)
MOSTLY_NEGATIVE = 0.5
RARELY_NEGATIVE = 0.05

_WORD = re.compile(r"[a-z0-9]+")
# ASF HyP3 RTC names (..._RTC30_G_gpuned_...): radiometry (g gamma0, s sigma0), then scale (p power,
# a amplitude, d dB)
ASF_RTC_NAME = re.compile(r"_RTC\d+_[A-Z]_([gs])([pad])[a-z]*", re.IGNORECASE)
_ASF_SCALES = {"p": "linear", "a": "amplitude", "d": "db"}


@dataclass(frozen=True)
class ScaleChoice:
    """The scale a raster's values are in and how it was decided.

    Attributes:
        scale: "db", "linear" (power) or "amplitude".
        reason: what decided it, for the log and the output's metadata.

    """

    scale: str
    reason: str

    @property
    def label(self) -> str:
        """The scale in words ("dB", "linear power", "amplitude")."""
        return SCALE_LABELS[self.scale]


def scale_of_text(text: str, *, is_name: bool = False) -> str | None:
    """The scale a band name, unit, tag value or file name states, or None when it states none.

    ``Sigma0_VV_db`` and ``dB`` are dB; ``Amplitude_VH`` amplitude; ``intensity``, ``power`` and ``linear``
    linear power; ASF RTC names carry a scale letter.

    Args:
        text: the text to read.
        is_name: the text is a band or file name, where SNAP's convention holds: ``Sigma0_VV``,
            ``Gamma0_VH``, ``Beta0_VV`` without ``_db`` are linear power.

    """
    asf = ASF_RTC_NAME.search(text)
    if asf:
        return _ASF_SCALES[asf.group(2).lower()]
    if "OPERA_L2_RTC" in text.upper():
        return "linear"
    words = set(_WORD.findall(text.lower()))
    if words & {"db", "decibel", "decibels"}:
        return "db"
    if words & {"amplitude", "amp"}:
        return "amplitude"
    if words & {"linear", "power", "intensity"}:
        return "linear"
    if is_name and any(word.startswith(("sigma0", "gamma0", "beta0")) for word in words):
        return "linear"
    return None


def scale_from_metadata(texts: Iterable[tuple[str, str]]) -> ScaleChoice | None:
    """The scale the metadata states, when every text that states one agrees.

    Args:
        texts: (where, text) pairs, e.g. ("band description", "Sigma0_VV_db"); ``where`` names ending in
            "name" or "description" are names (SNAP's band naming applies).

    """
    found = [
        (where, text, scale)
        for where, text in texts
        if (scale := scale_of_text(text, is_name=where.endswith(("name", "description"))))
    ]
    if not found or len({scale for _, _, scale in found}) > 1:
        return None
    where, text, scale = found[0]
    return ScaleChoice(scale, f"{where} {text!r}")


def scale_from_values(vv: np.ndarray, vh: np.ndarray) -> ScaleChoice | None:
    """The scale the values imply, or None when they fit more than one (or none).

    Args:
        vv: a sample of VV values (no-data already removed).
        vh: a sample of VH values.

    """
    values = np.concatenate([vv.ravel(), vh.ravel()])
    values = values[np.isfinite(values)]
    if not len(values) or not len(vv) or not len(vh):
        return None
    negative = float(np.mean(values < 0))
    if negative >= MOSTLY_NEGATIVE:
        return ScaleChoice("db", f"values ({negative:.0%} negative)")
    if negative > RARELY_NEGATIVE:
        return None
    if not (np.any(vv > 0) and np.any(vh > 0)):
        return None
    vv_median, vh_median = float(np.median(vv[vv > 0])), float(np.median(vh[vh > 0]))
    fits = [
        scale
        for scale, factor in (("linear", 10.0), ("amplitude", 20.0))
        if _plausible(vv_median, vh_median, factor)
    ]
    if len(fits) != 1:
        return None
    return ScaleChoice(
        fits[0],
        f"values (positive; medians VV {vv_median:.3g}, VH {vh_median:.3g} are typical of "
        f"{SCALE_LABELS[fits[0]]})",
    )


def _plausible(vv_median: float, vh_median: float, factor: float) -> bool:
    vv_db, vh_db = factor * math.log10(vv_median), factor * math.log10(vh_median)
    return (
        VV_MEDIAN_DB[0] <= vv_db <= VV_MEDIAN_DB[1]
        and VH_MEDIAN_DB[0] <= vh_db <= VH_MEDIAN_DB[1]
        and CROSS_RATIO_DB[0] <= vv_db - vh_db <= CROSS_RATIO_DB[1]
    )


def check_scale(scale: str) -> str:
    """Validate a scale name ("auto", "db", "linear", "amplitude"); raises ParameterValueError otherwise."""
    if scale not in SCALES:
        raise ParameterValueError(
            f"SAR scale {scale!r} is not one of {', '.join(SCALES)}; use auto, or say which the raster holds."
        )
    return scale


def undecided_scale_message(name: str, vv: np.ndarray, vh: np.ndarray) -> str:
    """The sentence asking for SAR_SCALE when neither metadata nor values decide."""
    finite = [sample[np.isfinite(sample)] for sample in (vv, vh)]
    if not all(len(sample) for sample in finite):
        seen = "it has no valid values to judge by"
    else:
        seen = f"VV median {np.median(finite[0]):.4g}, VH median {np.median(finite[1]):.4g}"
    return (
        f"Cannot tell whether the SAR raster {name} holds dB, linear power or amplitude values ({seen}; its "
        "metadata does not say); set the SAR scale (SAR_SCALE) to 1 (dB), 2 (linear power) or 3 (amplitude). "
        "Uncalibrated digital numbers cannot be used: calibrate them to sigma0 or give the GRD product."
    )


def to_db(values: np.ndarray, scale: str) -> np.ndarray:
    """Values in ``scale`` -> float32 dB; linear zeros are no data (NaN), negative power is the noise floor.

    Args:
        values: any shape, float.
        scale: "db", "linear" or "amplitude".

    """
    values = np.asarray(values, dtype=np.float32)
    if scale == "db":
        return values.copy()
    factor = np.float32(10.0 if scale == "linear" else 20.0)
    floor = np.float32(NOISE_FLOOR if scale == "linear" else math.sqrt(NOISE_FLOOR))
    with np.errstate(divide="ignore", invalid="ignore"):
        db = factor * np.log10(np.maximum(values, floor))
    # a linear zero is how these products mark no data; below zero is noise removal overshooting
    db[~np.isfinite(values) | (values == 0)] = np.nan
    return db
