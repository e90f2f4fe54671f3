# SPDX-License-Identifier: GPL-2.0-or-later
"""Small GDAL/OGR helpers shared by the core: opening with clear errors, grids, windows and units.

The helpers work whether or not the caller enabled GDAL exceptions (``gdal.UseExceptions``): the
plugin must not change that global state inside QGIS, but tests and other plugins may set it.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from osgeo import gdal, ogr, osr

from .errors import DetectionError

# Probability rasters: float32 0..1, nodata -1, tiled and compressed; 256-pixel blocks that the
# engine writes in whole block rows so no compressed block is ever rewritten.
PROBABILITY_NODATA = -1.0
BLOCK = 256
# The temporary detection mask: the same layout, without GDAL's compression threads.
MASK_OPTIONS = [
    "TILED=YES",
    f"BLOCKXSIZE={BLOCK}",
    f"BLOCKYSIZE={BLOCK}",
    "COMPRESS=DEFLATE",
    "ZLEVEL=1",
    "BIGTIFF=IF_SAFER",
]
GTIFF_OPTIONS = [*MASK_OPTIONS, "NUM_THREADS=ALL_CPUS"]


# GDAL's block cache defaults to 5% of RAM (6 GB on a 128 GB machine) and keeps every block read
# or written: during a detection it is capped so that memory stays bounded whatever the raster size.
CACHE_LIMIT = 128 * 1024 * 1024
_cache_lock = threading.Lock()
_cache_users = 0
_cache_saved: int | None = None


@contextlib.contextmanager
def bounded_gdal_cache(limit: int = CACHE_LIMIT) -> Iterator[None]:
    """Lower GDAL's (process-wide) cache maximum to ``limit`` bytes while the block runs; nested and
    concurrent uses are counted, and the original value is restored when the last one ends."""
    global _cache_users, _cache_saved
    with _cache_lock:
        if _cache_users == 0:
            _cache_saved = int(gdal.GetCacheMax())
            if _cache_saved > limit:
                gdal.SetCacheMax(int(limit))
        _cache_users += 1
    try:
        yield
    finally:
        with _cache_lock:
            _cache_users -= 1
            if _cache_users == 0 and _cache_saved is not None:
                gdal.SetCacheMax(_cache_saved)
                _cache_saved = None


@contextlib.contextmanager
def quiet_gdal() -> Iterator[None]:
    """Silence GDAL's own error printing in this thread (we raise our own messages instead)."""
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.PopErrorHandler()


def last_error(default: str = "unknown GDAL error") -> str:
    return gdal.GetLastErrorMsg() or default


class GdalErrors:
    """GDAL failures reported in one thread. GDAL reports many write errors (a full disk among them)
    only to its error handler: ``WriteArray``, ``FlushCache`` and closing a dataset still succeed."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, err_class: int, _err_no: int, message: str) -> None:
        if err_class >= gdal.CE_Failure:
            self.messages.append(str(message))

    def summary(self, default: str = "unknown GDAL error") -> str:
        """The message naming the cause: one about disk space if any, else the first."""
        for message in self.messages:
            if any(word in message.lower() for word in ("space", "full", "quota")):
                return message
        return self.messages[0] if self.messages else default


@contextlib.contextmanager
def recorded_gdal_errors() -> Iterator[GdalErrors]:
    """Collect (and silence) GDAL's failures in this thread while the block runs."""
    errors = GdalErrors()
    gdal.PushErrorHandler(errors)
    try:
        yield errors
    finally:
        gdal.PopErrorHandler()


def verify_raster(path: str, what: str) -> None:
    """Reopen a written raster and decode its last block: a truncated file fails here, not later."""
    with recorded_gdal_errors() as errors:
        try:
            ds = gdal.Open(str(path))
            ok = ds is not None
            if ok:
                band = ds.GetRasterBand(1)
                bw, bh = band.GetBlockSize()
                x = (ds.RasterXSize - 1) // bw * bw
                y = (ds.RasterYSize - 1) // bh * bh
                ok = band.ReadRaster(x, y, ds.RasterXSize - x, ds.RasterYSize - y) is not None
            ds = None
        except RuntimeError as exc:
            ok = False
            errors.messages.append(str(exc))
    if not ok or errors.messages:
        raise DetectionError(
            f"The {what} written to '{path}' cannot be read back ({errors.summary('incomplete file')}). "
            "Check the free disk space."
        )


