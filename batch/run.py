# SPDX-License-Identifier: GPL-2.0-or-later
"""``run_batch``: many orthophotos -> one landslide inventory, on a Dask cluster.

1. INPUTS -> rasters (:mod:`batch.sources`) -> work units (:mod:`batch.plan`); a raster GDAL cannot
   open is reported and left out.
2. The manifest beside the output (:mod:`batch.store`) says which units a previous run finished:
   they are skipped.
3. The other units go to Dask (:mod:`batch.cluster`), one task each (:func:`batch.unit.run_unit`),
   with ``retries``; a worker that dies loses only the unit it was running, which Dask runs again
   elsewhere. Each finished unit is recorded at once (one transaction), so an interrupted run
   resumes where it stopped. A unit that fails for good is recorded as failed and reported.
4. The pieces of all finished units are merged (:mod:`batch.merge`) into a temporary file next to
   the output, renamed only when complete: the output is never half-written.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osgeo import gdal

from core.atomic import AtomicOutputs, check_writable
from core.engine import DetectionOptions
from core.errors import DetectionError
from core.model_info import load_model_info
from core.resources import SHIPPED_MODEL

from .merge import DUPLICATE_OVERLAP, MergeOptions, MergeStats, merge, output_driver
from .plan import DEFAULT_WINDOW, Plan, Unit, make_plan
from .progress import Progress, format_duration
from .sources import InputError, expand_inputs
from .store import WorkStore
from .unit import UnitResult, UnitSettings, probability_path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = SHIPPED_MODEL


@dataclass
class BatchOptions:
    model: str | None = None  # default: the shipped model
    scheduler: Any = None  # 'tcp://host:8786', a distributed.Client, or None for a LocalCluster
    workers: int | None = None  # LocalCluster worker processes (default: one per 4 cores)
    ort_threads: int = 0  # onnxruntime threads per unit; 0: the host's cores / its Dask threads
    device: str = "auto"
    bands: list[int] | None = None
    threshold: float | None = None  # default: the model's
    min_area_m2: float | None = None  # default: the model's calibrated minimum area
    tile_size: int | None = None
    overlap: int | None = None
    tta: bool = False
    simplify_tolerance: float = 0.0
    crs: str | None = None  # output CRS; default: the first raster's
    window: int = DEFAULT_WINDOW
    halo: int | None = None  # default: twice the model's tile overlap
    probability_dir: str | None = None
    duplicate_overlap: float = DUPLICATE_OVERLAP
    restart: bool = False  # discard the manifest of an earlier run
    retries: int = 2  # extra tries of a unit whose task raised (a worker's death is retried by Dask anyway)
    ship: bool | None = None  # send code + model to the workers; default: when a scheduler is given
    dashboard: bool = True
    progress: bool = True
    on_unit: Callable[[Unit, UnitResult], None] | None = None  # called after each unit is recorded


@dataclass
class BatchSummary:
    output: str
    manifest: str
    inputs: int = 0
    units: int = 0
    ran: int = 0  # units run by this call
    skipped: int = 0  # units finished by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (raster or unit, reason)
    megapixels: float = 0.0  # core pixels of the units run by this call
    run_s: float = 0.0  # from the first task submitted to the last result
    merge_s: float = 0.0
    elapsed_s: float = 0.0
    unit_seconds: list[float] = field(default_factory=list)
    merge: MergeStats = field(default_factory=MergeStats)
    min_area_m2: float = 0.0
    dashboard: str = ""
    workers: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def mpix_per_s(self) -> float:
        return self.megapixels / self.run_s if self.run_s > 0 else 0.0

    def text(self) -> str:
        m = self.merge
        lines = [
            f"{m.polygons:,} landslides, {m.total_area_m2 / 1e4:,.2f} ha, in {self.output} ({m.crs_name})",
            f"{self.units} units from {self.inputs} rasters: {self.ran} run now, "
            f"{self.skipped} finished before, {len(self.failed)} failed; {self.megapixels:,.1f} MPix in "
            f"{format_duration(self.run_s)} ({self.mpix_per_s:.2f} MPix/s on {self.workers} workers)",
            f"Merge: {m.seam_joins} pieces joined across window seams, {m.duplicates_dropped} "
            f"duplicates from overlapping rasters dropped (higher mean_prob kept), "
            f"{m.below_min_area} polygons under {self.min_area_m2:g} m² dropped ({self.merge_s:.1f} s)",
            f"Manifest: {self.manifest} (run the same command again to resume or re-merge)",
        ]
        for warning in self.warnings:
            lines.append(f"Warning: {warning}")
        if self.failed:
            lines.append("Failed (run the same command again to retry them):")
            lines += [f"  {what}: {why}" for what, why in self.failed]
        return "\n".join(lines)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _settings(
    model: str, bands: list[int], threshold: float, options: BatchOptions, halo: int
) -> dict[str, Any]:
    """What decides a unit's pieces: a manifest made with other values is not reused."""
    return {
        "model_sha256": _sha256(model),
        "bands": [int(b) for b in bands],
        "threshold": float(threshold),
        "tile_size": options.tile_size,
        "overlap": options.overlap,
        "tta": bool(options.tta),
        "window": int(options.window),
        "halo": int(halo),
    }


