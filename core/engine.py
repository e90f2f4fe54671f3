# SPDX-License-Identifier: GPL-2.0-or-later
"""Tiled, streamed landslide detection: orthophoto + ONNX model -> probability raster + polygons.

Data flow (memory is bounded by a batch of tiles plus one strip, whatever the raster size):

* a reader thread walks the tile grid row by row: it reads one strip of the needed bands with a
  single windowed ``ReadAsArray``, works out which pixels are valid (nodata values, alpha/mask
  bands, NaN, the optional mask polygons), skips tiles without a valid pixel, normalises the
  others straight into a batch array (nodata pixels get ``ModelInfo.nodata_fill``) and queues it;
* the main thread runs onnxruntime on each batch while the next one is read, multiplies each
  tile's output by its blending weight (see :mod:`core.tiling`) and adds it into a strip
  accumulator; rows no later tile can touch are written in whole 256-pixel block rows with one
  ``WriteArray`` (invalid pixels = -1) and the strip shifts up;
* the probability GeoTIFF (float32 0..1, nodata -1, same grid and CRS as the input, or the
  extent's sub-grid) is then vectorised by :mod:`core.vectorize`.

With ``resample_to_model_gsd`` the input is first warped (a lazy GDAL VRT) to the model's ground
sampling distance; both outputs then stay on that resampled grid.

Outputs are written under temporary names and renamed only when everything succeeded; an error or
a cancel leaves no file behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from osgeo import gdal

from .atomic import AtomicOutputs, check_writable
from .errors import DetectionCanceled, DetectionError
from .model_info import InputSpec, info_from_session, input_spec
from .model_metadata import ModelInfo
from .raster_io import (
    BLOCK,
    PROBABILITY_NODATA,
    Window,
    bounded_gdal_cache,
    create_mask_raster,
    create_probability_raster,
    dataset_srs,
    extent_window,
    last_error,
    layer_in_srs,
    open_raster,
    pixel_size_m,
    quiet_gdal,
    window_geotransform,
)
from .runtime import ProviderReport, create_session
from .tiling import TileGrid, make_grid, pad_reflect, round_up

QUEUE_BYTES = 256 * 1024 * 1024  # input batches read ahead of inference, at most
GSD_WARN_RATIO = 2.0  # warn when raster and model resolutions differ by more than this factor


@dataclass
class DetectionOptions:
    bands: list[int] | None = None  # 1-based raster bands in model order; default: the model's
    threshold: float | None = None  # probability threshold; default: the model's
    min_area_m2: float = 0.0
    device: str = "auto"  # 'auto' | 'cuda' | 'cpu'
    threads: int = 0  # onnxruntime intra-op threads, 0 = onnxruntime's default
    tile_size: int | None = None  # default: the model's
    overlap: int | None = None  # default: the model's
    batch_size: int = 4
    tta: bool = False  # average over flips (and 90-degree rotations for square tiles)
    extent: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax, raster CRS
    mask_path: str | None = None  # polygons limiting the detection (reprojected if needed)
    resample_to_model_gsd: bool = False
    simplify_tolerance: float = 0.0  # map units; 0 keeps exact pixel boundaries
    queue_batches: int = 2  # batches read ahead of inference


@dataclass
class DetectionResult:
    polygons_path: str | None
    probability_path: str | None
    polygon_count: int
    total_area_m2: float
    provider: ProviderReport
    elapsed_s: float
    timings: dict[str, float]
    warnings: list[str]
    pixel_size: tuple[float, float]
    crs_wkt: str
    tiles_total: int = 0
    tiles_inferred: int = 0
    area_units: str = "m2"


def _noop(*_args: Any) -> None:
    return None


# --- input preparation -----------------------------------------------------------------------------


@dataclass
class _Scaling:
    scale: np.ndarray  # float32 (C,)
    offset: np.ndarray  # float32 (C,): normalised = raw * scale + offset
    fill: float
    clip: bool = True  # clip to [-0.5, 0.5] as training does (not needed when the range is the type's)


def _scaling(ds: gdal.Dataset, bands: list[int], info: ModelInfo, warnings: list[str]) -> _Scaling:
    """raw -> (raw - min) / (max - min) - 0.5 from the model's ranges, else the type range / statistics."""
    n = len(bands)
    if len(info.value_min) >= n and len(info.value_max) >= n:
        lo = np.asarray(info.value_min[:n], dtype=np.float64)
        hi = np.asarray(info.value_max[:n], dtype=np.float64)
    else:
        lo, hi = np.zeros(n), np.zeros(n)
        used_stats = False
        for i, b in enumerate(bands):
            band = ds.GetRasterBand(b)
            if band.DataType == gdal.GDT_Byte:
                lo[i], hi[i] = 0.0, 255.0
                continue
            used_stats = True
            try:
                with quiet_gdal():
                    mn, mx = band.ComputeRasterMinMax(True)
            except (RuntimeError, TypeError):
                mn, mx = 0.0, 1.0
            lo[i], hi[i] = mn, mx
        if used_stats:
            warnings.append(
                "The model does not record its input value range: bands were scaled by the raster's "
                "approximate minimum/maximum. Results are better with a model exported with "
                "value_min/value_max."
            )
    span = np.where(hi > lo, hi - lo, 1.0)
    scale = (1.0 / span).astype(np.float32)
    offset = (-lo / span - 0.5).astype(np.float32)
    full_byte = all(ds.GetRasterBand(b).DataType == gdal.GDT_Byte for b in bands) and (
        bool((lo <= 0).all() and (hi >= 255).all())
    )
    return _Scaling(scale, offset, float(info.nodata_fill), clip=not full_byte)


