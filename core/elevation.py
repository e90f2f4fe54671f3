# SPDX-License-Identifier: GPL-2.0-or-later
"""An elevation raster (DSM/DEM) beside the orthophoto: put on the orthophoto's grid, read around a
window with the halo :mod:`core.terrain` needs.

The elevation may have any resolution and CRS: :func:`align_elevation` warps it on the fly (a GDAL
VRT, bilinear, float32 with NaN where it has no data) onto the raster the detection reads, so every
pixel of the orthophoto has its elevation and nothing is resampled ahead of the run.
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np
from osgeo import gdal

from .errors import DetectionError
from .raster_io import Window, dataset_srs, last_error, linear_unit_m, open_raster, quiet_gdal
from .terrain import halo, pad_edges, slope_degrees, terrain_channels

SAMPLE = 64  # pixels per side of the coarse look that checks the coverage


def align_elevation(dsm_path: str, like: gdal.Dataset, folder: str) -> tuple[str, list[str]]:
    """A VRT of ``dsm_path`` on ``like``'s grid and CRS (NaN where it has no data), and warnings.

    Raises DetectionError when it cannot be read, cannot be placed on the orthophoto (a CRS missing
    on one side with different sizes) or covers none of it.
    """
    dsm = open_raster(dsm_path)
    warnings: list[str] = []
    width, height = like.RasterXSize, like.RasterYSize
    path = os.path.join(folder, "elevation.vrt")
    out = None
    if like.GetProjection() and dsm.GetProjection():
        gt = like.GetGeoTransform()
        nodata = dsm.GetRasterBand(1).GetNoDataValue()
        with quiet_gdal(), contextlib.suppress(RuntimeError):  # gdal.UseExceptions() set by someone else
            out = gdal.Warp(
                path,
                dsm,
                format="VRT",
                outputBounds=(gt[0], gt[3] + height * gt[5], gt[0] + width * gt[1], gt[3]),
                width=width,
                height=height,
                dstSRS=like.GetProjection(),
                resampleAlg="bilinear",
                outputType=gdal.GDT_Float32,
                srcNodata=nodata,
                dstNodata=float("nan"),
            )
    elif (dsm.RasterXSize, dsm.RasterYSize) == (width, height):
        warnings.append("The elevation raster or the orthophoto has no CRS: taken as on the same grid.")
        with quiet_gdal(), contextlib.suppress(RuntimeError):
            out = gdal.Translate(path, dsm, format="VRT", bandList=[1], outputType=gdal.GDT_Float32)
    else:
        raise DetectionError(
            f"The elevation raster '{dsm_path}' or the orthophoto has no coordinate reference system and "
            "their sizes differ, so the elevation cannot be placed on the orthophoto. Assign both a CRS."
        )
    if out is None:
        raise DetectionError(
            f"The elevation raster '{dsm_path}' cannot be put on the orthophoto's grid ({last_error()})."
        )
    out = None
    look = ElevationReader(path, (1.0, 1.0)).sample(SAMPLE)
    covered = float(np.isfinite(look).mean())
    if covered == 0.0:
        raise DetectionError(
            f"The elevation raster '{dsm_path}' does not cover the orthophoto (or holds no data there). "
            "Choose the DSM or DEM of the same area."
        )
    if covered < 0.99:
        warnings.append(
            f"The elevation raster covers about {covered:.0%} of the orthophoto: where it has no data, the "
            "elevation channels are empty and slope_mean_deg counts no pixel."
        )
    return path, warnings


def pixel_size_xy_m(ds: gdal.Dataset) -> tuple[float, float]:
    """Pixel width and height in metres (the elevation's unit); approximate for geographic CRSs."""
    gt = ds.GetGeoTransform()
    dx, dy = math.hypot(gt[1], gt[4]), math.hypot(gt[2], gt[5])
    srs = dataset_srs(ds)
    if srs is not None and srs.IsGeographic():
        lat = gt[3] + gt[5] * ds.RasterYSize / 2.0
        return dx * 111_320.0 * max(math.cos(math.radians(lat)), 1e-6), dy * 110_574.0
    unit = linear_unit_m(srs)
    return dx * unit, dy * unit


class ElevationReader:
    """Reads the aligned elevation around windows; one per thread (GDAL datasets are not shared)."""

    def __init__(self, path: str, pixel_m: tuple[float, float]) -> None:
        try:
            with quiet_gdal():
                self.ds = gdal.Open(path)
        except RuntimeError:
            self.ds = None
        if self.ds is None:
            raise DetectionError(f"The elevation raster cannot be reopened ({last_error()}).")
        self.band = self.ds.GetRasterBand(1)
        self.nodata = self.band.GetNoDataValue()
        self.dx, self.dy = pixel_m

    def _read(self, x: int, y: int, w: int, h: int, **kwargs: int) -> np.ndarray:
        """float32 elevation, NaN where there is none."""
        try:
            dem = self.band.ReadAsArray(x, y, w, h, **kwargs)
        except RuntimeError:  # gdal.UseExceptions() set by someone else
            dem = None
        if dem is None:
            raise DetectionError(f"Reading the elevation raster failed ({last_error()}).")
        dem = dem.astype(np.float32, copy=False)
        if self.nodata is not None and not math.isnan(self.nodata):
            dem[dem == np.float32(self.nodata)] = np.nan
        return dem

    def sample(self, size: int) -> np.ndarray:
        """A coarse look at the whole raster (at most ``size`` x ``size`` pixels)."""
        w, h = self.ds.RasterXSize, self.ds.RasterYSize
        return self._read(0, 0, w, h, buf_xsize=min(size, w), buf_ysize=min(size, h))

    def around(self, x: int, y: int, w: int, h: int, margin: int) -> np.ndarray:
        """Elevation of pixels x..x+w, y..y+h with ``margin`` more on each side, edges replicated."""
        x0, y0 = max(0, x - margin), max(0, y - margin)
        x1 = min(self.ds.RasterXSize, x + w + margin)
        y1 = min(self.ds.RasterYSize, y + h + margin)
        dem = self._read(x0, y0, x1 - x0, y1 - y0)
        return pad_edges(dem, y0 - (y - margin), y + h + margin - y1, x0 - (x - margin), x + w + margin - x1)

    def channels(self, names: list[str], x: int, y: int, w: int, h: int) -> np.ndarray:
        """The model's elevation channels (core.terrain) of the window: len(names) x h x w."""
        return terrain_channels(self.around(x, y, w, h, halo(names)), names, self.dx, self.dy)

    def slope(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Slope in degrees of the window (NaN where the elevation is missing)."""
        return slope_degrees(self.around(x, y, w, h, 1), self.dx, self.dy)

    def close(self) -> None:
        self.band = self.ds = None


class SlopeLayer:
    """The ``slope_deg`` layer of each strip (a :class:`core.strips.LayerSource`): the terrain slope
    in degrees under the strip, from the elevation raster, read in the vectoriser's own thread."""

    def __init__(self, path: str, window: Window, pixel_m: tuple[float, float], name: str) -> None:
        self.path, self.window, self.pixel_m, self.name = path, window, pixel_m, name
        self.reader: ElevationReader | None = None

    def layers(self, y: int, rows: int) -> dict[str, np.ndarray]:
        if self.reader is None:  # opened by the thread that reads it
            self.reader = ElevationReader(self.path, self.pixel_m)
        win = self.window
        return {self.name: self.reader.slope(win.xoff, win.yoff + y, win.xsize, rows)}

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        self.reader = None
