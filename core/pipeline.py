# SPDX-License-Identifier: GPL-2.0-or-later
"""The engine's threads: the tile reader, inference helpers and the worker every later stage is
(:mod:`core.strips` has the blending writer and the strip consumers).

See :mod:`core.engine` for the data flow. Every stage hands work on through a bounded queue, so
memory stays bounded and a failure or cancel in any stage stops the others without blocking.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from osgeo import gdal, gdal_array

from .elevation import ElevationReader
from .errors import DetectionError
from .inputs import Scaling
from .raster_io import (
    Window,
    dataset_srs,
    last_error,
    layer_in_srs,
    quiet_gdal,
    recorded_gdal_errors,
    window_geotransform,
)
from .tiling import TileGrid, pad_reflect
from .valid_pixels import ValidPixels

HELPER_NICE = 10  # niceness added to the reader, writer and vectoriser threads (Linux); 0: none
# Memory that does not grow with the raster's width (see README, "Memory"):
READ_SPAN = 8192  # columns of a tiled raster read at once (whole tiles; one wider tile is read whole)


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
    """What the reader reads: see :class:`core.plan.DetectionPlan`, which makes it."""

    source: str
    window: Window
    bands: list[int]
    grid: TileGrid
    scaling: Scaling
    validity: ValidPixels
    batch_size: int
    mask_path: str | None
    mask_srs_wkt: str
    elevation: str | None = None  # the elevation raster on the source's grid, for extra_channels
    extra_channels: list[str] = field(default_factory=list)  # core.terrain names, after the bands
    pixel_m: tuple[float, float] = (1.0, 1.0)  # pixel width and height in metres (for the slope)

    @property
    def channels(self) -> int:
        """Channels of the model's input: the bands, then the elevation channels."""
        return len(self.bands) + len(self.extra_channels)


def fill_tile(
    tile: np.ndarray, raw: np.ndarray, extra: np.ndarray | None, valid: np.ndarray | None, scaling: Scaling
) -> None:
    """Normalise ``raw`` (bands x h x w) into ``tile`` (C x H x W), the elevation channels ``extra``
    (already normalised) after them: invalid pixels get the fill value, a tile smaller than H x W is
    padded by reflection."""
    n_b, h, w = raw.shape
    img = tile[:n_b, :h, :w]
    np.multiply(raw, scaling.scale[:, None, None], out=img, casting="unsafe")
    np.add(img, scaling.offset[:, None, None], out=img)
    if scaling.clip:
        np.clip(img, -0.5, 0.5, out=img)
    if extra is not None:
        tile[n_b:, :h, :w] = extra
    if valid is not None and not valid.all():
        np.copyto(tile[:, :h, :w], np.float32(scaling.fill), where=~valid[None])
    if (h, w) != tile.shape[1:]:
        tile[...] = pad_reflect(tile[:, :h, :w], *tile.shape[1:])


class _Batches:
    """Fills batch arrays tile by tile; a full batch goes to ``put`` (False: the reader stopped)."""

    def __init__(self, job: TileJob, free: queue.SimpleQueue[np.ndarray], put: Callable[[Any], bool]) -> None:
        self.job, self.free, self.put = job, free, put
        self.pending: TileBatch | None = None
        self.consumed = 0  # grid tiles handled so far
        self.read_s = 0.0
        self._strip: tuple[int, int, np.ndarray | None, int] | None = None

    def begin_strip(self, strip: tuple[int, int, np.ndarray | None, int]) -> None:
        """The valid pixels of the strip whose tiles come next (sent with the first of them)."""
        self._strip = strip

    def add(
        self,
        raw: np.ndarray,
        extra: np.ndarray | None,
        valid: np.ndarray | None,
        tile: tuple[int, int, int, int],
    ) -> bool:
        t0 = time.perf_counter()
        if self.pending is None:
            try:
                data = self.free.get_nowait()
            except queue.Empty:
                grid = self.job.grid
                shape = (self.job.batch_size, self.job.channels, grid.rows.padded, grid.cols.padded)
                data = np.empty(shape, dtype=np.float32)
            self.pending = TileBatch([], data)
        if self._strip is not None:
            self.pending.strips.append(self._strip)
            self._strip = None
        fill_tile(self.pending.data[len(self.pending.tiles)], raw, extra, valid, self.job.scaling)
        self.pending.tiles.append(tile)
        self.consumed += 1
        self.read_s += time.perf_counter() - t0
        if len(self.pending.tiles) < self.job.batch_size:
            return True
        batch, self.pending = self.pending, None
        batch.consumed, batch.read_s, self.read_s = self.consumed, self.read_s, 0.0
        return self.put(batch)

    def finish(self) -> None:
        if self.pending is not None:
            self.pending.data = self.pending.data[: len(self.pending.tiles)]
            self.pending.consumed, self.pending.read_s = self.consumed, self.read_s
            self.put(self.pending)


