"""The one way an optical input is opened: a 13-band raster or a Sentinel-2 L1C product, whole or a window.

Remove Clouds' cloudy image, Cloud Mask's input and Evaluate's prediction, reference and cloudy image
all go through :func:`open_optical`. A product (``.SAFE`` folder, ``MTD_MSIL1C.xml``, the downloaded
``.zip``, or a ``SENTINEL2_L1C:...`` subdataset name) becomes a harmonised 13-band VRT; an area of
interest becomes a VRT of that window. Either way the caller gets an ordinary rasterio dataset and reads
windows from it as from a GeoTIFF.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import PurePosixPath

from rasterio.io import DatasetReader

from .area_of_interest import AreaOfInterest, window_for_area
from .normalization import S2_L1C_BANDS
from .raster_io import PathLike, open_raster
from .sentinel2.product import find_product
from .sentinel2.stack import open_product
from .virtual_raster import open_vrt, window_vrt

# metadata keys of a product stack that outputs carry on (baseline, offsets applied, product name)
PROVENANCE_PREFIX = "S2_"


@contextmanager
def open_optical(
    path: PathLike, *, role: str, extent: AreaOfInterest | None = None
) -> Iterator[DatasetReader]:
    """Open an optical input as a 13-band rasterio dataset, cut to ``extent`` when one is given.

    Args:
        path: a 13-band raster (bands B1..B12 with B8A, digital numbers) or a Sentinel-2 L1C product.
        role: what the input is for, used in messages (e.g. ``"cloudy optical"``).
        extent: optional area of interest; the dataset is then the window covering it (snapped outward
            to the pixel grid, clipped to the raster) and its transform is the window's.

    Yields:
        The dataset; a product's carries ``S2_*`` metadata (see :func:`optical_input_tags`).

    Raises:
        RasterReadError: the file or product cannot be read (missing, truncated, missing band files).
        InputRasterError: not 13 bands, a product of another level than L1C, or an extent outside.
        ParameterValueError: an extent that is empty or in an unknown CRS.
    """
    location = find_product(path)
    with ExitStack() as stack:
        if location is None:
            dataset = stack.enter_context(open_raster(path, role=role, expected_bands=len(S2_L1C_BANDS)))
        else:
            dataset = stack.enter_context(open_product(location))
        if extent is not None:
            window = window_for_area(dataset, extent, role=role, name=os.fspath(path))
            if (window.width, window.height) != (dataset.width, dataset.height):
                stem = PurePosixPath(os.fspath(dataset.name)).stem
                name = f"{stem}_{window.col_off}_{window.row_off}_{window.width}x{window.height}.vrt"
                dataset = stack.enter_context(open_vrt(window_vrt(dataset, window), name=name))
        yield dataset


def optical_input_tags(dataset: DatasetReader) -> dict[str, str]:
    """The provenance an output records from its optical input: product, baseline, offsets applied.

    Empty for an ordinary raster; a GeoTIFF written by Prepare Sentinel-2 passes its record on.
    """
    return {key: value for key, value in dataset.tags().items() if key.startswith(PROVENANCE_PREFIX)}
