# SPDX-License-Identifier: GPL-2.0-or-later
"""One end-to-end detection (``core.engine.run_detection``, what ``landslides:detect`` runs) per process.

The parent runs ``python -m bench.e2e ...`` once per configuration: each run then has its own peak
resident memory (VmHWM of the child, read by the child itself just before it exits) and no arena,
cache or thread pool left over from the previous run. The child prints one JSON line.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_child(
    raster: Path,
    model: Path,
    tile: int | None,
    overlap: int | None,
    batch: int,
    threads: int,
    device: str,
    profile: Path | None = None,
    timeout: float | None = None,
    proposals: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run one detection in a fresh interpreter and return its JSON record."""
    cmd = [sys.executable, "-m", "bench.e2e", "--raster", str(raster), "--model", str(model)]
    cmd += ["--batch", str(batch), "--threads", str(threads), "--device", device]
    if tile:
        cmd += ["--tile", str(tile)]
    if overlap is not None:
        cmd += ["--overlap", str(overlap)]
    if profile:
        cmd += ["--profile", str(profile)]
    for name in proposals:
        cmd += ["--proposal", name]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    record["process_wall_s"] = round(wall, 3)  # includes interpreter start and imports
    return record


def apply_proposals(names: list[str]) -> None:
    """Bench-only what-ifs: a default of core/ turned off in this child process only."""
    import core.pipeline
    import core.runtime

    for name in names:
        if name == "no-arena":
            original = core.runtime._session_options

            def no_arena(ort: Any, threads: int, cpu_only: bool = False, _original: Any = original) -> Any:
                options = _original(ort, threads, cpu_only)
                options.enable_cpu_mem_arena = False  # malloc/free per tensor: less peak memory
                return options

            core.runtime._session_options = no_arena
        elif name == "no-nice":
            core.pipeline.HELPER_NICE = 0  # reader/writer/vectoriser at the caller's priority
        else:
            raise SystemExit(f"unknown proposal {name!r}")


def _detect(args: argparse.Namespace) -> dict[str, Any]:
    from core.engine import DetectionOptions, run_detection

    apply_proposals(args.proposal)

    from .sysinfo import peak_rss_mb

    out = Path(tempfile.mkdtemp(prefix="bench-e2e-", dir=ROOT / "bench" / "tmp"))
    try:
        options = DetectionOptions(
            device=args.device,
            threads=args.threads,
            tile_size=args.tile,
            overlap=args.overlap,
            batch_size=args.batch,
            tta=args.tta,
        )
        messages: list[str] = []
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        result = run_detection(
            args.raster, args.model, str(out / "landslides.gpkg"), None, options, log=messages.append
        )
        if profiler:
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
            Path(args.profile).write_text(text.getvalue())
        peak = peak_rss_mb()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "elapsed_s": round(result.elapsed_s, 3),
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "tiles_total": result.tiles_total,
        "tiles_inferred": result.tiles_inferred,
        "polygon_count": result.polygon_count,
        "provider": result.provider.used,
        "provider_reason": result.provider.reason,
        "peak_rss_mb": round(peak, 1) if peak else None,
        "log": messages,
        "proposals": args.proposal,
        "tta": args.tta,
        "warnings": result.warnings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="one end-to-end detection; prints a JSON line")
    parser.add_argument("--raster", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tile", type=int, default=None)
    parser.add_argument("--overlap", type=int, default=None)
    parser.add_argument("--batch", type=int, default=0, help="0: the engine's automatic batch")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", default=None, help="write cProfile statistics (main thread) here")
    parser.add_argument("--proposal", action="append", default=[], choices=["no-arena", "no-nice"])
    parser.add_argument(
        "--tta", action="store_true", help="test-time augmentation (8 passes per square tile, 4 otherwise)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    print(json.dumps(_detect(args)))


if __name__ == "__main__":
    main()
