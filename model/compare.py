# SPDX-License-Identifier: GPL-2.0-or-later
"""Exported models side by side on one validation split, per source: which model to ship.

    python -m model.compare resources/model/landslide_daunet.onnx runs/new/model.onnx \\
        --data ../shared/data/landslides --data ../shared/data/landslides_public [--out scores.json]

The split is ``model.train``'s for every tile folder (``images/`` + ``masks/``: its ``split.json``
where it has one, else every 6th tile) and ``*_rgb.tif`` + ``*_label.tif`` orthophoto (the eastern
35 %) under each ``--data`` folder. Every model predicts every validation scene with onnxruntime
(float32, tiles of ``--tile`` px as ``model.train`` validates) and is scored as ``model.calibrate``
scored it: pixels at or above **its own** threshold, objects under **its own** minimum area dropped.
Reported per source, pooled over the sources of the first ``--data`` folder (the split the models
are compared on) and pooled over all; for a source without landslides, the false-positive rate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from model.calibrate import score_pair
from model.data import normalised
from model.metrics import Confusion, drop_small


def split_args(data: list[Path]) -> dict[str, Any]:
    """``model.train`` arguments whose validation split covers the data folders."""
    from model.train import parse_args

    argv: list[str] = []
    for folder in data:
        found = False
        for tiles in sorted(p for p in folder.iterdir() if (p / "images").is_dir()):
            argv += ["--tiles", str(tiles)]
            found = True
        for image in sorted(folder.glob("*/*_rgb.tif")):
            label = image.with_name(image.name[: -len("_rgb.tif")] + "_label.tif")
            if label.exists():
                argv += ["--ortho", str(image), str(label)]
                found = True
        if not found:
            raise SystemExit(f"{folder}: no tile folders (images/ + masks/) or *_rgb.tif + *_label.tif found")
    return vars(parse_args([*argv, "--out", "unused"]))


def predict(session: Any, image: np.ndarray, tile: int, div: int, fill: float) -> np.ndarray:
    """Probability of a C x H x W normalised scene, tiled as ``model.train.predict_scene`` tiles it."""
    name = session.get_inputs()[0].name
    c, h, w = image.shape
    ph, pw = -(-h // div) * div, -(-w // div) * div
    padded = np.full((c, ph, pw), fill, dtype=np.float32)
    padded[:, :h, :w] = image
    out = np.zeros((ph, pw), dtype=np.float32)
    for y in range(0, ph, tile):
        for x in range(0, pw, tile):
            patch = np.ascontiguousarray(padded[None, :, y : y + tile, x : x + tile])
            out[y : y + tile, x : x + tile] = session.run(None, {name: patch})[0][0, 0]
    return out[:h, :w]


def confusions_by_source(
    probs: list[np.ndarray], scenes: list[Any], threshold: float, min_pixels: int
) -> dict[str, Confusion]:
    """Pixel counts per source after the plugin's post-processing (threshold, then minimum area)."""
    by_source: dict[str, Confusion] = {}
    for prob, scene in zip(probs, scenes):
        conf = Confusion()
        conf.add(drop_small((prob >= threshold) & ~scene.ignore, min_pixels), scene.label == 1, scene.ignore)
        by_source.setdefault(scene.source, Confusion())
        by_source[scene.source] += conf
    return by_source


def evaluate(models: list[Path], data: list[Path], tile: int = 512, threads: int = 0) -> dict[str, Any]:
    from core.model_info import load_model_info
    from core.runtime import create_session
    from model.train import load_data

    scenes = load_data(split_args(data)).val
    first = {p.name for p in data[0].iterdir() if p.is_dir()}
    compared = sorted({s.source for s in scenes if s.source in first})
    report: dict[str, Any] = {
        "data": [str(d) for d in data],
        "compared_sources": compared,
        "validation_scenes": len(scenes),
        "tile": tile,
        "models": {},
    }
    for path in models:
        info = load_model_info(str(path))
        session, _ = create_session(str(path), "cpu", threads, "float32")
        div = max(1, int(info.size_divisor or 1))
        probs = [predict(session, normalised(s.image), tile, div, info.nodata_fill) for s in scenes]
        pixel_area = info.gsd_m**2 if info.gsd_m > 0 else 0.25
        min_pixels = int(np.ceil(info.min_area_m2 / pixel_area))
        everything = score_pair(probs, scenes, info.threshold, min_pixels)  # pooled, with object F1
        by_source = confusions_by_source(probs, scenes, info.threshold, min_pixels)
        split = Confusion()
        for name in compared:
            split += by_source[name]
        report["models"][str(path)] = {
            "threshold": info.threshold,
            "min_area_m2": info.min_area_m2,
            "compared_split": split.scores(),
            "all": {k: v for k, v in everything.items() if k not in ("per_source", "objective")},
            "per_source": {k: {**v.scores(), "landslide_pixels": v.tp + v.fn} for k, v in by_source.items()},
        }
    return report


def print_report(report: dict[str, Any]) -> None:
    sources = sorted(next(iter(report["models"].values()))["per_source"])
    compared = ", ".join(report["compared_sources"])
    print(f"{report['validation_scenes']} validation scenes; pooled 'split' = {compared}")
    header = f"{'model':40s} {'thr':>4s} {'area':>5s} {'split IoU':>9s} {'P':>5s} {'R':>5s} {'all IoU':>7s}"
    print(header + "  " + "  ".join(f"{s[:12]:>12s}" for s in sources))
    for name, m in report["models"].items():
        cells = []
        for s in sources:
            v = m["per_source"][s]
            cells.append(f"{v['iou']:12.4f}" if v["landslide_pixels"] else f"fp {v['fp_rate']:9.4f}")
        split = m["compared_split"]
        print(
            f"{Path(name).name[:40]:40s} {m['threshold']:4.2f} {m['min_area_m2']:5.0f} {split['iou']:9.4f} "
            f"{split['precision']:5.3f} {split['recall']:5.3f} {m['all']['iou']:7.4f}  " + "  ".join(cells)
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path, help="exported .onnx models")
    p.add_argument("--data", action="append", type=Path, required=True, help="data folder; repeatable")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the scores as JSON")
    args = p.parse_args(argv)
    report = evaluate(args.models, args.data, args.tile, args.threads)
    print_report(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
