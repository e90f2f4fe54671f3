# SPDX-License-Identifier: GPL-2.0-or-later
"""``PRECISION=auto`` measured on this CPU, not assumed from its flags.

Whether a model's int8 copy beats its float32 file depends on the CPU *and* the model: on an Intel
Xeon with AMX the width-12 model's int8 copy ran only 1.25x as fast as float32 until its channels
were padded to multiples of 16 (1.85x since), a width-16 model 1.73x; on CPUs without VNNI int8 is
slower (bench/README.md). So the first time ``auto`` would take a copy on a CPU, both files run the same
small tile a few times and the faster one is kept, int8 only where it is at least
:data:`MIN_SPEEDUP` as fast (it may cost a little accuracy). The verdict is cached per pair of files
(both SHA-256: an int8 copy made again, e.g. padded, is measured again), CPU (model name and flags)
and thread count in ``precision.json`` under the cache folder
(``$LANDSLIDES_CACHE_DIR``, else ``$XDG_CACHE_HOME/landslide_detector``, else
``~/.cache/landslide_detector``), so later runs only read it; a folder that cannot be written just
means measuring again.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .precision import file_sha256, read_cpu_flags

MIN_SPEEDUP = 1.1
PROBE_SIZE = 256  # the tile run by both files: a multiple of every size divisor in use (16)
PROBE_RUNS = 3
CACHE_FILE = "precision.json"


@dataclass
class Verdict:
    precision: str  # 'int8' or 'float32'
    speedup: float  # float32 time / int8 time
    cached: bool

    def reason(self, feature: str) -> str:
        how = "measured earlier" if self.cached else "measured"
        if self.precision == "int8":
            return f"auto: int8 {how} {self.speedup:.2f}x as fast as float32 on this CPU ({feature})"
        return (
            f"auto: int8 {how} only {self.speedup:.2f}x as fast as float32 on this CPU ({feature}), "
            "so float32 runs"
        )


def cache_dir() -> Path:
    if os.environ.get("LANDSLIDES_CACHE_DIR"):
        return Path(os.environ["LANDSLIDES_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "landslide_detector"


def cpu_key() -> str:
    """This CPU's model name and a digest of its flags."""
    name = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = hashlib.sha256(" ".join(sorted(read_cpu_flags())).encode()).hexdigest()[:12]
    return f"{name} [{flags}]"


def _key(model_path: str, int8_path: str, threads: int) -> str:
    files = f"{file_sha256(model_path)[:16]}+{file_sha256(int8_path)[:16]}"
    return f"{files}|{cpu_key()}|threads={threads}"


def _load() -> dict[str, Any]:
    try:
        return json.loads((cache_dir() / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _store(key: str, record: dict[str, Any]) -> None:
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        records = _load()
        records[key] = record
        # Written to a temporary name and renamed: two runs at once never leave half a file.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".precision-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=1)
        os.replace(tmp, folder / CACHE_FILE)
    except OSError:
        pass  # no cache: the next run measures again


def seconds_per_run(session: Any, bands: int) -> float:
    """Median seconds of one PROBE_SIZE² tile (after a warm-up run)."""
    import numpy as np

    name = session.get_inputs()[0].name
    x = np.zeros((1, bands, PROBE_SIZE, PROBE_SIZE), np.float32)
    session.run(None, {name: x})
    times = []
    for _ in range(PROBE_RUNS):
        t0 = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measured_precision(
    model_path: str,
    int8_path: str,
    int8_session: Any,
    open_float32: Callable[[], Any],
    threads: int,
    bands: int,
    timer: Callable[[Any, int], float] = seconds_per_run,
) -> Verdict:
    """int8 or float32 for this model on this CPU: cached, or measured now (``timer``: tests)."""
    key = _key(model_path, int8_path, threads)
    record = _load().get(key)
    if isinstance(record, dict) and record.get("precision") in ("int8", "float32"):
        return Verdict(record["precision"], float(record.get("speedup", 0.0)), cached=True)
    float32_s = timer(open_float32(), bands)
    int8_s = timer(int8_session, bands)
    speedup = float32_s / max(int8_s, 1e-9)
    precision = "int8" if speedup >= MIN_SPEEDUP else "float32"
    _store(
        key,
        {
            "precision": precision,
            "speedup": speedup,  # unrounded: the cached verdict reads as the one said now
            "float32_s": round(float32_s, 5),
            "int8_s": round(int8_s, 5),
            "tile": PROBE_SIZE,
            "model": os.path.basename(model_path),
            "int8_model": os.path.basename(int8_path),
        },
    )
    return Verdict(precision, speedup, cached=False)
