# SPDX-License-Identifier: GPL-2.0-or-later
"""Fine-tuning tools: epoch snapshots, their weight average (model.average), frozen BatchNorm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.average import AverageError, average, average_states
from model.average import main as average_main
from model.export import export
from model.train import main as train_main
from tests.unit.test_model_init import COMMON, _data

torch.set_num_threads(1)


def _run(tmp_path: Path, out: str, width: str = "2", epochs: str = "3") -> Path:
    args = [*_data(tmp_path), *COMMON, "--width", width, "--depth", "2", "--epochs", epochs]
    assert train_main([*args, "--steps-per-epoch", "2", "--snapshots", "--out", str(tmp_path / out)]) == 0
    return tmp_path / out / "snapshots"


def test_each_epoch_keeps_its_trained_weights(tmp_path) -> None:
    snapshots = _run(tmp_path, "run")
    assert sorted(p.name for p in snapshots.iterdir()) == ["epoch_001.pt", "epoch_002.pt", "epoch_003.pt"]
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    third = torch.load(snapshots / "epoch_003.pt", weights_only=False)
    assert third["step"] == 6 and third["training"]["steps"] == 6
    assert all(torch.equal(third["model"][k], last["train_model"][k]) for k in third["model"])
    assert 0.0 <= third["metrics"]["iou"] <= 1.0


def test_the_average_is_the_mean_of_the_weights_with_fresh_batchnorm_statistics(tmp_path) -> None:
    snapshots = sorted(_run(tmp_path, "run").iterdir())
    out = tmp_path / "swa.pt"
    scores = average(snapshots, out, bn_batches=2)
    assert 0.0 <= scores["iou"] <= 1.0
    states = [torch.load(p, weights_only=False)["model"] for p in snapshots]
    ckpt = torch.load(out, weights_only=False)
    conv = next(k for k in ckpt["model"] if k.endswith("conv.weight") or k.endswith(".weight"))
    assert torch.allclose(ckpt["model"][conv], torch.stack([s[conv] for s in states]).mean(0), atol=1e-7)
    # BatchNorm statistics are measured again for the averaged weights, not averaged.
    running = next(k for k in ckpt["model"] if k.endswith("running_mean"))
    assert not torch.allclose(ckpt["model"][running], torch.stack([s[running] for s in states]).mean(0))
    assert [a["epoch"] for a in ckpt["meta"]["averaged_from"]] == [1, 2, 3]
    assert ckpt["training"]["steps"] == 6 and ckpt["metrics"]["iou"] == scores["iou"]
    export(out, tmp_path / "swa.onnx")  # the average exports like any checkpoint
    assert (tmp_path / "swa.onnx").stat().st_size > 0


def test_averaging_refuses_different_networks(tmp_path, capsys) -> None:
    narrow = sorted(_run(tmp_path, "narrow", epochs="1").iterdir())
    wide = sorted(_run(tmp_path, "wide", width="3", epochs="1").iterdir())
    assert average_main([str(narrow[0]), str(wide[0]), "--out", str(tmp_path / "x.pt")]) == 2
    assert "is a different network" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    # One checkpoint: the same weights, BatchNorm statistics measured again.
    assert average_main([str(narrow[0]), "--out", str(tmp_path / "one.pt"), "--bn-batches", "2"]) == 0
    one, src = (torch.load(p, weights_only=False)["model"] for p in (tmp_path / "one.pt", narrow[0]))
    assert all(torch.equal(one[k], src[k]) for k in one if "running" not in k and "num_batches" not in k)
    with pytest.raises(AverageError, match="different layers"):
        average_states([{"a": torch.zeros(1)}, {"b": torch.zeros(1)}])


def test_frozen_batchnorm_keeps_its_statistics_while_the_weights_learn(tmp_path) -> None:
    first = _run(tmp_path, "first", epochs="1")
    start = torch.load(first / "epoch_001.pt", weights_only=False)["model"]
    args = [*_data(tmp_path), *COMMON, "--epochs", "1", "--steps-per-epoch", "3", "--lr", "1e-2"]
    out = tmp_path / "frozen"
    init = str(first / "epoch_001.pt")
    assert train_main([*args, "--init", init, "--freeze-bn", "--snapshots", "--out", str(out)]) == 0
    after = torch.load(out / "snapshots" / "epoch_001.pt", weights_only=False)["model"]
    running = [k for k in start if "running_" in k]
    learnt = [k for k in start if k.endswith(".weight")]
    assert running and all(torch.equal(after[k], start[k]) for k in running)
    assert any(not torch.equal(after[k], start[k]) for k in learnt)
    # Without --freeze-bn the same run moves the statistics.
    moved = tmp_path / "moved"
    assert train_main([*args, "--init", init, "--snapshots", "--out", str(moved)]) == 0
    free = torch.load(moved / "snapshots" / "epoch_001.pt", weights_only=False)["model"]
    assert any(not torch.equal(free[k], start[k]) for k in running)
