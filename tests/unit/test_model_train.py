# SPDX-License-Identifier: GPL-2.0-or-later
"""The training loop end to end on a generated orthophoto, and the masked loss."""

from __future__ import annotations

import csv
import json

import onnx
import pytest
import torch

from core.model_metadata import METADATA_KEY
from model.calibrate import SELECT_BY, THRESHOLDS, calibrate
from model.export import export
from model.train import main, masked_loss
from tests.unit.test_model_data import _write_orthophoto, _write_polygons

torch.set_num_threads(1)


def test_masked_loss_ignores_ignored_pixels() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 8, 8)
    target = (torch.rand(2, 1, 8, 8) > 0.5).float()
    ignore = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    ignore[:, :, :, :3] = True
    changed = logits.clone()
    changed[ignore] = 50.0  # wild logits where the loss must not look
    for kind in ("bce", "bce+dice"):
        assert masked_loss(logits, target, ignore, kind) == pytest.approx(
            float(masked_loss(changed, target, ignore, kind)), abs=1e-6
        )
    assert masked_loss(logits, target, ~ignore, "bce") != pytest.approx(
        float(masked_loss(changed, target, ~ignore, "bce"))
    )


def test_training_run_writes_checkpoints_and_logs(tmp_path) -> None:
    image, polygons = tmp_path / "ortho.tif", tmp_path / "inventory.gpkg"
    _write_orthophoto(image)
    _write_polygons(polygons)
    out = tmp_path / "run"
    rc = main(
        [
            "--ortho", str(image), str(polygons), "--ortho-holdout", "0.3", "--holdout-gap", "8",
            "--width", "2", "--depth", "2", "--crop", "32", "--batch", "2",
            "--epochs", "2", "--steps-per-epoch", "2", "--threads", "1", "--no-progress",
            "--val-tile", "64", "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert all(0.0 <= r["iou"] <= 1.0 and list(r["per_source"]) == [tmp_path.name] for r in rows)
    assert all(r["iou_mean_sources"] == r["per_source"][tmp_path.name]["iou"] for r in rows)
    with open(out / "log.csv", newline="") as f:
        assert {"epoch", "iou", "precision", "recall", "f1"} <= set(next(csv.DictReader(f)))
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["step"] == 4 and ckpt["meta"]["variant"] == "DA-U-Net"
    # resume continues counting from the checkpoint
    assert main(["--ortho", str(image), str(polygons), "--ortho-holdout", "0.3", "--holdout-gap", "8",
                 "--width", "2", "--depth", "2", "--crop", "32", "--batch", "2", "--epochs", "3",
                 "--steps-per-epoch", "2", "--threads", "1", "--no-progress", "--val-tile", "64",
                 "--resume", str(out / "last.pt"), "--out", str(out)]) == 0  # fmt: skip
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 6


def test_missing_data_is_a_clear_error(tmp_path, capsys) -> None:
    rc = main(["--tiles", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), "--no-progress"])
    assert rc == 2
    assert "images/ and masks/" in capsys.readouterr().err


def test_calibration_stores_the_best_threshold_and_export_uses_it(tmp_path) -> None:

    image, polygons = tmp_path / "ortho.tif", tmp_path / "inventory.gpkg"
    _write_orthophoto(image)
    _write_polygons(polygons)
    out = tmp_path / "run"
    assert main(["--ortho", str(image), str(polygons), "--ortho-holdout", "0.3", "--holdout-gap", "8",
                 "--width", "2", "--depth", "2", "--crop", "32", "--batch", "2", "--epochs", "1",
                 "--steps-per-epoch", "2", "--threads", "1", "--no-progress", "--val-tile", "64",
                 "--out", str(out)]) == 0  # fmt: skip

    result = calibrate(out / "best.pt", threads=1)
    scores = result["scores"]
    assert set(scores) == {str(t) for t in THRESHOLDS}
    assert scores[str(result["threshold"])][SELECT_BY] == max(s[SELECT_BY] for s in scores.values())
    ckpt = torch.load(out / "best.pt", weights_only=False)
    assert ckpt["threshold"] == result["threshold"]

    model = onnx.load(str(export(out / "best.pt", tmp_path / "m.onnx")))
    info = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    assert info["threshold"] == result["threshold"]
    assert info["metrics"]["iou"] == pytest.approx(scores[str(result["threshold"])]["iou"], abs=1e-4)
