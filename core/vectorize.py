# SPDX-License-Identifier: GPL-2.0-or-later
"""Probability raster -> landslide polygons (GeoPackage layer ``landslides``), streamed by strips.

* Pixels with probability >= threshold (nodata, -1, never) are landslide pixels. Each strip of
  rows is traced by ``gdal.Polygonize`` with **4-connectedness** (pixels touching only at a corner
  are separate landslides), so boundaries are exact pixel edges: polygon area == number of pixels x
  pixel area, and a single-pixel landslide survives unless ``min_area_m2`` removes it.
* A landslide crossing strip boundaries is traced as pieces, one per strip; pieces that share a
  pixel edge across a boundary are joined (union-find on the boundary rows' labels) and their
  geometries unioned (GEOS) once no later strip can extend them. Finished landslides are written
  at once, so memory holds only the pieces still open at the current strip's bottom row. The
  engine feeds strips as it writes the probability raster, in a thread of their own, so
  vectorising overlaps with inference instead of re-reading the raster afterwards.
* Attributes: ``id`` and a list of :class:`AttributeSpec` (name, type, source layer, reducer):
  ``area_m2``, ``perimeter_m`` from the geometry, ``mean_prob``, ``max_prob`` from the strips'
  ``probability`` layer, more from other layers of the strips (a new attribute is one spec). Means
  and maxima come from the pixels (sums/counts/maxima per piece, merged exactly; NaN pixels of a
  layer other than the probability do not count). For geographic CRSs areas
  come from a Lambert azimuthal equal-area projection and perimeters from an azimuthal equidistant
  one, centred on the polygon's 1-degree cell (distortion < 1e-5 within 0.5 degrees); for
  projected CRSs the linear unit is converted to metres. Without a CRS both are in pixel/map units.
* Optional ``simplify_tolerance`` (map units): GEOS SimplifyPreserveTopology per polygon; areas
  and perimeters are then those of the simplified shapes.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from osgeo import gdal, gdal_array, ogr, osr

from .atomic import atomic_output, check_writable
from .errors import DetectionCanceled, DetectionError
from .raster_io import (
    BLOCK,
    bounded_gdal_cache,
    dataset_srs,
    last_error,
    linear_unit_m,
    open_raster,
    quiet_gdal,
    recorded_gdal_errors,
)
from .strips import PROBABILITY, strip_layers

LAYER_NAME = "landslides"
STRIP_ROWS = 2 * BLOCK  # rows per strip when vectorising a probability raster file
COMMIT_EVERY = 20_000  # features per GeoPackage transaction
GEOMETRY = "geometry"  # the source of attributes measured on the polygon itself


@dataclass(frozen=True)
class AttributeSpec:
    """One polygon attribute: ``reducer`` of the ``source`` layer's pixels inside the polygon
    ('mean', 'max', 'sum', 'count'), or of its geometry ('area', 'perimeter')."""

    name: str
    kind: int  # OGR field type
    source: str  # a strip layer name (core.strips), or GEOMETRY
    reducer: str
    decimals: int | None = None  # what the toolbox output rounds the value to


ATTRIBUTES = (
    AttributeSpec("area_m2", ogr.OFTReal, GEOMETRY, "area", 2),
    AttributeSpec("perimeter_m", ogr.OFTReal, GEOMETRY, "perimeter", 2),
    AttributeSpec("mean_prob", ogr.OFTReal, PROBABILITY, "mean", 3),
    AttributeSpec("max_prob", ogr.OFTReal, PROBABILITY, "max", 3),
)
SLOPE = "slope_deg"  # a strip layer: terrain slope in degrees (core.elevation.SlopeLayer)
SLOPE_MEAN = AttributeSpec("slope_mean_deg", ogr.OFTReal, SLOPE, "mean", 1)
OPTIONAL_ATTRIBUTES = (SLOPE_MEAN,)  # added when their source layer is there (an elevation raster)
REDUCERS = {"mean", "max", "sum", "count"}


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


Measurer = _Measurer  # public name: the batch command measures polygons joined across windows the same way


def _new_layer(
    path: str, srs: osr.SpatialReference | None, name: str, spatial_index: bool = True
) -> tuple[Any, Any]:
    driver = ogr.GetDriverByName("GPKG")
    with recorded_gdal_errors() as errors:
        try:
            ds = driver.CreateDataSource(path)
        except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
            ds = None
            errors.messages.append(str(exc))
    if ds is None:
        raise DetectionError(
            f"The GeoPackage '{path}' cannot be created ({errors.summary(last_error())}). "
            "Check the free disk space and that the folder is writable."
        )
    options = [] if spatial_index else ["SPATIAL_INDEX=NO"]
    with recorded_gdal_errors() as errors:
        try:
            layer = ds.CreateLayer(name, srs, ogr.wkbPolygon, options=options)
        except RuntimeError as exc:
            layer = None
            errors.messages.append(str(exc))
    if layer is None:
        raise DetectionError(
            f"The GeoPackage '{path}' cannot be written ({errors.summary(last_error())}). "
            "Check the free disk space and that the folder is writable."
        )
    return ds, layer


@dataclass
class _Piece:
    """The part of one landslide inside one strip (or several pieces already merged)."""

    geoms: list[ogr.Geometry]
    stats: list[tuple[float, int, float]]  # per source layer: sum, count and maximum of its pixels

    def merged(self, other: _Piece) -> _Piece:
        return _Piece(
            self.geoms + other.geoms,
            [(t1 + t2, c1 + c2, max(p1, p2)) for (t1, c1, p1), (t2, c2, p2) in zip(self.stats, other.stats)],
        )


class StreamVectorizer:
    """Receives the probability raster strip by strip (top to bottom) and writes the polygons.

    ``add_strip(y, layers)`` with ``layers`` the strip's named (rows x width) arrays: at least
    ``probability`` (float32, -1 = nodata; a bare array is taken as that), and the source layer of
    every attribute; then ``close()``; ``discard()`` closes the GeoPackage without finishing.
    """

    def __init__(
        self,
        polygons_path: str,
        srs: osr.SpatialReference | None,
        geotransform: tuple[float, ...],
        width: int,
        threshold: float,
        min_area_m2: float = 0.0,
        simplify_tolerance: float = 0.0,
        attributes: tuple[AttributeSpec, ...] = ATTRIBUTES,
    ) -> None:
        if not 0.0 <= float(threshold) <= 1.0:
            raise DetectionError(f"The threshold {threshold} is not a probability. Use a value from 0 to 1.")
        self.gt, self.width, self.srs = tuple(geotransform), int(width), srs
        self.threshold = np.float32(threshold)
        self.min_area, self.tolerance = float(min_area_m2), float(simplify_tolerance)
        self.measurer = _Measurer(srs)
        bad = [a.name for a in attributes if a.reducer not in REDUCERS | {"area", "perimeter"}]
        if bad:
            raise ValueError(f"unknown reducer for attribute(s) {bad}")
        self.attributes = tuple(attributes)
        # The layers the attributes read, the probability first (it is always there).
        others = {a.source for a in attributes if a.source not in (GEOMETRY, PROBABILITY)}
        self.sources = [PROBABILITY, *sorted(others)]
        self.ds, self.layer = _new_layer(polygons_path, srs, LAYER_NAME)
        self.layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
        for attribute in self.attributes:
            self.layer.CreateField(ogr.FieldDefn(attribute.name, attribute.kind))
        self.defn = self.layer.GetLayerDefn()
        self.layer.StartTransaction()
        self.pending = 0
        self.count, self.total_area = 0, 0.0
        self.pieces: dict[int, _Piece] = {}  # open pieces by root id
        self.parent: dict[int, int] = {}
        self.prev_bottom: np.ndarray | None = None  # global piece ids on the previous strip's last row
        self.next_id = 1
        self._next: tuple[int, float, float] | None = None  # (row, x, y) where the next strip starts
        self.timings = {"polygonize": 0.0, "statistics": 0.0, "write": 0.0}
        self.mem_vector = ogr.GetDriverByName("Memory")
        self.should_stop: Callable[[], bool] = lambda: False  # set by the engine's vectoriser thread

    def _keep_going(self, *_args: Any) -> int:
        """GDAL progress callback: 0 stops a long Polygonize when the run is being aborted."""
        return 0 if self.should_stop() else 1

    # -- union-find over piece ids --
    def _root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return
        if ra > rb:
            ra, rb = rb, ra
        self.parent[rb] = ra
        pa, pb = self.pieces.pop(ra), self.pieces.pop(rb)
        self.pieces[ra] = pa.merged(pb)

    def _strip_origin(self, y: int, h: int) -> tuple[float, float]:
        """Top-left corner of the strip at row ``y``. Accumulated from the previous strip so that
        its top edge has bit-identical coordinates to the previous strip's bottom edge (then GEOS
        unions the pieces exactly, whatever the pixel size's binary rounding)."""
        if self._next is not None and self._next[0] == y:
            x0, y0 = self._next[1], self._next[2]
        else:
            x0, y0 = self.gt[0] + y * self.gt[2], self.gt[3] + y * self.gt[5]
        self._next = (y + h, x0 + h * self.gt[2], y0 + h * self.gt[5])
        return x0, y0

    def add_strip(self, y: int, strip: np.ndarray | Mapping[str, np.ndarray]) -> None:
        layers = strip_layers(strip)
        prob = layers[PROBABILITY]
        h = prob.shape[0]
        x0, y0 = self._strip_origin(y, h)
        on = prob >= self.threshold
        if not on.any():
            self._close_all_but(set())
            self.prev_bottom = None
            return
        t0 = time.perf_counter()
        sgt = (x0, self.gt[1], self.gt[2], y0, self.gt[4], self.gt[5])
        on_bytes = on.view(np.uint8)
        mask = gdal_array.OpenArray(on_bytes)  # a MEM dataset over the numpy buffer: no copy
        mask.SetGeoTransform(sgt)
        band = mask.GetRasterBand(1)
        vds = self.mem_vector.CreateDataSource("strip")
        layer = vds.CreateLayer("strip", self.srs, ogr.wkbPolygon)
        layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
        with quiet_gdal():  # a stop makes GDAL report "User terminated"
            gdal.Polygonize(band, band, layer, 0, [], callback=self._keep_going)
        if self.should_stop():
            raise DetectionCanceled()
        base = self.next_id
        geoms: list[ogr.Geometry] = []
        layer.ResetReading()
        for k, feature in enumerate(layer):
            feature.SetField(0, k + 1)  # local label, rasterised back below
            layer.SetFeature(feature)
            geoms.append(feature.GetGeometryRef().Clone())
        n = len(geoms)
        self.next_id += n
        ids = np.zeros((h, self.width), np.int32)
        labels = gdal_array.OpenArray(ids)  # rasterised in place
        labels.SetGeoTransform(sgt)
        gdal.RasterizeLayer(labels, [1], layer, options=["ATTRIBUTE=id"])
        labels.FlushCache()
        mask = band = labels = vds = layer = None
        self.timings["polygonize"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        stats = [_label_stats(ids, layers[name], n, name == PROBABILITY) for name in self.sources]
        for k in range(1, n + 1):
            gid = base + k - 1
            self.parent[gid] = gid
            piece_stats = [(float(s[k]), int(c[k]), float(p[k])) for s, c, p in stats]
            self.pieces[gid] = _Piece([geoms[k - 1]], piece_stats)
        # Join pieces that share a pixel edge across the boundary with the previous strip.
        if self.prev_bottom is not None:
            top = ids[0]
            both = (self.prev_bottom > 0) & (top > 0)
            if both.any():
                pairs = np.unique(
                    np.stack([self.prev_bottom[both], top[both].astype(np.int64) + base - 1]), axis=1
                )
                for a, b in pairs.T.tolist():
                    self._union(a, b)
        bottom = ids[h - 1].astype(np.int64)
        self.prev_bottom = np.where(bottom > 0, bottom + base - 1, 0)
        open_roots = {self._root(int(i)) for i in np.unique(self.prev_bottom[self.prev_bottom > 0])}
        self.timings["statistics"] += time.perf_counter() - t0
        self._close_all_but(open_roots)

    def _close_all_but(self, open_roots: set[int]) -> None:
        t0 = time.perf_counter()
        for root in [r for r in self.pieces if r not in open_roots]:
            if self.should_stop():
                raise DetectionCanceled()
            self._write(self.pieces.pop(root))
        if not open_roots:
            self.parent.clear()
        elif len(self.parent) > 4 * (len(self.pieces) + 1024):
            # forget finished pieces: keep only ids still referenced by open pieces / the boundary row
            keep = set(int(i) for i in np.unique(self.prev_bottom)) if self.prev_bottom is not None else set()
            self.parent = {i: self._root(i) for i in keep if i in self.parent} | {r: r for r in self.pieces}
        self.timings["write"] += time.perf_counter() - t0

    def _write(self, piece: _Piece) -> None:
        if len(piece.geoms) == 1:
            geom = piece.geoms[0]
        else:
            multi = ogr.Geometry(ogr.wkbMultiPolygon)
            for g in piece.geoms:
                multi.AddGeometry(g)
            geom = multi.UnionCascaded()
        if self.tolerance > 0:
            geom = geom.SimplifyPreserveTopology(self.tolerance)
        if geom is None or geom.IsEmpty():
            return
        parts = (
            [geom]
            if geom.GetGeometryType() == ogr.wkbPolygon
            else [geom.GetGeometryRef(i).Clone() for i in range(geom.GetGeometryCount())]
        )
        values = self._pixel_values(piece)
        for part in parts:
            area, perimeter = self.measurer.measure(part)
            if area < self.min_area:
                continue
            self.count += 1
            self.total_area += area
            f = ogr.Feature(self.defn)
            f.SetField("id", self.count)
            for attribute in self.attributes:
                if attribute.source == GEOMETRY:
                    f.SetField(attribute.name, area if attribute.reducer == "area" else perimeter)
                elif values[attribute.name] is not None:
                    f.SetField(attribute.name, values[attribute.name])
            f.SetGeometry(part)
            try:
                written = self.layer.CreateFeature(f) == 0
            except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
                raise DetectionError(f"Writing polygons failed ({exc}). Check the free disk space.") from exc
            if not written:
                raise DetectionError(f"Writing polygons failed ({last_error()}). Check the free disk space.")
            self.pending += 1
            if self.pending >= COMMIT_EVERY:
                self._commit()
                self.layer.StartTransaction()
                self.pending = 0

    def _pixel_values(self, piece: _Piece) -> dict[str, float | None]:
        """Each pixel attribute of ``piece`` (None where its layer has no pixel there)."""
        values: dict[str, float | None] = {}
        for attribute in self.attributes:
            if attribute.source == GEOMETRY:
                continue
            total, count, peak = piece.stats[self.sources.index(attribute.source)]
            if attribute.reducer == "count":
                values[attribute.name] = float(count)
            elif not count:
                values[attribute.name] = None
            elif attribute.reducer == "mean":
                values[attribute.name] = total / count
            else:
                values[attribute.name] = peak if attribute.reducer == "max" else total
        return values

    def _commit(self) -> None:
        with recorded_gdal_errors() as errors:
            try:
                ok = self.layer.CommitTransaction() == 0
            except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
                ok = False
                errors.messages.append(str(exc))
        if not ok or errors.messages:
            raise DetectionError(
                f"Writing polygons failed ({errors.summary(last_error())}). Check the free disk space."
            )

    def close(self) -> VectorizeResult:
        self._close_all_but(set())
        self._commit()
        # SQLite writes the file's last pages when it is closed: a failure there counts too.
        with recorded_gdal_errors() as errors:
            try:
                self.layer = self.ds = None
            except RuntimeError as exc:
                errors.messages.append(str(exc))
        if errors.messages:
            raise DetectionError(f"Writing polygons failed ({errors.summary()}). Check the free disk space.")
        return VectorizeResult(self.count, self.total_area, [], dict(self.timings))

    def discard(self) -> None:
        """Close without finishing (the caller deletes the file)."""
        self.layer = self.ds = None
        self.pieces.clear()


def _label_stats(
    ids: np.ndarray, values: np.ndarray, n: int, unit_range: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum, count and maximum of ``values`` per label 1..n of ``ids`` (0 = none).

    Only labelled pixels are gathered (one scan of the strip); consecutive equal labels (runs
    along the rows) are reduced with ``reduceat`` first, so the per-label maximum sorts a few
    values per landslide row instead of every pixel. ``unit_range``: the values are in 0..1 and
    never NaN (probabilities); otherwise NaN pixels are left out.
    """
    flat_ids = ids.ravel()
    pos = np.flatnonzero(flat_ids)
    sel = flat_ids[pos]
    vals = values.ravel()[pos]
    if not unit_range:
        finite = np.isfinite(vals)
        sel, vals = sel[finite], vals[finite]
    if sel.size == 0:
        return np.zeros(n + 1), np.zeros(n + 1, np.int64), np.full(n + 1, -np.inf)
    starts = np.concatenate(([0], np.flatnonzero(sel[1:] != sel[:-1]) + 1))
    run_ids = sel[starts]
    lengths = np.diff(np.append(starts, sel.size))
    run_sum = np.add.reduceat(vals, starts, dtype=np.float64)
    run_max = np.maximum.reduceat(vals, starts).astype(np.float64)
    sums = np.bincount(run_ids, weights=run_sum, minlength=n + 1)
    counts = np.bincount(run_ids, weights=lengths, minlength=n + 1).astype(np.int64)
    peaks = np.full(n + 1, -np.inf)
    if unit_range:
        _group_max(peaks, run_ids, run_max)
    else:
        np.maximum.at(peaks, run_ids, run_max)
    return sums, counts, peaks


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


def vectorize_to(
    probability_path: str,
    polygons_path: str,
    threshold: float,
    min_area_m2: float = 0.0,
    simplify_tolerance: float = 0.0,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
) -> VectorizeResult:
    """Write the polygons of ``probability_path`` >= ``threshold`` to ``polygons_path`` (not atomic)."""
    progress = progress or (lambda _p: None)
    is_canceled = is_canceled or (lambda: False)
    t_start = time.perf_counter()
    prob = open_raster(probability_path)
    srs = dataset_srs(prob)
    gt = prob.GetGeoTransform()
    width, height = prob.RasterXSize, prob.RasterYSize
    band = prob.GetRasterBand(1)
    nodata = band.GetNoDataValue()
    stream = StreamVectorizer(polygons_path, srs, gt, width, threshold, min_area_m2, simplify_tolerance)
    try:
        for y, h in _strips(height):
            if is_canceled():
                raise DetectionCanceled()
            progress(100.0 * y / max(height, 1))
            p = band.ReadAsArray(0, y, width, h)
            if p is None:
                raise DetectionError(f"Reading the probability raster failed ({last_error()}).")
            p = p.astype(np.float32, copy=False)
            if nodata is not None and nodata >= 0:
                p[p == nodata] = -1.0  # only -1 is "never a landslide" to the vectoriser
            stream.add_strip(y, p)
        result = stream.close()
    except BaseException:
        stream.discard()
        raise
    finally:
        prob = band = None
    if srs is None:
        result.warnings.append(
            "The raster has no CRS: area_m2 and perimeter_m are in pixel/map units, not metres."
        )
    result.timings["total"] = time.perf_counter() - t_start
    progress(100.0)
    return result


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
