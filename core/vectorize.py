# SPDX-License-Identifier: GPL-2.0-or-later
"""Probability raster -> landslide polygons (GeoPackage layer ``landslides``).

* Pixels with probability >= threshold (nodata excluded) form the mask, written window by window
  to a temporary Byte GeoTIFF; ``gdal.Polygonize`` traces it with **4-connectedness** (pixels
  touching only at a corner are separate landslides; every polygon is a valid simple shape), so
  polygon boundaries are exact pixel edges: polygon area == number of pixels x pixel area, and a
  single-pixel landslide survives unless ``min_area_m2`` removes it.
* Attributes: ``id``, ``area_m2``, ``perimeter_m``, ``mean_prob``, ``max_prob``. For geographic
  CRSs areas come from a Lambert azimuthal equal-area projection and perimeters from an azimuthal
  equidistant one, both centred on the polygon's 1-degree cell (distortion < 1e-5 at 0.5 degrees);
  for projected CRSs the CRS's linear unit is converted to metres. Without a CRS both are in
  pixel/map units (the caller warns).
* ``mean_prob``/``max_prob`` are computed by rasterising the polygons' ``id`` onto strips of the
  probability raster (pixel centres inside) and accumulating per-id sums and maxima with numpy.
* Optional ``simplify_tolerance`` (map units) uses GEOS SimplifyPreserveTopology per polygon;
  areas are then those of the simplified shapes.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from osgeo import gdal, ogr, osr

from .atomic import atomic_output, check_writable
from .errors import DetectionCanceled, DetectionError
from .raster_io import (
    BLOCK,
    bounded_gdal_cache,
    create_mask_raster,
    dataset_srs,
    last_error,
    linear_unit_m,
    open_raster,
    quiet_gdal,
)

LAYER_NAME = "landslides"
STRIP_ROWS = 2 * BLOCK  # rows per window when streaming over the probability raster
FIELDS = (
    ("id", ogr.OFTInteger),
    ("area_m2", ogr.OFTReal),
    ("perimeter_m", ogr.OFTReal),
    ("mean_prob", ogr.OFTReal),
    ("max_prob", ogr.OFTReal),
)


@dataclass
class VectorizeResult:
    polygon_count: int
    total_area_m2: float
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _strips(height: int, rows: int = STRIP_ROWS) -> list[tuple[int, int]]:
    return [(y, min(rows, height - y)) for y in range(0, height, rows)]


class _Measurer:
    """Area (m²) and perimeter (m) of polygons in the raster's CRS."""

    def __init__(self, srs: osr.SpatialReference | None) -> None:
        self.srs = srs
        self.geographic = bool(srs is not None and srs.IsGeographic())
        self.unit = linear_unit_m(srs)
        self._cache: dict[tuple[int, int], tuple[Any, Any]] = {}

    def _transforms(self, lon: float, lat: float) -> tuple[Any, Any]:
        key = (math.floor(lon), math.floor(lat))
        if key not in self._cache:
            lon0, lat0 = key[0] + 0.5, key[1] + 0.5
            out = []
            for proj in ("laea", "aeqd"):
                target = osr.SpatialReference()
                target.ImportFromProj4(
                    f"+proj={proj} +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
                )
                target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
                out.append(osr.CoordinateTransformation(self.srs, target))
            self._cache[key] = (out[0], out[1])
        return self._cache[key]

    @staticmethod
    def _perimeter(geom: ogr.Geometry) -> float:
        total = 0.0
        for i in range(geom.GetGeometryCount()):
            part = geom.GetGeometryRef(i)
            if part.GetGeometryType() in (ogr.wkbPolygon, ogr.wkbPolygon25D):
                total += _Measurer._perimeter(part)
            else:
                total += part.Length()
        return total

    def measure(self, geom: ogr.Geometry) -> tuple[float, float]:
        if not self.geographic:
            return geom.GetArea() * self.unit**2, self._perimeter(geom) * self.unit
        env = geom.GetEnvelope()
        laea, aeqd = self._transforms((env[0] + env[1]) / 2.0, (env[2] + env[3]) / 2.0)
        g1 = geom.Clone()
        g1.Transform(laea)
        g2 = geom.Clone()
        g2.Transform(aeqd)
        return g1.GetArea(), self._perimeter(g2)


