"""Radiometric convention of SAR backscatter: sigma0 (what GLF-CR learnt), gamma0 (RTC products), beta0.

The three normalise the same backscattered power by different areas: sigma0 by the ground area,
beta0 by the area in the radar's slant plane, gamma0 by the area perpendicular to the look direction.
On the ellipsoid, with incidence angle theta::

    sigma0 = gamma0 * cos(theta) = beta0 * sin(theta)

so in dB gamma0 reads 10 log10(1 / cos(theta)) above sigma0: +0.6 dB at 30 degrees, +1.6 dB at 46 degrees
across the IW swath. RTC products are gamma0 (terrain-flattened); SEN12MS-CR and Earth Engine are sigma0.
A gamma0 or beta0 input is converted with the product's incidence angle where it gives one (a band, or
a value in its metadata); otherwise it is used as is, with one warning giving the size of the bias.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ...errors import GlfcrWarning
from .scale import ASF_RTC_NAME

SIGMA0 = "sigma0"
GAMMA0 = "gamma0"
BETA0 = "beta0"
# the incidence angles Sentinel-1 IW spans from near to far range, in degrees
IW_INCIDENCE_RANGE = (30.0, 46.0)

_WORD = re.compile(r"[a-z0-9]+")
_KEY_HINT = re.compile(r"incidence", re.IGNORECASE)
# Sigma0_VV, gamma0, "gamma naught", beta_0
_KIND = re.compile(r"(sigma|gamma|beta)[ _-]?(0|naught|nought)", re.IGNORECASE)


@dataclass(frozen=True)
class Convention:
    """The convention of an input and how it becomes sigma0.

    Attributes:
        kind: SIGMA0, GAMMA0 or BETA0.
        reason: what said so ("" for sigma0 assumed by default).
        incidence: a constant incidence angle in degrees from the metadata, or None.

    """

    kind: str = SIGMA0
    reason: str = ""
    incidence: float | None = None

    def description(self, incidence_band: bool) -> str:
        """How the input's convention was handled, for the log and the output's metadata."""
        if self.kind == SIGMA0:
            return SIGMA0
        if incidence_band:
            return f"{self.kind} ({self.reason}), converted to sigma0 with the incidence angle band"
        if self.incidence is not None:
            return (
                f"{self.kind} ({self.reason}), converted to sigma0 at {self.incidence:.2f} degrees incidence"
            )
        bias = bias_range(self.kind)
        return f"{self.kind} ({self.reason}), NOT converted (no incidence angle given): biased by {bias}"


def kind_of_text(text: str) -> str | None:
    """The convention a name or metadata value states (``Gamma0_VV``, ``rtc``, ``gamma0``), or None."""
    asf = ASF_RTC_NAME.search(text)
    if asf:
        return GAMMA0 if asf.group(1).lower() == "g" else SIGMA0
    if "OPERA_L2_RTC" in text.upper():
        return GAMMA0
    named = _KIND.search(text)
    if named:
        return named.group(1).lower() + "0"
    words = _WORD.findall(text.lower())
    # radiometric terrain correction produces gamma0 (terrain-flattened)
    if "rtc" in words or "terrain flattened" in text.lower() or "terrain-flattened" in text.lower():
        return GAMMA0
    return None


def convention_from_metadata(texts: Iterable[tuple[str, str]], tags: Mapping[str, str]) -> Convention:
    """The convention the metadata states (sigma0 when it states none) and any incidence angle it gives.

    Args:
        texts: (where, text) pairs: band names, tag values, file names.
        tags: the dataset's tags, searched for an incidence angle value (keys containing "incidence").

    """
    found = [(where, text, kind) for where, text in texts if (kind := kind_of_text(text))]
    kinds = {kind for _, _, kind in found}
    if not found or kinds == {SIGMA0}:
        return Convention()
    # a file that names both (e.g. sigma0 bands of an RTC-named file) is taken at its more specific word
    where, text, kind = next(item for item in found if item[2] != SIGMA0)
    return Convention(kind, f"{where} {text!r}", incidence_from_tags(tags))


def incidence_from_tags(tags: Mapping[str, str]) -> float | None:
    """An incidence angle in degrees from tags such as ``INCIDENCE_ANGLE`` or ``incidenceAngleMidSwath``."""
    for key, value in tags.items():
        if _KEY_HINT.search(key):
            try:
                angle = float(str(value).split()[0])
            except (ValueError, IndexError):
                continue
            if 0.0 < angle < 90.0:
                return angle
    return None


def sigma0_correction_db(kind: str, incidence_deg: np.ndarray | float) -> np.ndarray:
    """dB to add to ``kind`` backscatter to get sigma0: 10 log10(cos theta) for gamma0, (sin theta) for beta0.

    Args:
        kind: SIGMA0, GAMMA0 or BETA0.
        incidence_deg: incidence angle in degrees (scalar or array); radians are recognised (all below 1.6).

    """
    angle = np.asarray(incidence_deg, dtype=np.float64)
    finite = angle[np.isfinite(angle)]
    if finite.size and np.all(np.abs(finite) < 1.6):
        angle = np.degrees(angle)
    if kind == SIGMA0:
        return np.zeros_like(angle, dtype=np.float32)
    trig = np.cos if kind == GAMMA0 else np.sin
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = 10.0 * np.log10(trig(np.radians(angle)))
    return correction.astype(np.float32)


def bias_range(kind: str) -> str:
    """The bias of ``kind`` against sigma0 across the IW swath, in words ("+0.6 to +1.6 dB")."""
    near, far = (-float(sigma0_correction_db(kind, angle)) for angle in IW_INCIDENCE_RANGE)
    low, high = sorted((near, far))
    near_deg, far_deg = IW_INCIDENCE_RANGE
    return f"{low:+.1f} to {high:+.1f} dB at {near_deg:.0f}-{far_deg:.0f} degrees incidence"


def warn_unconverted(convention: Convention, name: str) -> None:
    """Warn once that a gamma0/beta0 input is used without conversion, with the size of the bias."""
    warnings.warn(
        f"The SAR input {name} is {convention.kind} ({convention.reason}) but gives no incidence angle, "
        "so it is "
        f"used unconverted; GLF-CR expects sigma0, which reads {bias_range(convention.kind)} different. "
        "Add the "
        "incidence angle as a band named 'incidence_angle' (degrees) or a tag INCIDENCE_ANGLE, or "
        "convert the "
        "input to sigma0, to remove the bias.",
        GlfcrWarning,
        stacklevel=3,
    )
