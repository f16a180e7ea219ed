"""Band order checks: warn when a raster's band descriptions contradict the order the network needs."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

from ..errors import GlfcrWarning

_BAND_TOKEN = re.compile(r"\b(B0?(\d{1,2})(A?)|VV|VH|HH|HV)\b", re.IGNORECASE)


def _band_name(description: str | None) -> str | None:
    """The band name a description states ("B04 red" -> "B4", "vh" -> "VH"), or None when it names none."""
    match = _BAND_TOKEN.search(description or "")
    if match is None:
        return None
    if match.group(2) is None:
        return match.group(1).upper()
    return f"B{int(match.group(2))}{match.group(3).upper()}"


def warn_on_band_order(descriptions: Sequence[str | None], expected: Sequence[str], *, role: str) -> None:
    """Warn (GlfcrWarning) when band descriptions name bands in another order than the model expects.

    Descriptions that name no band (empty, "Band 1") are not evidence either way and are ignored.

    Args:
        descriptions: the raster's band descriptions (``dataset.descriptions``).
        expected: the band names in the order the model needs them.
        role: what the raster is for, used in the message.

    """
    found = [_band_name(text) for text in descriptions]
    clashes = [
        f"band {index} is described as {text!r}"
        for index, (text, name, want) in enumerate(zip(descriptions, found, expected, strict=False), start=1)
        if name is not None and name != want
    ]
    if clashes:
        warnings.warn(
            f"The {role} raster's band descriptions contradict the order the model needs "
            f"({', '.join(expected)}): {'; '.join(clashes[:4])}{'; ...' if len(clashes) > 4 else ''}. "
            "The bands are used by position; reorder them (e.g. with Rearrange bands) if the descriptions "
            "are right.",
            GlfcrWarning,
            stacklevel=2,
        )
