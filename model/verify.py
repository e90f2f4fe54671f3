# SPDX-License-Identifier: GPL-2.0-or-later
"""Check an exported ONNX model on a block of an orthophoto with onnxruntime (no torch).

    python -m model.verify MODEL.onnx IMAGE INVENTORY [--east 0.35] [--png preview.png]

Reports pixel IoU/precision/recall/F1 on the block and, separately, on the valid pixels within
``--border`` pixels of no imagery: a model that fires along image edges shows a high false-positive
rate there. The input is prepared the way the metadata says (value range, nodata fill).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F  # noqa: N812

from core.model_metadata import parse_metadata
from model.data import normalised
from model.metrics import Confusion
from model.readers import load_orthophoto


def predict(session: ort.InferenceSession, image: np.ndarray, tile: int, divisor: int) -> np.ndarray:
    c, h, w = image.shape
    ph, pw = -(-h // divisor) * divisor, -(-w // divisor) * divisor
    padded = np.full((c, ph, pw), -0.5, np.float32)
    padded[:, :h, :w] = image
    out = np.zeros((ph, pw), np.float32)
    name = session.get_inputs()[0].name
    for y in range(0, ph, tile):
        for x in range(0, pw, tile):
            patch = padded[None, :, y : y + tile, x : x + tile]
            out[y : y + tile, x : x + tile] = session.run(None, {name: patch})[0][0, 0]
    return out[:h, :w]


def near_no_imagery(no_imagery: np.ndarray, border: int) -> np.ndarray:
    """Valid pixels within ``border`` px of no imagery (max-pool dilation)."""
    t = torch.from_numpy(no_imagery.astype(np.float32))[None, None]
    grown = F.max_pool2d(t, 2 * border + 1, stride=1, padding=border)[0, 0].numpy() > 0
    return grown & ~no_imagery


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.verify", description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("image")
    p.add_argument("inventory")
    p.add_argument("--east", type=float, default=0.35, help="use the eastern fraction of the scene [0.35]")
    p.add_argument("--border", type=int, default=32, help="edge band width in pixels [32]")
    p.add_argument("--png", help="write a preview (image | truth | prediction) to this PNG")
    args = p.parse_args(argv)

    info = parse_metadata(
        {e.key: e.value for e in onnx.load(args.model, load_external_data=False).metadata_props}
    )
    scene = load_orthophoto(args.image, args.inventory)
    w = scene.label.shape[1]
    block = scene.columns(round(w * (1 - args.east)), w, ":east")
    image = normalised(block.image)
    no_imagery = (image == info.nodata_fill).all(axis=0) & block.ignore
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    prob = predict(session, image, info.tile_size, info.size_divisor)
    pred = prob >= info.threshold
    truth = block.label == 1
    whole, edge = Confusion(), Confusion()
    whole.add(pred, truth, block.ignore)
    band = near_no_imagery(no_imagery, args.border)
    edge.add(pred[band], truth[band])
    result = {
        "block": block.name,
        "block_scores": whole.scores(),
        "edge_band_px": args.border,
        "edge_pixels": int(band.sum()),
        "edge_landslide_fraction_truth": float(truth[band].mean()) if band.any() else 0.0,
        "edge_landslide_fraction_predicted": float(pred[band].mean()) if band.any() else 0.0,
        "edge_false_positive_rate": edge.fp / max(edge.fp + edge.tn, 1),
        "interior_false_positive_rate": (whole.fp - edge.fp)
        / max(whole.fp + whole.tn - edge.fp - edge.tn, 1),
        "no_imagery_predicted_fraction": float(pred[no_imagery].mean()) if no_imagery.any() else 0.0,
    }
    print(json.dumps(result, indent=1))
    if args.png:
        _preview(args.png, image, truth, pred, block.ignore)
    return 0


def _preview(path: str, image: np.ndarray, truth: np.ndarray, pred: np.ndarray, ignore: np.ndarray) -> None:
    from osgeo import gdal

    rgb = ((image[:3].astype(np.float32) + 0.5) * 255).clip(0, 255).astype(np.uint8)
    grey = np.where(ignore, 40, 0).astype(np.uint8)
    panels = [rgb, np.stack([truth * 255 | grey] * 3), np.stack([pred * 255 | grey] * 3)]
    h = rgb.shape[1]
    sep = np.full((3, h, 8), 128, np.uint8)
    mosaic = np.concatenate(
        [panels[0], sep, panels[1].astype(np.uint8), sep, panels[2].astype(np.uint8)], axis=2
    )
    mem = gdal.GetDriverByName("MEM").Create("", mosaic.shape[2], h, 3, gdal.GDT_Byte)
    for i in range(3):
        mem.GetRasterBand(i + 1).WriteArray(mosaic[i])
    gdal.GetDriverByName("PNG").CreateCopy(path, mem)


if __name__ == "__main__":
    sys.exit(main())
