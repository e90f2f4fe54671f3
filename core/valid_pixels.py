# SPDX-License-Identifier: GPL-2.0-or-later
"""Which pixels of a raster hold data: the one rule the engine, the tile export, the metrics and the
training readers share (numpy + GDAL).

Per band, in this order:

* a **nodata value** (``GMF_NODATA``): pixels equal to it are invalid (a NaN nodata value matches NaN);
* a **per-dataset mask** (alpha band, internal or ``.msk`` mask; ``GMF_PER_DATASET``): read once for
  all bands, 0 is invalid;
* any other **mask band** (a per-band mask): read for that band, 0 is invalid;
* floating point bands: **NaN** is invalid whatever the above says.

A pixel is valid when it is valid in every band. Comparing values needs no extra read, so the common
cases (8-bit imagery with a nodata value or without any rule) cost nothing beyond the data itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from osgeo import gdal


@dataclass
class ValidPixels:
    """The valid-pixel rule of some bands of a raster (see the module docstring)."""

    nodata: list[float | None]  # per band: its nodata value (None: not one)
    mask_bands: list[int]  # 1-based bands whose GetMaskBand() is read (a per-dataset mask once)
    check_nan: bool

    @classmethod
    def of(cls, ds: gdal.Dataset, bands: list[int]) -> ValidPixels:
        nodata: list[float | None] = []
        masks: list[int] = []
        shared = False
        check_nan = False
        for b in bands:
            band = ds.GetRasterBand(b)
            flags = band.GetMaskFlags()
            value = band.GetNoDataValue() if flags & gdal.GMF_NODATA else None
            nodata.append(value)
            if value is None and flags & gdal.GMF_PER_DATASET:
                if not shared:
                    masks.append(b)
                    shared = True
            elif value is None and flags != gdal.GMF_ALL_VALID:
                masks.append(b)
            if band.DataType in (gdal.GDT_Float32, gdal.GDT_Float64):
                check_nan = True
        return cls(nodata, masks, check_nan)

    @property
    def trivial(self) -> bool:
        """Every pixel is valid: no rule to apply."""
        return not self.mask_bands and not self.check_nan and all(v is None for v in self.nodata)

    def mask(self, ds: gdal.Dataset, data: np.ndarray, xoff: int, yoff: int) -> np.ndarray | None:
        """(h, w) bool, True where ``data`` (bands x h x w, read at ``xoff``, ``yoff`` of ``ds``) is
        valid; None when every pixel is (a trivial rule)."""
        if self.trivial:
            return None
        _, h, w = data.shape
        valid = np.ones((h, w), dtype=bool)
        for c, value in enumerate(self.nodata):
            if value is None:
                continue
            if math.isnan(value):
                valid &= ~np.isnan(data[c])
            else:
                valid &= data[c] != value
        if self.check_nan:
            valid &= ~np.isnan(data).any(axis=0)
        for b in self.mask_bands:
            valid &= ds.GetRasterBand(b).GetMaskBand().ReadAsArray(xoff, yoff, w, h) > 0
        return valid


def valid_mask(
    ds: gdal.Dataset, bands: list[int], data: np.ndarray, xoff: int = 0, yoff: int = 0
) -> np.ndarray:
    """The valid pixels of ``data`` (bands x h x w read at ``xoff``, ``yoff``): always an array."""
    valid = ValidPixels.of(ds, bands).mask(ds, data, xoff, yoff)
    return np.ones(data.shape[1:], dtype=bool) if valid is None else valid
