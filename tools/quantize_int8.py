# SPDX-License-Identifier: GPL-2.0-or-later
"""Make the int8 copy of an ONNX model: static, per-channel, QDQ, calibrated on real training tiles.

    .venv/bin/python tools/quantize_int8.py resources/model/landslide_daunet.onnx \\
        --data ../shared/data/landslides [--tiles 64] [--out PATH]

Writes ``<model>.int8.onnx`` next to the model (``core.precision.int8_path``), where
``landslides:detect`` finds it: with PRECISION ``auto`` it runs on CPUs with AVX512-VNNI or AMX, with
``int8`` everywhere (bench/README.md has the speeds and ``python -m bench.int8_quality`` the
validation scores of both files).

* Calibration tiles come from the **training** part of the data only (the split of ``model.train``:
  every 6th tile of a folder and the eastern 35 % of an orthophoto are validation, never seen here),
  round-robin over the sources, one crop of ``--tile`` pixels per tile image and a grid of crops over
  each orthophoto's training block, normalised exactly as the model's metadata says:
  ``(v - value_min) / (value_max - value_min) - 0.5``, no-imagery pixels set to ``nodata_fill``.
* onnxruntime's quantiser: ``quant_pre_process`` (shape inference, basic graph optimisation), then
  ``quantize_static`` with QDQ nodes, per-channel int8 weights, **uint8 activations** (U8S8; no
  reduced range, the VNNI instructions do not saturate), MinMax calibration merged tile by tile
  (bounded memory). U8S8 is what onnxruntime's x86 int8 convolution kernels take directly: on an
  AVX512-VNNI EPYC it ran a 640² tile in 0.12 s against 0.19-0.24 s with int8 activations (S8S8,
  ``--activations int8``) and 0.20 s in float32 (bench/README.md). The head (the last convolution
  and the sigmoid after it)
  stays in float32, so the probabilities are not rounded to 8-bit steps around the threshold.
* Feature channels are padded to multiples of 16 with zero weights first (``--pad-channels``,
  ``tools/pad_channels.py``; the outputs do not change): on an Intel Xeon with AMX-INT8 the
  width-12 network's 12- and 24-channel layers ran slower in int8 than in float32, padded they take
  the fast kernels (bench/README.md, 2026-12-07).
* The copy keeps every metadata key of the model and adds ``landslide_detector_int8`` (how it was
  made, and the SHA-256 of the float32 file: the engine refuses a copy of another model version).

Prints, on the calibration tiles, how many pixels change side of the model's threshold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.model_metadata import ModelInfo, parse_metadata  # noqa: E402
from core.precision import INT8_KEY, file_sha256, int8_path  # noqa: E402

# model.train's split (its defaults --val-every 6, --ortho-holdout 0.35, --holdout-gap 64; a unit
# test checks they still agree): calibration never sees a validation pixel.
VAL_EVERY, HOLDOUT, GAP = 6, 0.35, 64
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
MIN_VALID = 0.5  # an orthophoto crop needs this share of imagery to calibrate with
PAD_MULTIPLE = 16  # tools/pad_channels.py: what int8 needs to be fast on Intel AMX/VNNI


# --- calibration tiles ---------------------------------------------------------------------------


def training_images(data: Path) -> dict[str, list[tuple[Path, tuple[int, int, int, int] | None]]]:
    """Per source: (image, training window (x, y, w, h) or None for the whole file).

    Tile folders (``<source>/images``) lose every ``VAL_EVERY``-th tile; orthophotos
    (``<source>/*_rgb.tif``) keep their western block up to the hold-out and its gap.
    """
    from osgeo import gdal

    found: dict[str, list[tuple[Path, tuple[int, int, int, int] | None]]] = {}
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        images = folder / "images"
        if images.is_dir():
            tiles = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            kept = [(p, None) for i, p in enumerate(tiles) if i % VAL_EVERY != VAL_EVERY // 2]
            if kept:
                found[folder.name] = kept
            continue
        for scene in sorted(folder.glob("*_rgb.tif")):
            ds = gdal.Open(str(scene))
            width, height = ds.RasterXSize, ds.RasterYSize
            train_w = round(width * (1.0 - HOLDOUT)) - GAP
            if train_w > 16:
                found.setdefault(folder.name, []).append((scene, (0, 0, train_w, height)))
    if not found:
        raise SystemExit(
            f"{data}: no training tiles found (expected <source>/images/*.png|tif or <source>/*_rgb.tif)"
        )
    return found


def crops(
    sources: dict[str, list[tuple[Path, tuple[int, int, int, int] | None]]],
    tile: int,
    count: int,
    seed: int,
) -> list[tuple[str, Path, tuple[int, int, int, int]]]:
    """``count`` crop windows, round-robin over the sources (each source weighs the same)."""
    from osgeo import gdal

    rng = np.random.default_rng(seed)
    per_source: dict[str, list[tuple[Path, tuple[int, int, int, int]]]] = {}
    for name, items in sources.items():
        windows = []
        for path, window in items:
            ds = gdal.Open(str(path))
            x0, y0, w, h = window or (0, 0, ds.RasterXSize, ds.RasterYSize)
            if window is None:  # a tile: one crop at a random place
                cx = int(rng.integers(0, max(1, w - tile + 1)))
                cy = int(rng.integers(0, max(1, h - tile + 1)))
                windows.append((path, (x0 + cx, y0 + cy, min(tile, w), min(tile, h))))
            else:  # an orthophoto's training block: a grid of crops
                for y in range(y0, y0 + max(1, h - tile + 1), tile):
                    for x in range(x0, x0 + max(1, w - tile + 1), tile):
                        windows.append((path, (x, y, min(tile, w), min(tile, h))))
        order = rng.permutation(len(windows))
        per_source[name] = [windows[i] for i in order]
    chosen: list[tuple[str, Path, tuple[int, int, int, int]]] = []
    depth = 0
    while len(chosen) < count and any(depth < len(v) for v in per_source.values()):
        for name, windows in per_source.items():
            if depth < len(windows) and len(chosen) < count:
                chosen.append((name, *windows[depth]))
        depth += 1
    return chosen


def read_normalised(
    path: Path, window: tuple[int, int, int, int], info: ModelInfo, tile: int
) -> tuple[np.ndarray, float]:
    """C x tile x tile float32 as the engine feeds the model, and the share of imagery pixels."""
    from osgeo import gdal

    ds = gdal.Open(str(path))
    x, y, w, h = window
    bands = [int(b) for b in info.bands]
    raw = np.stack([ds.GetRasterBand(b).ReadAsArray(x, y, w, h).astype(np.float32) for b in bands])
    valid = np.ones((h, w), dtype=bool)
    for b in bands:
        band = ds.GetRasterBand(b)
        if band.GetMaskFlags() != gdal.GMF_ALL_VALID:
            valid &= band.GetMaskBand().ReadAsArray(x, y, w, h) > 0
    lo, hi = value_range(ds, bands, info)
    norm = np.clip((raw - lo[:, None, None]) / (hi - lo)[:, None, None] - 0.5, -0.5, 0.5)
    out = np.full((len(bands), tile, tile), np.float32(info.nodata_fill), dtype=np.float32)
    out[:, :h, :w] = np.where(valid[None], norm, np.float32(info.nodata_fill))
    return out, float(valid.mean())


def value_range(ds: Any, bands: list[int], info: ModelInfo) -> tuple[np.ndarray, np.ndarray]:
    """The model's recorded range, else the engine's fallback (Byte: 0..255, else min/max)."""
    from osgeo import gdal

    n = len(bands)
    if len(info.value_min) >= n and len(info.value_max) >= n:
        lo, hi = np.asarray(info.value_min[:n], np.float32), np.asarray(info.value_max[:n], np.float32)
    else:
        lo, hi = np.zeros(n, np.float32), np.full(n, 255.0, np.float32)
        for i, b in enumerate(bands):
            band = ds.GetRasterBand(b)
            if band.DataType != gdal.GDT_Byte:
                lo[i], hi[i] = band.ComputeRasterMinMax(True)
    return lo, np.where(hi > lo, hi, lo + 1.0).astype(np.float32)


class TileReader(CalibrationDataReader):
    """onnxruntime's calibration data reader over the crops with imagery (one tile per ``get_next``).

    ``__len__`` and ``set_range`` let ``quantize_static`` calibrate in strides
    (``CalibStridedMinMax``): ranges are merged stride by stride, so memory holds one tile's
    activations, not every tile's.
    """

    def __init__(
        self,
        windows: list[tuple[str, Path, tuple[int, int, int, int]]],
        info: ModelInfo,
        tile: int,
        input_name: str,
        count: int,
    ) -> None:
        self.info, self.tile, self.input_name = info, tile, input_name
        self.windows: list[tuple[str, Path, tuple[int, int, int, int]]] = []
        for source, path, window in windows:  # keep the first ``count`` crops with enough imagery
            if len(self.windows) < count and read_normalised(path, window, info, tile)[1] >= MIN_VALID:
                self.windows.append((source, path, window))
        self.start, self.end = 0, len(self.windows)
        self._next = 0

    def __len__(self) -> int:
        return len(self.windows)

    def per_source(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for source, _path, _window in self.windows:
            counts[source] = counts.get(source, 0) + 1
        return counts

    def tiles(self) -> Iterator[tuple[str, np.ndarray]]:
        for source, path, window in self.windows:
            yield source, read_normalised(path, window, self.info, self.tile)[0]

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end = start_index, min(end_index, len(self.windows))
        self._next = self.start

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self.end:
            return None
        _source, path, window = self.windows[self._next]
        self._next += 1
        return {self.input_name: read_normalised(path, window, self.info, self.tile)[0][None]}

    def rewind(self) -> None:
        self._next = self.start


# --- the model -----------------------------------------------------------------------------------


def float_head(model: Any) -> list[str]:
    """Names of the nodes from the graph's output back to (and including) the first Conv: the head."""
    producers = {out: node for node in model.graph.node for out in node.output}
    names: list[str] = []
    tensor = model.graph.output[0].name
    while tensor in producers:
        node = producers[tensor]
        names.append(node.name)
        if node.op_type == "Conv" or not node.input:
            break
        tensor = node.input[0]
    return names


def quantize(
    model_path: Path,
    out_path: Path,
    data: Path,
    count: int = 64,
    tile: int = 0,
    seed: int = 0,
    method: str = "minmax",
    keep_float_head: bool = True,
    activations: str = "uint8",
    pad_multiple: int = PAD_MULTIPLE,
) -> dict[str, Any]:
    """Write the int8 copy of ``model_path`` to ``out_path`` (atomically); returns its record."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = onnx.load(str(model_path))
    props = {p.key: p.value for p in source.metadata_props}
    if INT8_KEY in props:
        raise SystemExit(f"{model_path} is already an int8 model; quantise its float32 original")
    info = parse_metadata(props)
    div = max(1, int(info.size_divisor or 1))
    tile = tile or int(info.tile_size or 512)
    tile = -(-tile // div) * div
    dims = source.graph.input[0].type.tensor_type.shape.dim
    fixed = [d.dim_value for d in dims[2:] if d.dim_value > 0]
    if len(fixed) == 2:
        tile = fixed[0]  # a model with a fixed input size takes only that
    windows = crops(training_images(data), tile, count * 2, seed)  # spares for mostly empty crops
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    activation_type, activation_format = {
        "uint8": (QuantType.QUInt8, "uint8 activations (U8S8)"),
        "int8": (QuantType.QInt8, "int8 activations (S8S8)"),
    }[activations]
    with tempfile.TemporaryDirectory(prefix="quantize-int8-") as work:
        pre = Path(work) / "pre.onnx"
        quant_pre_process(str(model_path), str(pre))
        pre_model = onnx.load(str(pre))
        padding: dict[str, Any] = {}
        if pad_multiple > 1:
            from tools.pad_channels import pad_channels

            pre_model, padding = pad_channels(pre_model, pad_multiple)
            onnx.save(pre_model, str(pre))
        exclude = float_head(pre_model) if keep_float_head else []
        reader = TileReader(windows, info, tile, pre_model.graph.input[0].name, count)
        if not len(reader):
            raise SystemExit(f"{data}: no calibration crop has {MIN_VALID:.0%} imagery")
        raw = Path(work) / "int8.onnx"
        quantize_static(
            str(pre),
            str(raw),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=False,
            activation_type=activation_type,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            calibrate_method=methods[method],
            extra_options={"CalibStridedMinMax": 1},  # ranges merged tile by tile: bounded memory
        )
        model = onnx.load(str(raw))
        record = {
            "precision": "int8",
            "format": f"QDQ, per-channel int8 weights, {activation_format}",
            "calibration": {
                "method": method,
                "tiles": len(reader),
                "tile_size": tile,
                "per_source": reader.per_source(),
                "data": str(data),
                "split": f"training part (every {VAL_EVERY}th tile, the eastern {HOLDOUT:.0%} held out)",
                "seed": seed,
            },
            "float_nodes": exclude,
            "padded_channels": padding,
            "source_file": model_path.name,
            "source_sha256": file_sha256(str(model_path)),
            "onnxruntime": onnxruntime.__version__,
            "made_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        del model.metadata_props[:]
        for key, value in {**props, INT8_KEY: json.dumps(record, sort_keys=True)}.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        partial = out_path.with_name(out_path.name + ".partial")
        onnx.save(model, str(partial))
        os.replace(partial, out_path)
    return record


def agreement(float_path: Path, int8_file: Path, reader: TileReader, threshold: float) -> dict[str, float]:
    """On the calibration tiles: share of pixels on the same side of ``threshold``, max |difference|."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    sessions = [
        onnxruntime.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
        for p in (float_path, int8_file)
    ]
    name = sessions[0].get_inputs()[0].name
    same = total = 0
    max_diff = 0.0
    for _source, data in reader.tiles():
        p32, p8 = (s.run(None, {name: data[None]})[0] for s in sessions)
        same += int(((p32 >= threshold) == (p8 >= threshold)).sum())
        total += p32.size
        max_diff = max(max_diff, float(np.abs(p32 - p8).max()))
    return {"same_class": same / max(total, 1), "max_abs_difference": max_diff, "pixels": total}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/quantize_int8.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="the float32 ONNX model")
    p.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "landslides",
        help="folder of training sources: <source>/images + masks, or <source>/*_rgb.tif",
    )
    p.add_argument("--out", type=Path, default=None, help="default: <model>.int8.onnx next to the model")
    p.add_argument("--tiles", type=int, default=64, help="calibration tiles [64]")
    p.add_argument("--tile", type=int, default=0, help="calibration tile size (0: the model's) [0]")
    p.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quantize-head", action="store_true", help="quantise the last Conv and sigmoid too")
    p.add_argument(
        "--activations",
        choices=["uint8", "int8"],
        default="uint8",
        help="activation type: uint8 (U8S8, onnxruntime's fast x86 path) or int8 (S8S8) [uint8]",
    )
    p.add_argument(
        "--pad-channels",
        type=int,
        default=PAD_MULTIPLE,
        metavar="N",
        help="pad feature channels to multiples of N with zero weights before quantising, for the "
        f"fast int8 kernels (tools/pad_channels.py; 0: off) [{PAD_MULTIPLE}]",
    )
    p.add_argument("--check-tiles", type=int, default=16, help="tiles for the agreement check (0: none)")
    args = p.parse_args(argv)
    out = args.out or Path(int8_path(str(args.model)))
    print(f"quantising {args.model} -> {out} on {args.tiles} training tiles of {args.data} ...", flush=True)
    record = quantize(
        args.model,
        out,
        args.data,
        args.tiles,
        args.tile,
        args.seed,
        args.method,
        not args.quantize_head,
        args.activations,
        args.pad_channels,
    )
    cal = record["calibration"]
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.2f} MB; float32 "
        f"{args.model.stat().st_size / 2**20:.2f} MB): "
        f"{cal['tiles']} calibration tiles of {cal['tile_size']} px {cal['per_source']}, "
        f"float nodes {record['float_nodes']}"
    )
    if args.check_tiles > 0:
        import onnx

        props = {q.key: q.value for q in onnx.load(str(args.model), load_external_data=False).metadata_props}
        info = parse_metadata(props)
        windows = crops(training_images(args.data), cal["tile_size"], 2 * args.check_tiles, args.seed + 1)
        reader = TileReader(windows, info, cal["tile_size"], "", args.check_tiles)
        check = agreement(args.model, out, reader, info.threshold)
        print(
            f"check on {check['pixels'] / 1e6:.1f} MPix of training tiles: {check['same_class']:.4%} of "
            f"pixels on the same side of the threshold {info.threshold:g}, "
            f"max |p32 - p8| {check['max_abs_difference']:.3f}"
        )
    print("validation scores of both: python -m bench.int8_quality --model", args.model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
