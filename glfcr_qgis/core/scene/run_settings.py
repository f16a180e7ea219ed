"""The settings of a Remove Clouds run: checked before any file is opened, and recorded in the output.

The record (the output tag ``settings``) holds the settings as asked (the tags ``tile_size`` and
``overlap`` hold what was used, which shrinks for small scenes), so that a batch run can tell an existing
output made with the same settings and keep it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParameterValueError
from .batching import check_batch_size
from .mask_methods import DEFAULT_MASK_METHOD, check_mask_method
from .output_writer import output_dtype
from .tiling import validate_tiling

if TYPE_CHECKING:
    import torch

# output tag holding ``settings_record``'s JSON
SETTINGS_TAG = "settings"


def check_settings(
    *, tile_size: int, overlap: int, batch_size: int | None, output_type: str, precision: str
) -> np.dtype:
    """Check Remove Clouds settings; returns the output's NumPy dtype.

    Raises:
        TileSizeError: unusable tile size or overlap.
        ParameterValueError: batch size neither None (automatic) nor 1 or more, or an unknown output
            type or precision.
    """
    validate_tiling(tile_size, overlap)
    check_batch_size(batch_size)
    from ..model.inference import PRECISIONS

    if precision not in PRECISIONS:
        raise ParameterValueError(
            f"Precision {precision!r} is not available; use one of {', '.join(PRECISIONS)}."
        )
    return output_dtype(output_type)


def settings_record(
    *,
    tile_size: int,
    overlap: int,
    batch_size: int | None,
    device: str | torch.device,
    output_type: str,
    keep_clear: bool,
    cog: bool,
    precision: str,
    mask_method: str | int = DEFAULT_MASK_METHOD,
    sar_scale: str = "auto",
) -> str:
    """The settings a run was asked for, as the JSON text of the output's ``settings`` tag.

    Its keywords are the settings a batch run applies to every scene (``core.batch``).
    """
    return json.dumps(
        {
            "tile_size": int(tile_size),
            "overlap": int(overlap),
            "batch_size": None if batch_size is None else int(batch_size),  # None: automatic
            "device": str(device),
            "output_type": str(output_type),
            "keep_clear": bool(keep_clear),
            "cog": bool(cog),
            "precision": str(precision),
            "mask_method": check_mask_method(mask_method),
            "sar_scale": str(sar_scale),
        },
        sort_keys=True,
    )
