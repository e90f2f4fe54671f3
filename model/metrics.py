# SPDX-License-Identifier: GPL-2.0-or-later
"""Pixel metrics for validation (numpy only): IoU, precision, recall, F1 of the landslide class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None = None) -> None:
        """Count boolean ``pred`` against ``truth``; pixels where ``ignore`` is True are skipped."""
        keep = np.ones(truth.shape, bool) if ignore is None else ~ignore
        p, t = pred[keep].astype(bool), truth[keep].astype(bool)
        self.tp += int((p & t).sum())
        self.fp += int((p & ~t).sum())
        self.fn += int((~p & t).sum())
        self.tn += int((~p & ~t).sum())

    def __iadd__(self, other: Confusion) -> Confusion:
        self.tp, self.fp, self.fn, self.tn = (
            self.tp + other.tp,
            self.fp + other.fp,
            self.fn + other.fn,
            self.tn + other.tn,
        )
        return self

    def scores(self) -> dict[str, float]:
        """iou, precision, recall, f1 in [0, 1]; a ratio with nothing to count is 0."""

        def ratio(a: int, b: int) -> float:
            return a / b if b else 0.0

        precision = ratio(self.tp, self.tp + self.fp)
        recall = ratio(self.tp, self.tp + self.fn)
        f1 = ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)
        return {
            "iou": ratio(self.tp, self.tp + self.fp + self.fn),
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
