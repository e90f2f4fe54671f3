# SPDX-License-Identifier: GPL-2.0-or-later
"""The engine's threads: tile reader, inference helpers, blending strip writer and vectoriser.

See :mod:`core.engine` for the data flow. Every stage hands work on through a bounded queue, so
memory stays bounded and a failure or cancel in any stage stops the others without blocking.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from osgeo import gdal, gdal_array

from .errors import DetectionCanceled, DetectionError
from .inputs import Scaling, Validity
from .raster_io import (
    BLOCK,
    PROBABILITY_NODATA,
    Window,
    dataset_srs,
    last_error,
    layer_in_srs,
    quiet_gdal,
    recorded_gdal_errors,
    window_geotransform,
)
from .tiling import TileGrid, pad_reflect

HELPER_NICE = 10  # niceness added to the reader, writer and vectoriser threads (Linux); 0: none
# Memory that does not grow with the raster's width (see README, "Memory"):
READ_SPAN = 8192  # columns of a tiled raster read at once (whole tiles; one wider tile is read whole)
VECTOR_PIECE_PIXELS = 16 * 1024 * 1024  # pixels per piece handed to the vectoriser (64 MB of float32)
WRITE_SPAN = 32 * BLOCK  # columns of the probability raster compressed at once


def yield_cores_to_inference() -> None:
    """Lower the calling helper thread's priority (Linux: per-thread niceness).

    onnxruntime splits every operator statically over its intra-op threads, so when a helper
    thread preempts one of them the others wait at the end of the operator: on 2 cores this cost
    about twice the helpers' own CPU time (bench/README.md). Ten nice levels down, the helpers
    still run, mostly on the cycles onnxruntime leaves idle.
    """
    if HELPER_NICE <= 0 or not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + HELPER_NICE))


# --- the reader thread -----------------------------------------------------------------------------


@dataclass
class TileBatch:
    tiles: list[tuple[int, int, int, int]]  # (y, x, row index, col index) in window pixels
    data: np.ndarray  # (n, C, H, W) float32
    strips: list[tuple[int, int, np.ndarray | None, int]] = field(default_factory=list)  # (y, x, valid, w)
    consumed: int = 0  # grid tiles handled (inferred or skipped) up to this batch
    read_s: float = 0.0


@dataclass
class TileJob:
    source: str
    window: Window
    bands: list[int]
    grid: TileGrid
    scaling: Scaling
    validity: Validity
    batch_size: int
    mask_path: str | None
    mask_srs_wkt: str


class TileReader(threading.Thread):
    """Reads, masks and normalises tiles ahead of inference; items go through a bounded queue."""

    def __init__(self, job: TileJob, depth: int) -> None:
        super().__init__(name="landslide-tile-reader", daemon=True)
        self.job = job
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()
        self._raw: np.ndarray | None = None
        self.cpu_s = 0.0
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()  # batch arrays to reuse

    def release(self, data: np.ndarray | None) -> None:
        """Give an inferred batch array back for reuse (fresh 10+ MB arrays cost page faults)."""
        if data is None:
            return
        base = data if data.base is None else data.base
        if isinstance(base, np.ndarray) and base.ndim == 4 and base.shape[0] == self.job.batch_size:
            self._free.put(base)

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        yield_cores_to_inference()
        try:
            self._run()
        except BaseException as exc:
            self._put(exc)
        else:
            self.cpu_s = time.thread_time()  # CPU this thread took from the cores (benchmarks)
            self._put(None)

    def _mask_strip(
        self, layer: Any, gt: tuple[float, ...], x: int, y: int, h: int, width: int
    ) -> np.ndarray:
        """Rasterise the mask polygons on columns x..x+width of the strip (pixel centres inside count)."""
        mem = gdal.GetDriverByName("MEM").Create("", width, h, 1, gdal.GDT_Byte)
        sgt = window_geotransform(gt, Window(x, y, width, h))
        mem.SetGeoTransform(sgt)
        if self.job.mask_srs_wkt:
            mem.SetProjection(self.job.mask_srs_wkt)
        xs = (sgt[0], sgt[0] + width * sgt[1])
        ys = (sgt[3], sgt[3] + h * sgt[5])
        layer.SetSpatialFilterRect(min(xs), min(ys), max(xs), max(ys))
        gdal.RasterizeLayer(mem, [1], layer, burn_values=[1])
        layer.SetSpatialFilter(None)
        return mem.GetRasterBand(1).ReadAsArray().astype(bool)

    def _read(self, ds: gdal.Dataset, x: int, y: int, w: int, h: int) -> np.ndarray | None:
        """Bands x h x w from the window (None when stopped meanwhile)."""
        win = self.job.window
        size = len(self.job.bands) * h * w
        if self._raw is None or self._raw.size < size:
            gdt = ds.GetRasterBand(self.job.bands[0]).DataType
            for b in self.job.bands[1:]:
                gdt = gdal.DataTypeUnion(gdt, ds.GetRasterBand(b).DataType)
            dtype = gdal_array.GDALTypeCodeToNumericTypeCode(gdt)
            self._raw = np.empty(size, dtype=dtype or np.float64)  # reused: no page faults per strip
        buffer = self._raw[:size].reshape(len(self.job.bands), h, w)

        def keep_going(*_args: Any) -> int:  # lets a stop interrupt a long read (a very wide strip)
            return 0 if self.stop.is_set() else 1

        with recorded_gdal_errors() as errors:
            try:
                data = ds.ReadAsArray(
                    win.xoff + x,
                    win.yoff + y,
                    w,
                    h,
                    buf_obj=buffer,
                    band_list=self.job.bands,
                    callback=keep_going,
                )
            except RuntimeError as exc:
                data = None
                errors.messages.append(str(exc))
        if self.stop.is_set():
            return None
        if data is None:
            raise DetectionError(
                f"Reading the raster failed ({errors.summary(last_error())}). The file may be damaged: "
                "check it (e.g. open it in QGIS, or run gdalinfo -checksum on it)."
            )
        return data.reshape(len(self.job.bands), h, w)

    def _groups(self, ds: gdal.Dataset, count: int, starts: np.ndarray, w: int) -> list[list[int]]:
        """Tile columns read together: runs of whole tiles at most READ_SPAN pixels wide from a tiled
        raster (memory independent of the raster's width), the whole strip from a striped one (whose
        blocks are whole rows: reading them in pieces would decode each row many times)."""
        block_w = ds.GetRasterBand(self.job.bands[0]).GetBlockSize()[0]
        if block_w >= ds.RasterXSize:
            return [list(range(count))]
        groups: list[list[int]] = [[]]
        for j in range(count):
            if groups[-1] and int(starts[j]) + w - int(starts[groups[-1][0]]) > READ_SPAN:
                groups.append([])
            groups[-1].append(j)
        return groups

    def _valid(self, ds: gdal.Dataset, raw: np.ndarray, x: int, y: int) -> np.ndarray | None:
        v = self.job.validity
        if v.trivial:
            return None
        _, h, w = raw.shape
        valid = np.ones((h, w), dtype=bool)
        for c, nd in enumerate(v.nodata):
            if nd is None:
                continue
            if math.isnan(nd):
                valid &= ~np.isnan(raw[c])
            else:
                valid &= raw[c] != nd
        if v.check_nan:
            valid &= ~np.isnan(raw).any(axis=0)
        if v.dataset_mask_band is not None:
            win = self.job.window
            mask = ds.GetRasterBand(v.dataset_mask_band).GetMaskBand()
            valid &= mask.ReadAsArray(win.xoff + x, win.yoff + y, w, h) > 0
        return valid

    def _run(self) -> None:
        job = self.job
        grid, rows, cols = job.grid, job.grid.rows, job.grid.cols
        with quiet_gdal():
            ds = gdal.Open(job.source)
        if ds is None:
            raise DetectionError(f"The raster '{job.source}' cannot be reopened ({last_error()}).")
        mask_ds = layer = None
        gt = ds.GetGeoTransform()
        wgt = window_geotransform(gt, job.window)
        if job.mask_path:
            mask_ds, layer = layer_in_srs(job.mask_path, dataset_srs(ds))
        n_c = len(job.bands)
        th, tw = rows.padded, cols.padded
        h, w = rows.length, cols.length
        pending: TileBatch | None = None
        consumed = 0
        read_s = 0.0

        def new_batch() -> TileBatch:
            try:
                data = self._free.get_nowait()
            except queue.Empty:
                data = np.empty((job.batch_size, n_c, th, tw), dtype=np.float32)
            return TileBatch([], data)

        groups = self._groups(ds, cols.count, cols.starts, w)
        for ri, y, group in ((ri, int(v), g) for ri, v in enumerate(rows.starts) for g in groups):
            if self.stop.is_set():
                return
            t0 = time.perf_counter()
            g0 = int(cols.starts[group[0]])
            g1 = int(cols.starts[group[-1]]) + w
            strip_mask = self._mask_strip(layer, wgt, g0, y, h, g1 - g0) if layer is not None else None
            candidates = group
            if strip_mask is not None:
                colany = strip_mask.any(axis=0)
                candidates = [
                    j for j in group if colany[int(cols.starts[j]) - g0 : int(cols.starts[j]) - g0 + w].any()
                ]
            consumed += len(group) - len(candidates)
            if not candidates:
                read_s += time.perf_counter() - t0
                continue
            x0 = int(cols.starts[candidates[0]])
            x1 = int(cols.starts[candidates[-1]]) + w
            raw = self._read(ds, x0, y, x1 - x0, h)
            if raw is None:
                return
            valid = self._valid(ds, raw, x0, y)
            if strip_mask is not None:
                sub = strip_mask[:, x0 - g0 : x1 - g0]
                valid = sub if valid is None else valid & sub
            read_s += time.perf_counter() - t0
            strip_added = False
            for j in candidates:
                x = int(cols.starts[j])
                vt = None if valid is None else valid[:, x - x0 : x - x0 + w]
                if vt is not None and not vt.any():
                    consumed += 1
                    continue
                t0 = time.perf_counter()
                if pending is None:
                    pending = new_batch()
                if not strip_added:
                    pending.strips.append((y, x0, valid, x1 - x0))
                    strip_added = True
                k = len(pending.tiles)
                dst = pending.data[k, :, :h, :w]
                np.multiply(
                    raw[:, :, x - x0 : x - x0 + w],
                    job.scaling.scale[:, None, None],
                    out=dst,
                    casting="unsafe",
                )
                np.add(dst, job.scaling.offset[:, None, None], out=dst)
                if job.scaling.clip:
                    np.clip(dst, -0.5, 0.5, out=dst)
                if vt is not None and not vt.all():
                    np.copyto(dst, np.float32(job.scaling.fill), where=~vt[None])
                if (h, w) != (th, tw):
                    pending.data[k] = pad_reflect(dst, th, tw)
                pending.tiles.append((y, x, ri, j))
                consumed += 1
                read_s += time.perf_counter() - t0
                if len(pending.tiles) == job.batch_size:
                    pending.consumed, pending.read_s, read_s = consumed, read_s, 0.0
                    if not self._put(pending):
                        return
                    pending = None
        if pending is not None:
            pending.data = pending.data[: len(pending.tiles)]
            pending.consumed, pending.read_s = consumed, read_s
            self._put(pending)
        del mask_ds
        assert consumed == grid.count, (consumed, grid.count)


# --- inference and blending ------------------------------------------------------------------------


def tta_transforms(square: bool) -> list[tuple[int, bool]]:
    """(quarter turns, flip) pairs: the 8 symmetries of a square, or the 4 flips of a rectangle."""
    if square:
        return [(k, f) for k in range(4) for f in (False, True)]
    return [(0, False), (0, True), (2, False), (2, True)]


def infer_batch(session: Any, name: str, data: np.ndarray, tta: bool, fixed_batch: int | None) -> np.ndarray:
    n = data.shape[0]
    if fixed_batch is not None and n < fixed_batch:
        data = np.concatenate([data, np.zeros((fixed_batch - n, *data.shape[1:]), np.float32)])
    if not tta:
        out = session.run(None, {name: data})[0]
    else:
        out = None
        transforms = tta_transforms(data.shape[2] == data.shape[3])
        for k, flip in transforms:
            x = np.rot90(data, k, axes=(2, 3))
            if flip:
                x = x[..., ::-1]
            y = session.run(None, {name: np.ascontiguousarray(x)})[0]
            if flip:
                y = y[..., ::-1]
            y = np.rot90(y, -k, axes=(2, 3))
            out = y.astype(np.float32) if out is None else out + y
        out = out / np.float32(len(transforms))
    return out[:n]


class Worker(threading.Thread):
    """A pipeline stage in its own thread, fed through a bounded queue; ``None`` ends the input.

    ``close()`` finishes the work and re-raises a failure of the stage; ``abort()`` stops it
    without finishing (the outputs are then discarded) and never blocks on a full queue.
    """

    def __init__(self, name: str, depth: int) -> None:
        super().__init__(name=name, daemon=True)
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None
        self.aborted = False
        self.busy_s = 0.0  # wall time spent handling items (includes waiting for a core)
        self.cpu_s = 0.0
        self._closing = threading.Event()

    def handle(self, item: Any) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        return None

    def run(self) -> None:
        yield_cores_to_inference()
        input_done = False
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    input_done = True
                    break
                if self.aborted:
                    continue
                t0 = time.perf_counter()
                self.handle(item)
                self.busy_s += time.perf_counter() - t0
            if not self.aborted:
                t0 = time.perf_counter()
                self.finish()
                self.busy_s += time.perf_counter() - t0
            self.cpu_s = time.thread_time()  # CPU this thread took from the cores (benchmarks)
        except BaseException as exc:
            self.error = exc
            self.aborted = True
            # keep draining so that a producer never blocks on a full queue (unless the end of the
            # input came already: a failure while finishing)
            while not input_done and not self._closing.is_set():
                try:
                    if self.queue.get(timeout=0.1) is None:
                        break
                except queue.Empty:
                    continue
        finally:
            if self.aborted:
                self.discard()

    def discard(self) -> None:
        """Release what the stage holds after an abort or a failure (in its own thread)."""
        return None

    def put(self, item: Any, give_up: Callable[[], bool] | None = None) -> bool:
        """Queue ``item`` (None finishes); re-raises a failure of this stage. Returns False without
        queueing when ``give_up()`` turns true while the queue is full (a cancel or an abort)."""
        while True:
            if self.error is not None:
                raise self.error
            if not self.is_alive():
                raise RuntimeError(f"{self.name} stopped unexpectedly")
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if give_up is not None and give_up():
                    return False

    def close(self) -> None:
        self.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def abort(self, wait_s: float | None = None) -> None:
        """Stop without finishing; wait for the thread (at most ``wait_s`` seconds when given: a
        stage that owns everything it touches may finish its current step after the caller left)."""
        self.aborted = True
        self._closing.set()
        deadline = None if wait_s is None else time.perf_counter() + wait_s
        while self.is_alive() and (deadline is None or time.perf_counter() < deadline):
            with contextlib.suppress(queue.Full):
                self.queue.put(None, timeout=0.1)
            self.join(timeout=0.1)


class VectorWorker(Worker):
    """Vectorises finished strips of the probability raster while inference goes on."""

    def __init__(self, stream: Any, depth: int = 2) -> None:
        super().__init__("landslide-vectoriser", depth)
        self.stream = stream
        self.stream.should_stop = lambda: self.aborted  # an abort interrupts a long strip
        self.result: Any = None

    def handle(self, item: tuple[int, np.ndarray]) -> None:
        self.stream.add_strip(*item)

    def finish(self) -> None:
        self.result = self.stream.close()

    def discard(self) -> None:
        # Here, not in the caller's thread: a cancel need not wait for a long GEOS union to end,
        # and the GeoPackage is closed by the only thread that uses it.
        self.stream.discard()


class StripWriter(Worker):
    """Blends tile outputs into a strip accumulator and writes finished block rows, in its own
    thread so that blending and GeoTIFF compression overlap with inference; finished strips also
    go to the vectoriser."""

    def __init__(
        self,
        band: gdal.Band | None,
        width: int,
        height: int,
        grid: TileGrid,
        depth: int,
        vectorizer: VectorWorker | None = None,
    ) -> None:
        super().__init__("landslide-strip-writer", depth)
        self.band, self.width, self.height, self.grid = band, width, height, grid
        self.vectorizer = vectorizer
        self.cap = grid.rows.length + BLOCK
        self.acc = np.zeros((self.cap, width), dtype=np.float32)
        self.valid = np.zeros((self.cap, width), dtype=bool)
        self.y0 = 0  # raster row of acc[0]
        self._weights: dict[tuple[int, int], np.ndarray] = {}

    def handle(self, item: tuple[TileBatch, np.ndarray]) -> None:
        self.add_batch(*item)

    # -- work --
    def _weight(self, ri: int, cj: int) -> np.ndarray:
        """2-D weight of tile (ri, cj); interior tiles share one array (few distinct weights)."""
        rows, cols = self.grid.rows, self.grid.cols
        key = (rows.weight_ids[ri], cols.weight_ids[cj])
        w = self._weights.get(key)
        if w is None:
            w = rows.weights[ri][:, None] * cols.weights[cj][None, :]
            self._weights[key] = w
        return w

    def _ensure(self, y_min: int, y_max: int) -> None:
        """Make rows [y_min, y_max) addressable: flush finished rows (< y_min), grow if still short."""
        if y_min < self.y0:
            raise RuntimeError("tiles arrived out of order")
        target = min((y_min // BLOCK) * BLOCK, self.height)
        while target > self.y0:  # skipped tile rows (no imagery) can jump further than the strip holds
            self._flush(min(target - self.y0, self.cap))
        if y_max - self.y0 > self.cap:
            extra = y_max - self.y0 - self.cap
            self.acc = np.concatenate([self.acc, np.zeros((extra, self.width), np.float32)])
            self.valid = np.concatenate([self.valid, np.zeros((extra, self.width), bool)])
            self.cap += extra

    def _flush(self, n: int) -> None:
        n = min(n, self.height - self.y0)
        if n <= 0:
            return
        out = self.acc[:n]
        np.clip(out, 0.0, 1.0, out=out)
        np.copyto(out, np.float32(PROBABILITY_NODATA), where=~self.valid[:n])
        if self.band is not None:
            with recorded_gdal_errors() as errors:
                ok = True
                try:
                    # In whole blocks of at most WRITE_SPAN columns, each compressed at once (bounded
                    # cache, and an abort does not wait for a whole very wide strip).
                    for x in range(0, self.width, WRITE_SPAN):
                        if self.aborted:
                            raise DetectionCanceled()
                        ok = self.band.WriteArray(out[:, x : x + WRITE_SPAN], x, self.y0) == 0 and ok
                        self.band.FlushCache()
                except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
                    ok = False
                    errors.messages.append(str(exc))
            if not ok or errors.messages:
                raise DetectionError(
                    f"Writing the probability raster failed ({errors.summary(last_error())}). "
                    "Check the free disk space."
                )
        if self.vectorizer is not None:
            # In pieces of a bounded pixel count: a very wide raster gets thinner strips, so the
            # vectoriser's queue and work arrays do not grow with the width, and an abort is prompt.
            rows = max(1, VECTOR_PIECE_PIXELS // max(self.width, 1))
            for r in range(0, n, rows):
                piece = (self.y0 + r, out[r : r + rows].copy())
                if not self.vectorizer.put(piece, give_up=lambda: self.aborted):
                    raise DetectionCanceled()  # aborted meanwhile: nothing more to do
        rest = self.cap - n
        self.acc[:rest] = self.acc[n:]
        self.acc[rest:] = 0.0
        self.valid[:rest] = self.valid[n:]
        self.valid[rest:] = False
        self.y0 += n

    def add_batch(self, batch: TileBatch, probs: np.ndarray) -> None:
        grid = self.grid
        h, w = grid.rows.length, grid.cols.length
        ys = [t[0] for t in batch.tiles] + [s[0] for s in batch.strips]
        self._ensure(min(ys), max(ys) + h)
        for y, x, valid, sw in batch.strips:
            region = self.valid[y - self.y0 : y - self.y0 + h, x : x + sw]
            if valid is None:
                region[...] = True
            else:
                region[...] = valid
        tmp = np.empty((h, w), np.float32)
        for k, (y, x, ri, cj) in enumerate(batch.tiles):
            np.multiply(probs[k, 0, :h, :w], self._weight(ri, cj), out=tmp)
            region = self.acc[y - self.y0 : y - self.y0 + h, x : x + w]
            np.add(region, tmp, out=region)

    def finish(self) -> None:
        while self.y0 < self.height:
            self._flush(min(self.cap, self.height - self.y0))
