# SPDX-License-Identifier: GPL-2.0-or-later
"""Fitted tiles with and without the area cap (core.tiling.FIT_MAX_AREA), end to end, side by side.

    python -m bench.area_cap [--rounds 3] [--data ../shared/data/landslides]

Per raster (the 4096² texture, AMU scenes A and B) and round, one ``bench.e2e`` child with the
tool's defaults and one with the ``no-area-cap`` proposal (the fit before the cap), in alternating
order; prints the median wall time, peak resident memory and the tiles of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from .e2e import run_child
from .models import ROOT, SHIPPED, TMP
from .rasters import make_raster, raster_path
from .sysinfo import cpu_model

CONFIGS = {"capped (default)": (), "no area cap": ("no-area-cap",)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.area_cap", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "landslides"))
    p.add_argument("--out", help="results JSON")
    args = p.parse_args(argv)
    TMP.mkdir(parents=True, exist_ok=True)
    rasters = {
        "texture4096": make_raster(raster_path(TMP, 4096), 4096),
        "amu-A": Path(args.data) / "amu" / "scene_A_rgb.tif",
        "amu-B": Path(args.data) / "amu" / "scene_B_rgb.tif",
    }
    print(f"CPU: {cpu_model()}", flush=True)
    results: dict[str, dict[str, list[dict]]] = {name: {c: [] for c in CONFIGS} for name in rasters}
    for round_ in range(args.rounds):
        for name, raster in rasters.items():
            order = list(CONFIGS.items()) if round_ % 2 == 0 else list(CONFIGS.items())[::-1]
            for label, proposals in order:
                r = run_child(raster, SHIPPED, None, None, 0, args.threads, "cpu", proposals=proposals)
                results[name][label].append(r)
                print(
                    f"round {round_ + 1} {name:11s} {label:16s}: {r['elapsed_s']:.2f} s, "
                    f"peak {r['peak_rss_mb']:.0f} MB, {r['tiles_inferred']}/{r['tiles_total']} tiles, "
                    f"{r['precision']}",
                    flush=True,
                )
    print("\nmedians:")
    summary = {}
    for name, by_config in results.items():
        row = {}
        for label, runs in by_config.items():
            row[label] = {
                "s": statistics.median(r["elapsed_s"] for r in runs),
                "peak_mb": statistics.median(r["peak_rss_mb"] for r in runs),
                "tiles": runs[0]["tiles_total"],
            }
        capped, uncapped = row["capped (default)"], row["no area cap"]
        print(
            f"{name:11s}: capped {capped['s']:.2f} s {capped['peak_mb']:.0f} MB ({capped['tiles']} tiles) | "
            f"no cap {uncapped['s']:.2f} s {uncapped['peak_mb']:.0f} MB ({uncapped['tiles']} tiles) | "
            f"time x{capped['s'] / uncapped['s']:.3f}, "
            f"memory {capped['peak_mb'] - uncapped['peak_mb']:+.0f} MB"
        )
        summary[name] = row
    if args.out:
        Path(args.out).write_text(
            json.dumps({"cpu": cpu_model(), "summary": summary, "runs": results}, indent=1)
        )


if __name__ == "__main__":
    main()
