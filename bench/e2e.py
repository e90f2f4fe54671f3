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
    precision: str = "auto",
) -> dict[str, Any]:
    """Run one detection in a fresh interpreter and return its JSON record."""
    cmd = [sys.executable, "-m", "bench.e2e", "--raster", str(raster), "--model", str(model)]
    cmd += ["--batch", str(batch), "--threads", str(threads), "--device", device, "--precision", precision]
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
    """Bench-only what-ifs: a default of core/ changed in this child process only.

    * ``no-arena``: no onnxruntime CPU memory arena; ``no-nice``: helper threads at normal priority;
    * ``no-area-cap``: fitted tiles per axis up to 1024 px whatever their area and precision (before
      2026-12-01: the fewest pixels pushed, but up to 2.6x the activations of a 512² tile);
    * ``spin``: onnxruntime's intra-op threads spin-wait between operators on the CPU (its own
      default, and ours before 2026-12-01: the cycles are taken from the reader, writer and
      vectoriser threads);
    * ``ort-cache``: the optimised graph is saved under bench/tmp/ort-cache on first use and loaded
      with graph optimisation off afterwards (onnxruntime's "offline" mode: same machine, same
      onnxruntime version, same threads only).
    """
    import core.pipeline
    import core.plan
    import core.runtime

    for name in names:
        if name == "no-arena":
            original = core.runtime._session_options

            def no_arena(ort: Any, threads: int, cpu_only: bool = False, _original: Any = original) -> Any:
                options = _original(ort, threads, cpu_only)
                options.enable_cpu_mem_arena = False  # malloc/free per tensor: less peak memory
                return options

            core.runtime._session_options = no_arena
        elif name == "no-area-cap":
            core.plan.fit_area_cap = lambda precision: None
        elif name == "no-nice":
            core.pipeline.HELPER_NICE = 0  # reader/writer/vectoriser at the caller's priority
        elif name == "spin":
            original = core.runtime._session_options

            def spin(ort: Any, threads: int, cpu_only: bool = False, _original: Any = original) -> Any:
                options = _original(ort, threads, cpu_only)
                options.add_session_config_entry("session.intra_op.allow_spinning", "1")
                return options

            core.runtime._session_options = spin
        elif name == "ort-cache":
            core.runtime._new_session = _cached_session(core.runtime._new_session)
        else:
            raise SystemExit(f"unknown proposal {name!r}")


def _cached_session(new_session: Any) -> Any:
    """``core.runtime._new_session`` that reuses the graph onnxruntime optimised for this machine."""
    import hashlib

    import core.runtime

    def cached(ort: Any, model: Any, providers: list[str], threads: int) -> Any:
        if not isinstance(model, str) or providers != ["CPUExecutionProvider"]:
            return new_session(ort, model, providers, threads)
        digest = hashlib.sha256(Path(model).read_bytes()).hexdigest()[:16]
        folder = ROOT / "bench" / "tmp" / "ort-cache"
        folder.mkdir(parents=True, exist_ok=True)
        cache = folder / f"{Path(model).stem}-{digest}-ort{ort.__version__}-t{threads}.onnx"
        options = core.runtime._session_options(ort, threads, cpu_only=True)
        if cache.exists():
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            return ort.InferenceSession(str(cache), sess_options=options, providers=providers)
        options.optimized_model_filepath = str(cache)
        return ort.InferenceSession(model, sess_options=options, providers=providers)

    return cached


def _detect(args: argparse.Namespace) -> dict[str, Any]:
    from core.engine import DetectionOptions, run_detection

    apply_proposals(args.proposal)

    from .sysinfo import peak_rss_mb

    out = Path(tempfile.mkdtemp(prefix="bench-e2e-", dir=ROOT / "bench" / "tmp"))
    try:
        options = DetectionOptions(
            device="cuda" if args.device == "tensorrt" else args.device,
            threads=args.threads,
            tile_size=args.tile,
            overlap=args.overlap,
            batch_size=args.batch,
            tta=args.tta,
            precision=args.precision,
        )
        opened = None
        if args.device == "tensorrt":  # bench only: the product runs CUDA or the CPU
            from core.runtime import ProviderReport

            from .model_only import tensorrt_session

            report = ProviderReport("tensorrt", "TensorRT", "TensorRT requested (bench only)")
            opened = (tensorrt_session(Path(args.model), args.threads), report)
        messages: list[str] = []
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        result = run_detection(
            args.raster,
            args.model,
            str(out / "landslides.gpkg"),
            None,
            options,
            log=messages.append,
            session=opened,
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
        "precision": result.provider.precision,
        "precision_reason": result.provider.precision_reason,
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
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto or tensorrt (bench only)")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "int8"])
    parser.add_argument("--profile", default=None, help="write cProfile statistics (main thread) here")
    parser.add_argument(
        "--proposal",
        action="append",
        default=[],
        choices=["no-arena", "no-nice", "spin", "ort-cache", "no-area-cap"],
    )
    parser.add_argument(
        "--tta", action="store_true", help="test-time augmentation (8 passes per square tile, 4 otherwise)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    print(json.dumps(_detect(args)))


if __name__ == "__main__":
    main()
