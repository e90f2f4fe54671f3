# SPDX-License-Identifier: GPL-2.0-or-later
"""``make bench`` (``python -m bench.run``): measure and print, never assert.

Parts (``--parts``, default all):

* ``model``: onnxruntime alone on full tiles, per provider, precision (float32, and int8 where the
  model has an int8 copy), batch size and tile size, with the model's FLOPs per tile (counted from
  the ONNX graph) and the GFLOP/s reached; on a GPU also float16 and TensorRT;
* ``e2e``: ``core.engine.run_detection`` (what ``landslides:detect`` runs) on generated rasters of
  ``--sizes``, one child process per run (own peak RSS), with the share of each stage (``infer`` =
  inside ``session.run``) and the ratio to model-only throughput on the pixels actually pushed;
* ``deepness``: the real Deepness 0.6.5 (``../shared/peers/deepness``, its own venv: ``python -m
  bench.deepness setup``) and ``landslides:detect`` with its defaults, interleaved over ``--repeat``
  rounds on the same rasters (``--deepness-rasters``: the 4096² texture, AMU orthophotos), same
  model, same threads: time, ratio, peak memory, share inside ``session.run`` and, where the raster
  has an inventory, the IoU of each; skipped with the reason when the peer is absent;
* ``ablations``: the tool's defaults on the 4096² texture with one of them changed at a time
  (float32 instead of int8 or the reverse, 512 px tiles, helper threads not niced, onnxruntime
  threads spin-waiting as before, the optimised graph cached), interleaved over ``--repeat`` rounds;
* ``qgis``: one ``processing.run("landslides:detect")`` in headless QGIS (the QGIS overhead).

Results go to ``bench/results/<date>-<machine>.json`` and a Markdown table in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import onnx  # noqa: E402

from core.engine import auto_batch_size  # noqa: E402
from core.model_metadata import parse_metadata  # noqa: E402
from core.plan import fit_area_cap  # noqa: E402
from core.precision import choose_precision, int8_path  # noqa: E402
from core.tiling import fit_tile_shape, make_grid, round_up  # noqa: E402

from . import sysinfo  # noqa: E402
from .e2e import run_child  # noqa: E402
from .model_only import Sessions, devices_to_measure, measure, tensorrt_problem  # noqa: E402
from .models import FP16, SHIPPED, TMP, resolve_model  # noqa: E402
from .rasters import make_raster, raster_path  # noqa: E402
from .report import shares  # noqa: E402

RESULTS = ROOT / "bench" / "results"
README = ROOT / "bench" / "README.md"
DATA = ROOT.parent / "shared" / "data" / "landslides"
TEXTURE = 4096  # the generated raster of the Deepness comparison and the ablations


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model", default="auto", help="auto (shipped, else daunet16), shipped, daunet16, tiny or a path"
    )
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="provider(s) to measure")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (0: its default)")
    p.add_argument("--parts", default="model,e2e,deepness,ablations,qgis")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "int8"],
        help="e2e part: the tool's PRECISION (auto: int8 where the CPU has VNNI/AMX and the copy exists)",
    )
    p.add_argument(
        "--deepness-rasters",
        default="texture4096,amu-A,amu-B",
        help="deepness part: texture<size>, amu-A, amu-B (from --data) or raster paths; an inventory "
        "<name>_label.tif beside a <name>_rgb.tif is scored",
    )
    p.add_argument("--data", type=Path, default=DATA, help="the landslide data folder (AMU scenes)")
    p.add_argument(
        "--cpus", default="", help="CPU numbers both tools of the deepness part are pinned to (e.g. 0,1)"
    )
    p.add_argument(
        "--tensorrt",
        default="auto",
        choices=["auto", "off"],
        help="with --device cuda/auto: also measure onnxruntime's TensorRT provider where it starts",
    )
    p.add_argument("--batches", type=_ints, default=[1, 2, 4, 8], help="model-only batch sizes at 512")
    p.add_argument("--tiles", type=_ints, default=[1024, 2048], help="larger model-only tile sizes (batch 1)")
    p.add_argument("--sizes", type=_ints, default=[2048, 8192, 16384], help="end-to-end raster sizes")
    p.add_argument(
        "--batch", type=int, default=0, help="end-to-end batch size (0: the tool's default, automatic)"
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=15.0,
        help="an end-to-end size estimated to take longer runs with --big-model instead (labelled)",
    )
    p.add_argument("--big-model", default="tiny", help="model for sizes over --max-minutes")
    p.add_argument("--min-time", type=float, default=3.0, help="seconds of repeats per model-only point")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of the deepness and ablation parts' runs (interleaved) and of short e2e runs, "
        "each e2e run paired with a model-only reference measured just before it; the tables show "
        "the median run [3]",
    )
    p.add_argument(
        "--repeat-minutes",
        type=float,
        default=2.0,
        help="e2e part: sizes estimated to take longer run once (still paired) [2]",
    )
    p.add_argument("--profile", action="store_true", help="cProfile the first end-to-end run")
    p.add_argument(
        "--reuse-model-only",
        type=Path,
        default=None,
        help="take model-only points from an earlier results JSON of this machine instead of measuring again",
    )
    p.add_argument(
        "--max-wait",
        type=float,
        default=180.0,
        help="seconds each measurement waits for the machine to be idle (< 0.25 busy core) [180]",
    )
    p.add_argument("--quick", action="store_true", help="smoke test: small sizes, short timings")
    p.add_argument(
        "--out", type=Path, default=None, help="results JSON (default bench/results/<date>-<machine>.json)"
    )
    p.add_argument(
        "--no-readme", action="store_true", help="do not rewrite the results table in bench/README.md"
    )
    args = p.parse_args(argv)
    args.parts = {s.strip() for s in args.parts.split(",") if s.strip()}
    if args.model == "auto":
        args.model = "shipped" if SHIPPED.exists() else "daunet16"
    args.cpus = _ints(args.cpus) if args.cpus else []
    if args.quick:
        args.batches, args.tiles, args.sizes, args.min_time, args.repeat = [1, 2], [768], [1024], 0.5, 1
        args.no_readme = True
        args.out = args.out or TMP / "quick-results.json"
    return args


def model_tiling(model: Path) -> tuple[int, int, int]:
    """(tile, overlap, size divisor) recorded in the model's metadata."""
    props = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
    info = parse_metadata(props)
    return int(info.tile_size or 512), int(info.overlap), max(1, int(info.size_divisor or 1))


