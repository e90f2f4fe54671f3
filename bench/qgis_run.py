# SPDX-License-Identifier: GPL-2.0-or-later
"""One ``processing.run("landslides:detect", ...)`` in a headless QGIS: the QGIS overhead, and our side
of the Deepness comparison.

Run as a child (``python -m bench.qgis_run RASTER MODEL [--threads N] [--precision P] [--keep OUT]``);
prints one JSON line with the time of QGIS start-up, of ``processing.run`` and the engine's own
``ELAPSED_S`` inside it, the engine's stage timings (``DetectionResult.timings``: ``infer`` is the
time inside ``session.run``), the precision that ran and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_child(
    raster: Path,
    model: Path,
    threads: int,
    batch: int,
    timeout: float | None = None,
    device: str = "cpu",
    precision: str = "auto",
    keep: Path | None = None,
    preexec_fn: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    cmd = [sys.executable, "-m", "bench.qgis_run", str(raster), str(model), "--threads", str(threads)]
    cmd += ["--batch", str(batch), "--device", device, "--precision", precision]
    if keep is not None:
        cmd += ["--keep", str(keep)]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=preexec_fn
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description="one processing.run('landslides:detect'); prints a JSON line")
    p.add_argument("raster")
    p.add_argument("model")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--keep", default=None, help="write the polygons here (default: a deleted temporary file)")
    args = p.parse_args()
    threads, batch = args.threads, args.batch
    sys.path.insert(0, str(ROOT / ".build" / "plugins"))
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    from qgis.core import QgsApplication

    profile = tempfile.mkdtemp(prefix="bench-qgis-profile-")  # never touch a user's QGIS settings
    app = QgsApplication([], False, profile)
    app.initQgis()
    plugins = Path(QgsApplication.pkgDataPath()) / "python" / "plugins"  # the bundled Processing plugin
    sys.path.append(str(plugins))
    import processing
    from processing.core.Processing import Processing

    Processing.initialize()
    import landslide_detector.processing_provider.detect_algorithm as detect_module
    from landslide_detector.processing_provider.provider import LandslidesProvider

    registry = QgsApplication.processingRegistry()
    if registry.providerById("landslides") is None:
        registry.addProvider(LandslidesProvider())
    startup = time.perf_counter() - t0

    # The engine's DetectionResult (stage timings, precision) as the algorithm receives it.
    results: list[Any] = []
    engine_run = detect_module.run_detection

    def recording_run(*a: Any, **k: Any) -> Any:
        result = engine_run(*a, **k)
        results.append(result)
        return result

    detect_module.run_detection = recording_run
    out = Path(tempfile.mkdtemp(prefix="bench-qgis-", dir=ROOT / "bench" / "tmp"))
    messages: list[str] = []
    try:
        from qgis.core import QgsProcessingFeedback

        class Log(QgsProcessingFeedback):
            def pushInfo(self, info: str) -> None:
                messages.append(info)

        params = {
            "INPUT": args.raster,
            "MODEL": args.model,
            "DEVICE": args.device,
            "PRECISION": args.precision,
            "THREADS": threads,
            "BATCH_SIZE": batch,
            "OUTPUT": args.keep or str(out / "landslides.gpkg"),
        }
        t1 = time.perf_counter()
        result = processing.run("landslides:detect", params, feedback=Log())
        run_s = time.perf_counter() - t1
    finally:
        shutil.rmtree(out, ignore_errors=True)
    from .sysinfo import peak_rss_mb

    engine = results[-1]
    print(
        json.dumps(
            {
                "qgis_startup_s": round(startup, 3),
                "processing_run_s": round(run_s, 3),
                "engine_elapsed_s": round(float(result["ELAPSED_S"]), 3),
                "overhead_s": round(run_s - float(result["ELAPSED_S"]), 3),
                "engine_timings_s": {k: round(v, 3) for k, v in engine.timings.items()},
                "tiles_inferred": engine.tiles_inferred,
                "tiles_total": engine.tiles_total,
                "polygon_count": int(result["POLYGON_COUNT"]),
                "provider": result["EXECUTION_PROVIDER"],
                "precision": engine.provider.precision,
                "precision_reason": engine.provider.precision_reason,
                "peak_rss_mb": round(peak_rss_mb() or 0.0, 1),
                "log": messages[:8],
            }
        )
    )
    sys.stdout.flush()
    app.exitQgis()
    shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