def open_raster(path: str, update: bool = False) -> gdal.Dataset:
    """Open ``path`` as a raster or raise DetectionError saying why and what to do."""
    path = str(path)
    if not path.startswith("/vsi") and not os.path.exists(path):
        raise DetectionError(
            f"The raster '{path}' does not exist. Choose an existing orthophoto (e.g. GeoTIFF)."
        )
    gdal.ErrorReset()
    try:
        with quiet_gdal():
            ds = gdal.OpenEx(path, (gdal.OF_UPDATE if update else 0) | gdal.OF_RASTER)
    except RuntimeError as exc:
        ds, msg = None, str(exc)
    else:
        msg = last_error("not a raster format GDAL can read")
    if ds is None or ds.RasterCount == 0:
        raise DetectionError(
            f"'{path}' cannot be opened as a raster ({msg}). Choose an orthophoto in a format GDAL reads "
            "(GeoTIFF, JPEG2000, VRT, ...)."
        )
    return ds


def open_vector(path: str) -> Any:
    path = str(path)
    try:
        with quiet_gdal():
            ds = gdal.OpenEx(path, gdal.OF_VECTOR)
    except RuntimeError:
        ds = None
    if ds is None or ds.GetLayerCount() == 0:
        raise DetectionError(
            f"'{path}' cannot be opened as a polygon layer. Choose a GeoPackage, Shapefile or GeoJSON file."
        )
    return ds


def dataset_srs(ds: gdal.Dataset) -> osr.SpatialReference | None:
    wkt = ds.GetProjection()
    if not wkt:
        return None
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def has_georeference(ds: gdal.Dataset) -> bool:
    return bool(ds.GetProjection())


@dataclass
class Window:
    """A pixel window of a raster: offsets and sizes."""

    xoff: int
    yoff: int
    xsize: int
    ysize: int


def window_geotransform(gt: tuple[float, ...], window: Window) -> tuple[float, ...]:
    x = gt[0] + window.xoff * gt[1] + window.yoff * gt[2]
    y = gt[3] + window.xoff * gt[4] + window.yoff * gt[5]
    return (x, gt[1], gt[2], y, gt[4], gt[5])


def extent_window(ds: gdal.Dataset, extent: tuple[float, float, float, float]) -> Window:
    """Pixels of ``ds`` whose area intersects ``extent`` (xmin, ymin, xmax, ymax in the raster CRS)."""
    xmin, ymin, xmax, ymax = (float(v) for v in extent)
    if not (xmax > xmin and ymax > ymin):
        raise DetectionError(f"The extent {extent} is empty. Give xmin < xmax and ymin < ymax.")
    inv = gdal.InvGeoTransform(ds.GetGeoTransform())
    cols, rows = [], []
    for x, y in ((xmin, ymin), (xmin, ymax), (xmax, ymin), (xmax, ymax)):
        cols.append(inv[0] + x * inv[1] + y * inv[2])
        rows.append(inv[3] + x * inv[4] + y * inv[5])
    eps = 1e-6  # an extent snapped to pixel edges must not grab the neighbouring pixel
    c0 = max(0, math.floor(min(cols) + eps))
    c1 = min(ds.RasterXSize, math.ceil(max(cols) - eps))
    r0 = max(0, math.floor(min(rows) + eps))
    r1 = min(ds.RasterYSize, math.ceil(max(rows) - eps))
    if c1 <= c0 or r1 <= r0:
        raise DetectionError(
            f"The extent {extent} does not overlap the raster. Choose an extent inside the raster "
            "(in the raster's coordinate reference system)."
        )
    return Window(c0, r0, c1 - c0, r1 - r0)


