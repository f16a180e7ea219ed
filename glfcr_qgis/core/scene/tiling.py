"""Tile grid, edge padding and blending weights for running the network over whole scenes.

A scene is cut into square tiles of ``tile_size`` pixels (rectangular along a side of the scene thinner
than one tile); neighbouring tiles share ``overlap`` pixels, so tile origins are ``stride = tile_size -
overlap`` apart. The last tile row and column reach past the
bottom and right scene edges; those pixels are the scene mirrored at its edge (numpy's ``"reflect"``
padding, the edge pixel not repeated), which keeps image statistics and texture plausible for the
network, and the padded part of the prediction is thrown away. A scene smaller than one tile runs as a
single tile of the scene's size rounded up to a multiple of 16, so no compute is wasted on padding.

Overlapping predictions are blended with raised-cosine ramps over the shared pixels. Two ramps facing
each other sum to exactly one, sides without a neighbour (scene edges) are flat, so the weights of all
tiles form a partition of unity and a pixel far from tile edges gets the prediction of the one tile
whose centre is nearest; predictions near a tile edge (where the network saw little context) fade out.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import TileSizeError

# the network halves the resolution once and attends in 8x8 windows: tiles must be multiples of 16
NETWORK_MULTIPLE = 16


def whole_number(value: object) -> int | None:
    """``value`` as an int when it is a whole number (``128``, ``128.0`` or the text ``"128"``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return int(value) if float(value).is_integer() else None
    if isinstance(value, str):
        try:
            return whole_number(float(value.strip()))
        except ValueError:
            return None
    return None


def validate_tiling(tile_size: int | str, overlap: int | str) -> tuple[int, int]:
    """Check that the network can run on ``tile_size`` tiles sharing ``overlap`` pixels.

    Args:
        tile_size: tile side in pixels (whole numbers given as text, such as ``"128"``, are accepted).
        overlap: pixels shared by neighbouring tiles.

    Returns:
        ``(tile_size, overlap)`` as ints.

    Raises:
        TileSizeError: the tile size is not a positive multiple of 16, or the overlap is not in
            ``[0, tile_size / 2)``.

    """
    size = whole_number(tile_size)
    if size is None:
        raise TileSizeError(
            f"Tile size {tile_size!r} is not a whole number of pixels; use a multiple of {NETWORK_MULTIPLE} "
            "such as 128 or 256."
        )
    if size < NETWORK_MULTIPLE or size % NETWORK_MULTIPLE:
        lower = max(NETWORK_MULTIPLE, size // NETWORK_MULTIPLE * NETWORK_MULTIPLE)
        raise TileSizeError(
            f"Tile size {size} is not a positive multiple of {NETWORK_MULTIPLE}, which the GLF-CR "
            f"network needs; use {lower} or {lower + NETWORK_MULTIPLE} (128 and 256 are usual)."
        )
    shared = whole_number(overlap)
    if shared is None or shared < 0 or 2 * shared >= size:
        raise TileSizeError(
            f"Tile overlap {overlap!r} px does not fit tile size {size}: it must be a whole number of "
            f"pixels, at least 0 and less than half the tile ({(size - 1) // 2} px at most); "
            f"use e.g. {size // 8}."
        )
    return size, shared


def round_up_to_multiple(value: int, multiple: int = NETWORK_MULTIPLE) -> int:
    """The smallest multiple of ``multiple`` that is >= ``value`` (and at least ``multiple``)."""
    return max(multiple, -(-int(value) // multiple) * multiple)


def tiles_along(length: int, tile_size: int, overlap: int) -> int:
    """Number of tiles at stride ``tile_size - overlap`` needed to cover ``length`` pixels."""
    if length <= tile_size:
        return 1
    return max(1, math.ceil((length - overlap) / (tile_size - overlap)))


def balanced_tile_size(lengths: Sequence[int], tile_size: int, overlap: int) -> int:
    """The smallest tile (multiple of 16, at most ``tile_size``) with which as many tiles cover each length.

    Tiles of the requested size usually reach past the scene's edge; the network's time on that
    padding is wasted (a 1024-pixel scene in 256-pixel tiles with a 32-pixel overlap spans 1152
    pixels). Shrinking every tile until the same number of tiles just covers the scene removes most
    of it (240-pixel tiles span 1088), and leaves large scenes, where it hardly matters, alone.

    Args:
        lengths: the scene sides the tile covers (rows, columns, or both).
        tile_size: the requested tile side.
        overlap: pixels shared by neighbouring tiles.

    """
    needed = max(
        round_up_to_multiple(math.ceil((length - overlap) / count) + overlap)
        for length in lengths
        for count in [tiles_along(length, tile_size, overlap)]
    )
    if needed > tile_size or needed <= 2 * overlap:
        return tile_size
    return needed


@dataclass(frozen=True)
class TileGrid:
    """Tiles over a ``height`` x ``width`` scene, origins a stride apart from the top-left corner.

    Tiles are square, except along a side of the scene thinner than one tile, where they shrink to that
    side (rounded up to 16): a 1 x 600 strip runs in 16 x 320 tiles, not 320 x 320 ones. Build the grid
    with ``TileGrid.for_scene``, which validates the tiling and chooses the tile sides.

    Attributes:
        height: scene rows.
        width: scene columns.
        tile_height: tile rows (a multiple of 16).
        tile_width: tile columns (a multiple of 16).
        overlap: pixels shared by neighbouring tiles (along a side with a single tile there is none).

    """

    height: int
    width: int
    tile_height: int
    tile_width: int
    overlap: int

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError(f"scene must have at least one pixel, got {self.height} x {self.width}")
        for length, side in ((self.height, self.tile_height), (self.width, self.tile_width)):
            # a side covered by one tile has no neighbour to overlap
            validate_tiling(side, self.overlap if tiles_along(length, side, self.overlap) > 1 else 0)

    @classmethod
    def for_scene(cls, height: int, width: int, tile_size: int, overlap: int) -> TileGrid:
        """The grid for a scene: tiles of at most ``tile_size``, as few as cover it, as small as they can be.

        A side of the scene shorter than a tile gets one tile of its own length (rounded up to 16); the
        other sides share the tile of ``balanced_tile_size``. A square scene thus gets square tiles.

        Raises:
            TileSizeError: ``tile_size`` or ``overlap`` cannot be used (checked before any shrinking).

        """
        tile_size, overlap = validate_tiling(tile_size, overlap)
        fitted = [round_up_to_multiple(length) for length in (height, width)]
        long_sides = [
            length for length, side in zip((height, width), fitted, strict=True) if side >= tile_size
        ]
        if not long_sides:
            # a single tile covers the scene, so there is nothing to overlap with
            return cls(height, width, fitted[0], fitted[1], 0)
        balanced = balanced_tile_size(long_sides, tile_size, overlap)
        tile_height, tile_width = (side if side < tile_size else balanced for side in fitted)
        return cls(height, width, tile_height, tile_width, overlap)

    @property
    def rows(self) -> int:
        """Number of tile rows."""
        return tiles_along(self.height, self.tile_height, self.overlap)

    @property
    def cols(self) -> int:
        """Number of tile columns."""
        return tiles_along(self.width, self.tile_width, self.overlap)

    @property
    def row_overlap(self) -> int:
        """Rows shared by vertically neighbouring tiles (0 with a single tile row)."""
        return self.overlap if self.rows > 1 else 0

    @property
    def col_overlap(self) -> int:
        """Columns shared by horizontally neighbouring tiles (0 with a single tile column)."""
        return self.overlap if self.cols > 1 else 0

    @property
    def row_stride(self) -> int:
        """Rows between the origins of vertically neighbouring tiles."""
        return self.tile_height - self.row_overlap

    @property
    def col_stride(self) -> int:
        """Columns between the origins of horizontally neighbouring tiles."""
        return self.tile_width - self.col_overlap

    @property
    def tile_count(self) -> int:
        """Number of tiles."""
        return self.rows * self.cols

    @property
    def is_square(self) -> bool:
        """Whether the tiles are square."""
        return self.tile_height == self.tile_width

    @property
    def tile_label(self) -> str:
        """The tile size in words: ``"384"`` for square tiles, ``"16x320"`` (rows x columns) otherwise."""
        return str(self.tile_height) if self.is_square else f"{self.tile_height}x{self.tile_width}"

    @property
    def padded_width(self) -> int:
        """Columns the tiles span, scene plus padding on the right."""
        return (self.cols - 1) * self.col_stride + self.tile_width

    @property
    def padded_height(self) -> int:
        """Rows the tiles span, scene plus padding at the bottom."""
        return (self.rows - 1) * self.row_stride + self.tile_height

    @property
    def overlap_cost(self) -> float:
        """Pixels the network processes per scene pixel (>= 1; overlap and edge padding make it larger)."""
        return self.tile_count * self.tile_height * self.tile_width / (self.height * self.width)

    def row_origin(self, row: int) -> int:
        """Offset in pixels of tile row ``row`` from the scene's top edge."""
        return row * self.row_stride

    def col_origin(self, col: int) -> int:
        """Offset in pixels of tile column ``col`` from the scene's left edge."""
        return col * self.col_stride

    def weights(self, row: int, col: int) -> np.ndarray:
        """Blending weights of the tile at (``row``, ``col``): float32 (tile_height, tile_width).

        See ``blend_weights``; sides on the scene edge keep weight 1.
        """
        return blend_weights(
            (self.tile_height, self.tile_width),
            self.overlap,
            top=row > 0,
            bottom=row < self.rows - 1,
            left=col > 0,
            right=col < self.cols - 1,
        )


def reflect_index(index: np.ndarray, length: int) -> np.ndarray:
    """Map pixel indices, possibly outside ``[0, length)``, to the scene pixels reflect padding shows there.

    The same mapping as ``numpy.pad(..., mode="reflect")`` (the edge pixel is not repeated), also for
    padding wider than the scene, where the reflection bounces back and forth.

    Args:
        index: integer array of pixel indices along one axis.
        length: number of scene pixels along that axis.

    Returns:
        Integer array of the same shape with values in ``[0, length)``.

    """
    index = np.asarray(index, dtype=np.int64)
    if length == 1:
        return np.zeros_like(index)
    period = 2 * (length - 1)
    folded = np.mod(index, period)
    return np.where(folded < length, folded, period - folded)


def ramp(tile_size: int, overlap: int, *, rise: bool, fall: bool) -> np.ndarray:
    """One-dimensional blending weights across a tile: float64 (tile_size,).

    Over the first and last ``overlap`` pixels the weight follows a raised cosine,
    ``sin^2(pi/2 * (k + 0.5) / overlap)`` for pixel ``k`` of the ramp; the facing ramp of the neighbour is
    ``cos^2`` of the same angle, so the two sum to one. Elsewhere the weight is 1.

    Args:
        tile_size: tile side in pixels.
        overlap: pixels shared with the neighbour on each side.
        rise: ramp up at the start (there is a neighbour before the tile).
        fall: ramp down at the end (there is a neighbour after the tile).

    """
    weights = np.ones(tile_size, dtype=np.float64)
    if overlap == 0:
        return weights
    up = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
    if rise:
        weights[:overlap] = up
    if fall:
        weights[tile_size - overlap :] = up[::-1]
    return weights


def blend_weights(
    tile_size: int | tuple[int, int], overlap: int, *, top: bool, bottom: bool, left: bool, right: bool
) -> np.ndarray:
    """Two-dimensional blending weights of one tile: the outer product of two ramps.

    Args:
        tile_size: tile side in pixels, or (rows, columns) of a rectangular tile.
        overlap: pixels shared by neighbouring tiles.
        top: whether the tile has a neighbour above; sides without one (scene edges) keep weight 1.
        bottom: whether the tile has a neighbour below.
        left: whether the tile has a neighbour on the left.
        right: whether the tile has a neighbour on the right.

    Returns:
        float32 (rows, columns).

    """
    rows, columns = (tile_size, tile_size) if isinstance(tile_size, int) else tile_size
    vertical = ramp(rows, overlap, rise=top, fall=bottom)
    horizontal = ramp(columns, overlap, rise=left, fall=right)
    return np.outer(vertical, horizontal).astype(np.float32)
