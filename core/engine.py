# SPDX-License-Identifier: GPL-2.0-or-later
"""Tiled, streamed landslide detection: orthophoto + ONNX model -> probability raster + polygons.

Data flow (memory is bounded by a few batches of tiles plus a strip of rows, whatever the raster
size; GDAL's block cache is capped during a run, see :func:`core.raster_io.bounded_gdal_cache`):

* a **reader thread** walks the tile grid row by row: one windowed ``ReadAsArray`` per strip of the
  needed bands, the valid pixels (nodata values, alpha/mask bands, NaN, the optional mask
  polygons rasterised on the strip), tiles without a valid pixel skipped, the others normalised
  straight into a batch array (invalid pixels get ``ModelInfo.nodata_fill``, small rasters are
  padded by reflection to a multiple of ``size_divisor``);
* the **calling thread** runs onnxruntime on each batch while the next one is read (optionally
  averaging flips/rotations: TTA);
* a **writer thread** multiplies each tile's output by its blending weight (see
  :mod:`core.tiling`: weights sum to 1 at every pixel, so no seams and no edge artefacts) and adds
  it into a strip accumulator; rows no later tile can touch are written in whole 256-pixel block
  rows with one ``WriteArray`` (invalid pixels = -1) and the strip shifts up;
* a **vectoriser thread** turns each finished strip into polygons (:class:`StreamVectorizer`),
  so the polygons are ready when inference ends.

The probability GeoTIFF (float32 0..1, nodata -1, tiled, DEFLATE) has the input's grid and CRS,
or the extent's sub-grid; it is written only when asked for. With ``resample_to_model_gsd`` the
input is first warped (a lazy GDAL VRT) to the model's ground sampling distance and both outputs
stay on that resampled grid. A raster without CRS is processed in pixel units (with a warning).

Outputs are written under temporary names and renamed only when everything succeeded; an error or
a cancel leaves no file behind.
"""

from __future__ import annotations

import queue
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .atomic import AtomicOutputs, make_work_folder
from .errors import DetectionCanceled, DetectionError
from .inputs import check_bands, check_outputs, resample_to_gsd, validity_rules, value_scaling
from .memory import check_fits, check_tile_size, detection_bytes
from .model_info import info_from_session, input_spec
from .pipeline import (
    READ_SPAN,
    VECTOR_PIECE_PIXELS,
    StripWriter,
    TileJob,
    TileReader,
    VectorWorker,
    Worker,
    infer_batch,
)
from .raster_io import (
    Window,
    bounded_gdal_cache,
    create_probability_raster,
    dataset_srs,
    extent_window,
    layer_in_srs,
    open_raster,
    pixel_size_m,
    quiet_gdal,
    recorded_gdal_errors,
    verify_raster,
    window_geotransform,
)
from .runtime import ProviderReport, create_session
from .tiling import fit_tile_length, make_grid, round_up
from .vectorize import StreamVectorizer

QUEUE_BYTES = 256 * 1024 * 1024  # input batches read ahead of inference, at most
GPU_BATCH_TILES = 4  # automatic GPU batches hold the pixels of this many model-size tiles
GSD_WARN_RATIO = 2.0  # warn when raster and model resolutions differ by more than this factor
VECTOR_ABORT_WAIT_S = 1.0  # a cancel waits this long at most for the vectoriser's current step


@dataclass
class DetectionOptions:
    bands: list[int] | None = None  # 1-based raster bands in model order; default: the model's
    threshold: float | None = None  # probability threshold; default: the model's
    min_area_m2: float | None = None  # polygons smaller than this are dropped; default: the model's
    device: str = "auto"  # 'auto' | 'cuda' | 'cpu'
    threads: int = 0  # onnxruntime intra-op threads, 0 = onnxruntime's default
    tile_size: int | None = None  # default: fitted to the raster (see core.tiling.fit_tile_length)
    overlap: int | None = None  # default: the model's
    batch_size: int = 0  # 0: automatic (see auto_batch_size)
    tta: bool = False  # average over flips (and 90-degree rotations for square tiles)
    extent: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax, raster CRS
    mask_path: str | None = None  # polygons limiting the detection (reprojected if needed)
    resample_to_model_gsd: bool = False
    simplify_tolerance: float = 0.0  # map units; 0 keeps exact pixel boundaries
    queue_batches: int = 2  # batches read ahead of inference
    precision: str = "auto"  # 'auto' | 'float32' | 'int8' on the CPU (see core.precision)


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
    threshold: float = 0.5  # the threshold and minimum area applied (the model's unless overridden)
    min_area_m2: float = 0.0

    @property
    def precision(self) -> str:
        """'float32' or 'int8': the model file that ran (see ``provider.precision_reason``)."""
        return self.provider.precision


