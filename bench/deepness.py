# SPDX-License-Identifier: GPL-2.0-or-later
"""The real Deepness (``../shared/peers/deepness``) beside ``landslides:detect``: same rasters, same model.

    python -m bench.deepness setup     # once: Deepness's own venv under bench/tmp/ (onnxruntime 1.17, OpenCV)
    python -m bench.deepness check     # is the peer runnable? (prints why not)
    python -m bench.run --parts deepness [--deepness-rasters texture4096,amu-A,amu-B] [--repeat 3]

Deepness 0.6.5 needs onnxruntime <= 1.17 (ONNX IR <= 9) and OpenCV, so it runs in a venv of its own
(``bench/tmp/deepness-venv``, made from Debian's python3 with system site packages for QGIS, as the
peer's README says), never in the project's ``.venv``. Each run is a child process:

* Deepness: ``run_deepness.py`` (the peer's headless runner: QGIS layer, Deepness's ``Segmentor`` and
  ``MapProcessorSegmentation`` over the entire layer) wrapped by ``bench/deepness_child.py``, which
  only adds a timer around ``onnxruntime.InferenceSession.run``. The model is a copy of ours with a
  fixed 512 x 512 input (Deepness reads its tile size from the input shape), under ``bench/tmp/``;
  resolution = the raster's pixel size (no resampling), overlap and threshold from the model's
  Deepness metadata (``tiles_overlap``, ``seg_thresh``), batch 1, its other defaults.
* ours: ``processing.run("landslides:detect")`` in a headless QGIS (``bench/qgis_run.py``) with the
  tool's defaults (PRECISION auto: int8 where the CPU has VNNI and the int8 copy exists).

Both get the same intra-op thread count and, with ``--cpus``, the same CPU affinity.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "peers" / "deepness"
TMP = ROOT / "bench" / "tmp"
PEER_VENV = TMP / "deepness-venv"
CHILD = Path(__file__).resolve().parent / "deepness_child.py"
# The peer's README: Deepness 0.6.5 runs on onnxruntime <= 1.17 (ONNX IR <= 9) and OpenCV.
PEER_PACKAGES = ["onnxruntime<=1.17.3", "opencv-python-headless<=4.9.0.80"]
MAX_IR = 9


def peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def peer_problem() -> str | None:
    """Why the Deepness side cannot run here, or None."""
    if not (PEER / "run_deepness.py").is_file() or not (PEER / "src" / "deepness").is_dir():
        return f"the Deepness peer is not at {PEER} (run_deepness.py and src/deepness/)"
    if not peer_python().exists():
        return (
            f"its venv is missing: run `python -m bench.deepness setup` (makes {PEER_VENV.relative_to(ROOT)})"
        )
    probe = subprocess.run(
        [str(peer_python()), "-c", "import onnxruntime, cv2, numpy; print(onnxruntime.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"its venv cannot import onnxruntime/cv2 ({last}): run `python -m bench.deepness setup` again"
    return None


def setup(nice: int = 15) -> None:
    """Make the peer's venv (Debian's python3, system site packages for QGIS) and install its packages."""
    import numpy

    if not (PEER / "run_deepness.py").is_file():
        raise SystemExit(f"no Deepness peer at {PEER}")
    TMP.mkdir(parents=True, exist_ok=True)
    if not peer_python().exists():
        subprocess.run(
            ["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(PEER_VENV)], check=True
        )
    # numpy pinned to the system's: GDAL's and QGIS's bindings are built against it.
    packages = [*PEER_PACKAGES, f"numpy=={numpy.__version__}"]
    cmd = ["nice", "-n", str(nice), str(peer_python()), "-m", "pip", "install", "-q", *packages]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    problem = peer_problem()
    print(problem or f"Deepness peer ready: {peer_python()}")


# --- the model ---------------------------------------------------------------------------------------


def fixed_tile_copy(model: Path, tile: int = 512) -> Path:
    """``model`` with a fixed ``tile`` x ``tile`` input and output (batch left dynamic), ONNX IR <= 9,
    under bench/tmp/ (made again when the model is newer)."""
    import onnx

    out = TMP / f"{model.stem}-fixed{tile}.onnx"
    if out.exists() and out.stat().st_mtime >= model.stat().st_mtime:
        return out
    m = onnx.load(str(model))
    for value in (m.graph.input[0], m.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        for d in dims[2:]:
            d.Clear()
            d.dim_value = tile
    del m.graph.value_info[:]  # intermediate shapes are inferred again by onnxruntime
    if m.ir_version > MAX_IR:
        m.ir_version = MAX_IR  # onnxruntime 1.17 reads IR <= 9; opsets up to 20
    onnx.checker.check_model(m)
    TMP.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    onnx.save(m, str(partial))
    partial.replace(out)
    return out


def deepness_settings(model: Path) -> dict[str, float]:
    """What Deepness reads from the model's metadata: overlap (%) and threshold."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
    return {
        "overlap_pct": float(json.loads(props.get("tiles_overlap", "15"))),
        "threshold": float(json.loads(props.get("seg_thresh", "0.5"))),
    }


