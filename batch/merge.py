# SPDX-License-Identifier: GPL-2.0-or-later
"""All units' pieces -> one polygon layer in one CRS, written atomically.

Per source raster, in plan order (so the output is the same whatever order units finished in):

1. **Seams**: pieces that touch an inner seam of their unit are joined with the pieces of the
   neighbouring unit they share a pixel *edge* with (GEOS intersection of positive length: a
   corner alone is not enough, like the engine's 4-connected vectoriser). Coordinates are source
   pixel indices, so the shared edges are exactly equal and the union is exact. The joined
   landslide's pixel count, probability sum and maximum are the sums/maximum of its pieces, so
   ``mean_prob`` and ``max_prob`` are those of a single run over the whole raster.
2. **Measures and filters, as the engine does them**: pixel coordinates -> the raster's CRS,
   optional simplification, ``area_m2``/``perimeter_m`` in that CRS (``core.vectorize``'s
   measurer: metres, ellipsoidal for geographic CRSs), then the **minimum area, after joining**
   (a landslide cut in two halves that each fall under it is kept when the whole does not).
3. Reprojection to the output CRS.

**The same landslide in two overlapping orthophotos is counted once: the higher-confidence
polygon is kept, the other dropped** (non-maximum suppression). Two polygons from different
rasters are the same landslide when their intersection covers at least ``duplicate_overlap``
(default 20 %) of the smaller one; confidence is ``mean_prob``, then ``max_prob``, then area,
then input order. Keeping one instead of unioning both keeps exact pixel outlines and attributes
that come from one image; a union would grow by the two images' misregistration. Only polygons
inside the overlap of two rasters' footprints are compared; the others are written at once.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from osgeo import ogr, osr

from core.errors import DetectionError
from core.raster_io import last_error, quiet_gdal
from core.vectorize import COMMIT_EVERY, LAYER_NAME, Measurer

from .plan import Plan, Source, Unit
from .store import WorkStore
from .unit import BOTTOM, LEFT, RIGHT, TOP, Piece

DUPLICATE_OVERLAP = 0.2  # share of the smaller polygon two detections must share to be one landslide
# The identifier is the layer's FID column ``fid`` (1..N), as in landslides:detect's output; values keep
# full precision (landslides:detect rounds them for its table).
OUTPUT_FIELDS = (
    ("area_m2", ogr.OFTReal),
    ("perimeter_m", ogr.OFTReal),
    ("mean_prob", ogr.OFTReal),
    ("max_prob", ogr.OFTReal),
    ("source", ogr.OFTString),
)
DRIVERS = {".gpkg": "GPKG", ".parquet": "Parquet"}


@dataclass
class MergeOptions:
    crs: str | None = None  # anything osr.SetFromUserInput takes; None: the first raster's CRS
    min_area_m2: float = 0.0
    simplify_tolerance: float = 0.0  # source CRS units, as in landslides:detect
    duplicate_overlap: float = DUPLICATE_OVERLAP


@dataclass
class MergeStats:
    polygons: int = 0
    total_area_m2: float = 0.0
    seam_joins: int = 0  # pieces joined to a neighbour across a window seam
    below_min_area: int = 0
    duplicates_dropped: int = 0
    crs_name: str = ""
    warnings: list[str] = field(default_factory=list)


def output_driver(path: str) -> str:
    """The OGR driver for ``path`` (GeoPackage, or GeoParquet where GDAL has it), or DetectionError."""
    ext = os.path.splitext(str(path))[1].lower()
    name = DRIVERS.get(ext)
    if name is None:
        raise DetectionError(
            f"The output '{path}' must end with .gpkg (GeoPackage) or .parquet (GeoParquet). Change its name."
        )
    if ogr.GetDriverByName(name) is None:
        raise DetectionError(
            f"This GDAL ({_gdal_version()}) has no {name} driver, so '{path}' cannot be written. "
            "Write a GeoPackage (.gpkg) instead, or use a GDAL built with Arrow/Parquet (GDAL >= 3.5)."
        )
    return name


def _gdal_version() -> str:
    from osgeo import gdal

    return gdal.__version__


def target_srs(crs: str | None, plan: Plan) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    if crs:
        try:
            with quiet_gdal():
                ok = srs.SetFromUserInput(str(crs))
        except RuntimeError:
            ok = 1
        if ok != 0:
            raise DetectionError(f"The CRS '{crs}' is not known. Give e.g. EPSG:32647 or a WKT/PROJ string.")
    else:
        srs.ImportFromWkt(plan.sources[0].wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def source_srs(source: Source) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromWkt(source.wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


# --- geometry helpers ------------------------------------------------------------------------------


def affine_wkb(wkb: bytes, gt: tuple[float, ...]) -> bytes:
    """A (multi)polygon WKB with every vertex (column, row) mapped by the geotransform ``gt``."""
    buf = bytearray(wkb)

    def polygon(off: int) -> int:
        endian = "<" if buf[off] == 1 else ">"
        kind = struct.unpack_from(endian + "I", buf, off + 1)[0]
        off += 5
        if kind == 6:  # MultiPolygon
            (count,) = struct.unpack_from(endian + "I", buf, off)
            off += 4
            for _ in range(count):
                off = polygon(off)
            return off
        if kind != 3:
            raise ValueError(f"unexpected WKB geometry type {kind}")
        (rings,) = struct.unpack_from(endian + "I", buf, off)
        off += 4
        for _ in range(rings):
            (n,) = struct.unpack_from(endian + "I", buf, off)
            off += 4
            xy = np.frombuffer(bytes(buf[off : off + 16 * n]), dtype=endian + "f8").reshape(n, 2)
            out = np.empty_like(xy)
            out[:, 0] = gt[0] + xy[:, 0] * gt[1] + xy[:, 1] * gt[2]
            out[:, 1] = gt[3] + xy[:, 0] * gt[4] + xy[:, 1] * gt[5]
            buf[off : off + 16 * n] = out.tobytes()
            off += 16 * n
        return off

    polygon(0)
    return bytes(buf)


def _parts(geom: ogr.Geometry) -> list[ogr.Geometry]:
    if geom is None or geom.IsEmpty():
        return []
    flat = ogr.GT_Flatten(geom.GetGeometryType())
    if flat == ogr.wkbPolygon:
        return [geom]
    if flat in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection):
        out = []
        for i in range(geom.GetGeometryCount()):
            out += _parts(geom.GetGeometryRef(i).Clone())
        return out
    return []  # lines/points left by a degenerate simplification


def footprint(source: Source, to_target: Any) -> ogr.Geometry:
    """The raster's outline (densified, so it stays right after reprojection) in the output CRS."""
    ring = ogr.Geometry(ogr.wkbLinearRing)
    w, h = source.width, source.height
    steps = 16
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    gt = source.geotransform
    for k in range(4):
        (c0, r0), (c1, r1) = corners[k], corners[(k + 1) % 4]
        for i in range(steps):
            c = c0 + (c1 - c0) * i / steps
            r = r0 + (r1 - r0) * i / steps
            ring.AddPoint_2D(gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5])
    ring.CloseRings()
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    if to_target is not None:
        poly.Transform(to_target)
    return poly


