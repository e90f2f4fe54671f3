# SPDX-License-Identifier: GPL-2.0-or-later
"""Tile grids and blending weights.

Tiles of ``size`` pixels start every ``size - overlap`` pixels; the last tile of a row/column is
shifted back so that it ends on the raster edge (no tile reaches outside the raster). An axis
shorter than one tile gets a single tile of its length, padded by reflection up to a multiple of
``size_divisor`` before inference.

With a model that takes any tile height and width, :func:`fit_tile_shape` picks the tile height and
width that push the fewest pixels through the network: the last tile of a fixed 512 grid overlaps
its neighbour by far more than ``overlap`` (at 8192 px, 512/64 tiles push 1.41x the raster's
pixels), while e.g. 896 px tiles push 1.20x at 4096 px (see bench/README.md). The tile's area is
capped (``FIT_MAX_AREA``), because the network's activations, most of the peak memory, grow with it.

Blending is separable: along each axis a tile's weight ramps linearly over ``overlap`` pixels on
the sides it shares with a neighbour and is 1 on the sides that touch the raster edge (no edge
artefacts). The weights are then divided by their per-pixel sum along that axis, so the 2-D
weights ``wy[:, None] * wx[None, :]`` of all tiles sum to exactly 1 at every pixel: a constant
model gives a constant map, and no seam can appear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def round_up(value: int, multiple: int) -> int:
    return -(-int(value) // int(multiple)) * int(multiple)


@dataclass
class Axis:
    """Tiles along one axis: ``starts[i]``..``starts[i] + length`` in raster pixels."""

    size: int  # raster pixels along the axis
    length: int  # pixels of raster per tile (<= size)
    padded: int  # tile length given to the model (multiple of size_divisor)
    starts: np.ndarray  # int64
    weights: np.ndarray  # float32, (n_tiles, length), normalised: sum over tiles == 1 at every pixel
    weight_ids: list[int]  # tiles with identical weights share an id (lets callers cache 2-D weights)

    @property
    def count(self) -> int:
        return len(self.starts)


def tile_starts(size: int, tile: int, overlap: int) -> np.ndarray:
    """Start offsets of tiles of length ``tile`` covering ``size`` pixels with ``overlap``."""
    if size <= tile:
        return np.zeros(1, dtype=np.int64)
    stride = tile - overlap
    if stride <= 0:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile size ({tile})")
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] + tile < size:
        starts.append(size - tile)  # last tile shifted to end on the edge
    return np.asarray(starts, dtype=np.int64)


FIT_MULTIPLE = 128  # tile lengths off multiples of 128 run up to 13 % slower per pixel on CPU
FIT_MAX = 1024  # longer tiles save little overlap and their activations grow (1024²: ~0.6 GB on CPU)
# Activations grow with the tile's area (~0.55-0.75 kB per pixel on CPU): above 640² a fitted tile
# costs more memory than the pixels it saves are worth; with the int8 model larger tiles saved no
# measurable time at all, so int8 keeps to the model's tile (bench/README.md, issue 12).
FIT_MAX_AREA = 640 * 640
FIT_MAX_AREA_INT8 = 512 * 512


def pushed_length(size: int, length: int, overlap: int, size_divisor: int = 1) -> int:
    """Pixels along one axis given to the model by tiles of ``length`` (the axis's share of the cost)."""
    length = min(length, size)
    overlap = max(0, min(overlap, length - 1))
    return len(tile_starts(size, length, overlap)) * round_up(length, size_divisor)


def fit_tile_length(
    size: int,
    base: int,
    overlap: int,
    size_divisor: int = 1,
    largest: int = FIT_MAX,
    multiple: int = FIT_MULTIPLE,
) -> int:
    """The tile length for an axis of ``size`` pixels that pushes the fewest pixels through the model.

    Candidates are ``base`` (the model's tile) and the multiples of ``multiple`` above it up to
    ``largest``; on a tie the shorter tile wins (less memory). An axis that fits in one candidate
    gets one tile (its own length, padded to ``size_divisor``).
    """
    candidates = candidate_lengths(base, largest, multiple)
    best = min(candidates, key=lambda length: (pushed_length(size, length, overlap, size_divisor), length))
    return min(best, size) if size > 0 else best


def candidate_lengths(base: int, largest: int = FIT_MAX, multiple: int = FIT_MULTIPLE) -> list[int]:
    """Tile lengths a fit chooses from: the model's tile and the multiples of ``multiple`` above it."""
    return [base, *range(round_up(base + 1, multiple), max(largest, base) + 1, multiple)]


def fit_tile_shape(
    height: int,
    width: int,
    base: int,
    overlap: int,
    size_divisor: int = 1,
    max_area: int | None = FIT_MAX_AREA,
) -> tuple[int, int]:
    """(tile height, tile width) that push the fewest pixels through the model, per axis as
    :func:`fit_tile_length` but with the tile's padded area at most ``max_area`` (or ``base``²,
    whichever is larger); on a tie the smaller tile wins."""
    limit = max(max_area, round_up(base, size_divisor) ** 2) if max_area else None

    def lengths(size: int) -> list[int]:  # a tile never longer than the axis: one tile of its length
        return sorted({min(length, size) for length in candidate_lengths(base)})

    def area(shape: tuple[int, int]) -> int:
        return round_up(shape[0], size_divisor) * round_up(shape[1], size_divisor)

    def pushed(shape: tuple[int, int]) -> int:
        return pushed_length(height, shape[0], overlap, size_divisor) * pushed_length(
            width, shape[1], overlap, size_divisor
        )

    # Never empty: the model's own tile (or the raster, if smaller) is always under the limit.
    shapes = [(th, tw) for th in lengths(height) for tw in lengths(width)]
    allowed = [shape for shape in shapes if limit is None or area(shape) <= limit]
    return min(allowed, key=lambda shape: (pushed(shape), area(shape)))


def ramp(length: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """1-D weight of one tile: > 0 everywhere, linear ramps on inner sides, 1 on raster-edge sides."""
    w = np.ones(length, dtype=np.float64)
    if overlap > 0:
        up = np.arange(1, overlap + 1, dtype=np.float64) / (overlap + 1)
        n = min(overlap, length)
        if not first:
            w[:n] = np.minimum(w[:n], up[:n])
        if not last:
            w[length - n :] = np.minimum(w[length - n :], up[:n][::-1])
    return w


def make_axis(size: int, tile: int, overlap: int, size_divisor: int = 1, fixed: int | None = None) -> Axis:
    """The tiles along one axis. ``fixed``: the model only accepts this tile length."""
    if size <= 0:
        raise ValueError("empty axis")
    if fixed is not None:
        tile = fixed
    tile = max(int(tile), 1)
    length = min(tile, size)
    padded = fixed if fixed is not None else round_up(length, size_divisor)
    overlap = max(0, min(int(overlap), length - 1))
    starts = tile_starts(size, length, overlap)
    raw = np.stack([ramp(length, overlap, i == 0, i == len(starts) - 1) for i in range(len(starts))])
    total = np.zeros(size, dtype=np.float64)
    for start, w in zip(starts, raw):
        total[start : start + length] += w
    normalised = np.stack([w / total[s : s + length] for s, w in zip(starts, raw)]).astype(np.float32)
    seen: dict[bytes, int] = {}
    ids = [seen.setdefault(w.tobytes(), len(seen)) for w in normalised]
    return Axis(size, length, padded, starts, normalised, ids)


@dataclass
class TileGrid:
    rows: Axis
    cols: Axis

    @property
    def count(self) -> int:
        return self.rows.count * self.cols.count

    def weight(self, row: int, col: int) -> np.ndarray:
        return self.rows.weights[row][:, None] * self.cols.weights[col][None, :]


def make_grid(
    height: int,
    width: int,
    tile: int | tuple[int, int],
    overlap: int,
    size_divisor: int = 1,
    fixed_hw: tuple[int | None, int | None] = (None, None),
) -> TileGrid:
    """The grid over ``height`` x ``width``; ``tile`` is one length for both axes or (rows, cols)."""
    tile_h, tile_w = (tile, tile) if isinstance(tile, int) else tile
    return TileGrid(
        make_axis(height, tile_h, overlap, size_divisor, fixed_hw[0]),
        make_axis(width, tile_w, overlap, size_divisor, fixed_hw[1]),
    )


def coverage(grid: TileGrid) -> np.ndarray:
    """Sum of the blending weights of all tiles at every pixel (1.0 everywhere for a correct grid).

    Builds a full-size array: for tests and small rasters only.
    """
    total = np.zeros((grid.rows.size, grid.cols.size), dtype=np.float64)
    for i, y in enumerate(grid.rows.starts):
        for j, x in enumerate(grid.cols.starts):
            total[y : y + grid.rows.length, x : x + grid.cols.length] += grid.weight(i, j)
    return total


def pad_reflect(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad the last two axes of ``tile`` up to ``height`` x ``width`` by reflection (edge-safe for 1 px)."""
    h, w = tile.shape[-2:]
    if (h, w) == (height, width):
        return tile
    pad = [(0, 0)] * (tile.ndim - 2) + [(0, height - h), (0, width - w)]
    return np.pad(tile, pad, mode="symmetric")