@dataclass
class _Validity:
    """How to tell valid pixels: per-band nodata values, a per-dataset mask (alpha/.msk), NaN."""

    nodata: list[float | None]
    dataset_mask_band: int | None  # 1-based band whose GetMaskBand() is the shared mask
    check_nan: bool

    @property
    def trivial(self) -> bool:
        return self.dataset_mask_band is None and not self.check_nan and all(v is None for v in self.nodata)


def _validity(ds: gdal.Dataset, bands: list[int]) -> _Validity:
    nodata: list[float | None] = []
    dataset_mask = None
    check_nan = False
    for b in bands:
        band = ds.GetRasterBand(b)
        flags = band.GetMaskFlags()
        value = band.GetNoDataValue() if flags & gdal.GMF_NODATA else None
        nodata.append(value)
        if flags & gdal.GMF_PER_DATASET and dataset_mask is None:
            dataset_mask = b
        if band.DataType in (gdal.GDT_Float32, gdal.GDT_Float64):
            check_nan = True
    return _Validity(nodata, dataset_mask, check_nan)


def _check_bands(ds: gdal.Dataset, bands: list[int], spec: InputSpec, info: ModelInfo, raster: str) -> None:
    needed = spec.channels if spec.channels is not None else len(info.bands)
    if len(bands) != needed:
        raise DetectionError(
            f"{len(bands)} bands were chosen ({bands}) but the model needs {needed} "
            f"({', '.join(info.band_names) or 'bands'}). Set BANDS to {needed} raster band numbers "
            "in model order."
        )
    bad = [b for b in bands if not 1 <= b <= ds.RasterCount]
    if bad:
        raise DetectionError(
            f"The raster '{raster}' has {ds.RasterCount} band(s) but the model needs {needed} "
            f"(bands {bands}; band(s) {bad} do not exist). Choose a raster with at least {max(bands)} bands, "
            f"or set BANDS to {needed} existing band numbers (1..{ds.RasterCount}) in model order."
        )


def _check_outputs(raster: str, polygons: str | None, probability: str | None) -> None:
    if not polygons and not probability:
        raise DetectionError(
            "No output was requested. Give a polygon output (.gpkg) and/or a probability raster (.tif)."
        )
    for path, exts, kind in (
        (polygons, (".gpkg",), "polygon"),
        (probability, (".tif", ".tiff"), "probability"),
    ):
        if not path:
            continue
        if os.path.splitext(str(path))[1].lower() not in exts:
            raise DetectionError(
                f"The {kind} output '{path}' must end with {' or '.join(exts)} "
                f"({'GeoPackage' if kind == 'polygon' else 'GeoTIFF'}). Change its file name."
            )
        if os.path.abspath(str(path)) == os.path.abspath(str(raster)):
            raise DetectionError(f"The output '{path}' is the input raster. Choose another output file name.")
        check_writable(path)
    if polygons and probability and os.path.abspath(str(polygons)) == os.path.abspath(str(probability)):
        raise DetectionError("The polygon and probability outputs have the same name. Choose two file names.")


# --- the reader thread -----------------------------------------------------------------------------