# --- seams -----------------------------------------------------------------------------------------


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def _share_an_edge(a: ogr.Geometry, b: ogr.Geometry) -> bool:
    """Boundaries in common over a positive length (a corner alone is a point, dimension 0)."""
    shared = a.Intersection(b)
    if shared is None or shared.IsEmpty():
        return False
    dimension = shared.GetDimension()
    return dimension == 2 or (dimension == 1 and shared.Length() > 0)


def join_seams(pieces: list[tuple[Unit, Piece]]) -> list[list[int]]:
    """Groups (indices into ``pieces``) of pieces that share a pixel edge across a seam.

    Every piece here touches a seam of its unit. Pieces on either side of one seam line are paired
    by overlapping extents along the line, then tested with GEOS (shared boundary of positive length).
    """
    geoms = [ogr.CreateGeometryFromWkb(p.wkb) for _, p in pieces]
    envs = [g.GetEnvelope() for g in geoms]  # minx, maxx, miny, maxy
    lines: dict[tuple[str, float], tuple[list[int], list[int]]] = {}
    for i, (unit, piece) in enumerate(pieces):
        c = unit.core
        if piece.seams & LEFT:
            lines.setdefault(("v", float(c.xoff)), ([], []))[1].append(i)
        if piece.seams & RIGHT:
            lines.setdefault(("v", float(c.xoff + c.xsize)), ([], []))[0].append(i)
        if piece.seams & TOP:
            lines.setdefault(("h", float(c.yoff)), ([], []))[1].append(i)
        if piece.seams & BOTTOM:
            lines.setdefault(("h", float(c.yoff + c.ysize)), ([], []))[0].append(i)
    groups = _UnionFind(len(pieces))
    for (axis, _), (before, after) in lines.items():
        lo, hi = (2, 3) if axis == "v" else (0, 1)  # extent along the seam line
        after_sorted = sorted(after, key=lambda j: envs[j][lo])
        starts = [envs[j][lo] for j in after_sorted]
        for i in before:
            a0, a1 = envs[i][lo], envs[i][hi]
            k = int(np.searchsorted(starts, a1, side="left"))
            for j in after_sorted[:k]:
                if envs[j][hi] <= a0 or groups.root(i) == groups.root(j):
                    continue
                if _share_an_edge(geoms[i], geoms[j]):
                    groups.union(i, j)
    by_root: dict[int, list[int]] = {}
    for i in range(len(pieces)):
        by_root.setdefault(groups.root(i), []).append(i)
    return sorted(by_root.values(), key=lambda g: g[0])


