"""Open whatever the analyst has as the SAR input: a GRD product, or one or two analysis-ready rasters."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ...errors import GlfcrWarning, ParameterValueError
from ..raster_io import open_raster
from .grd import GrdProduct
from .raster_source import raster_sar_source
from .safe_files import is_sentinel1_product
from .sar_source import SarSource
from .scale import check_scale

PathLike = str | os.PathLike[str]

logger = logging.getLogger(__name__)


@contextmanager
def open_sar_source(
    path: PathLike, *, vh_path: PathLike | None = None, scale: str = "auto"
) -> Iterator[SarSource]:
    """Open a SAR input as a source of VV, VH sigma0 read window by window.

    Args:
        path: a Sentinel-1 GRD product (``.zip``, ``.SAFE`` folder or its ``manifest.safe``), or a raster
            holding VV and VH (or VV alone when ``vh_path`` is given), in dB, linear power or amplitude,
            sigma0 or gamma0.
        vh_path: a separate raster holding VH, or None.
        scale: "auto" (the metadata, else the values), "db", "linear" or "amplitude"; ignored for a GRD
            product, whose digital numbers are calibrated from its own tables.

    Yields:
        The source; its ``summary`` is logged and its ``tags`` belong in the outputs' metadata.

    Raises:
        ParameterValueError: an unknown scale, a VH file beside a GRD product, or a scale that cannot be told.
        InputRasterError, RasterReadError: see ``bands``, ``grd`` and ``raster_io.open_raster``.

    """
    check_scale(scale)
    with ExitStack() as stack:
        if is_sentinel1_product(path):
            if vh_path:
                raise ParameterValueError(
                    f"{os.fspath(path)} is a Sentinel-1 product, which holds VV and VH itself; leave the "
                    "second "
                    "SAR file (SAR_VH) empty."
                )
            if scale != "auto":
                warnings.warn(
                    "The SAR scale (SAR_SCALE) is ignored for a GRD product: its digital numbers are "
                    "calibrated "
                    "to sigma0 dB with the product's own calibration tables.",
                    GlfcrWarning,
                    stacklevel=3,
                )
            source: SarSource = stack.enter_context(GrdProduct(path))
        else:
            main = stack.enter_context(open_raster(path, role="SAR"))
            vh_file = None
            if vh_path:
                if is_sentinel1_product(vh_path):
                    raise ParameterValueError(
                        f"The second SAR file {os.fspath(vh_path)} is a Sentinel-1 product; give the "
                        "product as "
                        "the SAR input alone."
                    )
                vh_file = stack.enter_context(open_raster(vh_path, role="SAR VH"))
            source = raster_sar_source(main, vh_file, scale)
        logger.info(source.summary)
        yield source