@dataclass
class _Batch:
    tiles: list[tuple[int, int, int, int]]  # (y, x, row index, col index) in window pixels
    data: np.ndarray  # (n, C, H, W) float32
    strips: list[tuple[int, int, np.ndarray | None, int]] = field(default_factory=list)  # (y, x, valid, w)
    consumed: int = 0  # grid tiles handled (inferred or skipped) up to this batch
    read_s: float = 0.0


@dataclass
class _Job:
    source: str
    window: Window
    bands: list[int]
    grid: TileGrid
    scaling: _Scaling
    validity: _Validity
    batch_size: int
    mask_path: str | None
    mask_srs_wkt: str


class _Reader(threading.Thread):
    """Reads, masks and normalises tiles ahead of inference; items go through a bounded queue."""

    def __init__(self, job: _Job, depth: int) -> None:
        super().__init__(name="landslide-tile-reader", daemon=True)
        self.job = job
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self._put(exc)
        else:
            self._put(None)

    def _mask_strip(self, layer: Any, gt: tuple[float, ...], y: int, h: int, width: int) -> np.ndarray:
        """Rasterise the mask polygons on the strip (pixel centres inside count)."""
        mem = gdal.GetDriverByName("MEM").Create("", width, h, 1, gdal.GDT_Byte)
        sgt = window_geotransform(gt, Window(0, y, width, h))
        mem.SetGeoTransform(sgt)
        if self.job.mask_srs_wkt:
            mem.SetProjection(self.job.mask_srs_wkt)
        xs = (sgt[0], sgt[0] + width * sgt[1])
        ys = (sgt[3], sgt[3] + h * sgt[5])
        layer.SetSpatialFilterRect(min(xs), min(ys), max(xs), max(ys))
        gdal.RasterizeLayer(mem, [1], layer, burn_values=[1])
        layer.SetSpatialFilter(None)
        return mem.GetRasterBand(1).ReadAsArray().astype(bool)

    def _read(self, ds: gdal.Dataset, x: int, y: int, w: int, h: int) -> np.ndarray:
        win = self.job.window
        try:
            data = ds.ReadAsArray(win.xoff + x, win.yoff + y, w, h, band_list=self.job.bands)
        except RuntimeError as exc:
            raise DetectionError(
                f"Reading the raster failed ({exc}). The file may be damaged: check it."
            ) from exc
        if data is None:
            raise DetectionError(
                f"Reading the raster failed ({last_error()}). The file may be damaged: check it."
            )
        return data.reshape(len(self.job.bands), h, w)

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
        pending: _Batch | None = None
        consumed = 0
        read_s = 0.0

        def new_batch() -> _Batch:
            return _Batch([], np.empty((job.batch_size, n_c, th, tw), dtype=np.float32))

        for ri, y in (pair for pair in enumerate(int(v) for v in rows.starts)):
            if self.stop.is_set():
                return
            t0 = time.perf_counter()
            strip_mask = self._mask_strip(layer, wgt, y, h, job.window.xsize) if layer is not None else None
            candidates = list(range(cols.count))
            if strip_mask is not None:
                colany = strip_mask.any(axis=0)
                candidates = [
                    j for j in candidates if colany[int(cols.starts[j]) : int(cols.starts[j]) + w].any()
                ]
            consumed += cols.count - len(candidates)
            if not candidates:
                read_s += time.perf_counter() - t0
                continue
            x0 = int(cols.starts[candidates[0]])
            x1 = int(cols.starts[candidates[-1]]) + w
            raw = self._read(ds, x0, y, x1 - x0, h)
            valid = self._valid(ds, raw, x0, y)
            if strip_mask is not None:
                sub = strip_mask[:, x0:x1]
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


def _tta_transforms(square: bool) -> list[tuple[int, bool]]:
    """(quarter turns, flip) pairs: the 8 symmetries of a square, or the 4 flips of a rectangle."""
    if square:
        return [(k, f) for k in range(4) for f in (False, True)]
    return [(0, False), (0, True), (2, False), (2, True)]


def _infer(session: Any, name: str, data: np.ndarray, tta: bool, fixed_batch: int | None) -> np.ndarray:
    n = data.shape[0]
    if fixed_batch is not None and n < fixed_batch:
        data = np.concatenate([data, np.zeros((fixed_batch - n, *data.shape[1:]), np.float32)])
    if not tta:
        out = session.run(None, {name: data})[0]
    else:
        out = None
        transforms = _tta_transforms(data.shape[2] == data.shape[3])
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


