# SPDX-License-Identifier: GPL-2.0-or-later
"""The training loop end to end on a generated orthophoto, and the masked loss."""

from __future__ import annotations

import csv
import json

import numpy as np
import onnx
import pytest
import torch

from core.model_metadata import METADATA_KEY
from model.calibrate import MIN_AREAS_M2, THRESHOLDS, calibrate, calibrate_scenes, score_pair
from model.data import Scene
from model.export import export
from model.train import main, masked_loss, parse_args, train
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
                 "--width", "3", "--depth", "2", "--crop", "32", "--batch", "2", "--epochs", "3",
                 "--steps-per-epoch", "2", "--threads", "1", "--no-progress", "--val-tile", "64",
                 "--resume", str(out / "last.pt"), "--out", str(out)]) == 0  # fmt: skip
    assert torch.load(out / "last.pt", weights_only=False)["step"] == 6  # with the run's width, not 3
    # --minutes counts the minutes before the interruption: a spent budget trains no further step
    ckpt = torch.load(out / "last.pt", weights_only=False)
    ckpt["history"][-1]["minutes"] = 10.0
    torch.save(ckpt, out / "spent.pt")
    done = train(parse_args(["--ortho", str(image), str(polygons), "--ortho-holdout", "0.3",
                             "--holdout-gap", "8", "--width", "2", "--depth", "2", "--crop", "32",
                             "--batch", "2", "--epochs", "5", "--steps-per-epoch", "2", "--threads", "1",
                             "--no-progress", "--val-tile", "64", "--minutes", "10.2",
                             "--resume", str(out / "spent.pt"), "--out", str(out)]))  # fmt: skip
    assert done["steps"] == 6 and done["minutes"] >= 10.0


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
    table = torch.load(out / "best.pt", weights_only=False)["calibration"]
    assert set(table) == {f"{t}/{a:g}" for t in THRESHOLDS for a in MIN_AREAS_M2}
    chosen = table[f"{result['threshold']}/{result['min_area_m2']:g}"]
    assert chosen["objective"] == max(s["objective"] for s in table.values())
    assert chosen["objective"] == pytest.approx(0.5 * (chosen["iou"] + chosen["object_f1"]))
    ckpt = torch.load(out / "best.pt", weights_only=False)
    assert (ckpt["threshold"], ckpt["min_area_m2"]) == (result["threshold"], result["min_area_m2"])

    model = onnx.load(str(export(out / "best.pt", tmp_path / "m.onnx")))
    info = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    assert (info["threshold"], info["min_area_m2"]) == (result["threshold"], result["min_area_m2"])
    assert info["metrics"]["iou"] == pytest.approx(chosen["iou"], abs=1e-4)
    assert info["metrics"]["object_f1"] == pytest.approx(chosen["object_f1"], abs=1e-4)


def test_calibration_grid_scores_the_plugins_post_processing() -> None:
    """A 3-pixel speck is dropped at 1 m² (4 px at 0.5 m) and counts as a false object below that."""
    label = np.zeros((20, 20), np.uint8)
    label[2:10, 2:10] = 1
    prob = np.zeros((20, 20), np.float32)
    prob[2:10, 2:10] = 0.9
    prob[15, 15:18] = 0.7
    scene = Scene("s", "src", np.zeros((3, 20, 20), np.float16), label, np.zeros((20, 20), bool))
    keep_all = score_pair([prob], [scene], 0.5, 0)
    assert keep_all["object_precision"] == 0.5 and keep_all["object_recall"] == 1.0
    assert keep_all["iou"] == pytest.approx(64 / 67)
    dropped = score_pair([prob], [scene], 0.5, 4)
    assert dropped["object_precision"] == 1.0 and dropped["iou"] == 1.0
    assert score_pair([prob], [scene], 0.8, 0)["object_precision"] == 1.0  # the speck is under 0.8
    threshold, min_area, _ = calibrate_scenes([prob], [scene], gsd_m=0.5)
    assert threshold <= 0.85 and min_area >= 1.0


def test_score_sources_pool_the_selection_and_the_calibration(tmp_path, capsys) -> None:
    """Two sources; the run is scored (and calibrated) on one, the other is logged per source only."""
    from tests.fixtures import int8_models

    data = int8_models.training_data(tmp_path / "data")
    out = tmp_path / "run"
    base = [
        "--tiles", str(data / "tiles"),
        "--ortho", str(data / "ortho" / "scene_rgb.tif"), str(data / "ortho" / "scene_label.tif"),
        "--width", "2", "--depth", "2", "--crop", "32", "--batch", "2", "--epochs", "1",
        "--steps-per-epoch", "2", "--threads", "1", "--no-progress", "--val-tile", "64",
    ]  # fmt: skip
    assert main([*base, "--score-sources", "ortho", "--out", str(out)]) == 0
    row = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert set(row["per_source"]) == {"tiles", "ortho"}
    assert row["iou"] == row["per_source"]["ortho"]["iou"]  # pooled over 'ortho' alone
    assert row["iou_mean_sources"] == row["per_source"]["ortho"]["iou"]
    result = calibrate(out / "best.pt")
    assert set(result["per_source"]) == {"ortho"}  # the unscored source chose nothing
    # A name that is not a source of the run is refused with the names that are.
    assert main([*base, "--score-sources", "orto", "--out", str(tmp_path / "bad")]) == 2
    assert "orto" in capsys.readouterr().err
