# SPDX-License-Identifier: GPL-2.0-or-later
"""Generated benchmark rasters: 3-band Byte, tiled GeoTIFF with texture, written strip by strip.

Texture = smooth blobs at two scales (bilinear up-sampling of coarse random grids, continuous
across strips) + per-pixel noise, so the file neither compresses to nothing nor looks constant to
the model. Generation streams 512-row strips: memory stays ~100 MB even for 16384 x 16384 (805 MB).
Files are made once under bench/tmp/ (written to a temporary name, renamed when complete).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

STRIP = 512  # rows per write = one row of 512 x 512 blocks
EPSG = 32647
PIXEL = 0.5


def _upsample_rows(grid: np.ndarray, y0: int, rows: int, cols: int, cell: int) -> np.ndarray:
    """Bilinear values of ``grid`` (one node per ``cell`` pixels) for raster rows y0..y0+rows."""
    fy = (np.arange(y0, y0 + rows, dtype=np.float32) + 0.5) / cell
    iy = fy.astype(np.int64)
    wy = (fy - iy)[:, None]
    band_rows = grid[iy] * (1 - wy) + grid[iy + 1] * wy  # rows x grid cols
    fx = (np.arange(cols, dtype=np.float32) + 0.5) / cell
    ix = fx.astype(np.int64)
    wx = fx - ix
    return band_rows[:, ix] * (1 - wx) + band_rows[:, ix + 1] * wx


def texture_strip(
    grids: list[tuple[np.ndarray, int, float]], y0: int, rows: int, cols: int, rng: np.random.Generator
) -> np.ndarray:
    """One band's Byte values for rows y0..y0+rows: sum of scaled blob fields + noise."""
    acc = np.full((rows, cols), 60.0, dtype=np.float32)
    for grid, cell, amplitude in grids:
        acc += amplitude * _upsample_rows(grid, y0, rows, cols, cell)
    acc += rng.integers(0, 16, size=(rows, cols), dtype=np.uint8)
    return np.clip(acc, 0, 255).astype(np.uint8)


def _grids(size: int, rng: np.random.Generator) -> list[list[tuple[np.ndarray, int, float]]]:
    """Per band: coarse random grids (big blobs every ~256 px, small ones every ~32 px)."""
    out = []
    for _band in range(3):
        grids = []
        for cell, amplitude in ((256, 90.0), (32, 60.0)):
            n = size // cell + 3
            grids.append((rng.random((n, n), dtype=np.float32), cell, amplitude))
        out.append(grids)
    return out


def make_raster(path: str | Path, size: int, seed: int = 0) -> Path:
    """Write a ``size x size`` 3-band Byte GeoTIFF (512 x 512 tiles, uncompressed) unless present."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    rng = np.random.default_rng(seed)
    grids = _grids(size, rng)
    options = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "INTERLEAVE=PIXEL", "BIGTIFF=IF_SAFER"]
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp), size, size, 3, gdal.GDT_Byte, options=options)
    ds.SetGeoTransform((500000.0, PIXEL, 0.0, 3400000.0, 0.0, -PIXEL))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    ds.SetProjection(srs.ExportToWkt())
    for y0 in range(0, size, STRIP):
        rows = min(STRIP, size - y0)
        strip = np.stack([texture_strip(g, y0, rows, size, rng) for g in grids])
        ds.WriteRaster(0, y0, size, rows, strip.tobytes(), buf_type=gdal.GDT_Byte, band_list=[1, 2, 3])
    ds.FlushCache()
    ds = None
    tmp.replace(path)
    return path


def raster_path(tmp_dir: Path, size: int) -> Path:
    return tmp_dir / f"raster_{size}.tif"
