# SPDX-License-Identifier: GPL-2.0-or-later
"""Tiled, streamed landslide detection: orthophoto + ONNX model -> probability raster + polygons.

A run is three seams put together:

* the **plan** (:mod:`core.plan`): everything decided from the raster, the model's metadata and the
  options before anything runs (bands, scaling, valid pixels, window, grid, batch, threshold,
  minimum area, warnings);
* the **model adapter** (:mod:`core.model_adapter`): the model's output made the probability of the
  chosen class, whatever its layout (one sigmoid channel, or N softmax classes);
* the **strip consumers** (:mod:`core.strips`): finished strips of named layers go to the GeoTIFF
  writer and the vectoriser, whose polygon attributes are a list of specs (:mod:`core.vectorize`).

Data flow (memory is bounded by a few batches of tiles plus a strip of rows, whatever the raster
size; GDAL's block cache is capped during a run, see :func:`core.raster_io.bounded_gdal_cache`):

* a **reader thread** walks the tile grid row by row: one windowed ``ReadAsArray`` per strip of the
  needed bands, the valid pixels (:mod:`core.valid_pixels`, and the optional mask polygons
  rasterised on the strip), tiles without a valid pixel skipped, the others normalised straight into
  a batch array (invalid pixels get ``ModelInfo.nodata_fill``, small rasters are padded by
  reflection to a multiple of ``size_divisor``);
* the **calling thread** runs onnxruntime on each batch while the next one is read (optionally
  averaging flips/rotations: TTA);
* a **writer thread** multiplies each tile's probability by its blending weight (see
  :mod:`core.tiling`: weights sum to 1 at every pixel, so no seams and no edge artefacts) and adds
  it into a strip accumulator; rows no later tile can touch are handed to the consumers (the
  probability GeoTIFF is written in whole 256-pixel block rows, invalid pixels = -1);
* a **vectoriser thread** turns each finished strip into polygons, so the polygons are ready when
  inference ends.

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
from dataclasses import dataclass, field
from typing import Any

from .atomic import AtomicOutputs, make_work_folder
from .elevation import SlopeLayer, pixel_size_xy_m
from .errors import DetectionCanceled, DetectionError
from .inputs import check_outputs
from .model_adapter import ModelAdapter, model_adapter
from .model_info import InputSpec, info_from_session, input_spec
from .model_metadata import ModelInfo
from .pipeline import TileReader, Worker, infer_batch
from .plan import DetectionOptions, DetectionPlan, auto_batch_size, make_plan
from .raster_io import (
    bounded_gdal_cache,
    create_probability_raster,
    open_raster,
    quiet_gdal,
    recorded_gdal_errors,
    verify_raster,
)
from .runtime import ProviderReport, create_session
from .strips import ProbabilityRasterWriter, StripConsumer, StripWriter, VectorWorker
from .vectorize import ATTRIBUTES, SLOPE, SLOPE_MEAN, StreamVectorizer

__all__ = ["DetectionOptions", "DetectionResult", "auto_batch_size", "run_detection"]

VECTOR_ABORT_WAIT_S = 1.0  # a cancel waits this long at most for the vectoriser's current step


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


@dataclass
class OpenedModel:
    """A model ready to run: its session, where it runs, what it is and how to read its output."""

    session: Any
    report: ProviderReport
    info: ModelInfo
    spec: InputSpec
    adapter: ModelAdapter


@dataclass
class _Callbacks:
    progress: Callable[[float], None]
    is_canceled: Callable[[], bool]
    log: Callable[[str], None]
    warn: Callable[[str], None]
    timings: dict[str, float] = field(
        default_factory=lambda: {"read": 0.0, "infer": 0.0, "blend_write": 0.0, "vectorise": 0.0}
    )


def _noop(*_args: Any) -> None:
    return None


def open_model(
    model_path: str, options: DetectionOptions, opened: tuple[Any, ProviderReport] | None = None
) -> OpenedModel:
    """The session (``opened`` when given), its metadata and the adapter of its output."""
    session, report = opened or create_session(model_path, options.device, options.threads, options.precision)
    info = info_from_session(session, model_path)
    adapter = model_adapter(info, list(session.get_outputs()[0].shape), model_path, options.class_name)
    return OpenedModel(session, report, info, input_spec(session), adapter)


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
    warn: Callable[[str], None] | None = None,
) -> DetectionResult:
    """Detect landslides in ``raster_path`` with ``model_path``; see the module docstring.

    ``progress`` receives 0..100, ``is_canceled`` is polled between batches (a cancel raises
    DetectionCanceled and leaves no output), ``log`` receives human-readable lines and ``warn`` each
    warning as it is found (all of them are in the result's ``warnings`` too). Bad input raises
    DetectionError before any inference where it can be detected early. ``session``: an open
    ``core.runtime.create_session(model_path, ...)`` result to reuse instead of opening one (the
    batch command keeps one per worker process); ``options.device``/``threads`` then do not apply.
    """
    calls = _Callbacks(progress or _noop, is_canceled or (lambda: False), log or _noop, warn or _noop)
    raster_path, model_path = str(raster_path), str(model_path)
    polygons_path = str(polygons_path) if polygons_path else None
    probability_path = str(probability_path) if probability_path else None
    options = options or DetectionOptions()
    start = time.perf_counter()
    with bounded_gdal_cache():
        check_outputs(raster_path, polygons_path, probability_path)
        open_raster(raster_path)  # a missing or unreadable raster is named before the model
        model = open_model(model_path, options, session)
        calls.log(f"Execution provider: {model.report.used} ({model.report.reason})")
        calls.log(f"Precision: {model.report.precision} ({model.report.precision_reason})")
        calls.log(f"Mapping {model.adapter.describe()}")
        work = make_work_folder("engine")
        plan = None
        try:
            plan = make_plan(
                raster_path,
                model.info,
                model.spec,
                options,
                model.report.used,
                work,
                bool(polygons_path),
                model.report.precision,
            )
            for note in plan.notes:
                calls.log(note)
            for warning in plan.warnings:
                calls.warn(warning)
            calls.log(plan.describe())
            with AtomicOutputs() as outputs:
                count, area, inferred = _execute(
                    plan, model, options, outputs, polygons_path, probability_path, calls
                )
                if calls.is_canceled():
                    raise DetectionCanceled()
                outputs.commit()
            calls.progress(100.0)
            return DetectionResult(
                polygons_path=polygons_path,
                probability_path=probability_path,
                polygon_count=count,
                total_area_m2=area,
                provider=model.report,
                elapsed_s=time.perf_counter() - start,
                timings=calls.timings,
                warnings=list(plan.warnings),
                pixel_size=plan.pixel_size,
                crs_wkt=plan.dataset.GetProjection() or "",
                tiles_total=plan.grid.count,
                tiles_inferred=inferred,
                area_units=plan.area_units,
                threshold=plan.threshold,
                min_area_m2=plan.min_area_m2,
            )
        finally:
            plan = None  # the input (or its resampled VRT) closed before the work folder goes
            shutil.rmtree(work, ignore_errors=True)


# --- the stages ------------------------------------------------------------------------------------


@dataclass
class _Stages:
    """The threads of one run and the outputs they write (see the module docstring)."""

    reader: TileReader
    writer: StripWriter
    vectorizer: VectorWorker | None
    raster: ProbabilityRasterWriter | None
    out_ds: Any  # the probability GeoTIFF, open while the writer writes it

    @property
    def workers(self) -> list[Worker]:
        return [self.writer] + ([self.vectorizer] if self.vectorizer is not None else [])


def _stages(
    plan: DetectionPlan,
    options: DetectionOptions,
    outputs: AtomicOutputs,
    polygons_path: str | None,
    probability_path: str | None,
) -> _Stages:
    """The reader, writer and consumers of ``plan`` (not started); outputs created staged."""
    consumers: list[StripConsumer] = []
    out_ds = raster = None
    if probability_path:  # only a requested probability raster is written
        out_ds = create_probability_raster(outputs.temp_for(probability_path), plan.dataset, plan.window)
        raster = ProbabilityRasterWriter(out_ds.GetRasterBand(1))
        consumers.append(raster)
    vectorizer = None
    if polygons_path:  # polygons come from the strips directly
        attributes, sources = ATTRIBUTES, []
        if plan.elevation:  # the terrain under each landslide
            attributes = (*ATTRIBUTES, SLOPE_MEAN)
            sources.append(SlopeLayer(plan.elevation, plan.window, pixel_size_xy_m(plan.dataset), SLOPE))
        stream = StreamVectorizer(
            outputs.temp_for(polygons_path),
            plan.srs,
            plan.geotransform,
            plan.window.xsize,
            plan.threshold,
            plan.min_area_m2,
            options.simplify_tolerance,
            attributes,
        )
        vectorizer = VectorWorker(stream, sources)
        consumers.append(vectorizer)
    writer = StripWriter(plan.window.xsize, plan.window.ysize, plan.grid, options.queue_batches, consumers)
    return _Stages(TileReader(plan.tile_job(), plan.queue_depth), writer, vectorizer, raster, out_ds)


def _execute(
    plan: DetectionPlan,
    model: OpenedModel,
    options: DetectionOptions,
    outputs: AtomicOutputs,
    polygons_path: str | None,
    probability_path: str | None,
    calls: _Callbacks,
) -> tuple[int, float, int]:
    """Run the stages of ``plan``; returns (polygon count, total area, tiles inferred)."""
    stages = _stages(plan, options, outputs, polygons_path, probability_path)
    stages.reader.start()
    for worker in stages.workers:
        worker.start()
    finished = False
    try:
        inferred = _infer(stages, model, options.tta, plan.grid.count, calls)
        _close_workers(stages, calls)
        finished = True
    finally:
        stages.reader.stop.set()
        stages.reader.join()
        if not finished:
            _abort(stages)
    timings = calls.timings
    timings["blend_write"] = stages.writer.busy_s
    timings["read_cpu"], timings["blend_write_cpu"] = stages.reader.cpu_s, stages.writer.cpu_s
    if stages.out_ds is not None:
        _close_probability_raster(stages)
        verify_raster(outputs.temp_for(probability_path), "probability raster")
    calls.log(f"Inferred {inferred} of {plan.grid.count} tiles")
    count, area = 0, 0.0
    if stages.vectorizer is not None:
        vres = stages.vectorizer.result
        count, area = vres.polygon_count, vres.total_area_m2
        timings["vectorise"] = stages.vectorizer.busy_s
        timings["vectorise_cpu"] = stages.vectorizer.cpu_s
        timings.update({f"vectorise_{k}": v for k, v in vres.timings.items()})
    return count, area, inferred


def _infer(stages: _Stages, model: OpenedModel, tta: bool, total: int, calls: _Callbacks) -> int:
    """Infer every batch the reader delivers and hand it to the writer; returns the tiles inferred."""
    reader, writer, timings = stages.reader, stages.writer, calls.timings
    inferred = 0
    while True:
        if calls.is_canceled():
            raise DetectionCanceled()
        try:  # a slow read (a very wide strip) must not delay a cancel
            item = reader.queue.get(timeout=0.2)
        except queue.Empty:
            continue
        if item is None:
            return inferred
        if isinstance(item, BaseException):
            raise item
        timings["read"] += item.read_s
        t0 = time.perf_counter()
        probs = infer_batch(
            model.session, model.spec.name, item.data, tta, model.spec.batch, model.adapter.probability
        )
        timings["infer"] += time.perf_counter() - t0
        reader.release(item.data)  # the input batch is no longer needed: reuse it
        item.data = None
        if not writer.put((item, probs), give_up=calls.is_canceled):
            raise DetectionCanceled()
        inferred += len(item.tiles)
        calls.progress(99.0 * item.consumed / max(total, 1))


def _close_workers(stages: _Stages, calls: _Callbacks) -> None:
    """Let the writer write the last rows (which reach the vectoriser too), then the vectoriser end."""
    if calls.is_canceled():
        raise DetectionCanceled()
    t0 = time.perf_counter()
    stages.writer.close()
    calls.timings["writer_wait"] = time.perf_counter() - t0
    if stages.vectorizer is not None:
        t0 = time.perf_counter()
        stages.vectorizer.close()
        calls.timings["vectorise_wait"] = time.perf_counter() - t0


def _abort(stages: _Stages) -> None:
    """Stop every worker after a failure or cancel, and close the files so they can be deleted."""
    for worker in stages.workers:
        # The vectoriser owns its GeoPackage and closes it itself: a cancel does not wait for a
        # long union to end (the writer shares the raster: waited for).
        worker.abort(VECTOR_ABORT_WAIT_S if worker is stages.vectorizer else None)
    # Closed now so that the atomic clean-up can delete them (Windows); quietly: the error being
    # raised already says what went wrong.
    with quiet_gdal():
        if stages.raster is not None:
            stages.raster.band = None
        stages.out_ds = None


def _close_probability_raster(stages: _Stages) -> None:
    """Close the GeoTIFF, checked: the last blocks are compressed and written only now."""
    if stages.raster is not None:
        stages.raster.band = None
    with recorded_gdal_errors() as errors:
        try:
            stages.out_ds.FlushCache()
            stages.out_ds = None
        except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
            errors.messages.append(str(exc))
            with quiet_gdal():
                stages.out_ds = None
    if errors.messages:
        raise DetectionError(
            f"Writing the probability raster failed ({errors.summary()}). Check the free disk space."
        )
