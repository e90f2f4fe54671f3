# SPDX-License-Identifier: GPL-2.0-or-later
"""Start training from an existing model: a ``model.train`` checkpoint or an exported ``.onnx``.

The ONNX export folds every BatchNorm into the convolution before it, so an ``.onnx`` holds
``conv'(x) = W'x + b'`` where training needs ``BN(Wx)``. :func:`net_from_onnx` puts the folded
weights back into a :class:`DAUNet` exactly (its eval output equals the ONNX output) and
:func:`calibrate_batchnorm` then gives every BatchNorm the statistics of its input on real training
crops, re-expressing the same function so that the first training steps (which normalise by batch
statistics) see what the exported model saw, not a network thrown off by unit statistics.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from core.model_metadata import METADATA_KEY
from model.network import DAUNet, build_model


class InitError(ValueError):
    """The model given to ``--init`` cannot be used; the message says why and what to do."""


def _onnx_meta(model: onnx.ModelProto, path: Path) -> dict[str, Any]:
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise InitError(
            f"{path}: no '{METADATA_KEY}' metadata, so its network is unknown; --init takes models "
            "exported by model.export (or a model.train checkpoint)"
        )
    info = json.loads(props[METADATA_KEY])
    if info.get("network") != "DA-U-Net" or not info.get("width"):
        raise InitError(f"{path}: not a DA-U-Net exported by model.export (network {info.get('network')!r})")
    return info


def _conv_module_path(node: onnx.NodeProto) -> str:
    """The torch module path of a Conv node from its scope name.

    The exporter names scopes relative to their parent but qualifies list items, e.g.
    '/net/bottleneck/branches.0/branches.0.0/Conv' -> 'bottleneck.branches.0.0'.
    """
    parts = [p for p in node.name.split("/") if p]
    if len(parts) < 3 or parts[0] != "net":
        raise InitError(f"unexpected Conv node name {node.name!r}; export the model again with model.export")
    path, last = "", ""
    for part in parts[1:-1]:
        if last and part.startswith(last + "."):
            path = path[: len(path) - len(last)] + part
        else:
            path = f"{path}.{part}" if path else part
        last = part
    return path


def net_from_onnx(path: str | Path) -> tuple[DAUNet, dict[str, Any]]:
    """The exported network as a :class:`DAUNet` (BatchNorm folded: identity statistics) and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise InitError(f"{path}: model not found; give an .onnx written by model.export or a .pt checkpoint")
    model = onnx.load(str(path))
    info = _onnx_meta(model, path)
    depth = round(math.log2(int(info.get("size_divisor", 16))))
    net = build_model(info["variant"], len(info["bands"]), int(info["width"]), depth)
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    modules = dict(net.named_modules())
    loaded: set[str] = set()
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        name = _conv_module_path(node)
        conv = modules.get(name)
        if not isinstance(conv, nn.Conv2d):
            raise InitError(f"{path}: Conv {name!r} has no counterpart in a {info['variant']} network")
        w = torch.from_numpy(np.array(weights[node.input[1]], dtype=np.float32))
        b = torch.from_numpy(np.array(weights[node.input[2]], dtype=np.float32))
        if w.shape != conv.weight.shape:
            raise InitError(
                f"{path}: Conv {name!r} has shape {tuple(w.shape)}, expected {tuple(conv.weight.shape)}"
            )
        with torch.no_grad():
            conv.weight.copy_(w)
            bn = _batchnorm_after(net, name)
            if bn is None:
                conv.bias.copy_(b)
            else:  # folded: BN(conv(x)) must return W'x + b' -> identity statistics, shift = b'
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                bn.weight.fill_(1.0)
                bn.bias.copy_(b)
        loaded.add(name)
    missing = {n for n, m in modules.items() if isinstance(m, nn.Conv2d)} - loaded
    if missing:
        raise InitError(f"{path}: no weights for {', '.join(sorted(missing))}; export the model again")
    return net.eval(), info


def _batchnorm_after(net: nn.Module, conv_path: str) -> nn.BatchNorm2d | None:
    """The BatchNorm that follows ``conv_path`` inside a ConvBNReLU (``*.0`` -> ``*.1``), if any."""
    parent, _, index = conv_path.rpartition(".")
    if not parent or index != "0":
        return None
    sibling = dict(net.named_modules()).get(f"{parent}.1")
    return sibling if isinstance(sibling, nn.BatchNorm2d) else None


@torch.no_grad()
def calibrate_batchnorm(net: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Give each BatchNorm its input's real statistics without changing the network's eval function.

    For BN(z) = (z - m) / sqrt(v + eps) * g + s with any (m, v), choosing g = sqrt(v + eps) * g0 /
    sqrt(v0 + eps) and s = s0 + g0 * (m - m0) / sqrt(v0 + eps) keeps the output; with (m, v) the
    per-channel mean and variance of z, batch-statistics training starts from the same function.
    """
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    sums: dict[nn.Module, list[torch.Tensor]] = {bn: [] for bn in bns}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        z = inputs[0].float()
        sums[module].append(torch.stack([z.mean(dim=(0, 2, 3)), (z * z).mean(dim=(0, 2, 3))]))

    handles = [bn.register_forward_pre_hook(hook) for bn in bns]
    was_training = net.training
    net.eval()
    try:
        for x in batches:
            net(x)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    for bn in bns:
        if not sums[bn]:
            raise InitError("no batch reached the network while calibrating BatchNorm")
        mean, sq = torch.stack(sums[bn]).mean(dim=0)
        var = (sq - mean * mean).clamp(min=0.0)
        scale0 = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        bn.bias.copy_(bn.bias + scale0 * (mean - bn.running_mean))
        bn.weight.copy_(scale0 * torch.sqrt(var + bn.eps))
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)


def load_initial(path: str | Path) -> tuple[DAUNet, dict[str, Any]]:
    """Network and a description (variant, width, depth, bands, value range, prior training) to start from."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        net, info = net_from_onnx(path)
        return net, {
            "variant": net.variant,
            "width": net.width,
            "depth": net.depth,
            "bands": net.in_channels,
            "value_min": info.get("value_min"),
            "value_max": info.get("value_max"),
            "training": info.get("training", {}),
            "folded": True,
        }
    from model.export import ExportError, load_checkpoint

    try:
        net, ckpt = load_checkpoint(path)
    except ExportError as exc:
        raise InitError(str(exc)) from exc
    meta = ckpt["meta"]
    prior = ckpt.get("training") or {"steps": int(ckpt.get("step", 0))}
    return net, {
        "variant": net.variant,
        "width": net.width,
        "depth": net.depth,
        "bands": net.in_channels,
        "value_min": meta.get("value_min"),
        "value_max": meta.get("value_max"),
        "training": dict(prior),
        "folded": False,
    }


def with_more_inputs(net: DAUNet, bands: int) -> DAUNet:
    """``net`` taking ``bands`` input channels: the extra ones (elevation channels after the image
    bands) get zero weights, so the network starts as exactly the given one and learns to use them."""
    if bands < net.in_channels:
        raise InitError(f"the model takes {net.in_channels} bands; it cannot be narrowed to {bands}")
    wider = build_model(net.variant, bands, net.width, net.depth)
    state = wider.state_dict()
    for name, value in net.state_dict().items():
        if state[name].shape == value.shape:
            state[name] = value
        else:  # an input convolution: [out, in, k, k] with more inputs
            grown = torch.zeros_like(state[name])
            grown[:, : value.shape[1]] = value
            state[name] = grown
    wider.load_state_dict(state)
    return wider.train(net.training)
