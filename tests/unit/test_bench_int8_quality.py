# SPDX-License-Identifier: GPL-2.0-or-later
"""``python -m bench.int8_quality``: both files scored on model.train's validation split."""

from __future__ import annotations

import json

import pytest

from bench import int8_quality
from tests.fixtures import int8_models, tiny_models


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return int8_models.int8_pair(tmp_path_factory.mktemp("quality"))


def test_scores_both_files_on_the_validation_split(pair, tmp_path, capsys):
    model, _copy = pair
    data = model.parent / "data"
    out = tmp_path / "scores.json"
    code = int8_quality.main(["--model", str(model), "--data", str(data), "--out", str(out)])
    report = json.loads(out.read_text())
    # model.train's split: tile 3 of the 7 and the eastern block of the orthophoto
    assert report["validation_scenes"] == ["tiles/tile_03", "scene_rgb:east"]
    f32, i8 = report["models"]["float32"], report["models"]["int8"]
    assert (f32["precision_ran"], i8["precision_ran"]) == ("float32", "int8")
    assert 0.3 < f32["iou"] <= 1.0 and set(f32["per_source"]) == {"tiles", "ortho"}
    assert report["iou_drop_points"] == pytest.approx(round(100 * (f32["iou"] - i8["iou"]), 2))
    assert report["accepted"] == (report["iou_drop_points"] <= 1.0)
    assert code == (0 if report["accepted"] else 1)
    assert report["same_class_share"] > 0.99
    printed = capsys.readouterr().out
    assert "int8 IoU drop" in printed and ("ACCEPTED" in printed or "REJECTED" in printed)


def test_a_copy_that_loses_the_landslides_is_rejected(pair, tmp_path):
    model, _copy = pair
    worse = tiny_models.constant_model(tmp_path / "worse.onnx", value=0.1)  # finds nothing
    code = int8_quality.main(
        ["--model", str(model), "--int8", str(worse), "--data", str(model.parent / "data")]
    )
    assert code == 1
    report = int8_quality.evaluate(model, worse, model.parent / "data")
    assert report["models"]["int8"]["iou"] == 0.0 and not report["accepted"]
    assert report["iou_drop_points"] == pytest.approx(100 * report["models"]["float32"]["iou"], abs=0.01)


def test_missing_copy_says_how_to_make_it(tmp_path):
    model = int8_models.conv_model(tmp_path / "m.onnx")
    with pytest.raises(SystemExit, match=r"quantize_int8\.py"):
        int8_quality.main(["--model", str(model), "--data", str(tmp_path)])
