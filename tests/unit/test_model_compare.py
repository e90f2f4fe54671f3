# SPDX-License-Identifier: GPL-2.0-or-later
"""``python -m model.compare``: models side by side on one split, each at its own threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model import compare
from tests.fixtures import int8_models, rasters, tiny_models


@pytest.fixture()
def data(tmp_path):
    int8_models.training_data(tmp_path / "first")  # tiles/ (every 6th) + ortho/ (east 35 %)
    negatives = tmp_path / "second" / "negatives"
    for kind in ("images", "masks"):
        (negatives / kind).mkdir(parents=True)
    for i in range(2):
        image = np.full((3, 32, 32), 40 + 10 * i, np.uint8)
        image[:, :8, :8] = 240  # bright but no landslide: a false positive of the brightness model
        rasters.write_raster(negatives / "images" / f"n{i}.tif", image, epsg=None)
        rasters.write_raster(negatives / "masks" / f"n{i}.tif", np.zeros((32, 32), np.uint8), epsg=None)
    (negatives / "split.json").write_text(json.dumps({"training": [], "validation": ["n0", "n1"]}))
    return tmp_path / "first", tmp_path / "second"


def test_models_are_scored_per_source_and_on_the_compared_split(data, tmp_path, capsys):
    first, second = data
    bright = tiny_models.brightness_model(tmp_path / "bright.onnx")
    nothing = tiny_models.constant_model(tmp_path / "nothing.onnx", value=0.1)
    out = tmp_path / "scores.json"
    assert (
        compare.main(
            [str(bright), str(nothing), "--data", str(first), "--data", str(second), "--out", str(out)]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["compared_sources"] == ["ortho", "tiles"]  # the first --data folder's sources
    assert report["validation_scenes"] == 4  # tile_03, the orthophoto's east, both negatives
    b, n = report["models"][str(bright)], report["models"][str(nothing)]
    assert b["compared_split"]["iou"] > 0.5 and n["compared_split"]["iou"] == 0.0
    # The negatives count in the pooled score over everything, not in the compared split.
    negatives = b["per_source"]["negatives"]
    assert negatives["landslide_pixels"] == 0 and negatives["fp_rate"] == pytest.approx(2 * 64 / (2 * 1024))
    assert b["all"]["precision"] < b["compared_split"]["precision"]
    printed = capsys.readouterr().out
    assert "fp" in printed and "bright.onnx" in printed


def test_a_folder_without_data_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no tile folders"):
        compare.main([str(tmp_path / "x.onnx"), "--data", str(tmp_path / "empty")])
