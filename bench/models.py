# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark ONNX models: the shipped model when present, else DA-U-Nets with random weights.

Random weights do not change the cost of a convolution network, so a freshly initialised
width-16 DA-U-Net (the Deepness peer reference, ~2.2 M parameters) times exactly like a trained
one. Exports run in a child process (``python -m bench.models``) so the measuring processes never
import torch (its thread pools and ~300 MB would distort memory and timings).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TMP = ROOT / "bench" / "tmp"
SHIPPED = ROOT / "resources" / "model" / "landslide_daunet.onnx"
FP16 = "-fp16"  # suffix: any model name + "-fp16" is that model converted to float16 compute

# name -> (variant, width, what it stands for)
BENCH_MODELS: dict[str, tuple[str, int, str]] = {
    "daunet16": ("DA-U-Net", 16, "width-16 DA-U-Net, random weights (Deepness peer reference size)"),
    "tiny": ("DA-U-Net", 4, "width-4 DA-U-Net, random weights: memory-scaling runs only, not a real model"),
}


def bench_model_path(name: str) -> Path:
    return TMP / f"{name}.onnx"


def resolve_model(name: str) -> tuple[Path, str]:
    """Path and label of the model called ``name``: ``shipped``, ``auto``, a bench model or a file path,
    each optionally with the suffix ``-fp16`` (converted to float16 compute under bench/tmp/).

    ``auto`` is the shipped model when it exists, else the width-16 benchmark export.
    """
    if name == "auto":
        name = "shipped" if SHIPPED.exists() else "daunet16"
    if name.endswith(FP16):
        base, base_label = resolve_model(name[: -len(FP16)])
        path = TMP / f"{Path(base).stem}{FP16}.onnx"
        if not path.exists() or path.stat().st_mtime < base.stat().st_mtime:
            to_fp16(base, path)
        return path, f"{base_label}, float16 compute (float32 input and output)"
    if name == "shipped":
        if not SHIPPED.exists():
            raise SystemExit(f"{SHIPPED} does not exist yet; use --model daunet16 (random-weight export)")
        return SHIPPED, "shipped model resources/model/landslide_daunet.onnx"
    if name in BENCH_MODELS:
        path = bench_model_path(name)
        sources = (ROOT / "model" / "network.py", Path(__file__))
        if not path.exists() or path.stat().st_mtime < max(p.stat().st_mtime for p in sources):
            # Torch lives in the child only.
            subprocess.run([sys.executable, "-m", "bench.models", name], cwd=ROOT, check=True)
        return path, BENCH_MODELS[name][2]
    path = Path(name)
    if not path.is_file():
        raise SystemExit(f"--model {name!r}: not a file nor one of auto, shipped, {', '.join(BENCH_MODELS)}")
    return path, f"file {path}"


def to_fp16(source: Path, target: Path) -> Path:
    """``source`` with float16 weights and activations, float32 input/output (onnxruntime's converter).

    For GPUs (tensor cores); on an x86 CPU it runs at the float32 model's speed.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    OnnxModel(model).topological_sort()  # the converter appends its input casts at the end
    TMP.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.onnx")
    onnx.save(model, str(tmp))
    tmp.replace(target)
    return target


def _texture_batch(n: int, size: int) -> np.ndarray:
    """``n`` normalised texture tiles like the benchmark rasters (N x 3 x size x size, float32)."""
    from bench.rasters import _grids, texture_strip

    rng = np.random.default_rng(1)
    tiles = []
    for _ in range(n):
        grids = _grids(size, rng)
        tiles.append(np.stack([texture_strip(g, 0, size, size, rng) for g in grids]))
    return np.stack(tiles).astype(np.float32) / 255.0 - 0.5


def _calibrate(net, torch) -> None:  # type: ignore[no-untyped-def]
    """Make a random-weight network's probability map look like a detector's, not a constant 0.53.

    Fresh BatchNorm statistics (mean 0, var 1) leave the logits almost constant, so every pixel
    would be "landslide" and vectorising would be trivially cheap. BatchNorm statistics are
    re-estimated on texture tiles, then the head is rescaled so that logits have spread ~2 and about 1.5 %
    of pixels exceed the 0.5 threshold. Still ~100x more (small) polygons per megapixel than a real
    inventory: vectorising is a stress case here; polygon counts are recorded with every result.
    Cost per tile is unchanged (same graph, same shapes).
    """
    # Random 3x3 filters at full resolution turn pixel noise into speckle (tens of thousands of
    # one-pixel "landslides" per megapixel); cutting the skip connections (zero weights, still
    # multiplied: same cost) makes the map blobby, driven by the 1/16-resolution bottleneck.
    with torch.no_grad():
        for decoder in net.decoders:
            first = decoder.convs[0][0]
            first.weight[:, : first.in_channels // 2].zero_()
    x = torch.from_numpy(_texture_batch(4, 256))
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    net.train()
    with torch.no_grad():
        for i in range(len(x)):
            net(x[i : i + 1])
    net.eval()
    with torch.no_grad():
        logits = net(x)
        spread = float(logits.std()) or 1.0
        q_hi = float(torch.quantile(logits.flatten()[::7], 0.985))
        net.head.weight.mul_(2.0 / spread)
        net.head.bias.sub_(q_hi).mul_(2.0 / spread)


def export(name: str) -> Path:
    """Export benchmark model ``name`` with random (seeded) weights under bench/tmp/."""
    import onnx
    import torch

    from core.model_metadata import ModelInfo, metadata_props
    from model.network import ProbabilityHead, build_model, count_parameters

    variant, width, label = BENCH_MODELS[name]
    torch.manual_seed(0)
    net = build_model(variant, in_channels=3, width=width).eval()
    _calibrate(net, torch)
    head = ProbabilityHead(net).eval()
    TMP.mkdir(parents=True, exist_ok=True)
    path = bench_model_path(name)
    tmp = path.with_suffix(".tmp.onnx")
    dummy = torch.zeros(1, 3, 256, 256)
    # The TorchScript exporter: stable output, dynamic N/H/W, no onnxscript optimiser surprises.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    torch.onnx.export(
        head,
        (dummy,),
        str(tmp),
        input_names=["input"],
        output_names=["probability"],
        dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "probability": {0: "N", 2: "H", 3: "W"}},
        opset_version=17,
        dynamo=False,
    )
    model = onnx.load(str(tmp))
    info = ModelInfo(
        network="DA-U-Net",
        variant=variant,
        width=width,
        tile_size=512,
        overlap=64,
        size_divisor=net.size_divisor,
        training_data=[{"name": "none: random weights for benchmarking", "licence": "GPL-2.0-or-later"}],
        version=f"bench-{name}",
    )
    props = metadata_props(info)
    props["bench_parameters"] = json.dumps(count_parameters(net))
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(tmp))
    tmp.replace(path)
    print(f"exported {path} ({label}, {count_parameters(net):,} parameters)")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="+", choices=sorted(BENCH_MODELS))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    for name in args.names:
        export(name)


if __name__ == "__main__":
    main()
