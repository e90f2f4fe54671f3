# SPDX-License-Identifier: GPL-2.0-or-later
"""Work units: each raster, and each large raster cut into windows with a halo.

A unit owns the pixels of its **core** window; the engine runs on the core plus a **halo** of
``halo`` pixels on each inner side (clipped to the raster), so the pixels next to a seam are
predicted with context on both sides, as in one run over the whole raster. Only the core's
polygons are kept; a landslide crossing a seam comes back as one piece per unit and is joined
again by :mod:`batch.merge`. Cores tile the raster exactly, without overlap or gap.

Windows split each axis into equal parts of at most ``window`` pixels (a 9000-pixel axis with
8192-pixel windows gives two 4500-pixel cores, not 8192 + 808), so units cost about the same.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field

from core.errors import DetectionError
from core.raster_io import Window, dataset_srs, open_raster

from .sources import fingerprint

DEFAULT_WINDOW = 8192  # core pixels per axis; ~67 MPix per unit: minutes on a few cores


@dataclass
class Source:
    """One input raster as planned: where it is, its grid and a key that changes with its content."""

    index: int
    path: str
    key: str  # hash of path, size and modification time
    width: int
    height: int
    geotransform: tuple[float, ...]
    wkt: str
    bands: int
    name: str = ""  # unique short name (probability outputs, summaries)

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


@dataclass
class Unit:
    """One Dask task: the engine on ``halo`` of ``source``, polygons of ``core`` kept."""

    uid: str
    source: Source
    core: Window
    halo: Window
    seams: int = 0  # bit mask of the core's sides that are inner seams: 1 left, 2 top, 4 right, 8 bottom

    @property
    def megapixels(self) -> float:
        return self.core.xsize * self.core.ysize / 1e6

    @property
    def label(self) -> str:
        c = self.core
        whole = (c.xoff, c.yoff, c.xsize, c.ysize) == (0, 0, self.source.width, self.source.height)
        return (
            self.source.path
            if whole
            else f"{self.source.path} [x {c.xoff}, y {c.yoff}, {c.xsize} x {c.ysize}]"
        )


@dataclass
class Plan:
    sources: list[Source] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, reason): unreadable rasters


def split_axis(size: int, window: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(core start, core length, halo start, halo length) of the parts of one axis."""
    parts = max(1, math.ceil(size / max(1, window)))
    base, extra = divmod(size, parts)
    out = []
    start = 0
    for i in range(parts):
        length = base + (1 if i < extra else 0)
        lo = start if i == 0 else max(0, start - halo)
        hi = start + length if i == parts - 1 else min(size, start + length + halo)
        out.append((start, length, lo, hi - lo))
        start += length
    return out


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def describe_source(index: int, path: str, needed_bands: int) -> Source:
    """Open ``path`` (header only) and check what every unit of it needs; DetectionError if not."""
    ds = open_raster(path)
    srs = dataset_srs(ds)
    if srs is None:
        raise DetectionError(
            f"The raster '{path}' has no coordinate reference system, so its landslides cannot be put "
            "in one map with the others. Assign its CRS (e.g. gdal_edit.py -a_srs EPSG:32647) and run again."
        )
    if ds.RasterCount < needed_bands:
        raise DetectionError(
            f"The raster '{path}' has {ds.RasterCount} band(s) but the model needs {needed_bands}. "
            "Leave it out or choose the bands with --bands."
        )
    gt = tuple(float(v) for v in ds.GetGeoTransform())
    return Source(
        index=index,
        path=path,
        key=_short_hash(fingerprint(path)),
        width=ds.RasterXSize,
        height=ds.RasterYSize,
        geotransform=gt,
        wkt=ds.GetProjection(),
        bands=ds.RasterCount,
    )


def units_of(source: Source, window: int, halo: int) -> list[Unit]:
    """The units covering ``source``: one, or a grid of windows for a large, north-up raster."""
    gt = source.geotransform
    if gt[2] != 0.0 or gt[4] != 0.0:  # rotated grid: an extent cannot select a pixel window exactly
        cols = [(0, source.width, 0, source.width)]
        rows = [(0, source.height, 0, source.height)]
    else:
        cols = split_axis(source.width, window, halo)
        rows = split_axis(source.height, window, halo)
    units = []
    for y0, ny, hy0, hny in rows:
        for x0, nx, hx0, hnx in cols:
            core, box = Window(x0, y0, nx, ny), Window(hx0, hy0, hnx, hny)
            seams = (
                (1 if x0 > 0 else 0)
                | (2 if y0 > 0 else 0)
                | (4 if x0 + nx < source.width else 0)
                | (8 if y0 + ny < source.height else 0)
            )
            uid = _short_hash(f"{source.key}|{x0},{y0},{nx},{ny}|{hx0},{hy0},{hnx},{hny}")
            units.append(Unit(uid, source, core, box, seams))
    return units


def _unique_names(sources: list[Source]) -> None:
    """File-name stems, made unique (two folders may both hold 'ortho.tif')."""
    used: set[str] = set()
    for source in sources:
        tail = source.path.rstrip("/").rsplit("/", 1)[-1]
        stem = os.path.splitext(tail)[0] or "raster"
        name, n = stem, 1
        while name in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name)
        source.name = name


def make_plan(paths: list[str], needed_bands: int, window: int, halo: int) -> Plan:
    """Sources and units of ``paths``; unreadable rasters go to ``Plan.failed`` with the reason."""
    if window < 64:
        raise DetectionError(
            f"The window ({window} px) is too small. Use at least 64, e.g. {DEFAULT_WINDOW}."
        )
    if halo < 0:
        raise DetectionError(f"The halo ({halo} px) is negative. Use 0 or more pixels.")
    plan = Plan()
    for path in paths:
        try:
            source = describe_source(len(plan.sources), path, needed_bands)
        except DetectionError as exc:
            plan.failed.append((path, str(exc)))
            continue
        plan.sources.append(source)
    _unique_names(plan.sources)
    for source in plan.sources:
        plan.units += units_of(source, window, halo)
    return plan
