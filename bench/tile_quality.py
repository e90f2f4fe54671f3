# SPDX-License-Identifier: GPL-2.0-or-later
"""Does the tile size change the detections? The shipped model on its validation data, several grids.

    python -m bench.tile_quality [--model resources/model/landslide_daunet.onnx] [--data ../shared/...]
        [--tiles 512,1024] [--precision float32]

Runs ``core.engine.run_detection`` on the validation part of every source (the tiles
``model.sources.load_split`` holds out, and the eastern 35 % of each AMU scene) with fixed tiles
of each ``--tiles`` size and once with the engine's default (tiles fitted to the raster,
``core.tiling.fit_tile_shape``), and prints pixel IoU, precision and recall per source at the
model's threshold, the pixels pushed through the network, and how far each probability map
differs from the first grid's. The data stay where they are (``../shared/data/landslides``);
nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from osgeo import gdal

from core.engine import DetectionOptions, run_detection
from core.model_metadata import parse_metadata
from core.resources import SHIPPED_MODEL
from model.metrics import Confusion
from model.readers import read_label_raster
from model.sources import tile_pairs

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "landslides"
VAL_EVERY, HOLDOUT = 6, 0.35  # model/reproduce.sh's split: every 6th tile, the eastern 35 % of a scene


def validation_items(data: Path) -> list[tuple[str, Path, Path, tuple[float, ...] | None]]:
    """(source, image, label, extent or None) of the validation split."""
    items = []
    for folder in ("sichuan", "hokkaido", "bijie"):
        for i, (img, lab) in enumerate(tile_pairs(data / folder)):
            if i % VAL_EVERY == VAL_EVERY // 2:
                items.append((folder, img, lab, None))
    for scene in ("A", "B"):
        img = data / "amu" / f"scene_{scene}_rgb.tif"
        ds = gdal.Open(str(img))
        gt, width, height = ds.GetGeoTransform(), ds.RasterXSize, ds.RasterYSize
        cut = round(width * (1.0 - HOLDOUT))
        extent = (gt[0] + cut * gt[1], gt[3] + height * gt[5], gt[0] + width * gt[1], gt[3])
        items.append((f"amu-{scene}", img, data / "amu" / f"scene_{scene}_label.tif", extent))
    return items


def _probability(path: Path) -> np.ndarray:
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray()


def _label_block(label_path: Path, image: Path, extent: tuple[float, ...] | None) -> tuple[np.ndarray, ...]:
    ds = gdal.Open(str(image))
    label, ignore = read_label_raster(label_path, (ds.RasterYSize, ds.RasterXSize))
    if extent is not None:
        cut = round(ds.RasterXSize * (1.0 - HOLDOUT))
        label, ignore = label[:, cut:], ignore[:, cut:]
    return label, ignore


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.tile_quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(SHIPPED_MODEL))
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--tiles", default="512", help="fixed tile sizes to run beside the fitted grid [512]")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "int8"])
    p.add_argument("--out", type=Path, default=None, help="also write the numbers to this JSON file")
    args = p.parse_args(argv)

    common = {"threads": args.threads, "precision": args.precision}
    settings = {
        **{
            f"{size} px tiles": DetectionOptions(tile_size=size, batch_size=1, **common)
            for size in (int(v) for v in args.tiles.split(","))
        },
        "fitted (default)": DetectionOptions(**common),
    }
    first = next(iter(settings))
    totals = {name: {} for name in settings}
    pushed = {name: 0 for name in settings}
    seconds = {name: 0.0 for name in settings}
    max_diff = 0.0
    threshold = model_threshold(args.model)
    with tempfile.TemporaryDirectory(prefix="tile-quality-") as tmp:
        for source, image, label_path, extent in validation_items(args.data):
            label, ignore = _label_block(label_path, image, extent)
            maps = {}
            for name, options in settings.items():
                options.extent = extent
                out = Path(tmp) / f"{name.split()[0]}.tif"
                lines: list[str] = []
                result = run_detection(str(image), args.model, None, str(out), options, log=lines.append)
                maps[name] = _probability(out)
                out.unlink()
                grid = next(line for line in lines if " tiles of " in line)
                th, tw = (int(v) for v in grid.split(" tiles of ")[1].split(" (")[0].split(" x "))
                pushed[name] += result.tiles_inferred * th * tw
                seconds[name] += result.elapsed_s
                conf = totals[name].setdefault(source, Confusion())
                conf.add(maps[name] >= threshold, label == 1, ignore | (maps[name] < 0))
            for name in list(settings)[1:]:
                diff = np.abs(maps[first] - maps[name])
                flips = np.mean((maps[first] >= threshold) != (maps[name] >= threshold))
                max_diff = max(max_diff, float(diff.max()))
                print(
                    f"  {source:9s} {image.name:28s} {name} against {first}: max |difference| "
                    f"{diff.max():.3f}, pixels that change class {flips:.3%}",
                    flush=True,
                )

    report = {"model": args.model, "precision": args.precision, "threshold": threshold, "settings": {}}
    print(f"\nthreshold {threshold}; IoU / precision / recall per source (%):")
    for name in settings:
        scores = {s: c.scores() for s, c in totals[name].items()}
        mean_iou = float(np.mean([v["iou"] for v in scores.values()]))
        pooled = Confusion()
        for c in totals[name].values():
            pooled += c
        print(
            f"  {name:17s} "
            + "  ".join(
                f"{s} {100 * v['iou']:.1f}/{100 * v['precision']:.1f}/{100 * v['recall']:.1f}"
                for s, v in scores.items()
            )
            + f"  | mean IoU {100 * mean_iou:.1f}, pooled IoU {100 * pooled.scores()['iou']:.1f}, "
            f"{pushed[name] / 1e6:.1f} MPix pushed, {seconds[name]:.1f} s"
        )
        report["settings"][name] = {
            "per_source": scores,
            "mean_iou": mean_iou,
            "pooled": pooled.scores(),
            "pushed_mpix": pushed[name] / 1e6,
            "seconds": seconds[name],
        }
    report["max_abs_probability_difference"] = max_diff
    report["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


def model_threshold(model: str) -> float:
    """The threshold in the model's metadata (what the engine uses by default)."""
    props = {p.key: p.value for p in onnx.load(model, load_external_data=False).metadata_props}
    return float(parse_metadata(props).threshold)


if __name__ == "__main__":
    main()
