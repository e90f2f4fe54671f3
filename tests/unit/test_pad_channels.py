# SPDX-License-Identifier: GPL-2.0-or-later
"""tools/pad_channels.py: zero-padded channels change no output, and unknown operators stop it."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from model.export import _to_onnx
from model.network import build_model
from tools.pad_channels import pad_channels


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _conv_channels(model: onnx.ModelProto) -> list[int]:
    inits = {i.name: i for i in model.graph.initializer}
    return [int(inits[n.input[1]].dims[0]) for n in model.graph.node if n.op_type == "Conv"]


@pytest.mark.parametrize("variant", ["DA-U-Net", "U-Net"])
def test_padded_network_gives_the_same_probabilities(variant) -> None:
    torch.manual_seed(0)
    net = build_model(variant, 3, width=10, depth=2).eval()
    with torch.no_grad():  # BatchNorm statistics that are not the identity, as a trained net has
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    model = onnx.shape_inference.infer_shapes(_to_onnx(net, None))
    padded, report = pad_channels(model, 16)
    before, after = _conv_channels(model), _conv_channels(padded)
    assert 10 in before and 20 in before  # the widths that get padded
    assert all(c % 16 == 0 or c < 8 for c in after) and sum(after) > sum(before)
    assert report["padded_convolutions"]
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 3, 64, 96)).astype(np.float32)
    np.testing.assert_allclose(_run(padded, x), _run(model, x), atol=1e-5)
    onnx.checker.check_model(padded)


def _ten_channel_conv_then(nodes: list[onnx.NodeProto]) -> onnx.ModelProto:
    """x (3 channels) -> Conv to 10 channels ("c", or "y" when ``nodes`` is empty) -> ``nodes`` -> y."""
    weight = numpy_helper.from_array(np.ones((10, 3, 1, 1), np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["c" if nodes else "y"], name="conv")
    graph = helper.make_graph(
        [conv, *nodes],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10, 8, 8])],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_an_operator_the_pass_does_not_know_stops_it() -> None:
    model = _ten_channel_conv_then([helper.make_node("Softmax", ["c"], ["y"], name="softmax", axis=1)])
    with pytest.raises(ValueError, match="Softmax reads a padded tensor"):
        pad_channels(model, 16)


def test_a_padded_graph_output_is_refused() -> None:
    with pytest.raises(ValueError, match="graph output y would be padded"):
        pad_channels(_ten_channel_conv_then([]), 16)


def test_quantiser_pads_before_quantising_and_keeps_the_probabilities(tmp_path) -> None:
    from tests.fixtures.int8_models import conv_model, training_data
    from tools.quantize_int8 import quantize

    model = conv_model(tmp_path / "conv12.onnx", width=12)
    data = training_data(tmp_path / "data")
    plain, padded = tmp_path / "plain.int8.onnx", tmp_path / "padded.int8.onnx"
    quantize(model, plain, data, count=6, pad_multiple=0)
    record = quantize(model, padded, data, count=6)  # padding to 16 is the default
    assert record["padded_channels"] == {"multiple": 16, "padded_convolutions": ["conv1", "conv2"]}
    weights = {i.name: list(i.dims) for i in onnx.load(str(padded)).graph.initializer}
    assert [16, 3, 3, 3] in weights.values() and [16, 16, 3, 3] in weights.values()
    x = np.random.default_rng(2).integers(20, 250, (1, 3, 64, 64)).astype(np.float32) / 255 - 0.5
    reference = _run(onnx.load(str(model)), x)
    # the same int8 error as without padding: the zero channels add nothing
    plain_error = np.abs(_run(onnx.load(str(plain)), x) - reference).max()
    padded_error = np.abs(_run(onnx.load(str(padded)), x) - reference).max()
    assert padded_error <= max(2 * plain_error, 0.02)
