# SPDX-License-Identifier: GPL-2.0-or-later
"""Tile length fitted to the raster: the engine's grid without the wasted last-tile overlap.

``core.tiling`` shifts the last tile of a row back so it ends on the raster edge; unless the
raster happens to be ``n * (tile - overlap) + overlap`` long, the last two tiles then overlap by
far more than ``overlap`` and that compute is wasted (at 8192 px with 512/64 tiles the engine
pushes 1.41x the raster's pixels through the network). The same number of tiles, shortened to
the least length that still covers the axis, removes that waste. Proposed for core/tiling.py.
"""

from __future__ import annotations

import math

from core.tiling import round_up


def fitted_tile(size: int, tile: int, overlap: int, size_divisor: int = 1) -> int:
    """The least length (multiple of ``size_divisor``, <= ``tile``) covering ``size`` in as few tiles."""
    if size <= tile:
        return tile
    count = math.ceil((size - overlap) / (tile - overlap))  # == len(core.tiling.tile_starts(...))
    return min(tile, round_up(math.ceil((size - overlap) / count) + overlap, size_divisor))
