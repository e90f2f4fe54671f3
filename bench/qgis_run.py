# SPDX-License-Identifier: GPL-2.0-or-later
"""One ``processing.run("landslides:detect", ...)`` in a headless QGIS, to measure the QGIS overhead.

Run as a child (``python -m bench.qgis_run RASTER MODEL``); prints one JSON line with the time of
QGIS start-up, of ``processing.run`` and the engine's own ``ELAPSED_S`` inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_child(
    raster: Path, model: Path, threads: int, batch: int, timeout: float | None = None
) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    cmd = [sys.executable, "-m", "bench.qgis_run", str(raster), str(model), str(threads), str(batch)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    raster, model, threads, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
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
    from landslide_detector.processing_provider.provider import LandslidesProvider

    registry = QgsApplication.processingRegistry()
    if registry.providerById("landslides") is None:
        registry.addProvider(LandslidesProvider())
    startup = time.perf_counter() - t0
    out = Path(tempfile.mkdtemp(prefix="bench-qgis-", dir=ROOT / "bench" / "tmp"))
    try:
        params = {
            "INPUT": raster,
            "MODEL": model,
            "DEVICE": "cpu",
            "THREADS": threads,
            "BATCH_SIZE": batch,
            "OUTPUT": str(out / "landslides.gpkg"),
        }
        t1 = time.perf_counter()
        result = processing.run("landslides:detect", params)
        run_s = time.perf_counter() - t1
    finally:
        shutil.rmtree(out, ignore_errors=True)
    from .sysinfo import peak_rss_mb

    print(
        json.dumps(
            {
                "qgis_startup_s": round(startup, 3),
                "processing_run_s": round(run_s, 3),
                "engine_elapsed_s": round(float(result["ELAPSED_S"]), 3),
                "overhead_s": round(run_s - float(result["ELAPSED_S"]), 3),
                "polygon_count": int(result["POLYGON_COUNT"]),
                "provider": result["EXECUTION_PROVIDER"],
                "peak_rss_mb": round(peak_rss_mb() or 0.0, 1),
            }
        )
    )
    sys.stdout.flush()
    app.exitQgis()
    shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
