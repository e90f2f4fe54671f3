# SPDX-License-Identifier: GPL-2.0-or-later
"""Continued training: a network restored from an exported .onnx or a weights file, packed data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from core.model_metadata import METADATA_KEY
from model.data import CropSampler
from model.export import export, export_weights
from model.init_weights import InitError, calibrate_batchnorm, load_initial, net_from_onnx, with_more_inputs
from model.network import VARIANTS
from model.packed import load_packed, pack
from model.sources import load_split
from model.train import main
from tests.fixtures.tiny_daunet import tiny_checkpoint
from tests.unit.test_model_data import _write_orthophoto, _write_polygons

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def _tiny_checkpoint(path: Path, variant: str = "DA-U-Net") -> torch.nn.Module:
    return tiny_checkpoint(path, variant)


def _onnx_output(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def _torch_output(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(net.eval()(torch.from_numpy(x))).numpy()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_network_restored_from_onnx_reproduces_its_output(tmp_path, variant) -> None:
    _tiny_checkpoint(tmp_path / "best.pt", variant)
    path = export(tmp_path / "best.pt", tmp_path / "m.onnx")
    net, info = net_from_onnx(path)
    assert (net.variant, net.width, net.depth, info["width"]) == (variant, 4, 3, 4)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 3, 40, 56)).astype(np.float32)
    want = _onnx_output(path, x)
    assert np.abs(_torch_output(net, x) - want).max() < 1e-5
    # Real BatchNorm statistics re-express the same function (eval output unchanged) ...
    batch = np.random.default_rng(1).uniform(-0.5, 0.5, (4, 3, 32, 32)).astype(np.float32)
    calibrate_batchnorm(net, [torch.from_numpy(batch)])
    assert np.abs(_torch_output(net, x) - want).max() < 1e-5
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert float(bn.running_var.min()) != pytest.approx(1.0 - bn.eps)  # ... with statistics not unit


def test_batchnorm_calibration_makes_train_mode_match_eval_on_the_same_batch(tmp_path) -> None:
    _tiny_checkpoint(tmp_path / "best.pt")
    net, _ = net_from_onnx(export(tmp_path / "best.pt", tmp_path / "m.onnx"))
    x = torch.from_numpy(np.random.default_rng(2).uniform(-0.5, 0.5, (4, 3, 32, 32)).astype(np.float32))
    with torch.no_grad():
        folded_train = net.train()(x)
        want = net.eval()(x)
    assert float((folded_train - want).abs().max()) > 1e-2  # unit statistics: training would start elsewhere
    calibrate_batchnorm(net, [x])
    with torch.no_grad():
        got = net.train()(x)
    # Only the first layer's statistics are exact in train mode; deeper layers see the same pixels.
    assert float((got - want).abs().max()) < 1e-3


def test_weights_file_restores_exactly_and_carries_the_training_record(tmp_path) -> None:
    original = _tiny_checkpoint(tmp_path / "best.pt")
    slim = export_weights(tmp_path / "best.pt", tmp_path / "w.pt")
    net, init = load_initial(slim)
    assert init["training"] == {"steps": 7} and not init["folded"]
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (1, 3, 24, 24)).astype(np.float32)
    assert np.array_equal(_torch_output(net, x), _torch_output(original, x))
    assert "optimizer" not in torch.load(slim, weights_only=False)


def test_an_rgb_model_starts_an_rgb_and_dsm_one_exactly(tmp_path) -> None:
    """Extra input channels get zero weights: whatever the elevation channels hold, the wider
    network's output is the RGB network's, and training can then learn to use them."""
    _tiny_checkpoint(tmp_path / "best.pt")
    net, _ = load_initial(export(tmp_path / "best.pt", tmp_path / "m.onnx"))
    wider = with_more_inputs(net, 5).eval()
    assert wider.in_channels == 5
    x = torch.rand(1, 3, 32, 32) - 0.5
    terrain = torch.rand(1, 2, 32, 32) * 10
    with torch.no_grad():
        assert torch.allclose(wider(torch.cat([x, terrain], 1)), net.eval()(x), atol=1e-6)
    with pytest.raises(InitError, match="cannot be narrowed"):
        with_more_inputs(net, 2)


def test_init_rejects_foreign_and_missing_models(tmp_path) -> None:
    with pytest.raises(InitError, match="not found"):
        load_initial(tmp_path / "nothing.onnx")
    _tiny_checkpoint(tmp_path / "best.pt")
    model = onnx.load(str(export(tmp_path / "best.pt", tmp_path / "m.onnx")))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "foreign.onnx"))
    with pytest.raises(InitError, match=METADATA_KEY):
        load_initial(tmp_path / "foreign.onnx")


def _data(tmp_path: Path) -> list[str]:
    image, polygons = tmp_path / "ortho.tif", tmp_path / "inventory.gpkg"
    _write_orthophoto(image)
    _write_polygons(polygons)
    return ["--ortho", str(image), str(polygons), "--ortho-holdout", "0.3", "--holdout-gap", "8"]


COMMON = ["--crop", "32", "--batch", "2", "--threads", "1", "--no-progress", "--val-tile", "64"]


def test_training_continues_from_an_exported_model(tmp_path, capsys) -> None:
    _tiny_checkpoint(tmp_path / "best.pt")
    onnx_path = export(tmp_path / "best.pt", tmp_path / "m.onnx")
    out = tmp_path / "run"
    args = [*_data(tmp_path), *COMMON, "--epochs", "1", "--steps-per-epoch", "3", "--workers", "1"]
    # The network is the model's: --width is overridden, not a conflict.
    assert main([*args, "--init", str(onnx_path), "--width", "9", "--out", str(out)]) == 0
    assert "BatchNorm statistics re-estimated" in capsys.readouterr().out
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["meta"]["width"] == 4 and ckpt["meta"]["args"]["init"] == str(onnx_path)
    assert ckpt["training"]["steps"] == 7 + 3  # the .onnx carries its weights' training record
    # A weights file carries its record: steps add up across continued runs.
    export_weights(out / "last.pt", tmp_path / "w.pt")
    assert main([*args, "--init", str(tmp_path / "w.pt"), "--out", str(tmp_path / "run2")]) == 0
    assert torch.load(tmp_path / "run2" / "last.pt", weights_only=False)["training"]["steps"] == 7 + 6
    model = onnx.load(str(export(tmp_path / "run2" / "last.pt", tmp_path / "n.onnx")))
    info = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    assert info["training"]["steps"] == 13 and info["training"]["crops"] == 12  # 6 steps of 2 crops here


def test_init_and_resume_together_are_refused(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main([*_data(tmp_path), "--init", "a.onnx", "--resume", "b.pt", "--out", str(tmp_path / "r")])
    assert "give one of them" in capsys.readouterr().err


def test_packed_data_round_trips_exactly(tmp_path) -> None:
    args = _data(tmp_path)
    split = load_split([], [(args[1], args[2])], [], 6, 0.3, 8)
    path = pack(split.train, split.val, split.sources, tmp_path / "data.npz")
    train, val, sources = load_packed(path)
    assert sources == split.sources
    for a, b in zip(split.train + split.val, train + val):
        assert (a.name, a.source, a.gsd_m) == (b.name, b.source, b.gsd_m)
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(a.label, b.label) and np.array_equal(a.ignore, b.ignore)
    CropSampler(train, 32, 0).batch(2)


def test_gpu_script_trains_calibrates_and_exports_on_the_cpu(tmp_path) -> None:
    args = _data(tmp_path)
    split = load_split([], [(args[1], args[2])], [], 6, 0.3, 8)
    packed = pack(split.train, split.val, split.sources, tmp_path / "data.npz")
    _tiny_checkpoint(tmp_path / "best.pt")
    init = export(tmp_path / "best.pt", tmp_path / "m.onnx")
    env = {
        **os.environ,
        "DEVICE": "cpu",
        "OUT": str(tmp_path / "out"),
        "PY": sys.executable,
        "CROP": "32",
        "BATCH": "2",
        "STEPS": "2",
        "WORKERS": "0",
        "EXTRA": "--epochs 1 --threads 1 --val-tile 64",
    }
    subprocess.run(["bash", str(ROOT / "model" / "gpu_train.sh"), str(packed), str(init), "5"], env=env,
                   check=True, cwd=ROOT, capture_output=True)  # fmt: skip
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "best.onnx",
        "best_weights.pt",
        "log.csv",
        "summary.json",
    ]
    net, init_info = load_initial(out / "best_weights.pt")
    assert init_info["training"]["steps"] == 7 + 2
    x = np.random.default_rng(4).uniform(-0.5, 0.5, (1, 3, 32, 32)).astype(np.float32)
    assert np.abs(_torch_output(net, x) - _onnx_output(out / "best.onnx", x)).max() < 1e-5


def test_ema_weights_are_validated_beside_the_trained_ones(tmp_path) -> None:
    out = tmp_path / "run"
    args = [
        *_data(tmp_path),
        *COMMON,
        "--width",
        "2",
        "--depth",
        "2",
        "--epochs",
        "2",
        "--steps-per-epoch",
        "2",
    ]
    assert main([*args, "--ema", "0.9", "--select", "iou_best", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    for row in rows:
        assert row["weights"] in ("raw", "ema")
        assert row["iou_best"] == max(row["iou_best_raw"], row["iou_best_ema"])
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert {"model", "train_model", "ema_model"} <= set(ckpt)
    # The exported weights are the ones that scored: "model" is the EMA copy when it won.
    if rows[-1]["weights"] == "raw":
        assert all(torch.equal(ckpt["model"][k], ckpt["train_model"][k]) for k in ckpt["model"])