def raster_resolution_cm(raster: Path) -> float:
    """The raster's pixel size in cm (Deepness resamples unless told exactly this)."""
    from osgeo import gdal

    gt = gdal.Open(str(raster)).GetGeoTransform()
    return round(abs(gt[1]) * 100.0, 4)


# --- the runs ----------------------------------------------------------------------------------------


def _affinity(cpus: list[int] | None) -> Any:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _number(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1)) if match else None


def run_peer(
    raster: Path,
    model512: Path,
    threads: int,
    out_gpkg: Path | None,
    cpus: list[int] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """One Deepness run in its own process; its times, tiles, polygons, peak RSS and session.run time."""
    settings = deepness_settings(model512)
    cmd = [str(peer_python()), str(CHILD), str(PEER / "run_deepness.py"), str(raster), str(model512)]
    cmd += ["--res", f"{raster_resolution_cm(raster):g}", "--overlap", f"{settings['overlap_pct']:g}"]
    if threads:
        cmd += ["--threads", str(threads)]
    if out_gpkg is not None:
        cmd += ["--out", str(out_gpkg)]
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        DEEPNESS_SRC=str(PEER / "src"),
        THR=f"{settings['threshold']:g}",
    )
    env.pop("PYTHONPATH", None)  # the project's .venv must not leak into the peer's interpreter
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=_affinity(cpus)
    )
    wall = time.perf_counter() - t0
    out = proc.stdout
    if proc.returncode != 0 or "BENCH_JSON " not in out:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-2000:]}\n{proc.stderr[-2000:]}"
        )
    child = json.loads(out.split("BENCH_JSON ", 1)[1].splitlines()[0])
    times = {
        k: _number(rf"{re.escape(k)}=([0-9.]+)s", out)
        for k in ("init_qgis", "load_model", "ctor", "run+finish", "total")
    }
    if None in times.values() or child.get("error"):
        raise RuntimeError(f"Deepness did not finish: {child.get('error')}\n{out[-2000:]}")
    detection = times["load_model"] + times["ctor"] + times["run+finish"]
    bins = re.search(r"tiles: (\d+)x(\d+)", out)
    features = [int(n) for n in re.findall(r"vector layer .*?: (\d+) features", out)]
    return {
        "tool": "Deepness 0.6.5",
        "detection_s": round(detection, 3),  # model load + processor set-up + run (QGIS already up)
        "process_wall_s": round(wall, 3),
        "times_s": times,
        "session_run_s": round(child["session_run_s"], 3),
        "session_runs": child["session_runs"],
        "session_run_share": round(child["session_run_s"] / detection, 3) if detection else None,
        "tiles": int(bins.group(1)) * int(bins.group(2)) if bins else None,
        # one layer per class: background and landslide (the last)
        "polygon_count": features[-1] if features else None,
        # The process's own high-water mark; the runner's ru_maxrss includes the parent's at fork.
        "peak_rss_mb": child.get("vm_hwm_mb") or _number(r"peak RSS MiB ([0-9.]+)", out),
        "onnxruntime": child.get("onnxruntime"),
        "resolution_cm": raster_resolution_cm(raster),
        **settings,
        "threads": threads,
        "mask": str(out_gpkg) + ".mask.npy" if out_gpkg is not None else None,
    }


def run_ours(
    raster: Path,
    model: Path,
    threads: int,
    out_gpkg: Path,
    precision: str = "auto",
    cpus: list[int] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """One ``processing.run("landslides:detect")`` with the tool's defaults, in its own process.

    DEVICE is the default ``auto`` where no GPU is usable (the CUDA probe is part of a default run),
    else ``cpu``: Deepness runs on the CPU (its onnxruntime 1.17 is the CPU build).
    """
    from core.runtime import describe_provider

    from .qgis_run import run_child

    device = "auto" if describe_provider("auto").used == "CPU" else "cpu"
    t0 = time.perf_counter()
    rec = run_child(
        raster,
        model,
        threads,
        0,
        timeout,
        device=device,
        precision=precision,
        keep=out_gpkg,
        preexec_fn=_affinity(cpus),
    )
    wall = time.perf_counter() - t0
    run_s = rec["processing_run_s"]
    infer = rec["engine_timings_s"].get("infer", 0.0)
    return {
        "tool": "landslides:detect",
        "detection_s": round(run_s, 3),  # processing.run: model load, detection, sink written
        "process_wall_s": round(wall, 3),
        "engine_elapsed_s": rec["engine_elapsed_s"],
        "qgis_startup_s": rec["qgis_startup_s"],
        "session_run_s": round(infer, 3),
        "session_run_share": round(infer / run_s, 3) if run_s else None,
        "tiles": rec["tiles_inferred"],
        "tiles_total": rec["tiles_total"],
        "polygon_count": rec["polygon_count"],
        "peak_rss_mb": rec["peak_rss_mb"],
        "provider": rec["provider"],
        "device": device,
        "precision": rec["precision"],
        "precision_reason": rec["precision_reason"],
        "engine_timings_s": rec["engine_timings_s"],
        "log": rec.get("log", []),
        "threads": threads,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.deepness", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["setup", "check"])
    args = p.parse_args(argv)
    if args.command == "setup":
        setup()
        return 0
    problem = peer_problem()
    print(problem or f"Deepness peer ready: {PEER} with {peer_python()}")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
