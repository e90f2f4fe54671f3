# SPDX-License-Identifier: GPL-2.0-or-later
"""One work unit, run inside a Dask worker process: core's engine on the unit's window.

* **One onnxruntime session per worker process**, opened by the first unit and reused by every
  later one (:func:`worker_session`); a session costs a second or more to open and its memory
  arena stays warm.
* **Threads**: onnxruntime's intra-op threads are the worker host's usable cores divided by the
  Dask threads running there (all workers of the host together, as the client counted them), so
  that the workers of one machine never oversubscribe its cores. ``--ort-threads`` overrides.
* The engine writes the probability of the halo window to a local temporary GeoTIFF; the unit
  vectorises the **core** rows and columns of it with core's :class:`StreamVectorizer` in *pixel
  coordinates of the source raster* (integers, exact), keeping per landslide its pixel count, sum
  and maximum of probability: pieces cut by a seam can then be joined exactly, with exact
  attributes, and the minimum area applied only after joining (:mod:`batch.merge`).
* Bad input (``DetectionError``: unreadable blocks, wrong bands...) is returned as a failed
  result, not raised: it is reported in the summary and the other units go on. Anything else
  (an I/O hiccup, memory) raises, so Dask retries the unit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from osgeo import gdal, ogr

from core.engine import DetectionOptions, run_detection
from core.errors import DetectionError
from core.raster_io import MASK_OPTIONS, Window, quiet_gdal
from core.runtime import ProviderReport, create_session
from core.vectorize import LAYER_NAME, STRIP_ROWS, StreamVectorizer

from .plan import Unit

# seam bits of batch.plan.Unit.seams
LEFT, TOP, RIGHT, BOTTOM = 1, 2, 4, 8


@dataclass
class UnitSettings:
    """What every unit of a run shares (sent with each task; small)."""

    model_path: str
    options: DetectionOptions  # engine options; extent, threads, min area and simplify are set per unit
    ort_threads: int = 0  # onnxruntime intra-op threads; 0: the host's cores / Dask threads there
    threads_by_host: dict[str, int] = field(default_factory=dict)
    shipped_model: str = ""  # file name of the model copy shipped into the worker's local directory
    probability_dir: str | None = None


@dataclass
class Piece:
    """A landslide, or the part of one inside a unit's core, in source-raster pixel coordinates."""

    wkb: bytes  # polygon; x = column, y = row (integers: pixel edges)
    pixels: int
    prob_sum: float
    max_prob: float
    seams: int  # seam sides of the core this piece touches (LEFT | TOP | RIGHT | BOTTOM)


@dataclass
class UnitResult:
    uid: str
    ok: bool
    message: str = ""
    pieces: list[Piece] = field(default_factory=list)
    seconds: float = 0.0
    worker: str = ""
    pid: int = 0
    sessions_opened: int = 0  # sessions this worker process has opened so far (1 when reused)
    threads: int = 0
    provider: str = ""
    warnings: list[str] = field(default_factory=list)


# --- per-process state -------------------------------------------------------------------------

_sessions: dict[tuple[str, str, int], tuple[Any, ProviderReport]] = {}
_sessions_lock = threading.Lock()
_sessions_opened = 0


def worker_session(model_path: str, device: str, threads: int) -> tuple[Any, ProviderReport]:
    """This process's session for the model, opened once; another model replaces it (memory)."""
    global _sessions_opened
    key = (os.path.abspath(model_path), device, int(threads))
    with _sessions_lock:
        if key not in _sessions:
            _sessions.clear()
            _sessions[key] = create_session(model_path, device, threads)
            _sessions_opened += 1
        return _sessions[key]


def usable_cores() -> int:
    """Cores this process may run on (the CPU affinity / cgroup's share where the OS says so)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _dask_worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def host_of(address: str) -> str:
    """'tcp://10.0.0.5:40123' -> '10.0.0.5' (the key of ``threads_by_host``)."""
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0].strip("[]")


def _threads(settings: UnitSettings, worker: Any) -> int:
    if settings.ort_threads > 0:
        return settings.ort_threads
    if worker is None:
        return 0  # outside Dask: onnxruntime's default (all cores)
    host = host_of(worker.address)
    if host in settings.threads_by_host:
        return settings.threads_by_host[host]
    # A worker that joined after the client counted (adaptive clusters): assume it is alone on its host.
    return max(1, usable_cores() // max(1, int(worker.state.nthreads)))


def _model_path(settings: UnitSettings, worker: Any) -> str:
    if settings.shipped_model and worker is not None:
        shipped = os.path.join(worker.local_directory, settings.shipped_model)
        if os.path.isfile(shipped):
            return shipped
    return settings.model_path


# --- the unit ------------------------------------------------------------------------------------


def window_extent(geotransform: tuple[float, ...], window: Window) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a pixel window of a north-up grid: exactly its pixel edges."""
    gt = geotransform
    xs = (gt[0] + window.xoff * gt[1], gt[0] + (window.xoff + window.xsize) * gt[1])
    ys = (gt[3] + window.yoff * gt[5], gt[3] + (window.yoff + window.ysize) * gt[5])
    return (min(xs), min(ys), max(xs), max(ys))


