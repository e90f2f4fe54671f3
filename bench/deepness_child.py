# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs the peer's ``run_deepness.py`` unchanged, timing ``onnxruntime.InferenceSession.run``.

    PEER_VENV/bin/python bench/deepness_child.py PATH/run_deepness.py RASTER MODEL [its options]

Executed by Deepness's own interpreter (its venv, onnxruntime 1.17): imports nothing of this
project. At exit it prints one line ``BENCH_JSON {...}`` with the seconds spent inside
``session.run`` and the number of calls, so the Deepness side reports the same share of wall
time inside the network as ours, and the process's own peak resident memory (``VmHWM``: the
runner's ``ru_maxrss`` starts from the parent's resident memory at fork, so after a large
benchmark in the parent it reported the parent's peak, 5.3 GB, instead of Deepness's).
"""

import json
import runpy
import sys
import time

import onnxruntime

spent = {"s": 0.0, "n": 0}
_run = onnxruntime.InferenceSession.run


def _timed_run(self, *args, **kwargs):
    t0 = time.perf_counter()
    try:
        return _run(self, *args, **kwargs)
    finally:
        spent["s"] += time.perf_counter() - t0
        spent["n"] += 1


onnxruntime.InferenceSession.run = _timed_run

if __name__ == "__main__":
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    error = None
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:  # run_deepness.py exits 2 when Deepness fails
        if exc.code not in (0, None):
            error = f"exit {exc.code}"
    except Exception as exc:  # report, then fail
        error = repr(exc)
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            status = handle.read()
        vm_hwm_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):  # not Linux: the runner's own figure is used
        vm_hwm_mb = None
    record = {
        "vm_hwm_mb": vm_hwm_mb,
        "session_run_s": spent["s"],
        "session_runs": spent["n"],
        "onnxruntime": onnxruntime.__version__,
        "error": error,
    }
    print("BENCH_JSON " + json.dumps(record), flush=True)
    sys.exit(1 if error else 0)
