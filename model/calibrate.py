# SPDX-License-Identifier: GPL-2.0-or-later
"""Choose a checkpoint's probability threshold and minimum polygon area on its own validation split.

    python -m model.calibrate runs/daunet/best.pt

Rebuilds the validation split recorded in the checkpoint (same sources, same hold-out rule),
predicts every validation scene once, and scores every pair of threshold (0.30..0.90) and minimum
area (0..200 m²) as the plugin would apply them: pixels at or above the threshold, then
4-connected objects smaller than the minimum area removed. The pair with the best mean of pooled
pixel IoU and object F1 (objects matched one-to-one at IoU >= 0.5, as ``landslides:evaluate``
does) is stored in the checkpoint with the scores; ``model.export`` writes both into the ONNX
metadata, and the plugin uses them unless the user sets their own. Only the validation split is
used (of a run trained with ``--score-sources``, only those sources': a source held out whole
for the generalisation score takes no part): the data owners' held-back evaluation part is never
seen.

Areas are converted to pixels with the training data's ground sampling distance (``gsd_m`` of the
checkpoint, 0.5 m for the shipped model): the tile sources carry no georeferencing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.data import Scene
from model.export import load_checkpoint
from model.metrics import Confusion, ObjectCounts, drop_small
from model.train import load_data, predict_scene

THRESHOLDS = [round(float(t), 2) for t in np.arange(0.30, 0.91, 0.05)]
MIN_AREAS_M2 = [0.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0]


def score_pair(
    probs: list[np.ndarray], scenes: list[Scene], threshold: float, min_pixels: int
) -> dict[str, Any]:
    """Pooled pixel and object scores, and pixel IoU per source, for one post-processing setting."""
    pixels, objects = Confusion(), ObjectCounts()
    by_source: dict[str, Confusion] = {}
    for prob, scene in zip(probs, scenes):
        truth = scene.label == 1
        pred = drop_small((prob >= threshold) & ~scene.ignore, min_pixels)
        conf = Confusion()
        conf.add(pred, truth, scene.ignore)
        pixels += conf
        by_source.setdefault(scene.source, Confusion())
        by_source[scene.source] += conf
        objects.add(pred, truth, scene.ignore)
    scores: dict[str, Any] = {**pixels.scores(), **objects.scores()}
    per_source = {k: v.scores() for k, v in by_source.items()}
    with_slides = [per_source[k]["iou"] for k, v in by_source.items() if v.tp + v.fn > 0]  # not negatives
    scores["iou_mean_sources"] = float(np.mean(with_slides)) if with_slides else 0.0
    scores["objective"] = 0.5 * (scores["iou"] + scores["object_f1"])
    scores["per_source"] = per_source
    return scores


def calibrate_scenes(
    probs: list[np.ndarray], scenes: list[Scene], gsd_m: float
) -> tuple[float, float, dict[str, dict[str, Any]]]:
    """(threshold, minimum area in m², scores of every pair keyed 'threshold/area')."""
    pixel_area = gsd_m * gsd_m if gsd_m > 0 else 0.25
    table = {}
    for t in THRESHOLDS:
        for area in MIN_AREAS_M2:
            table[f"{t}/{area:g}"] = score_pair(probs, scenes, t, int(np.ceil(area / pixel_area)))
    best = max(table, key=lambda k: table[k]["objective"])
    t, area = best.split("/")
    return float(t), float(area), table


def calibrate(checkpoint: str | Path, threads: int = 0) -> dict[str, Any]:
    if threads > 0:
        torch.set_num_threads(threads)
    net, ckpt = load_checkpoint(checkpoint)
    args = ckpt["meta"]["args"]
    split = load_data(args)
    # Only the sources the run was scored on choose the pair: a source held out whole stays unseen.
    chosen_from = args.get("score_sources") or []
    scenes = [s for s in split.val if not chosen_from or s.source in chosen_from]
    probs = [predict_scene(net, s, args["val_tile"], torch.device("cpu")) for s in scenes]
    threshold, min_area, table = calibrate_scenes(probs, scenes, float(ckpt["meta"].get("gsd_m", 0.0)))
    chosen = table[f"{threshold}/{min_area:g}"]
    ckpt["threshold"] = threshold
    ckpt["min_area_m2"] = min_area
    ckpt["calibration"] = {k: {m: v for m, v in s.items() if m != "per_source"} for k, s in table.items()}
    ckpt["metrics"] = {k: v for k, v in chosen.items() if k not in ("per_source", "objective")}
    ckpt["metrics_per_source"] = chosen["per_source"]
    torch.save(ckpt, checkpoint)
    return {
        "threshold": threshold,
        "min_area_m2": min_area,
        "metrics": ckpt["metrics"],
        "per_source": chosen["per_source"],
        "at_threshold_0.5_no_min_area": {
            k: v for k, v in table[f"{0.5}/{0:g}"].items() if k not in ("per_source",)
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", help="best.pt or last.pt written by model.train (updated in place)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    print(json.dumps(calibrate(args.checkpoint, args.threads), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