def _first_line(exc: BaseException) -> str:
    """A remote failure in one line (the worker's traceback stays in the workers' logs)."""
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    return detail if isinstance(exc, RuntimeError) and detail else f"{type(exc).__name__}: {detail}"


def _needs_run(unit: Unit, done: set[str], probability_dir: str | None) -> bool:
    if unit.uid not in done:
        return True
    return bool(probability_dir) and not os.path.isfile(probability_path(probability_dir, unit))


def _probability_mosaics(plan: Plan, done: set[str], directory: str) -> None:
    """``<name>.vrt`` over the window GeoTIFFs of each raster mapped in several units."""
    for source in plan.sources:
        units = [u for u in plan.units if u.source is source]
        if len(units) < 2:
            continue
        tiles = [probability_path(directory, u) for u in units if u.uid in done]
        tiles = [t for t in tiles if os.path.isfile(t)]
        if tiles:
            vrt = gdal.BuildVRT(os.path.join(directory, f"{source.name}.vrt"), tiles)
            vrt = None  # noqa: F841 - closing writes the file


def _execute(
    todo: list[Unit],
    settings: UnitSettings,
    options: BatchOptions,
    store: WorkStore,
    summary: BatchSummary,
    model: str,
) -> None:
    """Run ``todo`` on Dask and record every outcome as it arrives."""
    from distributed import as_completed

    from . import task
    from .cluster import connect, threads_by_host, wait_for_workers

    with connect(options.scheduler, options.workers, options.dashboard) as (client, local):
        services = client.scheduler_info(n_workers=0).get("services", {})
        summary.dashboard = client.dashboard_link if "dashboard" in services else ""
        ship = (not local) if options.ship is None else options.ship
        if ship:
            from .ship import ship as ship_files

            settings.shipped_model = ship_files(client, model)
        wait_for_workers(client)
        settings.threads_by_host = threads_by_host(client)
        summary.workers = len(client.scheduler_info(n_workers=-1)["workers"])
        progress = Progress(len(todo), sum(u.megapixels for u in todo), enabled=options.progress)
        if summary.dashboard:
            progress.message(f"Dask dashboard: {summary.dashboard}")
        start = time.perf_counter()
        blob = pickle.dumps(settings)
        futures = {
            client.submit(
                task.run_unit_task,
                pickle.dumps(unit),
                blob,
                key=f"landslide-unit-{unit.uid}",
                retries=options.retries,
            ): unit
            for unit in todo
        }
        try:
            for future in as_completed(futures):
                unit = futures[future]
                try:
                    result = pickle.loads(future.result())
                except Exception as exc:  # the task failed for good (KilledWorker after repeated deaths, ...)
                    result = UnitResult(unit.uid, ok=False, message=_first_line(exc))
                future.release()
                store.record(unit, result)
                summary.ran += 1
                summary.megapixels += unit.megapixels
                summary.unit_seconds.append(result.seconds)
                for warning in result.warnings:
                    if warning not in summary.warnings:
                        summary.warnings.append(warning)
                if not result.ok:
                    summary.failed.append((unit.label, result.message))
                    progress.message(f"Failed: {unit.label}: {result.message}")
                progress.update(unit.megapixels, result.ok)
                if options.on_unit is not None:
                    options.on_unit(unit, result)
        finally:
            summary.run_s = time.perf_counter() - start
            progress.close()
            for future in futures:
                future.cancel()