def probability_path(directory: str, unit: Unit) -> str:
    """Where ``--probability-dir`` puts the probability of a unit's core: ``<name>.tif`` for a
    raster in one unit, ``<name>/x<col>_y<row>.tif`` for windows (with a ``<name>.vrt`` mosaic)."""
    c, s = unit.core, unit.source
    if (c.xoff, c.yoff, c.xsize, c.ysize) == (0, 0, s.width, s.height):
        return os.path.join(directory, f"{s.name}.tif")
    return os.path.join(directory, s.name, f"x{c.xoff}_y{c.yoff}.tif")


def _vectorise_core(prob_path: str, unit: Unit, threshold: float) -> list[Piece]:
    core, halo = unit.core, unit.halo
    dx, dy = core.xoff - halo.xoff, core.yoff - halo.yoff
    ds = gdal.Open(prob_path)
    if ds is None or (ds.RasterXSize, ds.RasterYSize) != (halo.xsize, halo.ysize):
        raise DetectionError(
            f"The engine's probability window is not the unit's ({unit.label}); this is a bug, "
            "please report it."
        )
    band = ds.GetRasterBand(1)
    memory = f"/vsimem/landslide-unit-{unit.uid}-{uuid.uuid4().hex[:8]}.gpkg"
    stream = StreamVectorizer(
        memory, None, (float(core.xoff), 1.0, 0.0, float(core.yoff), 0.0, 1.0), core.xsize, threshold
    )
    try:
        with quiet_gdal():  # "no spatial reference" warnings: pixel coordinates on purpose
            for y in range(0, core.ysize, STRIP_ROWS):
                rows = min(STRIP_ROWS, core.ysize - y)
                strip = band.ReadAsArray(dx, dy + y, core.xsize, rows)
                if strip is None:
                    raise DetectionError(
                        f"Reading the unit's probability failed ({unit.label}). Check the disk."
                    )
                stream.add_strip(y, strip.astype(np.float32, copy=False))
            stream.close()
        pieces = []
        out = ogr.Open(memory)
        right, bottom = core.xoff + core.xsize, core.yoff + core.ysize
        for feature in out.GetLayerByName(LAYER_NAME):
            geom = feature.GetGeometryRef()
            pixels = round(feature.GetField("area_m2"))  # no CRS: the area is in pixels
            minx, maxx, miny, maxy = geom.GetEnvelope()
            touches = (
                (LEFT if minx <= core.xoff else 0)
                | (TOP if miny <= core.yoff else 0)
                | (RIGHT if maxx >= right else 0)
                | (BOTTOM if maxy >= bottom else 0)
            ) & unit.seams
            pieces.append(
                Piece(
                    bytes(geom.ExportToWkb(ogr.wkbNDR)),
                    pixels,
                    float(feature.GetField("mean_prob")) * pixels,
                    float(feature.GetField("max_prob")),
                    touches,
                )
            )
        out = None
        return pieces
    except BaseException:
        stream.discard()
        raise
    finally:
        ds = band = None
        gdal.Unlink(memory)


def _save_probability(prob_path: str, unit: Unit, directory: str) -> None:
    """The core's probability, written under a temporary name and renamed (no partial file)."""
    core, halo = unit.core, unit.halo
    final = probability_path(directory, unit)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    temp = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.tmp-{uuid.uuid4().hex[:8]}.tif")
    with quiet_gdal():
        out = gdal.Translate(
            temp,
            prob_path,
            srcWin=[core.xoff - halo.xoff, core.yoff - halo.yoff, core.xsize, core.ysize],
            creationOptions=MASK_OPTIONS,  # no NUM_THREADS: the worker's cores are onnxruntime's
        )
    if out is None:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise DetectionError(f"The probability raster '{final}' cannot be written. Check --probability-dir.")
    out = None
    os.replace(temp, final)


def run_unit(unit: Unit, settings: UnitSettings) -> UnitResult:
    """Run the engine on ``unit`` (the Dask task). Bad input -> a failed result, not an exception."""
    start = time.perf_counter()
    worker = _dask_worker()
    result = UnitResult(unit.uid, ok=False, worker=worker.address if worker is not None else "local")
    result.pid = os.getpid()
    try:
        threads = _threads(settings, worker)
        model = _model_path(settings, worker)
        opened = worker_session(model, settings.options.device, threads)
        result.threads, result.provider = threads, opened[1].used
        result.sessions_opened = _sessions_opened
        source = unit.source
        whole = (unit.halo.xsize, unit.halo.ysize) == (source.width, source.height)
        options = dataclasses.replace(
            settings.options,
            extent=None if whole else window_extent(source.geotransform, unit.halo),
            threads=threads,
            min_area_m2=0.0,  # applied after the seams are joined (batch.merge)
            simplify_tolerance=0.0,  # exact pixel edges are needed to join pieces
        )
        work = tempfile.mkdtemp(prefix="landslide-unit-")
        try:
            prob = os.path.join(work, "probability.tif")
            detected = run_detection(source.path, model, None, prob, options, session=opened)
            result.warnings = list(detected.warnings)
            result.pieces = _vectorise_core(prob, unit, detected.threshold)
            if settings.probability_dir:
                _save_probability(prob, unit, settings.probability_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result.ok = True
    except DetectionError as exc:
        result.message = str(exc)
    result.seconds = time.perf_counter() - start
    return result