def _callback(
    is_canceled: Callable[[], bool], progress: Callable[[float], None], lo: float, hi: float
) -> Any:
    def cb(complete: float, _message: Any, _data: Any) -> int:
        progress(lo + (hi - lo) * complete)
        return 0 if is_canceled() else 1

    return cb


def _write_mask(
    prob: gdal.Dataset, path: str, threshold: float, is_canceled: Callable[[], bool]
) -> gdal.Dataset:
    """Byte GeoTIFF: 1 where probability >= threshold (nodata never), 0 elsewhere."""
    width, height = prob.RasterXSize, prob.RasterYSize
    mask = create_mask_raster(path, prob)
    src, dst = prob.GetRasterBand(1), mask.GetRasterBand(1)
    nodata = src.GetNoDataValue()
    threshold = float(threshold)
    for y, h in _strips(height):
        if is_canceled():
            raise DetectionCanceled()
        p = src.ReadAsArray(0, y, width, h)
        if p is None:
            raise DetectionError(f"Reading the probability raster failed ({last_error()}).")
        on = p >= threshold
        if nodata is not None:
            on &= p != nodata
        dst.WriteArray(on.view(np.uint8), 0, y)
    return mask


def _new_layer(
    path: str, srs: osr.SpatialReference | None, name: str, spatial_index: bool = True
) -> tuple[Any, Any]:
    driver = ogr.GetDriverByName("GPKG")
    try:
        with quiet_gdal():
            ds = driver.CreateDataSource(path)
    except RuntimeError as exc:
        raise DetectionError(
            f"The GeoPackage '{path}' cannot be created ({exc}). Choose a writable folder."
        ) from exc
    if ds is None:
        raise DetectionError(
            f"The GeoPackage '{path}' cannot be created ({last_error()}). Choose a writable folder."
        )
    options = [] if spatial_index else ["SPATIAL_INDEX=NO"]
    layer = ds.CreateLayer(name, srs, ogr.wkbPolygon, options=options)
    return ds, layer


