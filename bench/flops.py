# SPDX-License-Identifier: GPL-2.0-or-later
"""Multiply-accumulates of an ONNX model for one input shape, counted from the graph.

ONNX shape inference fixes N/H/W to concrete values; each Conv then costs
``prod(output shape) * (in_channels / groups) * prod(kernel)`` MACs (ConvTranspose, MatMul and Gemm
are counted too). Element-wise ops, pooling and resizing are left out: they are memory-bound and a
few percent of the MACs at most. FLOPs = 2 x MACs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import shape_inference


def _fix_input(model: onnx.ModelProto, shape: tuple[int, ...]) -> None:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, shape):
        dim.ClearField("dim_param")
        dim.dim_value = value


def count_macs(model_path: str | Path, shape: tuple[int, int, int, int]) -> dict[str, int]:
    """MACs per op type for one ``N x C x H x W`` input (``total`` included)."""
    model = onnx.load(str(model_path))
    _fix_input(model, shape)
    model = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int]] = {}
    for value in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)

    macs: dict[str, int] = {}
    unknown: list[str] = []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            continue
        out = shapes.get(node.output[0])
        weight = shapes.get(node.input[1])
        if not out or not weight or min(out) < 0:
            unknown.append(node.name or node.output[0])
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            # weight: C_out x C_in/groups x kH x kW
            n = int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type == "ConvTranspose":
            # weight: C_in x C_out/groups x kH x kW; each input pixel scatters a kernel
            inp = shapes[node.input[0]]
            n = int(np.prod(inp)) * int(np.prod(weight[1:]))
        else:  # MatMul / Gemm: output elements x inner dimension
            inner = weight[0] if not attrs.get("transB") else weight[-1]
            n = int(np.prod(out)) * int(inner)
        macs[node.op_type] = macs.get(node.op_type, 0) + n
    if unknown:
        raise ValueError(
            f"shape inference left {len(unknown)} MAC-carrying nodes without shapes: {unknown[:3]}"
        )
    macs["total"] = sum(macs.values())
    return macs


def gflops_per_tile(model_path: str | Path, bands: int, tile: int) -> float:
    """Giga floating-point operations (2 x MACs) for one ``tile x tile`` tile."""
    return 2.0 * count_macs(model_path, (1, bands, tile, tile))["total"] / 1e9
