# SPDX-License-Identifier: GPL-2.0-or-later
"""Export a training checkpoint to ONNX with the plugin's metadata (core/model_metadata.py).

    python -m model.export runs/daunet/best.pt resources/model/landslide_daunet.onnx
    python -m model.export runs/daunet/best.pt daunet_512.onnx --fixed-tile 512   # for Deepness
    python -m model.export runs/daunet/best.pt weights.pt   # weights only, for --init

The graph takes ``N x C x H x W`` float32 normalised bands and returns ``N x 1 x H x W`` float32
landslide probability. Batch, height and width are dynamic unless ``--fixed-tile`` is given (Deepness
needs a static tile). ``--fp16`` stores the weights as float16 (half the file) and casts them back to
float32 inside the graph, so the inputs, outputs and arithmetic stay float32.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from core.model_metadata import ModelInfo, metadata_props
from core.version import plugin_version
from model.network import DAUNet, ProbabilityHead, build_model

INPUT_NAME = "input"
OUTPUT_NAME = "probability"
OPSET = 17
OPSET_DYNAMO = 18  # the dynamo exporter's lowest well-supported opset
BAND_NAMES = {1: ["gray"], 3: ["red", "green", "blue"], 4: ["red", "green", "blue", "nir"]}


class ExportError(ValueError):
    """The checkpoint cannot be exported; the message says why and what to do."""


def load_checkpoint(path: str | Path) -> tuple[DAUNet, dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: checkpoint not found; give a best.pt/last.pt written by model.train")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "meta" not in ckpt:
        raise ExportError(f"{path}: not a model.train checkpoint (no 'model'/'meta' entries)")
    meta = ckpt["meta"]
    net = build_model(meta["variant"], meta["bands"], meta["width"], meta["depth"])
    net.load_state_dict(ckpt["model"])
    net.eval()
    return net, ckpt


def weights_licence(sources: list[dict[str, str]]) -> str:
    """The terms the weights inherit from their training data (the most restrictive one wins)."""
    licences = {s.get("licence", "not stated") for s in sources}
    parts = []
    if any("NC" in lic for lic in licences):
        parts.append("CC BY-NC 4.0: non-commercial use only (trained on CC BY-NC 4.0 data)")
    elif licences and all(lic.startswith("CC BY") for lic in licences):
        parts.append("CC BY 4.0")
    attribution = [s["name"] for s in sources if s.get("licence", "").startswith("CC BY")]
    if attribution:
        parts.append("attribution required to: " + ", ".join(attribution))
    unstated = [s["name"] for s in sources if s.get("licence", "not stated") == "not stated"]
    if unstated:
        parts.append("also trained on data without a stated licence: " + ", ".join(unstated))
    return "; ".join(parts) or "not stated"


def checkpoint_metrics(ckpt: dict[str, Any]) -> dict[str, float]:
    """Validation metrics of the checkpoint's epoch (older checkpoints lack the mean over sources)."""
    metrics = dict(ckpt.get("metrics", {}))
    rows = [r for r in ckpt.get("history", []) if r.get("epoch") == ckpt.get("epoch")]
    if "iou_mean_sources" not in metrics and rows and rows[0].get("per_source"):
        metrics["iou_mean_sources"] = float(np.mean([v["iou"] for v in rows[0]["per_source"].values()]))
    return metrics


def model_info(net: DAUNet, ckpt: dict[str, Any], tile_size: int = 512, overlap: int = 64) -> ModelInfo:
    meta = ckpt["meta"]
    terrain = [str(name) for name in meta.get("terrain", [])]
    bands = int(meta["bands"]) - len(terrain)  # the network's input: the bands, then the elevation
    return ModelInfo(
        network="DA-U-Net",
        variant=net.variant,
        width=net.width,
        bands=list(range(1, bands + 1)),
        extra_channels=terrain,
        band_names=BAND_NAMES.get(bands, [f"band{i}" for i in range(1, bands + 1)]),
        value_min=[float(v) for v in meta["value_min"]],
        value_max=[float(v) for v in meta["value_max"]],
        nodata_fill=-0.5,
        tile_size=tile_size,
        overlap=overlap,
        size_divisor=net.size_divisor,
        threshold=float(ckpt.get("threshold", 0.5)),  # set by model.calibrate
        min_area_m2=float(ckpt.get("min_area_m2", 0.0)),  # set by model.calibrate
        gsd_m=round(float(meta.get("gsd_m", 0.0)), 3),
        class_names=["background", "landslide"],
        training_data=[{"name": s["name"], "licence": s["licence"]} for s in meta["sources"]],
        weights_licence=weights_licence(meta["sources"]),
        metrics={k: round(float(v), 4) for k, v in checkpoint_metrics(ckpt).items()},
        training=dict(ckpt.get("training", {})),
        version=plugin_version(),
    )


