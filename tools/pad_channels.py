# SPDX-License-Identifier: GPL-2.0-or-later
"""Pad a float32 ONNX model's feature channels to a multiple of N with zero weights (same outputs).

    .venv/bin/python tools/pad_channels.py MODEL.onnx OUT.onnx [--multiple 16]

Why: onnxruntime's int8 convolutions on Intel CPUs with AMX/AVX512-VNNI run layers whose channel
counts are not multiples of 16 slowly (measured 2026-12-07 on a 2-core Xeon: a 12 -> 12 channel
3x3 convolution on a 512² tile 10.8 ms in int8 against 7.1 ms in float32, while 16 -> 16 runs in
6.1 ms int8). ``tools/quantize_int8.py --pad-channels 16`` quantises the padded graph, so the
width-12 network (12, 24 channels at full and half resolution) runs the fast kernels.

Every padded channel gets a zero filter and a zero bias; every convolution that reads it gets zero
weights for it, so whatever value it carries (ReLU keeps 0; a sigmoid would make 0.5) never reaches
an output. Convolutions with fewer than ``MIN_CHANNELS`` outputs (the attention gates' 1-channel
alpha, the head) are left as they are. Only the operators of this project's networks are known; any
other operator that reads a padded tensor stops the pass with an error instead of guessing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

MIN_CHANNELS = 8
# Operators that keep the channel layout of their first input (shape tensors are never padded).
CHANNEL_PRESERVING = {"Relu", "MaxPool", "Resize", "Sigmoid", "Identity", "AveragePool"}
NO_CHANNELS = {"Shape"}  # reads a padded tensor, outputs a shape: consistent with what it reads


def _padded(count: int, multiple: int) -> int:
    return -(-count // multiple) * multiple


def pad_channels(model: Any, multiple: int = 16) -> tuple[Any, dict[str, Any]]:
    """Return a copy of ``model`` (onnx.ModelProto) with padded channels and what was padded."""
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    # For each padded tensor, the original channel at every position (-1: a padding channel).
    layout: dict[str, list[int]] = {}
    padded_convs: list[str] = []
    for node in graph.node:
        mapped = [name for name in node.input if name in layout]
        if node.op_type == "Conv":
            weight = numpy_helper.to_array(inits[node.input[1]])
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if group != 1:
                raise ValueError(f"{node.name}: grouped convolutions are not padded")
            out_ch, in_ch = weight.shape[:2]
            source = layout.get(node.input[0], list(range(in_ch)))
            out_layout = list(range(out_ch))
            if out_ch >= MIN_CHANNELS and out_ch % multiple:
                out_layout += [-1] * (_padded(out_ch, multiple) - out_ch)
            if len(source) == in_ch and len(out_layout) == out_ch:
                continue  # nothing padded on either side
            new = np.zeros((len(out_layout), len(source), *weight.shape[2:]), dtype=weight.dtype)
            for position, channel in enumerate(source):
                if channel >= 0:
                    new[:out_ch, position] = weight[:, channel]
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(new, node.input[1]))
            if len(node.input) > 2 and node.input[2]:
                bias = numpy_helper.to_array(inits[node.input[2]])
                grown = np.zeros(len(out_layout), dtype=bias.dtype)
                grown[:out_ch] = bias
                inits[node.input[2]].CopyFrom(numpy_helper.from_array(grown, node.input[2]))
            if len(out_layout) > out_ch:
                layout[node.output[0]] = out_layout
                padded_convs.append(node.name)
        elif not mapped or node.op_type in NO_CHANNELS:
            continue
        elif node.op_type in CHANNEL_PRESERVING and node.input[0] in layout:
            layout[node.output[0]] = layout[node.input[0]]
        elif node.op_type == "Concat" and next(a.i for a in node.attribute if a.name == "axis") == 1:
            joined: list[int] = []
            offset = 0
            for name in node.input:
                part = layout.get(name) or list(range(_channels(graph, name)))
                joined += [c + offset if c >= 0 else -1 for c in part]
                offset += sum(1 for c in part if c >= 0)
            layout[node.output[0]] = joined
        elif node.op_type in ("Add", "Mul"):
            layouts = [layout[name] for name in mapped]
            if any(lay != layouts[0] for lay in layouts):
                raise ValueError(f"{node.name}: {node.op_type} of tensors padded differently")
            others = [name for name in node.input if name not in layout]
            if any(_channels(graph, name) not in (1, None) for name in others):
                raise ValueError(f"{node.name}: {node.op_type} of a padded and an unpadded tensor")
            layout[node.output[0]] = layouts[0]
        else:
            raise ValueError(f"{node.name}: {node.op_type} reads a padded tensor; the pass does not know it")
    for output in graph.output:
        if output.name in layout:
            raise ValueError(f"graph output {output.name} would be padded")
    # Shapes recorded for the old widths are stale: let shape inference record them again.
    del graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model)
    return model, {"multiple": multiple, "padded_convolutions": padded_convs}


def _channels(graph: Any, name: str) -> int | None:
    """The channel count shape inference recorded for ``name`` (None when unknown)."""
    for info in list(graph.value_info) + list(graph.input) + list(graph.output):
        if info.name == name:
            dims = info.type.tensor_type.shape.dim
            return dims[1].dim_value if len(dims) > 1 and dims[1].dim_value > 0 else None
    return None


def main(argv: list[str] | None = None) -> int:
    import onnx

    p = argparse.ArgumentParser(prog="tools/pad_channels.py", description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--multiple", type=int, default=16)
    args = p.parse_args(argv)
    model = onnx.shape_inference.infer_shapes(onnx.load(str(args.model)))
    padded, report = pad_channels(model, args.multiple)
    onnx.save(padded, str(args.out))
    print(f"padded {len(report['padded_convolutions'])} convolutions to multiples of {args.multiple}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
