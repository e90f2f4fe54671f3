# SPDX-License-Identifier: GPL-2.0-or-later
"""The functions Dask runs on the workers: importable without GDAL, taking and returning bytes.

Recent Dask schedulers unpickle every task they receive. A task of ``batch.unit.run_unit`` with
``batch.plan.Unit`` arguments would make the scheduler import GDAL and onnxruntime, which a plain
``dask scheduler`` (or a Kubernetes scheduler pod) does not have. So the task is this small
function with the unit and settings pre-pickled to bytes: the scheduler imports only this module
(standard library only; shipped to it, see :mod:`batch.ship`), and only the worker imports the
rest of ``batch`` when the task runs.
"""

from __future__ import annotations

import os
import pickle


def run_unit_task(unit: bytes, settings: bytes) -> bytes:
    """Unpickle, run :func:`batch.unit.run_unit`, pickle the result. Failures other than bad
    input (which come back as a failed result) are raised as RuntimeError with the worker's
    traceback, so Dask retries them and the client can report them without importing anything."""
    try:
        from batch.unit import run_unit

        result = run_unit(pickle.loads(unit), pickle.loads(settings))
    except Exception as exc:
        import traceback

        hint = ""
        if isinstance(exc, ImportError):
            hint = " (the worker cannot import the command's code: leave out --no-ship or set PYTHONPATH)"
        raise RuntimeError(f"{type(exc).__name__}: {exc}{hint}\n{traceback.format_exc()}") from None
    return pickle.dumps(result)


def usable_cores() -> int:
    """This process's usable cores (run on each worker by ``client.run``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