class TileReader(threading.Thread):
    """Reads, masks and normalises tiles ahead of inference; items go through a bounded queue."""

    def __init__(self, job: TileJob, depth: int) -> None:
        super().__init__(name="landslide-tile-reader", daemon=True)
        self.job = job
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()
        self._raw: np.ndarray | None = None
        self._elevation: ElevationReader | None = None
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

    def _groups(self, ds: gdal.Dataset) -> list[list[int]]:
        """Tile columns read together: runs of whole tiles at most READ_SPAN pixels wide from a tiled
        raster (memory independent of the raster's width), the whole strip from a striped one (whose
        blocks are whole rows: reading them in pieces would decode each row many times)."""
        cols = self.job.grid.cols
        block_w = ds.GetRasterBand(self.job.bands[0]).GetBlockSize()[0]
        if block_w >= ds.RasterXSize:
            return [list(range(cols.count))]
        groups: list[list[int]] = [[]]
        for j in range(cols.count):
            if groups[-1] and int(cols.starts[j]) + cols.length - int(cols.starts[groups[-1][0]]) > READ_SPAN:
                groups.append([])
            groups[-1].append(j)
        return groups

    def _run(self) -> None:
        job = self.job
        with quiet_gdal():
            ds = gdal.Open(job.source)
        if ds is None:
            raise DetectionError(f"The raster '{job.source}' cannot be reopened ({last_error()}).")
        mask_ds = layer = None
        if job.mask_path:
            mask_ds, layer = layer_in_srs(job.mask_path, dataset_srs(ds))
        mask_gt = window_geotransform(ds.GetGeoTransform(), job.window)
        self._elevation = ElevationReader(job.elevation, job.pixel_m) if job.elevation else None
        batches = _Batches(job, self._free, self._put)
        groups = self._groups(ds)
        for ri, y in enumerate(job.grid.rows.starts.tolist()):
            for group in groups:
                if self.stop.is_set() or not self._strip(ds, layer, mask_gt, batches, ri, y, group):
                    return
        batches.finish()
        del mask_ds
        assert batches.consumed == job.grid.count, (batches.consumed, job.grid.count)

    def _strip(
        self,
        ds: gdal.Dataset,
        layer: Any,
        mask_gt: tuple[float, ...],
        batches: _Batches,
        ri: int,
        y: int,
        group: list[int],
    ) -> bool:
        """Read the tiles ``group`` of tile row ``ri`` into ``batches``; False when stopped."""
        cols, h, w = self.job.grid.cols, self.job.grid.rows.length, self.job.grid.cols.length
        t0 = time.perf_counter()
        g0 = int(cols.starts[group[0]])
        strip_mask = None
        candidates = group
        if layer is not None:
            strip_mask = self._mask_strip(layer, mask_gt, g0, y, h, int(cols.starts[group[-1]]) + w - g0)
            colany = strip_mask.any(axis=0)
            starts = [int(cols.starts[j]) - g0 for j in group]
            candidates = [j for j, s in zip(group, starts) if colany[s : s + w].any()]
        batches.consumed += len(group) - len(candidates)
        if not candidates:
            batches.read_s += time.perf_counter() - t0
            return True
        x0 = int(cols.starts[candidates[0]])
        x1 = int(cols.starts[candidates[-1]]) + w
        raw = self._read(ds, x0, y, x1 - x0, h)
        if raw is None:
            return False
        win = self.job.window
        valid = self.job.validity.mask(ds, raw, win.xoff + x0, win.yoff + y)
        if strip_mask is not None:
            sub = strip_mask[:, x0 - g0 : x1 - g0]
            valid = sub if valid is None else valid & sub
        extra = None
        if self._elevation is not None:
            extra = self._elevation.channels(self.job.extra_channels, win.xoff + x0, win.yoff + y, x1 - x0, h)
        batches.read_s += time.perf_counter() - t0
        batches.begin_strip((y, x0, valid, x1 - x0))
        for j in candidates:
            x = int(cols.starts[j]) - x0
            vt = None if valid is None else valid[:, x : x + w]
            if vt is not None and not vt.any():
                batches.consumed += 1
                continue
            tile_extra = None if extra is None else extra[:, :, x : x + w]
            if not batches.add(raw[:, :, x : x + w], tile_extra, vt, (y, x + x0, ri, j)):
                return False
        return True


# --- inference and blending ------------------------------------------------------------------------


def tta_transforms(square: bool) -> list[tuple[int, bool]]:
    """(quarter turns, flip) pairs: the 8 symmetries of a square, or the 4 flips of a rectangle."""
    if square:
        return [(k, f) for k in range(4) for f in (False, True)]
    return [(0, False), (0, True), (2, False), (2, True)]


def infer_batch(
    session: Any,
    name: str,
    data: np.ndarray,
    tta: bool,
    fixed_batch: int | None,
    adapter: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The model's output for ``data`` (n x C x H x W), averaged over flips and rotations with ``tta``.

    ``adapter`` (:meth:`core.model_adapter.ModelAdapter.probability`) turns each output into the
    chosen class's probability (n x H x W) before the average; without it the raw output is returned.
    """
    n = data.shape[0]
    if fixed_batch is not None and n < fixed_batch:
        data = np.concatenate([data, np.zeros((fixed_batch - n, *data.shape[1:]), np.float32)])

    def output(x: np.ndarray) -> np.ndarray:
        y = session.run(None, {name: x})[0]
        return y if adapter is None else adapter(y)

    if not tta:
        out = output(data)
    else:
        out = None
        transforms = tta_transforms(data.shape[2] == data.shape[3])
        for k, flip in transforms:
            x = np.rot90(data, k, axes=(2, 3))
            if flip:
                x = x[..., ::-1]
            y = output(np.ascontiguousarray(x))
            if flip:
                y = y[..., ::-1]
            y = np.rot90(y, -k, axes=(-2, -1))
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
