# SPDX-License-Identifier: GPL-2.0-or-later
"""Dask is the scheduler: a ``LocalCluster`` on this machine, or any running cluster by address.

* No address: a ``LocalCluster`` of worker **processes** (one unit at a time each: onnxruntime
  uses the process's cores; processes, not threads, so GDAL and onnxruntime never share a GIL
  or a crash), ``--workers`` of them (default: one per 4 cores).
* An address (``tcp://host:8786``) or a ``distributed.Client``: whatever runs there, started
  with ``dask scheduler``/``dask worker``, dask-jobqueue (Slurm, PBS...) or Kubernetes. The
  code and the model are shipped to the workers (:mod:`batch.ship`) unless told not to.

onnxruntime threads per unit = usable cores of the worker's host ÷ Dask threads on that host
(all its workers together), so several workers on one machine share its cores instead of each
starting one thread per core.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from core.errors import DetectionError

from .unit import host_of, usable_cores

CORES_PER_LOCAL_WORKER = 4
WAIT_FOR_WORKERS_S = 600.0


def default_local_workers() -> int:
    return max(1, usable_cores() // CORES_PER_LOCAL_WORKER)


@contextlib.contextmanager
def connect(
    scheduler: Any = None, workers: int | None = None, dashboard: bool = True
) -> Iterator[tuple[Any, bool]]:
    """(client, is_local): a client of ``scheduler`` (address or Client), or of a new LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler, False  # the caller's client: theirs to close
        return
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise DetectionError(
                f"No Dask scheduler answers at '{scheduler}' ({exc}). Start one ('dask scheduler') or check "
                "the address and the firewall; leave --scheduler out to use this machine."
            ) from exc
        try:
            yield client, False
        finally:
            client.close()
        return
    n = int(workers or default_local_workers())
    if n < 1:
        raise DetectionError(f"--workers {n}: give at least 1.")
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":8787" if dashboard else None,
        silence_logs=logging.ERROR,
    )
    try:
        client = Client(cluster)
        try:
            yield client, True
        finally:
            client.close()
    finally:
        cluster.close()


def wait_for_workers(client: Any, timeout: float = WAIT_FOR_WORKERS_S) -> None:
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as exc:
        raise DetectionError(
            f"The Dask cluster has had no worker for {timeout:.0f} s. Start workers ('dask worker ADDRESS', "
            "or scale the jobqueue/Kubernetes cluster) and run again."
        ) from exc


def threads_by_host(client: Any) -> dict[str, int]:
    """onnxruntime threads per unit for each host now in the cluster (see the module docstring)."""
    from . import task

    info = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(task.usable_cores)
    per_host: dict[str, tuple[int, int]] = {}
    for address, worker in info.items():
        host = host_of(address)
        n_cores, n_threads = per_host.get(host, (0, 0))
        per_host[host] = (
            max(n_cores, int(cores.get(address) or 1)),
            n_threads + int(worker.get("nthreads", 1)),
        )
    return {host: max(1, c // max(1, t)) for host, (c, t) in per_host.items()}
