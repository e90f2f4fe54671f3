# SPDX-License-Identifier: GPL-2.0-or-later
"""Validation scores of a model and of its int8 copy: is the int8 copy good enough to ship?

    python -m bench.int8_quality [--model resources/model/landslide_daunet.onnx] [--int8 PATH]
        [--data ../shared/data/landslides | --checkpoint runs/daunet_long/best.pt] [--out scores.json]

Rebuilds the validation split of ``model.train`` (``load_data``: every 6th tile of each tile folder
and the eastern 35 % of each orthophoto; with ``--checkpoint`` exactly the split recorded in that
checkpoint), predicts every validation scene with onnxruntime, tile by tile as ``model.train``
validates (``predict_scene``: ``--val-tile`` tiles, edges padded with the no-imagery fill), once
with each file, and scores both as ``model.calibrate`` scored the model when it was made: pooled
pixel IoU at the model's threshold after dropping objects under its minimum area (the ``iou`` in the
model's metadata), the mean over sources, object F1, and the plain scores at 0.5.

Prints the table and the verdict: the int8 copy is acceptable when its validation IoU is at most 1
point (0.01) below the float32 model's. The float32 line should reproduce the IoU recorded in the
model's metadata (printed beside it): if it does not, the split differs from the one the model was
calibrated on (pass ``--checkpoint``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "landslides"
from core.resources import SHIPPED_MODEL as SHIPPED  # noqa: E402 - needs ROOT on the path

MAX_DROP = 0.01  # the bar: validation IoU may drop by at most 1 point


def split_args(data: Path, checkpoint: Path | None) -> dict[str, Any]:
    """``model.train`` arguments that describe the validation split."""
    if checkpoint is not None:
        import torch

        return torch.load(checkpoint, map_location="cpu", weights_only=False)["meta"]["args"]
    from model.train import parse_args

    argv = []
    for folder in sorted(p for p in data.iterdir() if (p / "images").is_dir()):
        argv += ["--tiles", str(folder)]
    for image in sorted(data.glob("*/*_rgb.tif")):
        label = image.with_name(image.name[: -len("_rgb.tif")] + "_label.tif")
        if label.exists():
            argv += ["--ortho", str(image), str(label)]
    if not argv:
        raise SystemExit(f"{data}: no tile folders (images/ + masks/) or *_rgb.tif + *_label.tif found")
    return vars(parse_args([*argv, "--out", str(ROOT / "bench" / "tmp" / "unused")]))


def score(
    probs: list[np.ndarray], scenes: list[Any], threshold: float, min_area_m2: float, gsd_m: float
) -> dict[str, Any]:
    """``model.calibrate``'s scores at the model's threshold and minimum area, and plain at 0.5."""
    from model.calibrate import score_pair

    pixel_area = gsd_m * gsd_m if gsd_m > 0 else 0.25
    chosen = score_pair(probs, scenes, threshold, int(np.ceil(min_area_m2 / pixel_area)))
    plain = score_pair(probs, scenes, 0.5, 0)
    return {
        **{k: v for k, v in chosen.items() if k != "objective"},
        "at_0.5": {k: v for k, v in plain.items() if k not in ("per_source", "objective")},
    }


def evaluate(
    model: Path, copy: Path, data: Path, checkpoint: Path | None = None, threads: int = 0
) -> dict[str, Any]:
    from core.model_info import load_model_info
    from core.runtime import create_session
    from model.compare import predict
    from model.data import normalised
    from model.train import load_data

    info = load_model_info(str(model))
    args = split_args(data, checkpoint)
    scenes = load_data(args).val
    tile = int(args.get("val_tile", 512))
    div = max(1, int(info.size_divisor or 1))
    report: dict[str, Any] = {
        "model": str(model),
        "int8": str(copy),
        "threshold": info.threshold,
        "min_area_m2": info.min_area_m2,
        "recorded_iou": info.metrics.get("iou"),
        "validation_scenes": [s.name for s in scenes],
        "val_tile": tile,
        "models": {},
    }
    maps: dict[str, list[np.ndarray]] = {}
    for label, path in (("float32", model), ("int8", copy)):
        # The file itself, whatever the CPU: a float32 session of the int8 copy is the int8 model.
        session, session_report = create_session(str(path), "cpu", threads, "float32")
        t0 = time.perf_counter()
        maps[label] = [predict(session, normalised(s.image), tile, div, info.nodata_fill) for s in scenes]
        scores = score(maps[label], scenes, info.threshold, info.min_area_m2, info.gsd_m)
        scores["precision_ran"] = session_report.precision
        scores["seconds"] = round(time.perf_counter() - t0, 1)  # not a benchmark: shared machine
        report["models"][label] = scores
    same = sum(int(((a >= info.threshold) == (b >= info.threshold)).sum()) for a, b in zip(*maps.values()))
    total = sum(a.size for a in maps["float32"])
    report["same_class_share"] = same / max(total, 1)
    report["max_abs_difference"] = max(float(np.abs(a - b).max()) for a, b in zip(*maps.values()))
    drop = report["models"]["float32"]["iou"] - report["models"]["int8"]["iou"]
    report["iou_drop_points"] = round(100 * drop, 2)
    report["accepted"] = bool(drop <= MAX_DROP + 1e-12)
    return report


def print_report(report: dict[str, Any]) -> None:
    print(
        f"validation: {len(report['validation_scenes'])} scenes, tiles of {report['val_tile']} px; "
        f"threshold {report['threshold']:g}, minimum area {report['min_area_m2']:g} m² (the model's)"
    )
    sources = sorted(report["models"]["float32"]["per_source"])
    print(
        f"{'':8s} {'IoU':>6s} {'mean/src':>8s} {'prec':>6s} {'recall':>6s} {'obj F1':>6s} {'IoU@0.5':>7s}  "
        + "  ".join(f"{s[:10]:>10s}" for s in sources)
    )
    for label, s in report["models"].items():
        print(
            f"{label:8s} {s['iou']:6.4f} {s['iou_mean_sources']:8.4f} {s['precision']:6.3f} "
            f"{s['recall']:6.3f} {s['object_f1']:6.3f} {s['at_0.5']['iou']:7.4f}  "
            + "  ".join(f"{s['per_source'][k]['iou']:10.4f}" for k in sources)
        )
    recorded = report["recorded_iou"]
    if recorded is not None:
        ok = abs(report["models"]["float32"]["iou"] - recorded) < 0.002
        print(
            f"float32 IoU {report['models']['float32']['iou']:.4f}, recorded in the model {recorded:.4f}: "
            + ("the same split" if ok else "DIFFERENT: pass --checkpoint for the split it was made on")
        )
    print(
        f"pixels on the same side of the threshold: {report['same_class_share']:.4%}; "
        f"max |p32 - p8| {report['max_abs_difference']:.3f}"
    )
    verdict = "ACCEPTED" if report["accepted"] else "REJECTED"
    print(
        f"int8 IoU drop: {report['iou_drop_points']:+.2f} points (bar: <= {100 * MAX_DROP:.0f}) -> {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    from core.precision import int8_path

    p = argparse.ArgumentParser(prog="python -m bench.int8_quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=SHIPPED, help="the float32 model [the shipped one]")
    p.add_argument("--int8", type=Path, default=None, help="its int8 copy [<model>.int8.onnx]")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--checkpoint", type=Path, default=None, help="take the split from this checkpoint")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the scores to this JSON file")
    args = p.parse_args(argv)
    copy = args.int8 or Path(int8_path(str(args.model)))
    if not copy.is_file():
        raise SystemExit(f"{copy} does not exist: make it with python tools/quantize_int8.py {args.model}")
    report = evaluate(args.model, copy, args.data, args.checkpoint, args.threads)
    print_report(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["accepted"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
