# SPDX-License-Identifier: GPL-2.0-or-later
"""Region-wide landslide mapping on a Dask cluster: many orthophotos -> one inventory.

QGIS-free, beside ``core/`` (whose engine every work unit runs). From the shell::

    python -m batch ORTHOPHOTOS/ --output region.gpkg [--scheduler tcp://HOST:8786 | --workers N]

From Python::

    from batch import BatchOptions, run_batch
    summary = run_batch(["orthophotos/"], "region.gpkg", BatchOptions(workers=4))
    print(summary.text())

Modules: ``sources`` (INPUTS -> rasters), ``plan`` (work units: rasters and windows with a halo),
``unit`` (one unit in a Dask worker), ``cluster`` (LocalCluster or a running cluster), ``ship``
(code and model to the workers), ``store`` (the manifest beside the output: resume), ``merge``
(seams, duplicates, one CRS, atomic output), ``progress``, ``run`` (``run_batch``), ``cli``.

Nothing is imported here: Dask imports this package on workers (and the scheduler) that may lack
GDAL, and ``python -m batch --help`` should be quick.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BatchOptions", "BatchSummary", "run_batch"]


def __getattr__(name: str) -> Any:  # PEP 562: ``from batch import run_batch`` imports on first use
    if name in __all__:
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