def auto_batch_size(requested: int, provider: str, model_tile: int, tile_pixels: int) -> int:
    """``requested`` when > 0; else 1 on CPU and, on a GPU, as many tiles as hold the pixels of
    ``GPU_BATCH_TILES`` model-size tiles (at least 1).

    On CPU a batch is no faster than single tiles (measured: +-3 % from 1 to 8) and every extra
    tile costs onnxruntime several hundred MB of activations; a GPU needs work in flight.
    """
    if requested > 0:
        return int(requested)
    if provider != "CUDA":
        return 1
    return max(1, GPU_BATCH_TILES * model_tile * model_tile // max(tile_pixels, 1))


def _noop(*_args: Any) -> None:
    return None


# --- the public entry point ------------------------------------------------------------------------


def run_detection(
    raster_path: str,
    model_path: str,
    polygons_path: str | None,
    probability_path: str | None = None,
    options: DetectionOptions | None = None,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
    session: tuple[Any, ProviderReport] | None = None,
) -> DetectionResult:
    """Detect landslides in ``raster_path`` with ``model_path``; see the module docstring.

    ``progress`` receives 0..100, ``is_canceled`` is polled between batches (a cancel raises
    DetectionCanceled and leaves no output), ``log`` receives human-readable lines. Bad input
    raises DetectionError before any inference where it can be detected early. ``session``: an
    open ``core.runtime.create_session(model_path, ...)`` result to reuse instead of opening one
    (the batch command keeps one per worker process); ``options.device``/``threads`` then do not apply.
    """
    with bounded_gdal_cache():
        return _run_detection(
            raster_path,
            model_path,
            polygons_path,
            probability_path,
            options,
            progress,
            is_canceled,
            log,
            session,
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
    opened: tuple[Any, ProviderReport] | None = None,
) -> DetectionResult:
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

    check_outputs(raster_path, polygons_path, probability_path)
    src = open_raster(raster_path)
    session, report = opened or create_session(model_path, options.device, options.threads, options.precision)
    log(f"Execution provider: {report.used} ({report.reason})")
    log(f"Precision: {report.precision} ({report.precision_reason})")
    info = info_from_session(session, model_path)
    spec = input_spec(session)
    bands = [int(b) for b in (options.bands or info.bands)]
    check_bands(src, bands, spec, info, raster_path)

    work = make_work_folder("engine")
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
                        source = resample_to_gsd(src, raster_path, info.gsd_m, extent, work)
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
            scaling = value_scaling(src, bands, info, warnings)
            validity = validity_rules(src, bands)

            div = max(1, int(info.size_divisor or 1))
            if options.tile_size:
                check_tile_size(int(options.tile_size))
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
            tile_hw = (
                (tile, tile)
                if options.tile_size
                else (
                    fit_tile_length(window.ysize, tile, overlap, div),
                    fit_tile_length(window.xsize, tile, overlap, div),
                )
            )
            grid = make_grid(window.ysize, window.xsize, tile_hw, overlap, div, fixed_hw)
            batch_size = spec.batch or auto_batch_size(
                options.batch_size, report.used, tile, grid.rows.padded * grid.cols.padded
            )
            # Refuse what cannot fit before allocating it (the system would kill the process).
            tiled = src.GetRasterBand(bands[0]).GetBlockSize()[0] < src.RasterXSize
            check_fits(
                detection_bytes(
                    (grid.rows.padded, grid.cols.padded),
                    batch_size,
                    len(bands),
                    window.xsize,
                    options.queue_batches,
                    report.used != "CUDA",
                    info.width,
                    READ_SPAN if tiled else None,
                    VECTOR_PIECE_PIXELS if polygons_path else 0,
                ),
                f"Tiles of {grid.rows.padded} x {grid.cols.padded} pixels in batches of {batch_size} over "
                f"a raster {window.xsize} pixels wide",
                "Use a smaller tile size or batch size (or leave them empty: automatic), or process the "
                "raster in parts with an extent.",
            )

            threshold = float(info.threshold if options.threshold is None else options.threshold)
            if not 0.0 <= threshold <= 1.0:
                raise DetectionError(
                    f"The threshold {threshold} is not a probability. Use a value from 0 to 1."
                )
            min_area = float(info.min_area_m2 if options.min_area_m2 is None else options.min_area_m2)
            if min_area < 0.0:
                raise DetectionError(f"The minimum area {min_area} is negative. Use 0 or more square metres.")
            if options.mask_path:
                layer_in_srs(options.mask_path, srs)  # fail early on a bad mask file
            # Only a requested probability raster is written; polygons come from the strips directly.
            out_ds = None
            if probability_path:
                out_ds = create_probability_raster(outputs.temp_for(probability_path), src, window)
            vectorizer = None
            if polygons_path:
                stream = StreamVectorizer(
                    outputs.temp_for(polygons_path),
                    srs,
                    window_geotransform(src.GetGeoTransform(), window),
                    window.xsize,
                    threshold,
                    min_area,
                    options.simplify_tolerance,
                )
                vectorizer = VectorWorker(stream)
            writer = StripWriter(
                out_ds.GetRasterBand(1) if out_ds is not None else None,
                window.xsize,
                window.ysize,
                grid,
                options.queue_batches,
                vectorizer,
            )
            job = TileJob(
                source,
                window,
                bands,
                grid,
                scaling,
                validity,
                batch_size,
                options.mask_path,
                src.GetProjection(),
            )
            log(
                f"{window.xsize} x {window.ysize} pixels, {grid.count} tiles of {grid.rows.padded} x "
                f"{grid.cols.padded} (overlap {overlap}), batches of {batch_size}, bands {bands}"
            )
            # Large tiles x batches: read fewer batches ahead so that memory stays bounded.
            batch_bytes = batch_size * len(bands) * grid.rows.padded * grid.cols.padded * 4
            depth = max(1, min(int(options.queue_batches), QUEUE_BYTES // max(batch_bytes, 1)))
            reader = TileReader(job, depth)
            inferred = 0
            stages: list[Worker] = [writer] + ([vectorizer] if vectorizer is not None else [])
            reader.start()
            for stage in stages:
                stage.start()
            finished = False
            try:
                while True:
                    if is_canceled():
                        raise DetectionCanceled()
                    try:  # a slow read (a very wide strip) must not delay a cancel
                        item = reader.queue.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    timings["read"] += item.read_s
                    t0 = time.perf_counter()
                    probs = infer_batch(session, spec.name, item.data, options.tta, spec.batch)
                    timings["infer"] += time.perf_counter() - t0
                    reader.release(item.data)  # the input batch is no longer needed: reuse it
                    item.data = None
                    if not writer.put((item, probs), give_up=is_canceled):
                        raise DetectionCanceled()
                    inferred += len(item.tiles)
                    progress(99.0 * item.consumed / max(grid.count, 1))
                if is_canceled():
                    raise DetectionCanceled()
                t0 = time.perf_counter()
                writer.close()  # writes the last rows, which go to the vectoriser too
                timings["writer_wait"] = time.perf_counter() - t0
                if vectorizer is not None:
                    t0 = time.perf_counter()
                    vectorizer.close()
                    timings["vectorise_wait"] = time.perf_counter() - t0
                finished = True
            finally:
                reader.stop.set()
                reader.join()
                if not finished:
                    for stage in stages:
                        # The vectoriser owns its GeoPackage and closes it itself: a cancel does not
                        # wait for a long union to end (the writer shares the raster: waited for).
                        stage.abort(VECTOR_ABORT_WAIT_S if stage is vectorizer else None)
                    # close the files now so that the atomic clean-up can delete them (Windows);
                    # quietly: the error being raised already says what went wrong
                    with quiet_gdal():
                        out_ds = writer = vectorizer = stages = None
            timings["blend_write"] = writer.busy_s
            timings["read_cpu"], timings["blend_write_cpu"] = reader.cpu_s, writer.cpu_s
            if out_ds is not None:
                # Close it here, checked: the last blocks are compressed and written only now.
                writer.band = None
                with recorded_gdal_errors() as errors:
                    try:
                        out_ds.FlushCache()
                        out_ds = None
                    except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
                        errors.messages.append(str(exc))
                        with quiet_gdal():
                            out_ds = None
                if errors.messages:
                    raise DetectionError(
                        f"Writing the probability raster failed ({errors.summary()}). "
                        "Check the free disk space."
                    )
                verify_raster(outputs.temp_for(probability_path), "probability raster")
            log(f"Inferred {inferred} of {grid.count} tiles")

            count, area = 0, 0.0
            if vectorizer is not None:
                vres = vectorizer.result
                count, area = vres.polygon_count, vres.total_area_m2
                timings["vectorise"] = vectorizer.busy_s
                timings["vectorise_cpu"] = vectorizer.cpu_s
                timings.update({f"vectorise_{k}": v for k, v in vres.timings.items()})
            # Free the pipeline before returning (datasets closed before the rename).
            out_ds = writer = vectorizer = stages = reader = session = None
            if is_canceled():
                raise DetectionCanceled()
            outputs.commit()
            gt = src.GetGeoTransform()
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
            threshold=threshold,
            min_area_m2=min_area,
        )
    finally:
        src = None
        shutil.rmtree(work, ignore_errors=True)
