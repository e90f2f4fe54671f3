# SPDX-License-Identifier: GPL-2.0-or-later
"""Channels derived from an elevation model (DSM/DEM): the one definition training and detection share.

numpy only: :mod:`model.readers` computes them on a whole training scene, the engine's reader on
each strip (:mod:`core.elevation`), so the two can never drift apart. Both hand in the elevation
with a **halo** of :func:`halo` pixels around the wanted area, edges replicated beyond the raster
(:func:`pad_edges`), and get the same value at the same pixel, whatever the cut.

Channels (``ModelInfo.extra_channels``), each normalised to [-0.5, 0.5] like the image bands, with
``NODATA_FILL`` where the elevation is missing (NaN):

* ``slope``: the terrain slope in degrees (Horn's method, as ``gdaldem slope``), 0..90 -> -0.5..0.5;
* ``relative_height``: the height above the mean of the surrounding ``RELATIVE_HEIGHT_RADIUS``
  pixels in every direction (a scar lies below its rim, a deposit above its runout), metres over
  ``RELATIVE_HEIGHT_RANGE_M`` clipped to -0.5..0.5.
"""

from __future__ import annotations

import numpy as np

NODATA_FILL = -0.5  # as ModelInfo.nodata_fill: the normalised value of pixels without data
SLOPE_RANGE_DEG = 90.0
RELATIVE_HEIGHT_RADIUS = 32  # pixels (16 m at 0.5 m)
RELATIVE_HEIGHT_RANGE_M = 20.0  # +-10 m around the local mean span the channel
CHANNELS = {"slope": 1, "relative_height": RELATIVE_HEIGHT_RADIUS}  # name -> halo it needs


def check_channels(names: list[str]) -> None:
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        raise ValueError(
            f"unknown elevation channel(s) {unknown}: known are {', '.join(CHANNELS)} (core.terrain)"
        )


def halo(names: list[str]) -> int:
    """Pixels of elevation needed around an area to compute ``names`` there."""
    check_channels(names)
    return max((CHANNELS[n] for n in names), default=0)


def pad_edges(dem: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """``dem`` extended by replicating its edge pixels (the halo beyond the raster's edges)."""
    if not (top or bottom or left or right):
        return dem
    return np.pad(dem, ((top, bottom), (left, right)), mode="edge")


def slope_degrees(dem: np.ndarray, dx: float, dy: float, margin: int = 1) -> np.ndarray:
    """Slope in degrees of ``dem`` without its ``margin`` (>= 1) pixels on each side; NaN where any
    of a pixel's 8 neighbours is NaN. ``dx``, ``dy``: pixel size in the elevation's unit (metres)."""
    m = margin
    h, w = dem.shape[0] - 2 * m, dem.shape[1] - 2 * m
    z = dem.astype(np.float32, copy=False)

    def shifted(r: int, c: int) -> np.ndarray:
        return z[m + r : m + r + h, m + c : m + c + w]

    east = shifted(-1, 1) + 2 * shifted(0, 1) + shifted(1, 1)
    west = shifted(-1, -1) + 2 * shifted(0, -1) + shifted(1, -1)
    south = shifted(1, -1) + 2 * shifted(1, 0) + shifted(1, 1)
    north = shifted(-1, -1) + 2 * shifted(-1, 0) + shifted(-1, 1)
    gx, gy = east - west, south - north
    gradient = np.hypot(gx / np.float32(8.0 * abs(dx)), gy / np.float32(8.0 * abs(dy)))
    return np.degrees(np.arctan(gradient)).astype(np.float32, copy=False)


def relative_height(dem: np.ndarray, radius: int = RELATIVE_HEIGHT_RADIUS) -> np.ndarray:
    """``dem`` minus the mean of the valid pixels within ``radius`` (a square window), for ``dem``
    without its ``radius`` pixels on each side; NaN where the pixel itself is NaN."""
    r = radius
    h, w = dem.shape[0] - 2 * r, dem.shape[1] - 2 * r
    valid = np.isfinite(dem)
    values = np.where(valid, dem, 0.0).astype(np.float64)
    sums = _box_sums(values, r)
    counts = _box_sums(valid.astype(np.float64), r)
    centre = dem[r : r + h, r : r + w].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (centre - sums / counts).astype(np.float32)


def _box_sums(a: np.ndarray, r: int) -> np.ndarray:
    """Sums over the (2r+1)^2 window around each pixel of ``a`` without its ``r``-pixel margin."""
    total = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    np.cumsum(np.cumsum(a, axis=0), axis=1, out=total[1:, 1:])
    k = 2 * r + 1
    return total[k:, k:] - total[:-k, k:] - total[k:, :-k] + total[:-k, :-k]


def terrain_channels(dem: np.ndarray, names: list[str], dx: float, dy: float) -> np.ndarray:
    """The channels ``names`` (len(names) x h x w float32, normalised, NODATA_FILL where missing) of
    ``dem`` given with a margin of ``halo(names)`` pixels on each side (h, w: without it)."""
    margin = halo(names)
    h, w = dem.shape[0] - 2 * margin, dem.shape[1] - 2 * margin
    out = np.empty((len(names), h, w), np.float32)
    for k, name in enumerate(names):
        need = CHANNELS[name]
        inner = dem[margin - need : margin + h + need, margin - need : margin + w + need]
        if name == "slope":
            value = slope_degrees(inner, dx, dy) / np.float32(SLOPE_RANGE_DEG) - np.float32(0.5)
        else:
            value = np.clip(relative_height(inner, need) / np.float32(RELATIVE_HEIGHT_RANGE_M), -0.5, 0.5)
        out[k] = np.where(np.isfinite(value), value, np.float32(NODATA_FILL))
    return out