# --- output ----------------------------------------------------------------------------------------


@dataclass
class _Polygon:
    geom: ogr.Geometry  # output CRS
    area: float
    perimeter: float
    mean: float
    peak: float
    source: Source
    order: int


class _Writer:
    def __init__(self, path: str, driver: str, srs: osr.SpatialReference) -> None:
        with quiet_gdal():
            self.ds = ogr.GetDriverByName(driver).CreateDataSource(path)
        if self.ds is None:
            raise DetectionError(
                f"The output '{path}' cannot be created ({last_error()}). Choose a writable folder."
            )
        self.layer = self.ds.CreateLayer(LAYER_NAME, srs, ogr.wkbPolygon, options=["FID=fid"])
        if self.layer is None:
            raise DetectionError(f"The output '{path}' cannot be created ({last_error()}).")
        for name, kind in OUTPUT_FIELDS:
            self.layer.CreateField(ogr.FieldDefn(name, kind))
        self.defn = self.layer.GetLayerDefn()
        self.transactions = driver == "GPKG"
        if self.transactions:
            self.layer.StartTransaction()
        self.count, self.area, self.pending = 0, 0.0, 0

    def write(self, poly: _Polygon) -> None:
        self.count += 1
        self.area += poly.area
        f = ogr.Feature(self.defn)
        f.SetFID(self.count)
        f.SetField("area_m2", poly.area)
        f.SetField("perimeter_m", poly.perimeter)
        f.SetField("mean_prob", poly.mean)
        f.SetField("max_prob", poly.peak)
        f.SetField("source", poly.source.path)
        f.SetGeometry(poly.geom)
        if self.layer.CreateFeature(f) != 0:
            raise DetectionError(f"Writing polygons failed ({last_error()}). Check the free disk space.")
        self.pending += 1
        if self.transactions and self.pending >= COMMIT_EVERY:
            self.layer.CommitTransaction()
            self.layer.StartTransaction()
            self.pending = 0

    def close(self) -> None:
        if self.transactions:
            self.layer.CommitTransaction()
        self.layer = self.ds = None


class _Deduplicator:
    """Greedy non-maximum suppression of polygons from different rasters (see the module docstring)."""

    def __init__(self, overlap: float) -> None:
        self.overlap = float(overlap)
        self.candidates: list[_Polygon] = []
        self.dropped = 0

    def add(self, poly: _Polygon) -> None:
        self.candidates.append(poly)

    def survivors(self) -> list[_Polygon]:
        ranked = sorted(self.candidates, key=lambda p: (-p.mean, -p.peak, -p.area, p.source.index, p.order))
        envs = {id(p): p.geom.GetEnvelope() for p in ranked}
        sizes = [max(e[1] - e[0], e[3] - e[2]) for e in envs.values()]
        cell = max(float(np.median(sizes)) * 4 if sizes else 1.0, 1e-9)
        grid: dict[tuple[int, int], list[_Polygon]] = {}
        kept: list[_Polygon] = []

        def cells(env: tuple[float, float, float, float]) -> Iterable[tuple[int, int]]:
            for cx in range(int(np.floor(env[0] / cell)), int(np.floor(env[1] / cell)) + 1):
                for cy in range(int(np.floor(env[2] / cell)), int(np.floor(env[3] / cell)) + 1):
                    yield cx, cy

        for poly in ranked:
            env = envs[id(poly)]
            own = poly.geom.GetArea()
            duplicate = False
            seen: set[int] = set()
            for key in cells(env):
                for other in grid.get(key, []):
                    if id(other) in seen or other.source is poly.source:
                        continue
                    seen.add(id(other))
                    oe = envs[id(other)]
                    if oe[0] >= env[1] or oe[1] <= env[0] or oe[2] >= env[3] or oe[3] <= env[2]:
                        continue
                    inter = poly.geom.Intersection(other.geom)
                    if inter is None or inter.IsEmpty():
                        continue
                    if inter.GetArea() >= self.overlap * min(own, other.geom.GetArea()):
                        duplicate = True
                        break
                if duplicate:
                    break
            if duplicate:
                self.dropped += 1
                continue
            kept.append(poly)
            for key in cells(env):
                grid.setdefault(key, []).append(poly)
        return sorted(kept, key=lambda p: p.order)


