# SPDX-License-Identifier: GPL-2.0-or-later
"""Tile grids cover every pixel exactly once in weight, stay inside the raster and pad small rasters."""

from __future__ import annotations

import numpy as np
import pytest

from core.tiling import coverage, make_axis, make_grid, pad_reflect, ramp, round_up, tile_starts


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