def vectorize_to(
    probability_path: str,
    polygons_path: str,
    threshold: float,
    min_area_m2: float = 0.0,
    simplify_tolerance: float = 0.0,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
    mask_path: str | None = None,
) -> VectorizeResult:
    """Write the polygons of ``probability_path`` >= ``threshold`` to ``polygons_path`` (not atomic).

    ``mask_path``: the thresholded Byte mask when the caller already wrote it (the engine does,
    while writing the probabilities), else it is computed here.
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise DetectionError(f"The threshold {threshold} is not a probability. Use a value from 0 to 1.")
    progress = progress or (lambda _p: None)
    is_canceled = is_canceled or (lambda: False)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    prob = open_raster(probability_path)
    srs = dataset_srs(prob)
    if srs is None:
        warnings.append("The raster has no CRS: area_m2 and perimeter_m are in pixel/map units, not metres.")
    work = tempfile.mkdtemp(prefix="landslide-vec-")
    mask = band = raw_ds = raw = out_ds = out = None
    try:
        t0 = time.perf_counter()
        if mask_path:
            mask = open_raster(mask_path)
        else:
            mask = _write_mask(prob, os.path.join(work, "mask.tif"), threshold, is_canceled)
            mask.FlushCache()
        progress(20.0)
        timings["mask"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        raw_ds, raw = _new_layer(os.path.join(work, "raw.gpkg"), srs, "raw", spatial_index=False)
        raw.CreateField(ogr.FieldDefn("dn", ogr.OFTInteger))
        raw.StartTransaction()
        band = mask.GetRasterBand(1)
        try:
            status = gdal.Polygonize(
                band, band, raw, 0, [], callback=_callback(is_canceled, progress, 20.0, 50.0)
            )
        except RuntimeError as exc:
            status, msg = 1, str(exc)
        else:
            msg = last_error()
        if is_canceled():
            raise DetectionCanceled()
        if status != 0:
            raise DetectionError(
                f"Polygonising the detection mask failed ({msg}). Check the free disk space."
            )
        raw.CommitTransaction()
        mask = band = None
        timings["polygonize"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        out_ds, out = _new_layer(polygons_path, srs, LAYER_NAME)
        for name, kind in FIELDS:
            out.CreateField(ogr.FieldDefn(name, kind))
        defn = out.GetLayerDefn()
        measurer = _Measurer(srs)
        count, total = 0, 0.0
        n_raw = max(raw.GetFeatureCount(), 1)
        out.StartTransaction()
        raw.ResetReading()
        for i, feature in enumerate(raw):
            if i % 1000 == 0:
                if is_canceled():
                    raise DetectionCanceled()
                progress(50.0 + 20.0 * i / n_raw)
            geom = feature.GetGeometryRef()
            if geom is None or geom.IsEmpty():
                continue
            if simplify_tolerance > 0:
                geom = geom.SimplifyPreserveTopology(float(simplify_tolerance))
                if geom is None or geom.IsEmpty():
                    continue
            area, perimeter = measurer.measure(geom)
            if area < min_area_m2:
                continue
            count += 1
            total += area
            f = ogr.Feature(defn)
            f.SetField("id", count)
            f.SetField("area_m2", area)
            f.SetField("perimeter_m", perimeter)
            f.SetGeometry(geom)
            if out.CreateFeature(f) != 0:
                raise DetectionError(f"Writing polygons failed ({last_error()}). Check the free disk space.")
        out.CommitTransaction()
        raw = raw_ds = None
        timings["attributes"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if count:
            means, maxima = _polygon_stats(prob, out_ds, out, count, is_canceled, progress)
            out.StartTransaction()
            out.ResetReading()
            for feature in out:
                idx = feature.GetField("id")
                if math.isnan(means[idx]):
                    means[idx], maxima[idx] = _point_value(prob, feature.GetGeometryRef())
                feature.SetField("mean_prob", float(means[idx]))
                feature.SetField("max_prob", float(maxima[idx]))
                out.SetFeature(feature)
            out.CommitTransaction()
        timings["statistics"] = time.perf_counter() - t0
        out = out_ds = None
        progress(100.0)
        return VectorizeResult(count, total, warnings, timings)
    finally:
        # Close every GDAL/OGR handle before deleting their files (also on error or cancel).
        prob = mask = band = raw = raw_ds = out = out_ds = None
        shutil.rmtree(work, ignore_errors=True)


def _polygon_stats(
    prob: gdal.Dataset,
    out_ds: Any,
    layer: Any,
    count: int,
    is_canceled: Callable[[], bool],
    progress: Callable[[float], None],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-id mean and max probability over the pixels whose centres the polygon covers."""
    width, height = prob.RasterXSize, prob.RasterYSize
    gt = prob.GetGeoTransform()
    sums = np.zeros(count + 1, np.float64)
    counts = np.zeros(count + 1, np.int64)
    maxima = np.full(count + 1, -np.inf, np.float64)
    band = prob.GetRasterBand(1)
    north_up = gt[2] == 0 and gt[4] == 0
    strips = _strips(height)
    for k, (y, h) in enumerate(strips):
        if is_canceled():
            raise DetectionCanceled()
        progress(70.0 + 30.0 * k / len(strips))
        sgt = (gt[0] + y * gt[2], gt[1], gt[2], gt[3] + y * gt[5], gt[4], gt[5])
        ys = (sgt[3], sgt[3] + h * sgt[5])
        xs = (sgt[0], sgt[0] + width * sgt[1])
        layer.SetSpatialFilterRect(min(xs), min(ys), max(xs), max(ys))
        # Only the columns spanned by the polygons of this strip are rasterised and read.
        x0, x1 = width, 0
        for feature in layer:
            env = feature.GetGeometryRef().GetEnvelope()
            if not north_up:
                x0, x1 = 0, width
                break
            c0, c1 = sorted(((env[0] - gt[0]) / gt[1], (env[1] - gt[0]) / gt[1]))
            x0, x1 = min(x0, max(0, int(np.floor(c0)))), max(x1, min(width, int(np.ceil(c1))))
        if x1 <= x0:
            layer.SetSpatialFilter(None)
            continue
        mem = gdal.GetDriverByName("MEM").Create("", x1 - x0, h, 1, gdal.GDT_Int32)
        mem.SetGeoTransform((sgt[0] + x0 * gt[1], sgt[1], sgt[2], sgt[3] + x0 * gt[4], sgt[4], sgt[5]))
        if prob.GetProjection():
            mem.SetProjection(prob.GetProjection())
        gdal.RasterizeLayer(mem, [1], layer, options=["ATTRIBUTE=id"])
        layer.SetSpatialFilter(None)
        ids = mem.GetRasterBand(1).ReadAsArray()
        mem = None
        inside = ids > 0
        if not inside.any():
            continue
        p = band.ReadAsArray(x0, y, x1 - x0, h)
        sel_ids, sel_p = ids[inside], p[inside].astype(np.float64)
        sums += np.bincount(sel_ids, weights=sel_p, minlength=count + 1)
        counts += np.bincount(sel_ids, minlength=count + 1)
        _group_max(maxima, sel_ids, sel_p)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    maxima = np.where(counts > 0, maxima, np.nan)
    return means, maxima


