# SPDX-License-Identifier: GPL-2.0-or-later
"""Tile grids cover every pixel exactly once in weight, stay inside the raster and pad small rasters."""

from __future__ import annotations

import numpy as np
import pytest

from core.tiling import (
    FIT_MAX,
    FIT_MAX_AREA,
    coverage,
    fit_tile_length,
    fit_tile_shape,
    make_axis,
    make_grid,
    pad_reflect,
    pushed_length,
    ramp,
    round_up,
    tile_starts,
)


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap", "divisor"),
    [
        (100, 120, 64, 16, 16),
        (513, 1031, 256, 32, 16),
        (37, 53, 64, 16, 16),
        (1, 1, 64, 16, 16),
        (64, 64, 64, 0, 16),
        (65, 200, 64, 63, 1),
        (300, 77, 50, 10, 1),
    ],
)
def test_weights_sum_to_one_everywhere(height, width, tile, overlap, divisor):
    grid = make_grid(height, width, tile, overlap, divisor)
    np.testing.assert_allclose(coverage(grid), 1.0, atol=1e-6)
    for axis, size in ((grid.rows, height), (grid.cols, width)):
        assert axis.starts[0] == 0
        assert axis.starts[-1] + axis.length == size  # last tile ends on the edge, never beyond
        assert (np.diff(axis.starts) > 0).all()
        assert (axis.weights > 0).all()
        assert axis.padded % divisor == 0 and axis.padded >= axis.length


def test_small_axis_is_one_padded_tile():
    axis = make_axis(37, 64, 16, 16)
    assert (axis.count, axis.length, axis.padded) == (1, 37, 48)
    np.testing.assert_array_equal(axis.weights, 1.0)


def test_fixed_model_size_pads_up_to_it():
    axis = make_axis(37, 512, 16, 16, fixed=64)
    assert (axis.length, axis.padded) == (37, 64)
    axis = make_axis(200, 512, 16, 16, fixed=64)
    assert axis.length == 64 and axis.starts[-1] == 136


def test_tile_starts_shift_the_last_tile_inside():
    assert tile_starts(100, 64, 16).tolist() == [0, 36]
    assert tile_starts(160, 64, 16).tolist() == [0, 48, 96]
    assert tile_starts(64, 64, 16).tolist() == [0]
    with pytest.raises(ValueError):
        tile_starts(100, 10, 10)


def test_ramp_is_one_on_raster_edges_and_cross_fades_inside():
    w = ramp(64, 16, first=True, last=False)
    assert w[0] == 1.0 and w[-1] < 0.1
    w2 = ramp(64, 16, first=False, last=True)
    # a regular overlap of two neighbours sums to exactly 1 before normalisation
    np.testing.assert_allclose(w[-16:] + w2[:16], 1.0)


def test_pad_reflect():
    tile = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    padded = pad_reflect(tile, 4, 5)
    assert padded.shape == (1, 4, 5)
    np.testing.assert_array_equal(padded[0, :2, :3], tile[0])
    np.testing.assert_array_equal(padded[0, 2], padded[0, 1])  # symmetric reflection
    assert pad_reflect(np.ones((1, 1, 1)), 16, 16).shape == (1, 16, 16)
    assert round_up(37, 16) == 48 and round_up(48, 16) == 48


@pytest.mark.parametrize("size", [100, 511, 512, 900, 1024, 1025, 2048, 2323, 4096, 8192, 16384, 20001])
@pytest.mark.parametrize(("base", "overlap"), [(512, 64), (512, 77), (256, 32)])
def test_fitted_tile_never_pushes_more_than_the_model_tile(size, base, overlap):
    length = fit_tile_length(size, base, overlap, 32)
    assert pushed_length(size, length, overlap, 32) <= pushed_length(size, base, overlap, 32)
    assert length <= max(FIT_MAX, base)
    if length < size:  # a grid of several tiles: the model's tile or a multiple of 128
        assert length == base or length % 128 == 0
    else:  # the whole axis in one tile
        assert length == size and size <= max(FIT_MAX, base)


def test_fitted_tile_examples_from_the_benchmarks():
    # 4096 px at Deepness's 512/77: 10 tiles of 512 (5120 px) vs 5 of 896 (4480 px)
    assert fit_tile_length(4096, 512, 77, 32) == 896
    assert pushed_length(4096, 896, 77, 32) == 5 * 896
    assert fit_tile_length(1024, 512, 64, 32) == 1024  # one tile instead of 3 x 512
    assert fit_tile_length(300, 512, 64, 32) == 300  # shorter than a tile: unchanged
    assert fit_tile_length(960, 512, 64, 32) == 960  # one tile: 960 px pushed instead of 2 x 512
    # 2048 px: 3 x 768 = 2304 px pushed; 512 and 640 push 2560, 896 2688, 1024 3072
    assert fit_tile_length(2048, 512, 64, 32) == 768


@pytest.mark.parametrize(
    "shape", [(100, 3000), (2323, 2505), (2817, 3221), (4096, 4096), (8192, 1900), (20001, 20001)]
)
def test_fitted_tile_shape_keeps_its_area_under_the_cap_and_never_pushes_more(shape):
    height, width = shape
    th, tw = fit_tile_shape(height, width, 512, 64, 16)
    assert round_up(th, 16) * round_up(tw, 16) <= FIT_MAX_AREA
    pushed = pushed_length(height, th, 64, 16) * pushed_length(width, tw, 64, 16)
    assert pushed <= pushed_length(height, 512, 64, 16) * pushed_length(width, 512, 64, 16)
    # Without the cap it is the per-axis fit.
    uncapped = fit_tile_shape(height, width, 512, 64, 16, max_area=None)
    assert uncapped == (fit_tile_length(height, 512, 64, 16), fit_tile_length(width, 512, 64, 16))


def test_fitted_tile_shape_examples_from_the_benchmarks():
    # AMU scene B (2817 x 3221): 768 x 896 pushes the fewest pixels (11.0 MPix) but holds 2.6x the
    # activations of a 512² tile; under the cap 640 x 640 pushes 12.3 MPix (512²: 14.7).
    assert fit_tile_shape(2817, 3221, 512, 64, 16, max_area=None) == (768, 896)
    assert fit_tile_shape(2817, 3221, 512, 64, 16) == (640, 640)
    assert fit_tile_shape(2323, 2505, 512, 64, 16) == (640, 512)
    assert fit_tile_shape(300, 700, 512, 64, 16) == (300, 700)  # one tile: the raster itself
    # A cap below the model's own tile does not shrink it.
    assert fit_tile_shape(4096, 4096, 512, 64, 16, max_area=256 * 256) == (512, 512)


def test_grid_with_different_tile_lengths_per_axis_sums_to_one():
    grid = make_grid(300, 700, (128, 256), 16, 16)
    assert (grid.rows.length, grid.cols.length) == (128, 256)
    np.testing.assert_allclose(coverage(grid), 1.0, atol=1e-6)