class _StripWriter(threading.Thread):
    """Blends tile outputs into a strip accumulator and writes finished block rows, in its own
    thread so that blending and GeoTIFF compression overlap with inference."""

    def __init__(
        self,
        band: gdal.Band,
        width: int,
        height: int,
        grid: TileGrid,
        depth: int,
        mask_band: gdal.Band | None = None,
        threshold: float = 0.5,
    ) -> None:
        super().__init__(name="landslide-strip-writer", daemon=True)
        self.band, self.width, self.height, self.grid = band, width, height, grid
        # The thresholded mask for vectorising is written here too: no second pass over the raster.
        self.mask_band, self.threshold = mask_band, np.float32(threshold)
        self.cap = grid.rows.length + BLOCK
        self.acc = np.zeros((self.cap, width), dtype=np.float32)
        self.valid = np.zeros((self.cap, width), dtype=bool)
        self.y0 = 0  # raster row of acc[0]
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None
        self.aborted = False
        self.busy_s = 0.0
        self._weights: dict[tuple[int, int], np.ndarray] = {}

    # -- thread side --
    def run(self) -> None:
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    break
                t0 = time.perf_counter()
                self.add_batch(*item)
                self.busy_s += time.perf_counter() - t0
            if self.aborted:
                return
            t0 = time.perf_counter()
            self.finish()
            self.busy_s += time.perf_counter() - t0
        except BaseException as exc:
            self.error = exc
            # keep draining so that the producer never blocks on a full queue
            while self.queue.get() is not None:
                pass

    def put(self, item: Any) -> None:
        """Queue ``(batch, probs)`` (or None to finish); re-raises a failure of the writer."""
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Finish writing (all rows) and re-raise a writer failure."""
        self.put(None)
        self.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        """Stop without writing the remaining rows (error or cancel: the output is discarded)."""
        self.aborted = True
        if self.is_alive():
            with contextlib.suppress(BaseException):
                self.put(None)
            self.join()

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
        if target > self.y0:
            self._flush(target - self.y0)
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
        if self.band.WriteArray(out, 0, self.y0) != 0:
            raise DetectionError(
                f"Writing the probability raster failed ({last_error()}). Check the disk space."
            )
        self.band.FlushCache()  # compress now and free GDAL's cache (bounded memory)
        if self.mask_band is not None:
            on = out >= self.threshold  # nodata (-1) is never on: threshold >= 0
            if self.mask_band.WriteArray(on.view(np.uint8), 0, self.y0) != 0:
                raise DetectionError(
                    f"Writing the detection mask failed ({last_error()}). Check the disk space."
                )
            self.mask_band.FlushCache()
        rest = self.cap - n
        self.acc[:rest] = self.acc[n:]
        self.acc[rest:] = 0.0
        self.valid[:rest] = self.valid[n:]
        self.valid[rest:] = False
        self.y0 += n

    def add_batch(self, batch: _Batch, probs: np.ndarray) -> None:
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


# --- the public entry point ------------------------------------------------------------------------


def _resample(ds: gdal.Dataset, source: str, gsd: float, extent: Any, folder: str) -> str:
    """A VRT of ``source`` at ``gsd`` metres (projected CRS), restricted to ``extent`` if given."""
    path = os.path.join(folder, "resampled.vrt")
    srs = dataset_srs(ds)
    unit = 1.0 if srs is None else srs.GetLinearUnits() or 1.0
    res = gsd / unit
    gt = ds.GetGeoTransform()
    current = abs(gt[1])
    alg = "average" if res > current else "bilinear"
    has_nodata = ds.GetRasterBand(1).GetNoDataValue() is not None
    kwargs: dict[str, Any] = dict(
        format="VRT", xRes=res, yRes=res, resampleAlg=alg, targetAlignedPixels=False
    )
    if extent is not None:
        kwargs["outputBounds"] = tuple(extent)
    if not has_nodata and ds.GetRasterBand(1).GetMaskFlags() != gdal.GMF_ALL_VALID:
        kwargs["dstAlpha"] = True
    with quiet_gdal():
        out = gdal.Warp(path, ds, **kwargs)
    if out is None:
        raise DetectionError(
            f"Resampling the raster to {gsd} m failed ({last_error()}). Run without resampling."
        )
    out = None
    return path


def run_detection(
    raster_path: str,
    model_path: str,
    polygons_path: str | None,
    probability_path: str | None = None,
    options: DetectionOptions | None = None,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
) -> DetectionResult:
    """Detect landslides in ``raster_path`` with ``model_path``; see the module docstring.

    ``progress`` receives 0..100, ``is_canceled`` is polled between batches (a cancel raises
    DetectionCanceled and leaves no output), ``log`` receives human-readable lines. Bad input
    raises DetectionError before any inference where it can be detected early.
    """
    with bounded_gdal_cache():
        return _run_detection(
            raster_path, model_path, polygons_path, probability_path, options, progress, is_canceled, log
        )


def _run_detection(
    raster_path: str,
    model_path: str,
    polygons_path: str | None,
    probability_path: str | None = None,
    options: DetectionOptions | None = None,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
) -> DetectionResult:
    from .vectorize import vectorize_to

    start = time.perf_counter()
    options = options or DetectionOptions()
    progress = progress or _noop
    log = log or _noop
    is_canceled = is_canceled or (lambda: False)
    raster_path, model_path = str(raster_path), str(model_path)
    polygons_path = str(polygons_path) if polygons_path else None
    probability_path = str(probability_path) if probability_path else None
    warnings: list[str] = []
    timings = {"read": 0.0, "infer": 0.0, "blend_write": 0.0, "vectorise": 0.0}

    def warn(message: str) -> None:
        warnings.append(message)
        log(f"Warning: {message}")

    _check_outputs(raster_path, polygons_path, probability_path)
    src = open_raster(raster_path)
    session, report = create_session(model_path, options.device, options.threads)
    log(f"Execution provider: {report.used} ({report.reason})")
    info = info_from_session(session, model_path)
    spec = input_spec(session)
    bands = [int(b) for b in (options.bands or info.bands)]
    _check_bands(src, bands, spec, info, raster_path)

    work = tempfile.mkdtemp(prefix="landslide-")
    try:
        with AtomicOutputs() as outputs:
            source = raster_path
            extent = options.extent
            srs = dataset_srs(src)
            if srs is None:
                warn(
                    "The raster has no coordinate reference system: the detection works in pixel units and "
                    "areas/perimeters are in (map) pixel units, not m². Assign a CRS to get metric areas."
                )
            size_m = pixel_size_m(src)
            if info.gsd_m > 0 and size_m:
                ratio = size_m / info.gsd_m
                if options.resample_to_model_gsd and (srs is not None and not srs.IsGeographic()):
                    if abs(ratio - 1.0) > 1e-6:
                        log(
                            f"Resampling the raster from {size_m:.3g} m to the model's "
                            f"{info.gsd_m:.3g} m pixels"
                        )
                        source = _resample(src, raster_path, info.gsd_m, extent, work)
                        src = open_raster(source)
                        extent = None
                elif options.resample_to_model_gsd:
                    warn("Resampling to the model's resolution needs a projected CRS in metres; skipped.")
                if not options.resample_to_model_gsd and not (1 / GSD_WARN_RATIO <= ratio <= GSD_WARN_RATIO):
                    warn(
                        f"The raster's pixels ({size_m:.3g} m) are {ratio:.2g} times the model's training "
                        f"resolution ({info.gsd_m:.3g} m): detection quality may suffer. Enable "
                        "resampling to the model's resolution or use imagery closer to it."
                    )
            window = (
                extent_window(src, extent)
                if extent is not None
                else Window(0, 0, src.RasterXSize, src.RasterYSize)
            )
            scaling = _scaling(src, bands, info, warnings)
            validity = _validity(src, bands)

            div = max(1, int(info.size_divisor or 1))
            tile = int(options.tile_size or info.tile_size or 512)
            tile = round_up(max(tile, div), div)
            overlap = int(info.overlap if options.overlap is None else options.overlap)
            if overlap < 0 or overlap >= tile:
                raise DetectionError(
                    f"The overlap ({overlap}) must be between 0 and the tile size ({tile}) - 1."
                )
            fixed_hw = (spec.height, spec.width)
            if options.tile_size and spec.height and spec.height != tile:
                warn(f"The model only accepts {spec.height} x {spec.width} tiles; tile size {tile} ignored.")
            grid = make_grid(window.ysize, window.xsize, tile, overlap, div, fixed_hw)
            batch_size = spec.batch or max(1, int(options.batch_size))

            prob_final = probability_path or os.path.join(work, "probability.tif")
            prob_tmp = outputs.temp_for(probability_path) if probability_path else prob_final
            out_ds = create_probability_raster(prob_tmp, src, window)
            threshold = float(info.threshold if options.threshold is None else options.threshold)
            if not 0.0 <= threshold <= 1.0:
                raise DetectionError(
                    f"The threshold {threshold} is not a probability. Use a value from 0 to 1."
                )
            mask_ds = None
            if polygons_path:
                mask_ds = create_mask_raster(os.path.join(work, "mask.tif"), out_ds)
            writer = _StripWriter(
                out_ds.GetRasterBand(1),
                window.xsize,
                window.ysize,
                grid,
                options.queue_batches,
                mask_ds.GetRasterBand(1) if mask_ds is not None else None,
                threshold,
            )
            mask_srs = src.GetProjection()
            job = _Job(
                source, window, bands, grid, scaling, validity, batch_size, options.mask_path, mask_srs
            )
            if options.mask_path:
                layer_in_srs(options.mask_path, srs)  # fail early on a bad mask file
            log(
                f"{window.xsize} x {window.ysize} pixels, {grid.count} tiles of {grid.rows.padded} x "
                f"{grid.cols.padded} (overlap {overlap}), batches of {batch_size}, bands {bands}"
            )
            vector_share = 90.0 if polygons_path else 100.0
            # Large tiles x batches: read fewer batches ahead so that memory stays bounded.
            batch_bytes = batch_size * len(bands) * grid.rows.padded * grid.cols.padded * 4
            depth = max(1, min(int(options.queue_batches), QUEUE_BYTES // max(batch_bytes, 1)))
            reader = _Reader(job, depth)
            inferred = 0
            reader.start()
            writer.start()
            finished = False
            try:
                while True:
                    if is_canceled():
                        raise DetectionCanceled()
                    item = reader.queue.get()
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    timings["read"] += item.read_s
                    t0 = time.perf_counter()
                    probs = _infer(session, spec.name, item.data, options.tta, spec.batch)
                    timings["infer"] += time.perf_counter() - t0
                    item.data = None  # the input batch is no longer needed: free it early
                    writer.put((item, probs))
                    inferred += len(item.tiles)
                    progress(vector_share * item.consumed / max(grid.count, 1))
                if is_canceled():
                    raise DetectionCanceled()
                t0 = time.perf_counter()
                writer.close()
                timings["writer_wait"] = time.perf_counter() - t0
                finished = True
            finally:
                reader.stop.set()
                reader.join()
                if not finished:
                    writer.abort()
                    # close the files now so that the atomic clean-up can delete them (Windows)
                    out_ds = mask_ds = writer = None
            timings["blend_write"] = writer.busy_s
            out_ds.FlushCache()
            # Free the pipeline's buffers and the session before vectorising (peak memory).
            if mask_ds is not None:
                mask_ds.FlushCache()
            out_ds = mask_ds = writer = reader = session = None
            log(f"Inferred {inferred} of {grid.count} tiles")

            gt = src.GetGeoTransform()
            count, area = 0, 0.0
            if polygons_path:
                t0 = time.perf_counter()
                vres = vectorize_to(
                    prob_final if not probability_path else prob_tmp,
                    outputs.temp_for(polygons_path),
                    threshold,
                    min_area_m2=options.min_area_m2,
                    simplify_tolerance=options.simplify_tolerance,
                    progress=lambda p: progress(vector_share + (100.0 - vector_share) * p / 100.0),
                    is_canceled=is_canceled,
                    mask_path=os.path.join(work, "mask.tif"),
                )
                count, area = vres.polygon_count, vres.total_area_m2
                timings.update({f"vectorise_{k}": v for k, v in vres.timings.items()})
                for w in vres.warnings:
                    if w not in warnings:
                        warn(w)
                timings["vectorise"] = time.perf_counter() - t0
            if is_canceled():
                raise DetectionCanceled()
            outputs.commit()
        progress(100.0)
        return DetectionResult(
            polygons_path=polygons_path,
            probability_path=probability_path,
            polygon_count=count,
            total_area_m2=area,
            provider=report,
            elapsed_s=time.perf_counter() - start,
            timings=timings,
            warnings=warnings,
            pixel_size=(abs(gt[1]), abs(gt[5])),
            crs_wkt=src.GetProjection() or "",
            tiles_total=grid.count,
            tiles_inferred=inferred,
            area_units="m2" if srs is not None else "pixel units",
        )
    finally:
        src = None
        shutil.rmtree(work, ignore_errors=True)