def _group_max(maxima: np.ndarray, ids: np.ndarray, values: np.ndarray) -> None:
    """maxima[i] = max(maxima[i], values where ids == i), for values in [0, 1].

    One float64 sort of ``2 * id + value`` groups by id with the largest value last; much faster
    than ``np.maximum.at`` (numpy < 1.25).
    """
    key = ids.astype(np.float64) * 2.0 + np.clip(values, 0.0, 1.0)
    key.sort()
    group = np.floor(key * 0.5).astype(np.int64)
    last = np.append(np.flatnonzero(np.diff(group)), key.size - 1)
    g = group[last]
    maxima[g] = np.maximum(maxima[g], key[last] - 2.0 * g)


def _point_value(prob: gdal.Dataset, geom: ogr.Geometry) -> tuple[float, float]:
    """Probability at a point inside a polygon too thin to cover any pixel centre (after simplifying)."""
    point = geom.PointOnSurface()
    inv = gdal.InvGeoTransform(prob.GetGeoTransform())
    col = int(inv[0] + point.GetX() * inv[1] + point.GetY() * inv[2])
    row = int(inv[3] + point.GetX() * inv[4] + point.GetY() * inv[5])
    col = min(max(col, 0), prob.RasterXSize - 1)
    row = min(max(row, 0), prob.RasterYSize - 1)
    value = float(prob.GetRasterBand(1).ReadAsArray(col, row, 1, 1)[0, 0])
    return value, value


def vectorize_probability(
    probability_path: str,
    polygons_path: str,
    threshold: float = 0.5,
    min_area_m2: float = 0.0,
    simplify_tolerance: float = 0.0,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
) -> VectorizeResult:
    """:func:`vectorize_to` written atomically (nothing left behind on error or cancel)."""
    if os.path.splitext(str(polygons_path))[1].lower() != ".gpkg":
        raise DetectionError(
            f"The polygon output '{polygons_path}' must be a GeoPackage (.gpkg). Change its name."
        )
    check_writable(polygons_path)
    with bounded_gdal_cache(), atomic_output(polygons_path) as tmp:
        return vectorize_to(
            probability_path, tmp, threshold, min_area_m2, simplify_tolerance, progress, is_canceled
        )