def linear_unit_m(srs: osr.SpatialReference | None) -> float:
    if srs is None or srs.IsGeographic():
        return 1.0
    return float(srs.GetLinearUnits() or 1.0)


def pixel_size_m(ds: gdal.Dataset) -> float | None:
    """Mean pixel size in metres (approximate for geographic CRSs), None without a CRS."""
    srs = dataset_srs(ds)
    if srs is None:
        return None
    gt = ds.GetGeoTransform()
    size = (math.hypot(gt[1], gt[4]) + math.hypot(gt[2], gt[5])) / 2.0
    if srs.IsGeographic():
        lat = gt[3] + gt[5] * ds.RasterYSize / 2.0
        return size * 111_320.0 * max(math.cos(math.radians(lat)), 1e-6)
    return size * linear_unit_m(srs)


def _create_gtiff(
    path: str, like: gdal.Dataset, window: Window, data_type: int, options: list[str], failure: str
) -> gdal.Dataset:
    """A one-band GeoTIFF on ``window`` of ``like``'s grid; ``failure`` ends the error message."""
    try:
        with quiet_gdal():
            ds = gdal.GetDriverByName("GTiff").Create(
                str(path), window.xsize, window.ysize, 1, data_type, options=options
            )
    except RuntimeError as exc:
        ds, msg = None, str(exc)
    else:
        msg = last_error()
    if ds is None:
        raise DetectionError(f"The {failure.format(path=path, msg=msg)}")
    gt = like.GetGeoTransform(can_return_null=True)
    if gt is not None:
        ds.SetGeoTransform(window_geotransform(gt, window))
    if like.GetProjection():
        ds.SetProjection(like.GetProjection())
    return ds


def create_probability_raster(path: str, like: gdal.Dataset, window: Window) -> gdal.Dataset:
    """The float32 probability GeoTIFF on ``window`` of ``like``'s grid (nodata -1)."""
    ds = _create_gtiff(
        path,
        like,
        window,
        gdal.GDT_Float32,
        GTIFF_OPTIONS,
        "probability raster '{path}' cannot be created ({msg}). Choose a writable folder.",
    )
    band = ds.GetRasterBand(1)
    band.SetNoDataValue(PROBABILITY_NODATA)
    band.SetDescription("landslide probability")
    return ds


def create_mask_raster(path: str, like: gdal.Dataset) -> gdal.Dataset:
    """A Byte GeoTIFF on ``like``'s grid for the thresholded detection mask (1 = landslide)."""
    return _create_gtiff(
        path,
        like,
        Window(0, 0, like.RasterXSize, like.RasterYSize),
        gdal.GDT_Byte,
        MASK_OPTIONS,
        "temporary mask '{path}' cannot be created ({msg}). Check the disk space.",
    )


def layer_in_srs(path: str, srs: osr.SpatialReference | None) -> tuple[Any, Any]:
    """(datasource, layer) of the polygons in ``path`` reprojected to ``srs`` (in memory when needed)."""
    ds = open_vector(path)
    layer = ds.GetLayer(0)
    layer_srs = layer.GetSpatialRef()
    if srs is None or layer_srs is None or layer_srs.IsSame(srs):
        return ds, layer
    try:
        with quiet_gdal():
            mem = gdal.VectorTranslate("", ds, format="Memory", dstSRS=srs.ExportToWkt(), reproject=True)
    except RuntimeError:  # gdal.UseExceptions() set by someone else
        mem = None
    if mem is None:
        raise DetectionError(
            f"The polygons in '{path}' cannot be reprojected to the raster CRS ({last_error()}). Check "
            "that the layer has a valid coordinate reference system."
        )
    return mem, mem.GetLayer(0)


def ogr_memory_layer(
    name: str, srs: osr.SpatialReference | None, geom_type: int = ogr.wkbPolygon
) -> tuple[Any, Any]:
    ds = ogr.GetDriverByName("Memory").CreateDataSource(name)
    return ds, ds.CreateLayer(name, srs, geom_type)
