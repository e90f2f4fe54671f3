# SPDX-License-Identifier: GPL-2.0-or-later
"""Ship the command's code (``core/`` + ``batch/``, zipped) and the model to a running cluster.

A worker of "any running cluster" needs only the dependencies (numpy, GDAL, onnxruntime, dask),
and the scheduler only Dask: a worker plugin writes the zip and the model into each worker's local
directory and puts the zip first on ``sys.path`` (Dask runs it again on workers that join later:
adaptive clusters, restarts after a crash); a scheduler plugin puts the zip on the scheduler's
``sys.path`` so that it can unpickle the tasks (:mod:`batch.task`). The plugins are pickled *by
value*, so they load before ``batch`` can be imported, and are idempotent under names made from
the content: a second run with the same code and model sends nothing again.

This module imports nothing of ``core`` or GDAL: it must unpickle on any worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "batch")


def code_zip() -> bytes:
    """``core/`` and ``batch/`` Python files, zipped reproducibly (same code -> same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in PACKAGES:
            for path in sorted((ROOT / package).rglob("*.py")):
                if "__pycache__" in path.parts:
                    continue
                info = zipfile.ZipInfo(path.relative_to(ROOT).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


class ShipFiles(WorkerPlugin):
    """Write ``files`` (name -> bytes) into the worker's local directory; zips go first on ``sys.path``."""

    idempotent = True

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)

    def setup(self, worker) -> None:
        for name, data in self.files.items():
            path = _write(worker.local_directory, name, data)
            if name.endswith(".zip") and path not in sys.path:
                sys.path.insert(0, path)


class ShipToScheduler(SchedulerPlugin):
    """The code zip on the scheduler's ``sys.path`` (appended: a scheduler that can import the
    code already, e.g. one inside the client's own process, keeps its own). The scheduler unpickles
    each task's function reference, ``batch.task.run_unit_task``; it never imports GDAL."""

    idempotent = True

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data

    def start(self, scheduler) -> None:
        folder = os.path.join(tempfile.gettempdir(), "landslide-batch-scheduler")
        os.makedirs(folder, exist_ok=True)
        path = _write(folder, self.name, self.data)
        if path not in sys.path:
            sys.path.append(path)


def _write(folder: str, name: str, data: bytes) -> str:
    path = os.path.join(folder, name)
    if not (os.path.isfile(path) and os.path.getsize(path) == len(data)):
        temp = f"{path}.{uuid.uuid4().hex[:8]}.part"
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)  # never a half-written zip on sys.path
    return path


@contextlib.contextmanager
def by_value(module: Any) -> Iterator[None]:
    """Pickle ``module``'s classes and functions by value while the block runs."""
    import cloudpickle

    nested = module.__name__ in cloudpickle.list_registry_pickle_by_value()
    if not nested:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        if not nested:
            cloudpickle.unregister_pickle_by_value(module)


def ship(client, model_path: str) -> str:
    """Register the plugins on ``client``'s cluster; returns the model's file name on the workers."""
    from . import ship as this_module

    code = code_zip()
    model = Path(model_path).read_bytes()
    model_name = f"landslide-model-{digest(model)}.onnx"
    code_name = f"landslide_batch_{digest(code)}.zip"
    with by_value(this_module):  # register_plugin pickles at once
        client.register_plugin(ShipToScheduler(code_name, code), name=f"landslide-batch-{digest(code)}")
        client.register_plugin(
            ShipFiles({code_name: code, model_name: model}), name=f"landslide-batch-{digest(code + model)}"
        )
    return model_name
