# SPDX-License-Identifier: GPL-2.0-or-later
"""Markdown tables of a results JSON, written between markers in bench/README.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START = "<!-- bench-results:start -->"
END = "<!-- bench-results:end -->"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def shares(r: dict[str, Any]) -> dict[str, float]:
    """Percent of wall time. Main thread: inference, the tail after the last batch (writer and
    vectoriser finishing), the rest (session, set-up, waiting for the reader). The reader, writer
    and vectoriser threads run alongside inference: their busy time overlaps it (and competes for
    the same cores)."""
    t, wall = r["timings_s"], r["elapsed_s"]
    tail = t.get("writer_wait", 0.0) + t.get("vectorise_wait", 0.0)
    pct = {
        "infer": t["infer"],
        "tail": tail,
        "rest": wall - t["infer"] - tail,
        "read": t["read"],
        "blend_write": t["blend_write"],
        "vectorise": t["vectorise"],
    }
    return {k: round(100.0 * v / wall, 1) for k, v in pct.items()}


def _e2e_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for r in rows:
        s = shares(r)
        out.append(
            [
                r["label"],
                f"{r['raster']}²",
                r["model"] + (f" ({r['precision']})" if r.get("precision") else ""),
                f"{r['tile']}{' (fitted)' if r.get('tile_fitted') else ''}/{r['overlap']}/{r['batch']}"
                + (" (auto)" if r.get("batch_auto") else ""),
                f"{r['tiles_inferred']} × {r['tile_hw'][0]}²"
                if r["tile_hw"][0] == r["tile_hw"][1]
                else f"{r['tiles_inferred']} × {r['tile_hw'][0]}x{r['tile_hw'][1]}",
                f"{r['overlap_waste']:.2f}",
                f"{r['elapsed_s']:.1f}"
                + (
                    f" ({min(r['elapsed_all_s']):.1f}–{max(r['elapsed_all_s']):.1f})"
                    if len(r.get("elapsed_all_s", [])) > 1
                    else ""
                ),
                f"{r['raster_mpix_per_s']:.3f}",
                f"{r['ratio_to_model_only']:.2f} ({r['infer_efficiency']:.2f})",
                f"{s['infer']:.0f} / {s['tail']:.0f} / {s['rest']:.0f} · "
                f"{s['read']:.0f} / {s['blend_write']:.0f} / {s['vectorise']:.0f}",
                f"{r['peak_rss_mb']:.0f}",
                f"{r['polygon_count']}",
            ]
        )
    return out


E2E_HEADER = [
    "run",
    "raster",
    "model",
    "tile/overlap/batch",
    "tiles",
    "pixels pushed / raster",
    "wall s",
    "raster MPix/s",
    "÷ model-only (session.run alone)",
    "% of wall: main thread infer (session.run) / tail / rest · overlapped threads read / blend+write / "
    "vectorise",
    "peak RSS MB",
    "polygons",
]


def render(results: dict[str, Any], json_path: Path) -> str:
    sysd = results["system"]
    load = results["load_at_start"]
    parts = [
        f"Produced by `{results['command']}` "
        f"({results['started_utc']} → {results.get('finished_utc', '?')}); "
        f"raw numbers: `{json_path.name}`.",
        "",
        f"Machine `{sysd['machine']}`: {sysd['cpu_model']}"
        + (f" ({' '.join(sysd['cpu_flags'])})" if sysd.get("cpu_flags") else "")
        + f", {sysd['cores']} cores, "
        f"{(sysd['memory_total_mb'] or 0) / 1024:.0f} GiB; onnxruntime {sysd['versions']['onnxruntime']} "
        f"({sysd['versions']['onnxruntime_dist']}), GDAL {sysd['versions']['gdal']}, "
        f"numpy {sysd['versions']['numpy']}; "
        f"intra-op threads {results['ort_settings']['intra_op_num_threads']}. Load average at start "
        f"{load['loadavg_1_5_15']}"
        + (f", **other busy processes: {len(load['busy'])}**" if load["busy"] else "")
        + ".",
        "",
        "Models: "
        + "; ".join(
            f"`{k}` = {v['label']} ({v['variant'] or v['network']}, width {v['width']}, "
            f"tile {v['tile_size']}, overlap {v['overlap']})"
            for k, v in results["models"].items()
        )
        + ".",
    ]
    if results["model_only"]:
        rows = [
            [
                r["model"],
                r["provider"],
                r.get("precision", "float32"),
                r["threads"],
                r["tile"],
                r["batch"],
                f"{r['tiles_per_s']:.3f}",
                f"{r['mpix_per_s']:.3f}",
                f"{r['gmacs_per_tile']:.2f}",
                f"{r['gflops_per_s']:.1f}",
            ]
            for r in sorted(
                results["model_only"],
                key=lambda r: (
                    r["model"],
                    r["provider"],
                    r.get("precision", "float32"),
                    -r["threads"],
                    int(str(r["tile"]).split("x")[0]),
                    r["batch"],
                ),
            )
        ]
        parts += [
            "",
            "**Model only** (onnxruntime `session.run` on random tiles, median of ≥3 runs after a warm-up):",
            "",
            _table(
                [
                    "model",
                    "provider",
                    "precision",
                    "threads",
                    "tile",
                    "batch",
                    "tiles/s",
                    "MPix/s",
                    "GMAC/tile",
                    "GFLOP/s",
                ],
                rows,
            ),
        ]
    if results["e2e"]:
        parts += [
            "",
            "**End to end** (`core.engine.run_detection`, polygons to GeoPackage, one child process per run; "
            '"÷ model-only" = pixels pushed through the model per second of wall time ÷ model-only MPix/s '
            "at the same tile and batch; in brackets the same for the engine's `session.run` time alone; "
            "with several runs, the median run and the range of wall times):",
            "",
            _table(E2E_HEADER, _e2e_rows(results["e2e"])),
        ]
    if results["deepness"]:
        parts += ["", *_deepness_section(results["deepness"])]
    if results.get("ablations"):
        base = results["ablations"][0]["elapsed_s"]
        parts += [
            "",
            "**Ablations** (`core.engine.run_detection` on the texture raster: the tool's defaults, then one "
            "of them changed, interleaved over the rounds; the what-ifs are patched in the child only, "
            "see `bench/e2e.py`; first column: the defaults' wall time ÷ this run's):",
            "",
            _table(
                ["defaults ÷ this", *E2E_HEADER],
                [
                    [f"{base / r['elapsed_s']:.2f}", *row]
                    for r, row in zip(results["ablations"], _e2e_rows(results["ablations"]))
                ],
            ),
        ]
    q = results.get("qgis")
    if q and "skipped" not in q:
        parts += [
            "",
            f"**QGIS overhead** ({q['raster']}², `{q['model']}`): QGIS start-up {q['qgis_startup_s']:.1f} s; "
            f"`processing.run` {q['processing_run_s']:.1f} s of which the engine "
            f"{q['engine_elapsed_s']:.1f} s "
            f"(overhead {q['overhead_s']:.2f} s); peak RSS {q['peak_rss_mb']:.0f} MB.",
        ]
    if results["notes"]:
        parts += ["", "Notes: " + " ".join(results["notes"])]
    return "\n".join(parts)


def _range(values: list[float]) -> str:
    return f" ({min(values):.1f}–{max(values):.1f})" if len(values) > 1 else ""


def _deepness_section(rows: list[dict[str, Any]]) -> list[str]:
    if rows and "skipped" in rows[0]:
        return [f"**Deepness side by side**: skipped: {rows[0]['skipped']}."]
    if rows and "ours" not in rows[0]:  # results before 2026-12-01: a stated reference, no peer run
        return ["**Deepness peer comparison**: an older format (stated reference): see the JSON."]
    table = []
    for row in rows:
        for key in ("deepness", "ours"):
            r = row[key]
            acc = r.get("accuracy")
            table.append(
                [
                    row.get("cpu", "-"),
                    row["raster"],
                    r["tool"] + (f" ({r['precision']})" if r.get("precision") else ""),
                    f"{r['detection_s']:.2f}{_range(r['detection_all_s'])}",
                    f"{r['process_wall_s']:.1f}",
                    f"{r['peak_rss_mb']:.0f}",
                    f"{100 * r['session_run_share']:.0f}" if r.get("session_run_share") else "-",
                    r.get("tiles", "-"),
                    r.get("polygon_count", "-"),
                    f"{acc['iou']:.3f} ({acc['precision']:.2f}/{acc['recall']:.2f})" if acc else "-",
                    f"**{row['ratio']:.2f}×** (rounds {', '.join(f'{v:.2f}' for v in row['ratio_rounds'])}); "
                    f"whole process {row['ratio_process']:.2f}×"
                    if key == "ours"
                    else "",
                ]
            )
    return [
        "**Deepness side by side** (the real Deepness 0.6.5 in its own venv, `run_deepness.py` at its "
        "defaults for the model: 512 px tiles of a fixed-512 copy of the same model, the model's overlap "
        "and threshold, batch 1, the raster's resolution; `landslides:detect` with its defaults through "
        "`processing.run` in a headless QGIS; same threads; interleaved, median of the rounds and range. "
        "Time = model load to result (QGIS already started: Deepness's load + set-up + run, our "
        "`processing.run`); whole process adds the interpreter and QGIS start-up. Peak = the process's "
        "peak RSS, QGIS included. IoU (precision/recall) against the raster's inventory; ratio = "
        "Deepness's time ÷ ours):",
        "",
        _table(
            [
                "CPU [flags]",
                "raster",
                "tool",
                "time s",
                "whole process s",
                "peak RSS MB",
                "% in session.run",
                "tiles",
                "polygons",
                "IoU (P/R)",
                "speed-up over Deepness",
            ],
            table,
        ),
    ]


def update_readme(readme: Path, results: dict[str, Any], json_path: Path) -> None:
    text = readme.read_text() if readme.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{render(results, json_path)}\n{END}{tail}")
