# SPDX-License-Identifier: GPL-2.0-or-later
"""Training batches from a :class:`CropSampler`, prepared in worker processes beside the training step.

Each worker owns a copy of the sampler (the scenes are shared copy-on-write after ``fork``) with its
own random stream derived from ``(seed, start_step, worker)``, so a run is reproducible for a given
number of workers, and ``--resume`` continues with fresh streams rather than replaying crops.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from model.data import CropSampler

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class _BatchStream(IterableDataset):
    def __init__(self, sampler: CropSampler, batch: int, seed: int, start_step: int) -> None:
        super().__init__()
        self.sampler, self.batch, self.seed, self.start_step = sampler, batch, seed, start_step

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        self.sampler.rng = np.random.default_rng([self.seed, self.start_step, worker])
        while True:
            yield self.sampler.batch(self.batch)


def batches(
    sampler: CropSampler, batch: int, workers: int, seed: int, start_step: int = 0
) -> Iterator[Batch]:
    """An endless iterator of (image, label, ignore) batches; ``workers`` = 0 prepares them inline."""
    stream = _BatchStream(sampler, batch, seed, start_step)
    if workers <= 0:
        return iter(stream)
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=workers,
        prefetch_factor=4,
        persistent_workers=True,
        multiprocessing_context="fork",
    )
    return iter(loader)