class _Emitter:
    """Finishes polygons (CRS, simplification, measures, minimum area, reprojection) and routes
    each to the output at once or, inside an overlap of rasters, to the duplicate check."""

    def __init__(
        self, writer: _Writer, dedup: _Deduplicator, options: MergeOptions, stats: MergeStats
    ) -> None:
        self.writer, self.dedup, self.options, self.stats = writer, dedup, options, stats
        self.order = 0
        self.source: Source | None = None
        self.measurer: Any = None
        self.to_target: Any = None
        self.zone: ogr.Geometry | None = None

    def start_source(self, source: Source, to_target: Any, zone: ogr.Geometry | None) -> None:
        self.source, self.to_target, self.zone = source, to_target, zone
        self.measurer = Measurer(source_srs(source))

    def emit(self, wkb: bytes, pixels: int, prob_sum: float, peak: float) -> None:
        assert self.source is not None
        geom = ogr.CreateGeometryFromWkb(affine_wkb(wkb, self.source.geotransform))
        if self.options.simplify_tolerance > 0:
            geom = geom.SimplifyPreserveTopology(self.options.simplify_tolerance)
        for part in _parts(geom):
            area, perimeter = self.measurer.measure(part)
            if area < self.options.min_area_m2:
                self.stats.below_min_area += 1
                continue
            if self.to_target is not None:
                part.Transform(self.to_target)
            self.order += 1
            poly = _Polygon(part, area, perimeter, prob_sum / max(pixels, 1), peak, self.source, self.order)
            if self.zone is not None and part.Intersects(self.zone):
                self.dedup.add(poly)
            else:
                self.writer.write(poly)


def _overlap_zones(sources: list[Source], to_target: dict[int, Any]) -> dict[int, ogr.Geometry | None]:
    """Per raster, where its footprint meets another's (detections there may be duplicates)."""
    prints = {s.index: footprint(s, to_target[s.index]) for s in sources}
    zones: dict[int, ogr.Geometry | None] = {}
    for s in sources:
        zone = None
        for t in sources:
            if t is s or not prints[s.index].Intersects(prints[t.index]):
                continue
            part = prints[s.index].Intersection(prints[t.index])
            if part is None or part.IsEmpty() or part.GetArea() <= 0:
                continue
            zone = part if zone is None else zone.Union(part)
        zones[s.index] = zone
    return zones


def merge(
    store: WorkStore,
    plan: Plan,
    done: set[str],
    output_temp: str,
    driver: str,
    options: MergeOptions,
) -> MergeStats:
    """Write the merged polygons of the finished units ``done`` to ``output_temp``."""
    stats = MergeStats()
    srs = target_srs(options.crs, plan)
    stats.crs_name = srs.GetName() or srs.ExportToProj4()
    units_of: dict[int, list[Unit]] = {}
    for unit in plan.units:
        if unit.uid in done:
            units_of.setdefault(unit.source.index, []).append(unit)
    sources = [s for s in plan.sources if s.index in units_of]
    to_target: dict[int, Any] = {}
    for s in sources:
        src = source_srs(s)
        to_target[s.index] = None if src.IsSame(srs) else osr.CoordinateTransformation(src, srs)
    zones = _overlap_zones(sources, to_target)

    writer = _Writer(output_temp, driver, srs)
    dedup = _Deduplicator(options.duplicate_overlap)
    emitter = _Emitter(writer, dedup, options, stats)
    try:
        for source in sources:
            emitter.start_source(source, to_target[source.index], zones[source.index])
            seam_pieces: list[tuple[Unit, Piece]] = []
            for unit in units_of[source.index]:
                for piece in store.pieces(unit.uid):
                    if piece.seams:
                        seam_pieces.append((unit, piece))
                    else:
                        emitter.emit(piece.wkb, piece.pixels, piece.prob_sum, piece.max_prob)
            for group in join_seams(seam_pieces):
                members = [seam_pieces[i][1] for i in group]
                stats.seam_joins += len(members) - 1
                if len(members) == 1:
                    wkb = members[0].wkb
                else:
                    multi = ogr.Geometry(ogr.wkbMultiPolygon)
                    for m in members:
                        multi.AddGeometry(ogr.CreateGeometryFromWkb(m.wkb))
                    # exact in pixel coordinates; tolerance 0 drops only the vertices left on the seams
                    joined = multi.UnionCascaded().SimplifyPreserveTopology(0.0)
                    wkb = bytes(joined.ExportToWkb(ogr.wkbNDR))
                emitter.emit(
                    wkb,
                    sum(m.pixels for m in members),
                    sum(m.prob_sum for m in members),
                    max(m.max_prob for m in members),
                )
        for poly in dedup.survivors():
            writer.write(poly)
        stats.duplicates_dropped = dedup.dropped
        stats.polygons, stats.total_area_m2 = writer.count, writer.area
    finally:
        writer.close()
    return stats
