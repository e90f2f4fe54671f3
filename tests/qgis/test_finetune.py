# SPDX-License-Identifier: GPL-2.0-or-later
"""The user's fine-tuning path end to end on tiny data (README "Fine-tune on your own inventory").

Export training tiles from an orthophoto and its inventory with ``landslides:export_tiles``, continue
training a (tiny stand-in for the) shipped model on them with ``model.train --init``, calibrate, export,
and run ``landslides:detect`` with the new model. The squares raster's landslides are its bright
rectangles, so a few dozen steps are enough for the fine-tuned model to find them where the
untrained stand-in does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import processing
import pytest
import torch
from osgeo import gdal

from tests.fixtures import rasters
from tests.fixtures.tiny_daunet import tiny_checkpoint

pytestmark = pytest.mark.usefixtures("landslides_provider")

SQUARES = [(10, 10, 20, 30), (60, 70, 15, 15)]


def _detect_iou(raster: Path, model: Path, out: Path) -> float:
    """Pixel IoU of the detection's probability raster (at the model's threshold) against the squares."""
    processing.run(
        "landslides:detect",
        {"INPUT": str(raster), "MODEL": str(model), "OUTPUT": str(out), "PROBABILITY": str(out) + ".tif"},
    )
    info = json.loads({p.key: p.value for p in onnx.load(str(model)).metadata_props}["landslide_detector"])
    pred = gdal.Open(str(out) + ".tif").ReadAsArray() >= info["threshold"]
    truth = gdal.Open(str(raster)).ReadAsArray()[0] == 240
    return float((pred & truth).sum() / max((pred | truth).sum(), 1))


def test_export_tiles_then_fine_tune_then_detect(tmp_path: Path, squares_raster: Path) -> None:
    from model.calibrate import calibrate
    from model.export import export
    from model.train import main as train

    torch.set_num_threads(1)
    inventory = rasters.write_polygons(
        tmp_path / "inventory.gpkg", [rasters.pixel_rect_wkt(*s) for s in SQUARES]
    )
    tiles = tmp_path / "tiles"
    processing.run(
        "landslides:export_tiles",
        {"INPUT": str(squares_raster), "INVENTORY": str(inventory), "TILE_SIZE": 64, "OVERLAP": 16,
         "OUTPUT_FOLDER": str(tiles)},
    )  # fmt: skip
    tiny_checkpoint(tmp_path / "base.pt", width=4, depth=2)
    base = export(tmp_path / "base.pt", tmp_path / "base.onnx")

    run = tmp_path / "run"
    assert train(["--tiles", str(tiles), "--init", str(base), "--crop", "32", "--batch", "4",
                  "--lr", "1e-2", "--loss", "bce", "--epochs", "2", "--steps-per-epoch", "20",
                  "--threads", "1", "--workers", "0", "--val-every", "3", "--val-tile", "64",
                  "--select", "iou_best", "--no-progress", "--out", str(run)]) == 0  # fmt: skip
    calibrate(run / "best.pt", threads=1)
    mine = export(run / "best.pt", tmp_path / "mine.onnx")

    before = _detect_iou(squares_raster, base, tmp_path / "before.gpkg")
    after = _detect_iou(squares_raster, mine, tmp_path / "after.gpkg")
    assert after > 0.5 and after > before + 0.2, (before, after)
