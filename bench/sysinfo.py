# SPDX-License-Identifier: GPL-2.0-or-later
"""What machine and software a benchmark ran on, and what else was loading the CPU."""

from __future__ import annotations

import os
import platform
import re
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

# Command-line fragments of processes that make CPU numbers meaningless while they run.
BUSY_PATTERNS = ("model.train", "model.verify", "model.export", "pytest", "qgis_process", "tools/demo")


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


# The CPU features that decide which kernels run (float32 AVX2/AVX-512, int8 VNNI/AMX, bfloat16).
SPEED_FLAGS = ("avx2", "avx512f", "avx_vnni", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_flags() -> list[str]:
    """The SPEED_FLAGS this CPU has, in that order (empty where /proc/cpuinfo cannot be read)."""
    from core.precision import read_cpu_flags

    have = read_cpu_flags()
    return [flag for flag in SPEED_FLAGS if flag in have]


def cpu_tag() -> str:
    """One short label printed with every benchmark row: the CPU model and its speed flags."""
    model = re.sub(r"\((R|TM)\)|\bProcessor\b|\bCPU\b", "", cpu_model())
    return f"{' '.join(model.split())} [{' '.join(cpu_flags()) or 'flags unknown'}]"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine_name() -> str:
    """``cpu<cores>-<hostname>`` or ``gpu-...``: the results file is named after it."""
    host = re.sub(r"[^a-z0-9]+", "-", socket.gethostname().lower()).strip("-") or "host"
    return f"cpu{usable_cores()}-{host}"


def busy_processes() -> list[str]:
    """Other processes (training runs, test suites) that compete for the cores, from /proc."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").glob("[0-9]*"):
        if int(entry.name) in (me, os.getppid()):
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if any(p in cmd for p in BUSY_PATTERNS) and "bench." not in cmd:
            found.append(f"{entry.name}: {cmd[:160]}")
    return sorted(found)


def load() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"loadavg_1_5_15": [round(one, 2), round(five, 2), round(fifteen, 2)], "busy": busy_processes()}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def memory_total_mb() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def describe() -> dict[str, Any]:
    import numpy
    import onnxruntime
    from osgeo import gdal

    return {
        "machine": machine_name(),
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": usable_cores(),
        "memory_total_mb": memory_total_mb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "onnxruntime": onnxruntime.__version__,
            "onnxruntime_dist": "onnxruntime-gpu" if _version("onnxruntime-gpu") else "onnxruntime",
            "gdal": gdal.__version__,
            "numpy": numpy.__version__,
            "onnx": _version("onnx"),
            "torch (export only)": _version("torch"),
        },
        "ort_available_providers": onnxruntime.get_available_providers(),
    }


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM), in MiB."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores something (else) kept busy over the last ``seconds``."""
    import time

    try:
        b0, t0 = _cpu_times()
        time.sleep(seconds)
        b1, t1 = _cpu_times()
    except (OSError, IndexError, ValueError):
        return 0.0
    return usable_cores() * (b1 - b0) / max(t1 - t0, 1e-9)


MAX_WAIT_S = 180.0  # wait_quiet's default; ``bench.run --max-wait`` sets it


def wait_quiet(max_wait_s: float | None = None, threshold_cores: float = 0.25) -> dict[str, Any]:
    """Wait (up to ``max_wait_s``, default ``MAX_WAIT_S``) until the machine is idle, so a
    measurement is not shared.

    Returns what was seen: the cores busy just before measuring and how long we waited.
    """
    import time

    max_wait_s = MAX_WAIT_S if max_wait_s is None else max_wait_s
    start = time.perf_counter()
    busy = busy_cores()
    while busy > threshold_cores and time.perf_counter() - start < max_wait_s:
        time.sleep(4.0)
        busy = busy_cores()
    return {
        "busy_cores_before": round(busy, 2),
        "waited_s": round(time.perf_counter() - start, 1),
        "quiet": busy <= threshold_cores,
        **load(),
    }
