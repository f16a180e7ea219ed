"""An area of interest: the window of a raster that covers a rectangle given in any CRS.

The rectangle is brought into the raster's CRS (its outline densified, so a curved edge is covered) and
snapped outward to the raster's pixel grid, so the window holds every pixel the rectangle touches and its
transform is a whole number of pixels from the raster's. A rectangle outside the raster is an error
before any work; one reaching beyond it is clipped with a warning.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ..errors import GlfcrWarning, InputRasterError, ParameterValueError

# a rectangle edge this close to a pixel edge (in pixels) lies on it: float noise must not add a pixel
_EDGE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class AreaOfInterest:
    """A rectangle to process.

    Attributes:
        xmin, ymin, xmax, ymax: its bounds in ``crs`` units.
        crs: its CRS in any form rasterio reads ("EPSG:4326", WKT), or None for the raster's own CRS.
    """

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    crs: str | None = None

    def __post_init__(self) -> None:
        values = (self.xmin, self.ymin, self.xmax, self.ymax)
        if not all(math.isfinite(v) for v in values) or self.xmin >= self.xmax or self.ymin >= self.ymax:
            raise ParameterValueError(
                f"The extent {self.describe()} is empty or not finite; give xmin < xmax and ymin < ymax."
            )

    def describe(self) -> str:
        """The rectangle as "xmin, ymin, xmax, ymax [CRS]" for messages and metadata."""
        bounds = ", ".join(
            f"{v:.6f}".rstrip("0").rstrip(".") for v in (self.xmin, self.ymin, self.xmax, self.ymax)
        )
        return f"{bounds} [{self.crs}]" if self.crs else bounds


def window_for_area(dataset: Any, area: AreaOfInterest, *, role: str, name: str | None = None) -> Window:
    """The window of ``dataset`` covering ``area``, snapped outward to whole pixels and clipped to the raster.

    Args:
        dataset: an open rasterio dataset with a north-up geotransform.
        area: the rectangle.
        role: what the raster is for, used in messages.
        name: how messages name the raster (default: ``dataset.name``).

    Raises:
        ParameterValueError: the area's CRS is not understood.
        InputRasterError: the area lies outside the raster, or the raster cannot be cut by coordinates.
    """
    name = name or os.fspath(dataset.name)
    transform = dataset.transform
    if transform.b != 0 or transform.d != 0:
        raise InputRasterError(
            f"The {role} raster {name} has a rotated grid, so an extent cannot be cut from it; warp it to a "
            "north-up grid first (e.g. with Warp)."
        )
    left, bottom, right, top = _bounds_in_raster_crs(dataset, area, role, name)
    columns = sorted(((left - transform.c) / transform.a, (right - transform.c) / transform.a))
    rows = sorted(((top - transform.f) / transform.e, (bottom - transform.f) / transform.e))
    col0, col1 = math.floor(columns[0] + _EDGE_TOLERANCE), math.ceil(columns[1] - _EDGE_TOLERANCE)
    row0, row1 = math.floor(rows[0] + _EDGE_TOLERANCE), math.ceil(rows[1] - _EDGE_TOLERANCE)
    clipped = (max(col0, 0), max(row0, 0), min(col1, dataset.width), min(row1, dataset.height))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise InputRasterError(
            f"The extent {area.describe()} lies outside the {role} raster {name}, which covers "
            f"{_format_bounds(dataset.bounds)} in its CRS; choose an extent that overlaps it."
        )
    if clipped != (col0, row0, col1, row1):
        warnings.warn(
            f"The extent {area.describe()} reaches beyond the {role} raster {name}; it was clipped to the "
            f"raster, {clipped[2] - clipped[0]} x {clipped[3] - clipped[1]} pixels are processed.",
            GlfcrWarning,
            stacklevel=2,
        )
    return Window(clipped[0], clipped[1], clipped[2] - clipped[0], clipped[3] - clipped[1])


def _bounds_in_raster_crs(
    dataset: Any, area: AreaOfInterest, role: str, name: str
) -> tuple[float, float, float, float]:
    bounds = (area.xmin, area.ymin, area.xmax, area.ymax)
    if area.crs is None:
        return bounds
    try:
        area_crs = CRS.from_user_input(area.crs)
    except CRSError as err:
        raise ParameterValueError(
            f"The extent's CRS {area.crs!r} is not understood ({err}); give it as EPSG:<code> or WKT."
        ) from err
    if dataset.crs is None:
        raise InputRasterError(
            f"The {role} raster {name} has no CRS, so an extent in {area.crs} cannot be placed on it; "
            "assign the raster its CRS first (e.g. with Assign Projection)."
        )
    if area_crs == dataset.crs:
        return bounds
    return transform_bounds(area_crs, dataset.crs, *bounds, densify_pts=21)


def _format_bounds(bounds: Any) -> str:
    return f"x {bounds[0]:.2f}..{bounds[2]:.2f}, y {bounds[1]:.2f}..{bounds[3]:.2f}"
