# SPDX-License-Identifier: GPL-2.0-or-later
"""DA-U-Net variants, the attention gate, and the ONNX export against torch (real onnxruntime)."""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from core.model_metadata import METADATA_KEY, parse_metadata
from model.export import ExportError, export, load_checkpoint, weights_to_fp16
from model.network import ASPP, VARIANTS, AttentionGate, build_model, count_parameters

torch.set_num_threads(1)
DEEPNESS_KEYS = {
    "model_type",
    "class_names",
    "resolution",
    "tile_size",
    "tiles_overlap",
    "seg_thresh",
    "standardization_mean",
    "standardization_std",
}


def _randomise_bn(net: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics, so eval-mode export is checked against real arithmetic."""
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


def _session(path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_builds_with_its_modules_and_output_shape(variant: str) -> None:
    dilated, attention = VARIANTS[variant]
    net = build_model(variant, in_channels=4, width=2, depth=2).eval()
    assert net.variant == variant
    assert net.size_divisor == 4
    assert any(isinstance(m, ASPP) for m in net.modules()) == dilated
    assert any(isinstance(m, AttentionGate) for m in net.modules()) == attention
    dilations = {m.dilation[0] for m in net.encoders.modules() if isinstance(m, torch.nn.Conv2d)}
    assert dilations == ({1, 2} if dilated else {1})
    with torch.no_grad():
        out = net(torch.zeros(2, 4, 12, 20))
    assert out.shape == (2, 1, 12, 20)


def test_attention_gate_computes_a_plus_alpha_a() -> None:
    torch.manual_seed(0)
    gate = AttentionGate(c_skip=3, c_coarse=5, c_inter=2)
    a = torch.randn(1, 3, 8, 12)
    b = torch.randn(1, 5, 4, 6)
    # alpha by hand: 1x1 convs are per-pixel matrix products; B is resized bilinearly to A's size.
    theta = torch.einsum("oc,nchw->nohw", gate.theta.weight[:, :, 0, 0], a) + gate.theta.bias[:, None, None]
    phi = torch.einsum("oc,nchw->nohw", gate.phi.weight[:, :, 0, 0], b) + gate.phi.bias[:, None, None]
    phi = torch.nn.functional.interpolate(phi, size=(8, 12), mode="bilinear", align_corners=False)
    c = torch.einsum("oc,nchw->nohw", gate.psi.weight[:, :, 0, 0], torch.relu(theta + phi))
    alpha = torch.sigmoid(c + gate.psi.bias[:, None, None])
    with torch.no_grad():
        assert torch.allclose(gate.alpha(a, b), alpha, atol=1e-6)
        assert torch.allclose(gate(a, b), a + alpha * a, atol=1e-6)
    assert alpha.shape == (1, 1, 8, 12)
    assert float(alpha.min()) > 0.0 and float(alpha.max()) < 1.0


def test_build_model_rejects_unknown_variant() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        build_model("SegNet")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny trained-looking DA-U-Net checkpoint and its ONNX export (done once: export takes seconds)."""
    tmp = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    net = build_model("DA-U-Net", in_channels=3, width=4, depth=3)
    _randomise_bn(net)
    net.eval()
    meta = {
        "variant": "DA-U-Net",
        "width": 4,
        "depth": 3,
        "bands": 3,
        "value_min": [0.0, 0.0, 0.0],
        "value_max": [255.0, 255.0, 255.0],
        "gsd_m": 0.5,
        "sources": [
            {"name": "sichuan", "licence": "CC BY 4.0"},
            {"name": "hokkaido", "licence": "CC BY-NC 4.0"},
            {"name": "amu", "licence": "not stated"},
        ],
    }
    ckpt = tmp / "best.pt"
    metrics = {"iou": 0.5, "precision": 0.6, "recall": 0.7, "f1": 0.65}
    torch.save({"model": net.state_dict(), "meta": meta, "metrics": metrics}, ckpt)
    path = export(ckpt, tmp / "tiny.onnx")
    return net, ckpt, path


def test_export_matches_torch_on_a_non_square_multiple_of_the_divisor(exported) -> None:
    net, _, path = exported
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 3, 48, 80)).astype(np.float32)
    (got,) = _session(path).run(None, {"input": x})
    with torch.no_grad():
        want = torch.sigmoid(net(torch.from_numpy(x))).numpy()
    diff = float(np.abs(got - want).max())
    print(f"onnxruntime vs torch, 2x3x48x80: max abs difference {diff:.2e}")
    assert got.shape == (2, 1, 48, 80) and got.dtype == np.float32
    assert diff < 1e-4
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_export_handles_sizes_that_are_not_multiples_of_the_divisor(exported) -> None:
    # The core pads to multiples of size_divisor; the graph itself still returns an H x W map for any
    # size (skip features are resized to the encoder size), so a caller that forgets padding gets
    # the right shape, not a crash. The contract remains: pad to multiples for exact tiling.
    net, _, path = exported
    x = np.random.default_rng(2).uniform(-0.5, 0.5, (1, 3, 41, 67)).astype(np.float32)
    (got,) = _session(path).run(None, {"input": x})
    with torch.no_grad():
        want = torch.sigmoid(net(torch.from_numpy(x))).numpy()
    print(f"onnxruntime vs torch, 1x3x41x67: max abs difference {np.abs(got - want).max():.2e}")
    assert got.shape == (1, 1, 41, 67)
    assert np.abs(got - want).max() < 1e-4