def grid_for(
    size: int, tile: int, overlap: int, div: int, fitted: bool, max_area: int | None = None
) -> tuple[int, int, int]:
    """(tile count, padded tile height, width) of the engine's grid over a size x size raster.

    ``fitted``: the engine's default, the tile shape fitted to the raster (core.tiling) with the
    area cap of the precision that runs (``max_area``, core.plan.fit_area_cap).
    """
    shape = fit_tile_shape(size, size, tile, overlap, div, max_area) if fitted else (tile, tile)
    grid = make_grid(size, size, shape, overlap, div)
    return grid.count, grid.rows.padded, grid.cols.padded


def _median_side(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One tool's runs on one raster: the median run, with every run's times and memory."""
    row = {k: v for k, v in sorted(rows, key=lambda r: r["detection_s"])[len(rows) // 2].items()}
    row["detection_all_s"] = [r["detection_s"] for r in rows]
    row["process_wall_all_s"] = [r["process_wall_s"] for r in rows]
    row["peak_rss_all_mb"] = [r["peak_rss_mb"] for r in rows]
    return row


def median_run(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, with every run's time, ratio and memory attached."""
    row = dict(sorted(rows, key=lambda r: r["elapsed_s"])[len(rows) // 2])
    row["elapsed_all_s"] = [r["elapsed_s"] for r in rows]
    row["ratio_all"] = [r["ratio_to_model_only"] for r in rows]
    row["peak_rss_all_mb"] = [r["peak_rss_mb"] for r in rows]
    return row


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cpu = sysinfo.cpu_tag()  # printed and stored with every row: numbers are per CPU
        self.results: dict[str, Any] = {
            "command": "python -m bench.run " + " ".join(sys.argv[1:]),
            "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "system": sysinfo.describe(),
            "load_at_start": sysinfo.load(),
            "ort_settings": {
                "session": "core.runtime.create_session (ORT_ENABLE_ALL graph optimisation, default arena)",
                "intra_op_num_threads": args.threads,
                "device_requested": args.device,
                "precision_requested": args.precision,
            },
            "models": {},
            "model_only": [],
            "e2e": [],
            "deepness": [],
            "ablations": [],
            "qgis": None,
            "notes": [],
        }
        self.sessions: dict[str, Sessions] = {}
        self.ref_cache: dict[tuple[str, str, int, int, int, int, str], dict[str, Any]] = {}
        if args.reuse_model_only:
            self._reuse(args.reuse_model_only)

    # --- helpers ---------------------------------------------------------------------------------

    def _reuse(self, path: Path) -> None:
        old = json.loads(path.read_text())
        for row in old["model_only"]:
            th, tw = (
                (int(v) for v in str(row["tile"]).split("x"))
                if "x" in str(row["tile"])
                else (row["tile"],) * 2
            )
            key = (
                row["model"],
                row["device"],
                int(th),
                int(tw),
                int(row["batch"]),
                int(row["threads"]),
                row.get("precision", "float32"),
            )
            row = {**row, "reused_from": f"{path.name} ({old['started_utc']})"}
            self.ref_cache[key] = row
            self.results["model_only"].append(row)
        self.results["notes"].append(
            f"Model-only points were measured by an earlier run ({old['started_utc']}, same machine, idle) "
            f"and reused: `--reuse-model-only {path.name}`."
        )

    def model(self, name: str) -> tuple[Path, str]:
        path, label = resolve_model(name)
        if name not in self.results["models"]:
            tile, overlap, div = model_tiling(path)
            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            info = parse_metadata(props)
            self.results["models"][name] = {
                "path": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
                "label": label,
                "network": info.network,
                "variant": info.variant,
                "width": info.width,
                "parameters": int(json.loads(props["bench_parameters"]))
                if "bench_parameters" in props
                else None,
                "tile_size": tile,
                "overlap": overlap,
                "size_divisor": div,
                "file_mb": round(path.stat().st_size / 2**20, 2),
            }
        return path, label

    def sessions_for(self, name: str) -> Sessions:
        if name not in self.sessions:
            self.sessions[name] = Sessions(self.model(name)[0])
        return self.sessions[name]

    def model_only(
        self,
        name: str,
        device: str,
        tile: int | tuple[int, int],
        batch: int,
        threads: int | None = None,
        precision: str = "float32",
    ) -> dict[str, Any]:
        """Model-only point, measured once per (model, device, tile, batch, threads, precision), cached."""
        th, tw = (tile, tile) if isinstance(tile, int) else tile
        threads = self.args.threads if threads is None else threads
        key = (name, device, th, tw, batch, threads, precision)
        if key not in self.ref_cache:
            quiet = sysinfo.wait_quiet()
            m = measure(
                self.sessions_for(name),
                device,
                threads,
                (th, tw),
                batch,
                self.args.min_time,
                precision=precision,
            )
            row = {
                "model": name,
                **m.as_dict(),
                "busy_cores_before": quiet["busy_cores_before"],
                "cpu": self.cpu,
            }
            self.ref_cache[key] = row
            self.results["model_only"].append(row)
            print(
                f"  [{self.cpu}] model-only {name:9s} {device} {row['precision']} x{threads} "
                f"tile {row['tile']!s:>9s} "
                f"batch {batch}: "
                f"{row['tiles_per_s']:7.3f} tiles/s {row['mpix_per_s']:7.3f} MPix/s "
                f"{row['gflops_per_s']:6.1f} GFLOP/s ({row['gmacs_per_tile']:.2f} GMAC/tile, "
                f"{row['runs']} runs)",
                flush=True,
            )
        return self.ref_cache[key]

    def e2e(
        self,
        name: str,
        size: int,
        tile: int | None,
        overlap: int | None,
        batch: int,
        label: str,
        profile: bool = False,
        proposals: tuple[str, ...] = (),
        paired: bool = False,
        precision: str | None = None,
        device: str | None = None,
    ) -> dict[str, Any]:
        """One end-to-end run. ``paired``: its model-only reference is measured just before it
        (this VM's speed drifts by up to 15 % within minutes), not taken from the cache.
        ``precision`` / ``device``: the tool's PRECISION / DEVICE (default: the command line's)."""
        path, _ = self.model(name)
        m_tile, m_overlap, div = model_tiling(path)
        tile_eff = round_up(tile or m_tile, div)
        overlap_eff = m_overlap if overlap is None else overlap
        device = device or ("cpu" if self.args.device == "auto" else self.args.device)
        precision = precision or self.args.precision
        # The precision the engine will run (a GPU runs float32), for the model-only reference.
        expected = "float32" if device != "cpu" else choose_precision(precision, str(path)).precision
        # The engine's own choices when tile / batch are left to it (tile None, batch 0).
        cap = None if "no-area-cap" in proposals else fit_area_cap(expected)
        tiles, th, tw = grid_for(size, tile_eff, overlap_eff, div, fitted=tile is None, max_area=cap)
        batch_eff = auto_batch_size(batch, "CUDA" if device == "cuda" else "CPU", tile_eff, th * tw)
        raster = make_raster(raster_path(TMP, size), size)
        # also a row of the model-only table
        ref = self.model_only(name, device, (th, tw), batch_eff, precision=expected)
        if paired:
            sysinfo.wait_quiet()
            m = measure(
                self.sessions_for(name),
                device,
                self.args.threads,
                (th, tw),
                batch_eff,
                3.0,
                precision=expected,
            )
            ref = {"model": name, **m.as_dict(), "paired": True}
        prof = TMP / f"profile-{name}-{size}-{th}.txt" if profile else None
        print(
            f"  e2e {label}: {size}x{size}, {name}, tile {th} overlap {overlap_eff} batch {batch_eff}, "
            f"{tiles} tiles (est. {tiles / ref['tiles_per_s']:.0f} s of inference) ...",
            flush=True,
        )
        load_before = sysinfo.wait_quiet()
        if not load_before["quiet"]:
            print(
                f"    WARNING: machine still busy ({load_before['busy_cores_before']} cores) after waiting",
                flush=True,
            )
        rec = run_child(
            raster,
            path,
            tile,
            overlap_eff,
            batch,
            self.args.threads,
            device,
            prof,
            None,
            proposals,
            precision,
        )
        if rec.get("precision") != expected:
            note = f"{label}, {size}²: ran {rec.get('precision')} ({rec.get('precision_reason')})"
            self.results["notes"].append(note + f", reference measured in {expected}")
        elapsed = rec["elapsed_s"]
        pushed_mpix = rec["tiles_inferred"] * th * tw / 1e6
        t = rec["timings_s"]
        row = {
            "label": label,
            "model": name,
            "raster": size,
            "raster_mpix": round(size * size / 1e6, 3),
            "tile": th if th == tw else f"{th}x{tw}",
            "tile_fitted": tile is None,
            "overlap": overlap_eff,
            "batch": batch_eff,
            "batch_auto": batch == 0,
            "threads": self.args.threads,
            "cpu": self.cpu,
            **rec,
            "tile_hw": [th, tw],
            "proposals": list(proposals),
            "pushed_mpix": round(pushed_mpix, 3),
            "overlap_waste": round(pushed_mpix / (size * size / 1e6), 3),
            "raster_mpix_per_s": round(size * size / 1e6 / elapsed, 4),
            "pushed_mpix_per_s": round(pushed_mpix / elapsed, 4),
            "model_only_mpix_per_s": ref["mpix_per_s"],
            "model_only_paired": paired,
            "ratio_to_model_only": round(pushed_mpix / elapsed / ref["mpix_per_s"], 3),
            # < 1: onnxruntime ran slower inside the engine than alone (reader/GDAL threads compete)
            "infer_efficiency": round(pushed_mpix / max(t["infer"], 1e-9) / ref["mpix_per_s"], 3),
            "shares_pct": shares({"timings_s": t, "elapsed_s": elapsed}),
            "polygons_per_mpix": round(rec["polygon_count"] / (size * size / 1e6), 1),
            "load_before": load_before,
        }
        if prof:
            row["profile"] = str(prof.relative_to(ROOT))
        print(
            f"    [{self.cpu}] {elapsed:8.1f} s  {row['raster_mpix_per_s']:.3f} raster MPix/s  "
            f"ratio to model-only "
            f"{row['ratio_to_model_only']:.2f} (session.run alone {row['infer_efficiency']:.2f})  "
            f"peak RSS {rec['peak_rss_mb']:.0f} MB  shares {row['shares_pct']}  "
            f"{rec['polygon_count']} polygons",
            flush=True,
        )
        return row

    # --- parts -----------------------------------------------------------------------------------

    def part_model(self) -> None:
        print("Model-only throughput (onnxruntime, random input):", flush=True)
        name = self.args.model
        path, _ = self.model(name)
        tile = model_tiling(path)[0]
        devices = devices_to_measure(self.args.device)
        if "cuda" in devices and self.args.tensorrt == "auto":
            problem = tensorrt_problem()
            if problem is None:
                devices.append("tensorrt")
            else:
                note = f"TensorRT not measured: {problem}"
                print("  " + note, flush=True)
                self.results["notes"].append(note)
        # int8 on the CPU where the model has an int8 copy (whatever this CPU's VNNI: the table
        # shows whether it pays here)
        precisions = ["float32"] + (["int8"] if Path(int8_path(str(path))).is_file() else [])
        for device in devices:
            for precision in precisions if device == "cpu" else ["float32"]:
                for batch in self.args.batches:
                    self.model_only(name, device, tile, batch, precision=precision)
                for big in self.args.tiles:
                    self.model_only(name, device, big, 1, precision=precision)
                if device == "cpu" and self.args.threads != 1:
                    self.model_only(name, device, tile, 1, threads=1, precision=precision)  # core scaling
            if device == "cuda":  # float16 compute (tensor cores); on x86 CPUs no faster
                for batch in self.args.batches:
                    self.model_only(name + FP16, device, tile, batch)
                for big in self.args.tiles:
                    self.model_only(name + FP16, device, big, 1)

    def part_e2e(self) -> None:
        print("End-to-end detection (core.engine.run_detection, one child process per run):", flush=True)
        devices = ["cpu" if self.args.device == "auto" else self.args.device]
        if devices == ["cuda"] and self.args.tensorrt == "auto" and tensorrt_problem() is None:
            devices.append("tensorrt")
        for device in devices:
            self._e2e_sizes(device)

    def _e2e_sizes(self, device: str) -> None:
        name = self.args.model
        path, _ = self.model(name)
        tile, overlap, div = model_tiling(path)
        expected = (
            "float32" if device != "cpu" else choose_precision(self.args.precision, str(path)).precision
        )
        ref = self.model_only(name, device, tile, 1, precision=expected)
        for i, size in enumerate(sorted(self.args.sizes)):
            tiles, th, tw = grid_for(size, tile, overlap, div, fitted=True, max_area=fit_area_cap(expected))
            estimate_min = tiles * th * tw / 1e6 / ref["mpix_per_s"] * 1.15 / 60
            use = name
            if estimate_min > self.args.max_minutes:
                use = self.args.big_model
                note = (
                    f"{size}x{size} with {name} was estimated at {estimate_min:.0f} min "
                    f"(> {self.args.max_minutes:g}): run with --big-model {use} instead "
                    "(memory scaling; not the real model's speed)"
                )
                print("  " + note, flush=True)
                self.results["notes"].append(note)
            label = "scaling" if use == name else f"scaling ({use}: memory only)"
            if device == "tensorrt":
                label += " (TensorRT)"
            # Short runs are repeated (--repeat, each paired with a fresh model-only reference);
            # a run over --repeat-minutes once, still paired.
            rounds = max(1, self.args.repeat) if estimate_min <= self.args.repeat_minutes else 1
            paired = self.args.repeat > 1
            rows = [
                self.e2e(
                    use,
                    size,
                    None,
                    None,
                    self.args.batch,
                    label,
                    self.args.profile and i == 0 and k == 0,
                    (),
                    paired,
                    device=device,
                )
                for k in range(rounds)
            ]
            self.results["e2e"].append(median_run(rows))

    def part_deepness(self) -> None:
        """The real Deepness and ``landslides:detect`` side by side (see :mod:`bench.deepness`).

        Per round and raster both run once, in alternating order (ABBA over the rounds), so this
        VM's drift (up to 15 % within minutes) falls on both; the table shows the medians.
        """
        from .accuracy import label_for, score_deepness, score_ours
        from .deepness import fixed_tile_copy, peer_problem, run_ours, run_peer

        problem = peer_problem()
        if problem:
            print(f"Deepness side by side: skipped: {problem}", flush=True)
            self.results["deepness"] = [{"skipped": problem}]
            return
        name = self.args.model
        model, _ = self.model(name)
        model512 = fixed_tile_copy(model)
        rasters = self.deepness_rasters()
        print(
            f"Deepness side by side ({name}; Deepness on {model512.name}; "
            f"{len(rasters)} raster(s) x {max(1, self.args.repeat)} round(s)):",
            flush=True,
        )
        out = TMP / "deepness-out"
        out.mkdir(parents=True, exist_ok=True)
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for round_ in range(max(1, self.args.repeat)):
            for label, raster in rasters:
                inventory = label_for(raster)
                sides = ["deepness", "ours"] if round_ % 2 == 0 else ["ours", "deepness"]
                for side in sides:
                    gpkg = out / f"{label}-{side}.gpkg"
                    for stale in out.glob(f"{label}-{side}.gpkg*"):
                        stale.unlink()
                    load = sysinfo.wait_quiet()
                    try:
                        if side == "deepness":
                            rec = run_peer(raster, model512, self.args.threads, gpkg, self.args.cpus)
                            if inventory is not None:
                                rec["accuracy"] = score_deepness(Path(rec["mask"]), inventory)
                        else:
                            rec = run_ours(raster, model, self.args.threads, gpkg, "auto", self.args.cpus)
                            if inventory is not None:
                                rec["accuracy"] = score_ours(gpkg, inventory)
                    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                        note = f"deepness part: {side} on {label}, round {round_ + 1} failed: {exc}"
                        print("  " + note[:2000], flush=True)
                        self.results["notes"].append(note[:2000])
                        continue
                    rec.update({"raster": label, "round": round_ + 1, "load_before": load, "cpu": self.cpu})
                    runs.setdefault((label, side), []).append(rec)
                    iou = rec.get("accuracy", {}).get("iou")
                    print(
                        f"  [{self.cpu}] {label:12s} {rec['tool']:18s} {rec['detection_s']:7.2f} s "
                        f"(process {rec['process_wall_s']:.1f} s), session.run "
                        f"{100 * (rec['session_run_share'] or 0):.0f} %, peak {rec['peak_rss_mb']:.0f} MB, "
                        f"{rec['tiles']} tiles, {rec['polygon_count']} polygons"
                        + (f", IoU {iou:.3f}" if iou is not None else "")
                        + (f", {rec['precision']}" if "precision" in rec else ""),
                        flush=True,
                    )
        rows = []
        for label, _raster in rasters:
            peer, ours = runs.get((label, "deepness"), []), runs.get((label, "ours"), [])
            if not peer or not ours:
                continue  # a side failed every round (the notes say why)
            row = {
                "raster": label,
                "cpu": self.cpu,
                "deepness": _median_side(peer),
                "ours": _median_side(ours),
            }
            row["ratio"] = round(row["deepness"]["detection_s"] / row["ours"]["detection_s"], 3)
            row["ratio_process"] = round(row["deepness"]["process_wall_s"] / row["ours"]["process_wall_s"], 3)
            # per round, the two runs next to each other
            ours_by_round = {o["round"]: o for o in ours}
            row["ratio_rounds"] = [
                round(d["detection_s"] / ours_by_round[d["round"]]["detection_s"], 3)
                for d in peer
                if d["round"] in ours_by_round
            ]
            row["runs"] = {"deepness": peer, "ours": ours}
            rows.append(row)
            print(
                f"  [{self.cpu}] {label}: Deepness {row['deepness']['detection_s']:.2f} s / ours "
                f"{row['ours']['detection_s']:.2f} s = {row['ratio']:.2f}x (per round {row['ratio_rounds']})",
                flush=True,
            )
        self.results["deepness"] = rows

    def deepness_rasters(self) -> list[tuple[str, Path]]:
        """(label, path) of ``--deepness-rasters``: texture<size>, amu-<scene> or a file."""
        found = []
        for item in (v.strip() for v in self.args.deepness_rasters.split(",") if v.strip()):
            if item.startswith("texture"):
                size = 1024 if self.args.quick else int(item[len("texture") :] or TEXTURE)
                found.append((f"texture{size}", make_raster(raster_path(TMP, size), size)))
            elif item.startswith("amu-"):
                path = self.args.data / "amu" / f"scene_{item[4:]}_rgb.tif"
                if path.exists():
                    found.append((item, path))
                else:
                    note = f"deepness part: {item} skipped ({path} not found)"
                    print("  " + note, flush=True)
                    self.results["notes"].append(note)
            elif Path(item).is_file():
                found.append((Path(item).stem, Path(item)))
            else:
                note = f"deepness part: {item} skipped (no such raster)"
                print("  " + note, flush=True)
                self.results["notes"].append(note)
        return found

    def part_ablations(self) -> None:
        """The tool's defaults on the texture raster with one of them changed at a time.

        Interleaved over ``--repeat`` rounds, each run paired with a model-only reference of the
        precision it runs (float32 or int8); the medians are kept.
        """
        name = self.args.model
        path, _ = self.model(name)
        size = 1024 if self.args.quick else TEXTURE
        auto = choose_precision("auto", str(path))
        other = "float32" if auto.precision == "int8" else "int8"
        configs: list[tuple[str, int | None, str, tuple[str, ...]]] = [  # label, tile, precision, what-ifs
            (f"the tool's defaults ({auto.precision})", None, "auto", ()),
        ]
        if other == "float32" or Path(int8_path(str(path))).is_file():
            configs.append((f"defaults, but {other}", None, other, ()))
        else:
            self.results["notes"].append(f"ablations: no int8 copy of {path.name}, int8 not measured")
        configs += [
            ("defaults, but 512 px tiles", 512, "auto", ()),
            ("defaults, but fitted tiles of any area", None, "auto", ("no-area-cap",)),
            ("defaults, but helper threads not niced", None, "auto", ("no-nice",)),
            ("defaults, but onnxruntime threads spin-wait", None, "auto", ("spin",)),
            ("defaults, but the optimised graph cached", None, "auto", ("ort-cache",)),
        ]
        print(f"Ablations ({name}, {size}x{size}; defaults: {auto.reason}):", flush=True)
        # The cached graph is written by a first, unmeasured run.
        raster = make_raster(raster_path(TMP, size), size)
        run_child(raster, path, None, None, 0, self.args.threads, "cpu", proposals=("ort-cache",))
        runs: list[list[dict[str, Any]]] = [[] for _ in configs]
        paired = self.args.repeat > 1
        for round_ in range(max(1, self.args.repeat)):
            order = list(enumerate(configs))
            for k, (label, tile, precision, proposals) in order if round_ % 2 == 0 else order[::-1]:
                runs[k].append(
                    self.e2e(
                        name,
                        size,
                        tile,
                        None,
                        self.args.batch,
                        label,
                        proposals=proposals,
                        paired=paired,
                        precision=precision,
                        device="cpu",
                    )
                )
        self.results["ablations"] = [median_run(rows) for rows in runs]

    def part_qgis(self) -> None:
        from .qgis_run import run_child as qgis_child

        size = 1024 if self.args.quick else 2048
        path, _ = self.model(self.args.model)
        raster = make_raster(raster_path(TMP, size), size)
        print(f"QGIS overhead: processing.run('landslides:detect') on {size}x{size} ...", flush=True)
        try:
            rec = qgis_child(raster.resolve(), path.resolve(), self.args.threads, self.args.batch)
        except (RuntimeError, OSError) as exc:
            print(f"  skipped: {exc}", flush=True)
            self.results["qgis"] = {"skipped": str(exc)[-500:]}
            return
        rec.update({"raster": size, "model": self.args.model})
        print(f"    {rec}", flush=True)
        self.results["qgis"] = rec

    # --- output ----------------------------------------------------------------------------------

    def save(self) -> Path:
        self.results["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.results["load_at_end"] = sysinfo.load()
        out = self.args.out
        if not out:
            out = RESULTS / f"{dt.date.today().isoformat()}-{self.results['system']['machine']}.json"
            if out.exists():  # a second run on the same day keeps the first one's numbers
                out = out.with_name(f"{out.stem}-{dt.datetime.now().strftime('%H%M%S')}.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.results, indent=1) + "\n")
        return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sysinfo.MAX_WAIT_S = args.max_wait
    if args.device == "cuda":
        devices_to_measure("cuda")  # stops here, with the reason, where CUDA does not really run
    bench = Bench(args)
    system, load = bench.results["system"], bench.results["load_at_start"]
    print(
        f"{system['machine']}: {system['cpu_model']} ({' '.join(system['cpu_flags'])}), "
        f"{system['cores']} cores, onnxruntime "
        f"{system['versions']['onnxruntime']}, GDAL {system['versions']['gdal']}, "
        f"numpy {system['versions']['numpy']}"
    )
    print(f"load average {load['loadavg_1_5_15']}", flush=True)
    if load["busy"]:
        print("WARNING: other CPU-heavy processes are running; the numbers below are not clean:")
        for line in load["busy"]:
            print("   " + line)
    t0 = time.perf_counter()
    for part in ("model", "e2e", "deepness", "ablations", "qgis"):
        if part in args.parts:
            getattr(bench, f"part_{part}")()
            bench.save()  # keep what was measured even if a later part fails
    out = bench.save()
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"Results: {shown} ({time.perf_counter() - t0:.0f} s)")
    if not args.no_readme:
        from .report import update_readme

        update_readme(README, bench.results, out)
        print(f"Table updated in {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
