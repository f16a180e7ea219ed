"""Tile grid, reflect padding and blending weights (glfcr_qgis.core.scene.tiling)."""

from __future__ import annotations

import numpy as np
import pytest

from glfcr_qgis.core.errors import TileSizeError
from glfcr_qgis.core.scene.tiling import (
    TileGrid,
    blend_weights,
    ramp,
    reflect_index,
    tiles_along,
    validate_tiling,
)


@pytest.mark.parametrize("tile_size", [0, 8, 100, 250, -16, 16.5])
def test_tile_size_must_be_a_positive_multiple_of_16(tile_size: float) -> None:
    with pytest.raises(TileSizeError, match="multiple of 16"):
        validate_tiling(tile_size, 0)  # type: ignore[arg-type]


def test_tile_size_error_suggests_the_nearest_sizes() -> None:
    with pytest.raises(TileSizeError, match="use 96 or 112"):
        validate_tiling(100, 0)


@pytest.mark.parametrize("overlap", [-1, 64, 100, 3.5])
def test_overlap_must_stay_below_half_a_tile(overlap: float) -> None:
    with pytest.raises(TileSizeError, match="less than half the tile"):
        validate_tiling(128, overlap)  # type: ignore[arg-type]


@pytest.mark.parametrize(("tile_size", "overlap"), [(16, 0), (16, 7), (128, 63), (256, 32)])
def test_usable_tilings_pass(tile_size: int, overlap: int) -> None:
    validate_tiling(tile_size, overlap)


def test_tiles_along_covers_the_scene_with_the_fewest_tiles() -> None:
    assert tiles_along(100, 32, 0) == 4
    assert tiles_along(96, 32, 0) == 3
    assert tiles_along(100, 48, 15) == 3  # origins 0, 33, 66; the last reaches 114
    assert tiles_along(10, 32, 8) == 1


def test_grid_geometry() -> None:
    grid = TileGrid.for_scene(75, 100, 48, 15)
    assert (grid.rows, grid.cols, grid.row_stride, grid.col_stride) == (2, 3, 33, 33)
    assert grid.padded_height == 81 and grid.padded_width == 114
    assert grid.padded_height >= grid.height and grid.padded_width >= grid.width
    assert grid.overlap_cost == pytest.approx(6 * 48 * 48 / (75 * 100))


def test_a_scene_smaller_than_a_tile_runs_as_one_tile_of_its_own_size() -> None:
    grid = TileGrid.for_scene(75, 100, 256, 32)
    assert (grid.tile_height, grid.tile_width, grid.overlap, grid.tile_count) == (80, 112, 0, 1)
    assert grid.tile_label == "80x112"


def test_shrinking_still_rejects_a_bad_tile_size() -> None:
    with pytest.raises(TileSizeError):
        TileGrid.for_scene(20, 20, 250, 0)


@pytest.mark.parametrize(
    ("height", "width", "tile_size", "overlap"),
    [
        (75, 100, 32, 0),
        (75, 100, 32, 8),
        (75, 100, 48, 15),
        (200, 130, 64, 31),
        (16, 16, 16, 0),
        (33, 300, 32, 10),
        (1, 600, 384, 32),
        (600, 20, 128, 16),
    ],
)
def test_blending_weights_form_a_partition_of_unity(
    height: int, width: int, tile_size: int, overlap: int
) -> None:
    grid = TileGrid.for_scene(height, width, tile_size, overlap)
    total = np.zeros((grid.padded_height, grid.padded_width), dtype=np.float64)
    for row in range(grid.rows):
        for col in range(grid.cols):
            top, left = grid.row_origin(row), grid.col_origin(col)
            total[top : top + grid.tile_height, left : left + grid.tile_width] += grid.weights(row, col)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_ramps_are_smooth_symmetric_and_positive() -> None:
    weights = ramp(64, 16, rise=True, fall=True)
    assert np.all(weights > 0) and np.all(weights <= 1)
    np.testing.assert_allclose(weights, weights[::-1])
    assert np.all(np.diff(weights[:16]) > 0)
    assert np.max(np.abs(np.diff(weights))) < 0.11  # no jumps