def test_export_metadata_is_complete_and_parses(exported) -> None:
    net, _, path = exported
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    assert DEEPNESS_KEYS | {METADATA_KEY} <= set(props)
    info = parse_metadata(props)
    assert (info.network, info.variant, info.width) == ("DA-U-Net", "DA-U-Net", 4)
    assert info.size_divisor == 2**3 == net.size_divisor
    assert info.bands == [1, 2, 3] and info.value_max == [255.0] * 3 and info.nodata_fill == -0.5
    assert info.tile_size == 512 and info.gsd_m == 0.5 and info.version
    assert info.metrics == {"iou": 0.5, "precision": 0.6, "recall": 0.7, "f1": 0.65}
    assert {d["name"]: d["licence"] for d in info.training_data}["hokkaido"] == "CC BY-NC 4.0"
    assert "non-commercial" in info.weights_licence and "sichuan" in info.weights_licence
    assert json.loads(props["resolution"]) == 50.0
    assert json.loads(props["class_names"]) == {"0": "background", "1": "landslide"}
    shape = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert shape[1] == 3 and all(isinstance(d, str) for d in (shape[0], shape[2], shape[3]))


def test_fp16_weights_keep_float32_io(exported, tmp_path) -> None:
    net, _, path = exported
    model = copy.deepcopy(onnx.load(str(path)))
    weights_to_fp16(model)
    onnx.checker.check_model(model)
    out = tmp_path / "half.onnx"
    onnx.save(model, str(out))

    def weight_bytes(m: onnx.ModelProto) -> int:
        return sum(len(t.raw_data) or 4 * int(np.prod(t.dims)) for t in m.graph.initializer)

    assert weight_bytes(model) < 0.6 * weight_bytes(onnx.load(str(path)))
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (1, 3, 32, 48)).astype(np.float32)
    session = _session(out)
    assert (
        session.get_inputs()[0].type == "tensor(float)" and session.get_outputs()[0].type == "tensor(float)"
    )
    (got,) = session.run(None, {"input": x})
    with torch.no_grad():
        want = torch.sigmoid(net(torch.from_numpy(x))).numpy()
    print(f"fp16 weights vs torch float32: max abs difference {np.abs(got - want).max():.2e}")
    assert np.abs(got - want).max() < 5e-3


def test_fixed_tile_export_is_static_for_deepness(exported, tmp_path) -> None:
    net, ckpt, _ = exported
    path = export(ckpt, tmp_path / "fixed.onnx", fixed_tile=64)
    model = onnx.load(str(path))
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3, 64, 64] and isinstance(dims[0], str)
    assert parse_metadata({p.key: p.value for p in model.metadata_props}).tile_size == 64
    x = np.random.default_rng(4).uniform(-0.5, 0.5, (2, 3, 64, 64)).astype(np.float32)
    (got,) = _session(path).run(None, {"input": x})
    with torch.no_grad():
        assert np.abs(got - torch.sigmoid(net(torch.from_numpy(x))).numpy()).max() < 1e-4


def test_export_rejects_a_fixed_tile_that_is_not_a_multiple(exported, tmp_path) -> None:
    _, ckpt, _ = exported
    with pytest.raises(ExportError, match="multiple of the size divisor 8"):
        export(ckpt, tmp_path / "bad.onnx", fixed_tile=500)
    assert not (tmp_path / "bad.onnx").exists()


def test_export_rejects_a_file_that_is_not_a_checkpoint(tmp_path) -> None:
    bogus = tmp_path / "x.pt"
    torch.save({"weights": 1}, bogus)
    with pytest.raises(ExportError, match=r"not a model\.train checkpoint"):
        load_checkpoint(bogus)
    with pytest.raises(ExportError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_parameter_count_grows_with_width() -> None:
    assert count_parameters(build_model("U-Net", width=4, depth=2)) < count_parameters(
        build_model("U-Net", width=8, depth=2)
    )


def test_verify_reports_edge_and_block_scores(exported, tmp_path, capsys) -> None:
    from model.verify import main as verify_main
    from model.verify import near_no_imagery
    from tests.unit.test_model_data import NO_IMAGERY_COLS, _write_orthophoto, _write_polygons

    no_imagery = np.zeros((6, 8), bool)
    no_imagery[:, :2] = True
    band = near_no_imagery(no_imagery, 2)
    assert band[:, 2:4].all() and not band[:, 4:].any() and not band[:, :2].any()

    _, _, path = exported
    image, polygons = tmp_path / "ortho.tif", tmp_path / "inventory.gpkg"
    _write_orthophoto(image)
    _write_polygons(polygons)
    assert verify_main([str(path), str(image), str(polygons), "--east", "1.0", "--border", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["edge_pixels"] == 4 * 96  # 4 valid columns next to the no-imagery strip, 96 rows
    assert NO_IMAGERY_COLS > 0 and 0.0 <= result["block_scores"]["iou"] <= 1.0
