# SPDX-License-Identifier: GPL-2.0-or-later
"""``python -m bench.batch_scaling``: the batch command (``python -m batch``) on this machine.

Measures, on a generated ``--size``² orthophoto (``bench/rasters.py``):

* **single machine**: ``core.engine.run_detection`` (what ``landslides:detect`` runs), the reference;
* **1 and 2 workers**: ``batch.run_batch`` on a ``LocalCluster`` of 1 worker process (onnxruntime
  threads = all cores) and of 2 (half the cores each), ``--window``-pixel windows: megapixels per
  second (core pixels, i.e. the raster's), the mean unit time and the merge time;
* **overhead per unit**: the same with the brightness test model (a network that costs nothing)
  and ``--overhead-window``-pixel windows, so that the time per unit is what the batch command
  adds around the engine: engine set-up, the unit's temporary probability GeoTIFF, vectorising,
  Dask's scheduling and the manifest, apart from the network;
* **merge cost**: merge seconds per 1000 polygons.

From these it **estimates** the wall time of a region of ``--region-gpix`` gigapixels (the issue's
example: 40 GPix = 10,000 km² at 0.5 m) on 1, 8 and 64 workers, each worker one machine like this
one; the assumptions are printed with the table. Results: ``bench/results/<date>-<machine>-batch.json``
and the table between the ``batch-results`` markers in ``bench/README.md`` (``--no-readme``: not).
Never asserts; run it on an otherwise idle machine (other CPU-heavy processes are reported).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from batch import BatchOptions, run_batch  # noqa: E402
from batch.plan import DEFAULT_WINDOW  # noqa: E402
from core.engine import DetectionOptions, run_detection  # noqa: E402
from core.model_info import load_model_info  # noqa: E402

from . import sysinfo  # noqa: E402
from .models import TMP, resolve_model  # noqa: E402
from .rasters import make_raster, raster_path  # noqa: E402

README = ROOT / "bench" / "README.md"
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- batch-results:start -->", "<!-- batch-results:end -->"
SCALE_WORKERS = (1, 8, 64)
WAIT_QUIET = True  # wait for an idle machine before each run (off for --quick)


def _wait_quiet() -> None:
    if WAIT_QUIET:
        sysinfo.wait_quiet()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.batch_scaling", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", default="auto", help="auto (shipped, else daunet16), shipped, daunet16 or a path"
    )
    p.add_argument("--size", type=int, default=4096, help="raster side, pixels [4096]")
    p.add_argument("--window", type=int, default=2048, help="window side of the measured runs [2048]")
    p.add_argument("--overhead-window", type=int, default=256, help="window side of the overhead run [256]")
    p.add_argument("--workers", default="1,2", help="LocalCluster sizes to measure [1,2]")
    p.add_argument(
        "--region-gpix", type=float, default=40.0, help="region of the scaling estimate, GPix [40]"
    )
    p.add_argument("--quick", action="store_true", help="smoke test: 1024² raster, tiny windows, no README")
    p.add_argument("--out", type=Path, default=None, help="results JSON")
    p.add_argument("--no-readme", action="store_true", help="do not write the table into bench/README.md")
    args = p.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.quick:
        args.size, args.window, args.overhead_window, args.no_readme = 1024, 512, 256, True
        args.out = args.out or TMP / "quick-batch.json"
    return args


def _brightness_model() -> Path:
    from tests.fixtures.tiny_models import brightness_model

    path = TMP / "brightness.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path if path.exists() else brightness_model(path)


def _batch(raster: Path, model: Path, workers: int, window: int, folder: Path) -> dict[str, Any]:
    """One ``run_batch`` from scratch on a new LocalCluster of ``workers`` processes."""
    out = folder / f"batch-{workers}w-{window}.gpkg"
    for stale in (out, out.with_name(out.stem + ".manifest.gpkg")):
        stale.unlink(missing_ok=True)
    _wait_quiet()
    t0 = time.perf_counter()
    s = run_batch(
        [str(raster)],
        str(out),
        BatchOptions(model=str(model), workers=workers, window=window, dashboard=False, progress=False),
    )
    wall = time.perf_counter() - t0
    units = max(s.ran, 1)
    mean_unit = statistics.fmean(s.unit_seconds) if s.unit_seconds else 0.0
    row = {
        "workers": workers,
        "window": window,
        "units": s.ran,
        "megapixels": round(s.megapixels, 3),
        "wall_s": round(wall, 2),
        "run_s": round(s.run_s, 2),
        "merge_s": round(s.merge_s, 3),
        "mpix_per_s": round(s.megapixels / s.run_s, 4) if s.run_s else None,
        "mpix_per_s_wall": round(s.megapixels / wall, 4),
        "mean_unit_s": round(mean_unit, 3),
        # what Dask and the client add per unit beyond the unit's own time (scheduling, transfer, manifest)
        "dask_overhead_per_unit_s": round(max(0.0, s.run_s * workers / units - mean_unit), 4),
        "startup_s": round(wall - s.run_s - s.merge_s, 2),
        "polygons": s.merge.polygons,
        "seam_joins": s.merge.seam_joins,
        "failed": len(s.failed),
    }
    print(
        f"  batch {workers} worker(s), window {window}: {s.ran} units, {row['mpix_per_s']} MPix/s "
        f"(run {s.run_s:.1f} s, merge {s.merge_s:.2f} s, start-up {row['startup_s']} s), "
        f"mean unit {mean_unit:.2f} s, {s.merge.polygons} polygons",
        flush=True,
    )
    return row


def _single(raster: Path, model: Path, folder: Path) -> dict[str, Any]:
    out = folder / "single.gpkg"
    out.unlink(missing_ok=True)
    _wait_quiet()
    t0 = time.perf_counter()
    r = run_detection(
        str(raster), str(model), str(out), options=DetectionOptions(threads=sysinfo.usable_cores())
    )
    wall = time.perf_counter() - t0
    mpix = raster_mpix(raster)
    print(
        f"  single machine: {mpix / wall:.3f} MPix/s ({wall:.1f} s, {r.polygon_count} polygons)", flush=True
    )
    return {"wall_s": round(wall, 2), "mpix_per_s": round(mpix / wall, 4), "polygons": r.polygon_count}


def raster_mpix(raster: Path) -> float:
    from osgeo import gdal

    ds = gdal.Open(str(raster))
    return ds.RasterXSize * ds.RasterYSize / 1e6


def estimate(results: dict[str, Any], region_gpix: float, halo: int) -> dict[str, Any]:
    """Wall time of ``region_gpix`` on N workers from the measured unit cost and merge cost."""
    one = next(r for r in results["batch"] if r["workers"] == 1)
    overhead = results["overhead"]["mean_unit_s"]
    window = one["window"]
    pushed = (window + halo) ** 2 / 1e6  # a typical unit's pixels with its halo (two inner sides)
    per_mpix = max(one["mean_unit_s"] - overhead, 1e-9) / pushed  # network + engine per pushed MPix
    target_pushed = (DEFAULT_WINDOW + halo) ** 2 / 1e6
    unit_s = overhead + per_mpix * target_pushed + one["dask_overhead_per_unit_s"]
    region_mpix = region_gpix * 1000.0
    units = math.ceil(region_mpix / (DEFAULT_WINDOW**2 / 1e6))
    density = one["polygons"] / max(one["megapixels"], 1e-9)
    merge_per_polygon = one["merge_s"] / max(one["polygons"], 1)
    merge_s = density * region_mpix * merge_per_polygon
    rows = []
    for n in SCALE_WORKERS:
        wall = math.ceil(units / n) * unit_s + merge_s + one["startup_s"]
        rows.append({"workers": n, "units_per_worker": math.ceil(units / n), "wall_s": wall})
    base = rows[0]["wall_s"]
    for row in rows:
        row["mpix_per_s"] = region_mpix / row["wall_s"]
        row["efficiency"] = base / (row["wall_s"] * row["workers"])
    return {
        "region_gpix": region_gpix,
        "window": DEFAULT_WINDOW,
        "halo": halo,
        "units": units,
        "unit_s": unit_s,
        "per_pushed_mpix_s": per_mpix,
        "merge_s": merge_s,
        "polygons_per_mpix": density,
        "merge_s_per_1000_polygons": 1000 * merge_per_polygon,
        "rows": rows,
    }


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def render(results: dict[str, Any], json_path: Path) -> str:
    sysi = results["system"]
    lines = [
        f"Produced by `{results['command']}` ({results['started_utc']}); raw numbers: `{json_path.name}`.",
        "",
        f"Machine `{sysi['machine']}`: {sysi['cpu_model']}, {sysi['cores']} cores. Raster {results['size']}² "
        f"({results['megapixels']:.1f} MPix), model `{results['model']}`.",
        "",
        "| run | workers × onnxruntime threads | units | MPix/s | mean unit s | merge s | polygons |",
        "|---|---|---|---|---|---|---|",
        f"| single machine (`run_detection`) | 1 × {sysi['cores']} | 1 | "
        f"{results['single']['mpix_per_s']:.3f} | {results['single']['wall_s']:.1f} | – | "
        f"{results['single']['polygons']} |",
    ]
    for r in results["batch"]:
        threads = max(1, sysi["cores"] // r["workers"])
        lines.append(
            f"| batch, window {r['window']} | {r['workers']} × {threads} | {r['units']} | "
            f"{r['mpix_per_s']:.3f} | {r['mean_unit_s']:.2f} | {r['merge_s']:.2f} | {r['polygons']} |"
        )
    o = results["overhead"]
    lines += [
        f"| overhead: brightness model, window {o['window']} | {o['workers']} × "
        f"{max(1, sysi['cores'] // o['workers'])} | {o['units']} | {o['mpix_per_s']:.3f} | "
        f"{o['mean_unit_s']:.3f} | {o['merge_s']:.2f} | {o['polygons']} |",
        "",
        f"Overhead per unit: {o['mean_unit_s']:.3f} s inside the unit (engine set-up, temporary probability "
        f"GeoTIFF, vectorising) + {o['dask_overhead_per_unit_s']:.3f} s around it (Dask, manifest).",
        "",
    ]
    e = results["estimate"]
    lines += [
        f"**Estimate** for {e['region_gpix']:g} GPix ({e['units']} units of {e['window']}² px, "
        f"halo {e['halo']}): {e['unit_s']:.0f} s per unit, merge {_hours(e['merge_s'])} "
        f"({e['polygons_per_mpix']:.1f} polygons/MPix × {e['merge_s_per_1000_polygons']:.2f} s per 1000):",
        "",
        "| workers | units per worker | wall time | MPix/s | efficiency |",
        "|---|---|---|---|---|",
    ]
    for r in e["rows"]:
        lines.append(
            f"| {r['workers']} | {r['units_per_worker']} | {_hours(r['wall_s'])} | {r['mpix_per_s']:.2f} | "
            f"{r['efficiency']:.0%} |"
        )
    lines += [
        "",
        "Assumptions: each worker is one machine like this one (one worker process using all its cores); "
        "units cost the same (measured mean: network time per pixel with the halo from the 1-worker run, "
        "plus the measured overhead per unit); storage delivers the pixels as fast as the workers read them; "
        "the scheduler's own cost per task (milliseconds) is included only as measured here; the merge runs "
        "once on the client, serially, proportional to the polygons (density measured on the generated "
        "raster, which has far more polygons per MPix than real imagery: an upper bound).",
    ]
    return "\n".join(lines)


def update_readme(text: str) -> None:
    content = README.read_text(encoding="utf-8")
    if START not in content or END not in content:
        raise SystemExit(f"{README} lacks the {START} / {END} markers")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    global WAIT_QUIET
    args = parse_args(argv)
    WAIT_QUIET = not args.quick
    system, load = sysinfo.describe(), sysinfo.load()
    print(
        f"{system['machine']}: {system['cpu_model']}, {system['cores']} cores; load {load['loadavg_1_5_15']}"
    )
    if load["busy"]:
        print("WARNING: other CPU-heavy processes are running; the numbers below are not clean:")
        for line in load["busy"]:
            print("   " + line)
    model, _label = (
        (_brightness_model(), "brightness test model") if args.quick else resolve_model(args.model)
    )
    raster = make_raster(raster_path(TMP, args.size), args.size)
    work = TMP / "batch"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    halo = 2 * load_model_info(str(model)).overlap
    results: dict[str, Any] = {
        "command": "python -m bench.batch_scaling " + " ".join(sys.argv[1:] if argv is None else argv),
        "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "system": system,
        "load_at_start": load,
        "model": args.model if not args.quick else "brightness (quick)",
        "size": args.size,
        "megapixels": raster_mpix(raster),
    }
    print(f"Single machine and batch runs on {args.size}² ({results['megapixels']:.1f} MPix):", flush=True)
    results["single"] = _single(raster, model, work)
    results["batch"] = [_batch(raster, model, n, args.window, work) for n in args.workers]
    print("Overhead per unit (brightness test model, the network costs ~nothing):", flush=True)
    results["overhead"] = _batch(raster, _brightness_model(), max(args.workers), args.overhead_window, work)
    if 1 in args.workers:
        results["estimate"] = estimate(results, args.region_gpix, halo)
        for row in results["estimate"]["rows"]:
            print(
                f"  estimate {args.region_gpix:g} GPix on {row['workers']:>2} workers: "
                f"{_hours(row['wall_s'])}, {row['mpix_per_s']:.2f} MPix/s, efficiency {row['efficiency']:.0%}"
            )
    results["load_at_end"] = sysinfo.load()
    out = args.out or RESULTS / f"{dt.date.today().isoformat()}-{system['machine']}-batch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"Results: {out}")
    if not args.no_readme and "estimate" in results:
        update_readme(render(results, out))
        print(f"Table updated in {README.relative_to(ROOT)}")
    elif "estimate" in results:
        print(render(results, out))


if __name__ == "__main__":
    main()