def test_tiles_on_the_scene_edge_keep_full_weight_there() -> None:
    weights = blend_weights(32, 8, top=False, bottom=True, left=False, right=True)
    assert weights[0, 0] == 1.0
    assert weights[-1, -1] < 0.01
    assert weights.dtype == np.float32 and weights.shape == (32, 32)


@pytest.mark.parametrize("length", [1, 2, 3, 7])
def test_reflect_index_matches_numpy_reflect_padding(length: int) -> None:
    pad = 3 * length + 2
    values = np.arange(length) * 10
    padded = np.pad(values, (0, pad), mode="reflect") if length > 1 else np.full(length + pad, values[0])
    np.testing.assert_array_equal(values[reflect_index(np.arange(length + pad), length)], padded)


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap", "expected"),
    [(1024, 1024, 256, 32, 240), (10980, 10980, 256, 32, 256), (1024, 1024, 512, 32, 368), (256, 256, 256, 0, 256)],
)
def test_tiles_shrink_to_just_cover_the_scene(height: int, width: int, tile: int, overlap: int, expected: int) -> None:
    grid = TileGrid.for_scene(height, width, tile, overlap)
    assert grid.tile_height == grid.tile_width == expected and grid.tile_label == str(expected)
    requested = TileGrid(height, width, tile, tile, overlap)
    # as many tiles as the requested size needs, never more pixels for the network
    assert (grid.rows, grid.cols) == (requested.rows, requested.cols)
    assert grid.overlap_cost <= requested.overlap_cost


@pytest.mark.parametrize(("height", "width"), [(1000, 700), (257, 1999), (480, 480), (97, 3001)])
def test_balanced_tiles_still_cover_the_scene(height: int, width: int) -> None:
    grid = TileGrid.for_scene(height, width, 256, 32)
    for side in (grid.tile_height, grid.tile_width):
        assert side % 16 == 0 and side <= 256
    assert grid.padded_height >= height and grid.padded_width >= width


@pytest.mark.parametrize(
    ("height", "width", "tile", "shape"),
    [
        (1, 600, 384, (16, 320)),
        (600, 1, 384, (320, 16)),
        (20, 5000, 256, (32, 256)),
        (97, 3001, 256, (112, 256)),
    ],
)
def test_tiles_shrink_along_a_side_thinner_than_a_tile(
    height: int, width: int, tile: int, shape: tuple[int, int]
) -> None:
    grid = TileGrid.for_scene(height, width, tile, 32)
    assert (grid.tile_height, grid.tile_width) == shape
    assert grid.padded_height >= height and grid.padded_width >= width
    square = TileGrid(height, width, max(shape), max(shape), 32)
    # the thin side no longer pays for a square tile: a 1 x 600 strip cost 341x its pixels, now 17x
    assert grid.overlap_cost <= square.overlap_cost * min(shape) / max(shape) + 1e-9


def test_square_scenes_keep_square_tiles() -> None:
    for side, tile in ((75, 256), (1000, 384), (4000, 384), (16, 16)):
        grid = TileGrid.for_scene(side, side, tile, 0 if tile == 16 else 32)
        assert grid.tile_height == grid.tile_width


@pytest.mark.parametrize(("tile_size", "overlap"), [("128", "16"), (128.0, 16.0), (" 256 ", 0)])
def test_whole_numbers_given_as_text_or_floats_are_accepted(tile_size: object, overlap: object) -> None:
    assert validate_tiling(tile_size, overlap) == (int(float(tile_size)), int(float(overlap)))  # type: ignore[arg-type]


def test_a_tile_size_that_is_no_number_says_so() -> None:
    with pytest.raises(TileSizeError, match="'big' is not a whole number of pixels; use a multiple of 16"):
        validate_tiling("big", 0)  # type: ignore[arg-type]