def run_batch(inputs: Iterable[str], output: str, options: BatchOptions | None = None) -> BatchSummary:
    """Map ``inputs`` into ``output`` (see the module docstring); returns what happened.

    Raises DetectionError (message = problem + fix) when nothing can be mapped or the output cannot
    be written; a raster or unit that fails alone is in ``BatchSummary.failed`` instead.
    """
    t0 = time.perf_counter()
    options = options or BatchOptions()
    output = os.path.abspath(str(output))
    driver = output_driver(output)
    check_writable(output)
    model = os.path.abspath(str(options.model or DEFAULT_MODEL))
    info = load_model_info(model)
    bands = [int(b) for b in (options.bands or info.bands)]
    threshold = float(info.threshold if options.threshold is None else options.threshold)
    min_area = float(info.min_area_m2 if options.min_area_m2 is None else options.min_area_m2)
    if min_area < 0:
        raise DetectionError(f"The minimum area {min_area} is negative. Use 0 or more square metres.")
    halo = int(2 * info.overlap if options.halo is None else options.halo)
    if options.probability_dir:
        os.makedirs(options.probability_dir, exist_ok=True)
    try:
        paths = expand_inputs(inputs, exclude=[options.probability_dir] if options.probability_dir else [])
    except InputError as exc:
        raise DetectionError(str(exc)) from exc
    plan = make_plan(paths, len(bands), int(options.window), halo)
    summary = BatchSummary(output, "", inputs=len(paths), units=len(plan.units), min_area_m2=min_area)
    summary.failed += [(path, reason) for path, reason in plan.failed]
    if not plan.units:
        raise DetectionError(
            "None of the inputs can be read as a georeferenced raster:\n"
            + "\n".join(f"  {p}: {r}" for p, r in plan.failed)
        )

    store = WorkStore(output, _settings(model, bands, threshold, options, halo), options.restart)
    summary.manifest = store.path
    try:
        done = store.finished()
        todo = [u for u in plan.units if _needs_run(u, done, options.probability_dir)]
        summary.skipped = len(plan.units) - len(todo)
        if todo:
            settings = UnitSettings(
                model_path=model,
                options=DetectionOptions(
                    bands=bands,
                    threshold=threshold,
                    device=options.device,
                    tile_size=options.tile_size,
                    overlap=options.overlap,
                    tta=options.tta,
                ),
                ort_threads=int(options.ort_threads),
                probability_dir=os.path.abspath(options.probability_dir) if options.probability_dir else None,
            )
            _execute(todo, settings, options, store, summary, model)
        done = store.finished()
        if not any(u.uid in done for u in plan.units):
            raise DetectionError(
                "No unit could be mapped, so no output was written:\n"
                + "\n".join(f"  {what}: {why}" for what, why in summary.failed)
            )
        t1 = time.perf_counter()
        merge_options = MergeOptions(
            options.crs, min_area, options.simplify_tolerance, options.duplicate_overlap
        )
        with AtomicOutputs() as outputs:
            summary.merge = merge(store, plan, done, outputs.temp_for(output), driver, merge_options)
            outputs.commit()
        summary.merge_s = time.perf_counter() - t1
        if options.probability_dir:
            _probability_mosaics(plan, done, options.probability_dir)
    finally:
        store.close()
    summary.elapsed_s = time.perf_counter() - t0
    return summary
