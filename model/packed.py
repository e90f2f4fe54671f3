# SPDX-License-Identifier: GPL-2.0-or-later
"""A training split packed into one compact file, for machines without GDAL (the lent GPU machine).

    python -m model.packed --out runs/landslides.npz --tiles DATA/sichuan ... --ortho IMG LABEL ...
    python -m model.train --packed runs/landslides.npz --device cuda ...

The split (training and validation scenes, by the same hold-out rules as ``model.train``) is read
here with GDAL and stored as losslessly compressed 8-bit images (WebP, or PNG for other band counts)
and label planes (0 background, 1 landslide, 255 ignored) inside an ``.npz``, with the sources and
their licences. Loading needs only numpy and Pillow. Only 8-bit imagery is packed: the scenes'
normalised values map back to the same bytes exactly.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from model.data import DataError, Scene

IGNORED = 255


def _encode(array: np.ndarray, lossless_webp: bool) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.fromarray(array)
    if lossless_webp:
        image.save(buffer, "WEBP", lossless=True, quality=100, method=4)
    else:
        image.save(buffer, "PNG", optimize=True)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def _decode(data: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data.tobytes())))


def _scene_bytes(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    if any(lo != 0.0 or hi != 255.0 for lo, hi in zip(scene.value_min, scene.value_max)):
        raise DataError(
            f"{scene.name}: only 8-bit imagery (0..255) can be packed; train from the files instead"
        )
    if scene.image.dtype == np.uint8:  # stored raw already
        raw = scene.image
    else:
        raw = np.rint((scene.image.astype(np.float32) + 0.5) * 255.0).clip(0, 255).astype(np.uint8)
    hwc = np.ascontiguousarray(np.moveaxis(raw, 0, -1))
    image = _encode(hwc if hwc.shape[-1] in (3, 4) else hwc[..., 0], hwc.shape[-1] == 3)
    label = np.where(scene.ignore, IGNORED, scene.label).astype(np.uint8)
    return image, _encode(label, False)


def pack(train: list[Scene], val: list[Scene], sources: list[dict[str, str]], out: str | Path) -> Path:
    """Write the split to ``out`` (an ``.npz``), atomically."""
    out = Path(out)
    arrays: dict[str, np.ndarray] = {}
    scenes: list[dict[str, Any]] = []
    for i, (scene, part) in enumerate([(s, "train") for s in train] + [(s, "val") for s in val]):
        arrays[f"image_{i}"], arrays[f"label_{i}"] = _scene_bytes(scene)
        scenes.append(
            {
                "name": scene.name,
                "source": scene.source,
                "part": part,
                "bands": int(scene.image.shape[0]),
                "value_min": scene.value_min,
                "value_max": scene.value_max,
                "gsd_m": scene.gsd_m,
            }
        )
    header = {"scenes": scenes, "sources": sources}
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".npz", dir=out.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def load_packed(path: str | Path) -> tuple[list[Scene], list[Scene], list[dict[str, str]]]:
    """(training scenes, validation scenes, sources) from a file written by :func:`pack`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: packed data not found; write it with python -m model.packed")
    with np.load(path) as data:
        header = json.loads(data["header"].tobytes().decode("utf-8"))
        train, val = [], []
        for i, meta in enumerate(header["scenes"]):
            raw = _decode(data[f"image_{i}"])
            raw = raw[..., None] if raw.ndim == 2 else raw
            image = np.ascontiguousarray(np.moveaxis(raw, -1, 0))  # 8-bit, as model.data stores it
            plane = _decode(data[f"label_{i}"])
            ignore = plane == IGNORED
            label = (plane == 1).astype(np.uint8)
            scene = Scene(
                meta["name"],
                meta["source"],
                image,
                label,
                ignore,
                meta["value_min"],
                meta["value_max"],
                meta["gsd_m"],
            )
            (train if meta["part"] == "train" else val).append(scene)
    return train, val, header["sources"]


def main(argv: list[str] | None = None) -> int:
    from model.sources import load_split

    p = argparse.ArgumentParser(prog="python -m model.packed", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the .npz to write")
    p.add_argument("--tiles", action="append", default=[], metavar="DIR")
    p.add_argument("--ortho", action="append", nargs=2, default=[], metavar=("IMAGE", "INVENTORY"))
    p.add_argument("--val-ortho", action="append", nargs=2, default=[], metavar=("IMAGE", "INVENTORY"))
    p.add_argument("--val-every", type=int, default=6)
    p.add_argument("--ortho-holdout", type=float, default=0.35)
    p.add_argument("--holdout-gap", type=int, default=64)
    args = p.parse_args(argv)
    try:
        split = load_split(
            args.tiles, args.ortho, args.val_ortho, args.val_every, args.ortho_holdout, args.holdout_gap
        )
        out = pack(split.train, split.val, split.sources, args.out)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): "
        f"{len(split.train)} training, {len(split.val)} validation scenes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
