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
        """iou, precision, recall, f1 and the false-positive rate (of the background pixels, the one
        score of a source without landslides) in [0, 1]; a ratio with nothing to count is 0."""

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
            "fp_rate": ratio(self.fp, self.fp + self.tn),
        }


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components (as ``gdal.Polygonize`` traces them in the plugin): labels 1..n."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    return labels, int(n)


def drop_small(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """``mask`` without the components smaller than ``min_pixels`` (the plugin's minimum area)."""
    if min_pixels <= 1:
        return mask
    labels, n = components(mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]


@dataclass
class ObjectCounts:
    """Objects matched one-to-one, greedily by decreasing IoU, when IoU >= 0.5 (core.metrics' rule)."""

    predicted: int = 0
    reference: int = 0
    matched: int = 0

    def add(
        self, pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray, iou_threshold: float = 0.5
    ) -> None:
        pred = pred & ~ignore
        truth = truth & ~ignore
        p, n_p = components(pred)
        r, n_r = components(truth)
        area_p = np.bincount(p.ravel(), minlength=n_p + 1)
        area_r = np.bincount(r.ravel(), minlength=n_r + 1)
        both = (p > 0) & (r > 0)
        keys, inter = np.unique(p[both].astype(np.int64) * (n_r + 1) + r[both], return_counts=True)
        i, j = np.divmod(keys, n_r + 1)
        iou = inter / (area_p[i] + area_r[j] - inter)
        used_p: set[int] = set()
        used_r: set[int] = set()
        for k in np.argsort(-iou, kind="stable"):
            if iou[k] < iou_threshold:
                break
            if int(i[k]) not in used_p and int(j[k]) not in used_r:
                used_p.add(int(i[k]))
                used_r.add(int(j[k]))
        self.predicted += n_p
        self.reference += n_r
        self.matched += len(used_p)

    def scores(self) -> dict[str, float]:
        precision = self.matched / self.predicted if self.predicted else 0.0
        recall = self.matched / self.reference if self.reference else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"object_precision": precision, "object_recall": recall, "object_f1": f1}