def _to_onnx(net: DAUNet, fixed_tile: int | None, exporter: str = "torchscript") -> onnx.ModelProto:
    """Trace ``sigmoid(net)``; batch (and, without ``fixed_tile``, height and width) stay dynamic.

    Both torch exporters give the same numbers (checked against torch in the tests); "torchscript"
    is the default because it exports in well under a second where "dynamo" takes ~12 s of CPU.
    """
    head = ProbabilityHead(net).eval()
    size = fixed_tile or 4 * net.size_divisor
    example = (torch.zeros(1, net.in_channels, size, size),)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices of the exporters, not about this model
        if exporter == "dynamo":
            dims: dict[int, Any] = {0: torch.export.Dim("batch", min=1, max=1024)}
            if not fixed_tile:
                dims[2] = torch.export.Dim("height", min=net.size_divisor, max=65536)
                dims[3] = torch.export.Dim("width", min=net.size_divisor, max=65536)
            program = torch.onnx.export(
                head,
                example,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=OPSET_DYNAMO,
                dynamo=True,
                external_data=False,
                dynamic_shapes={"x": dims},
            )
            return program.model_proto
        if exporter != "torchscript":
            raise ExportError(f"unknown exporter {exporter!r}; use 'torchscript' or 'dynamo'")
        axes = {0: "batch"} if fixed_tile else {0: "batch", 2: "height", 3: "width"}
        buffer = io.BytesIO()
        torch.onnx.export(
            head,
            example,
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            dynamo=False,
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
        )
    return onnx.load_from_string(buffer.getvalue())


def weights_to_fp16(model: onnx.ModelProto) -> None:
    """Store float32 initializers as float16 and cast them back to float32 in the graph."""
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < 16:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
        name = init.name
        init.CopyFrom(half)
        casts.append(helper.make_node("Cast", [half.name], [name], to=TensorProto.FLOAT, name=f"cast_{name}"))
    for node in reversed(casts):
        graph.node.insert(0, node)


def export(
    checkpoint: str | Path,
    out: str | Path,
    fixed_tile: int | None = None,
    fp16: bool = False,
    tile_size: int = 512,
    overlap: int = 64,
    exporter: str = "torchscript",
) -> Path:
    net, ckpt = load_checkpoint(checkpoint)
    if fixed_tile is not None and fixed_tile % net.size_divisor:
        raise ExportError(
            f"--fixed-tile {fixed_tile} must be a multiple of the size divisor {net.size_divisor}"
        )
    info = model_info(net, ckpt, fixed_tile or tile_size, overlap)
    return export_model(net, info, out, fixed_tile, fp16, exporter)


def export_model(
    net: DAUNet,
    info: ModelInfo,
    out: str | Path,
    fixed_tile: int | None = None,
    fp16: bool = False,
    exporter: str = "torchscript",
) -> Path:
    """Write ``net`` (logits) with a sigmoid and ``info`` as metadata to ``out``, atomically."""
    out = Path(out)
    model = _to_onnx(net.eval(), fixed_tile, exporter)
    if fp16:
        weights_to_fp16(model)
    model.doc_string = f"{info.variant} landslide segmentation; metadata key 'landslide_detector'"
    model.producer_name = "landslide_detector model.export"
    del model.metadata_props[:]
    for key, value in metadata_props(info).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an exported model is an ordinary file
        onnx.save(model, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


SLIM_KEYS = ("model", "meta", "epoch", "step", "history", "training", "metrics", "threshold", "min_area_m2")


def export_weights(checkpoint: str | Path, out: str | Path) -> Path:
    """A weights-only copy of a checkpoint (no optimiser state): what ``--init`` needs, a third the size."""
    _, ckpt = load_checkpoint(checkpoint)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    torch.save({k: ckpt[k] for k in SLIM_KEYS if k in ckpt}, tmp)
    tmp.replace(out)
    return out


def compare_with_onnxruntime(net: DAUNet, path: str | Path, x: np.ndarray) -> float:
    """Max absolute difference between the torch probability and the ONNX Runtime (CPU) output."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})
    with torch.no_grad():
        want = torch.sigmoid(net.eval()(torch.from_numpy(x.astype(np.float32)))).numpy()
    if got.shape != want.shape:
        raise ExportError(f"ONNX output shape {got.shape} differs from torch {want.shape}")
    return float(np.abs(got - want).max())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.export", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("out", help="the .onnx file to write (or a .pt: a weights-only checkpoint for --init)")
    p.add_argument("--fixed-tile", type=int, metavar="PX", help="static N x C x PX x PX input (Deepness)")
    p.add_argument("--fp16", action="store_true", help="float16 weights (float32 input/output)")
    p.add_argument("--tile-size", type=int, default=512, help="tile size recorded for inference [512]")
    p.add_argument("--overlap", type=int, default=64, help="tile overlap recorded for inference [64]")
    p.add_argument("--exporter", choices=["torchscript", "dynamo"], default="torchscript")
    args = p.parse_args(argv)
    if args.out.endswith(".pt"):
        try:
            path = export_weights(args.checkpoint, args.out)
        except ExportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, weights only)")
        return 0
    try:
        path = export(
            args.checkpoint, args.out, args.fixed_tile, args.fp16, args.tile_size, args.overlap, args.exporter
        )
        net, _ = load_checkpoint(args.checkpoint)
        h = args.fixed_tile or 3 * net.size_divisor
        w = args.fixed_tile or 5 * net.size_divisor
        x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, net.in_channels, h, w))
        diff = compare_with_onnxruntime(net, path, x)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); "
        f"onnxruntime vs torch max abs difference {diff:.2e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
