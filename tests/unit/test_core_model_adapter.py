# SPDX-License-Identifier: GPL-2.0-or-later
"""core.model_adapter: one sigmoid channel or K softmax classes, probabilities or logits, the class
chosen by name or number; and softmax models end to end through the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr

from core.engine import DetectionOptions, run_detection
from core.errors import DetectionError
from core.model_adapter import model_adapter
from core.model_info import load_model_info
from core.model_metadata import ModelInfo, parse_metadata
from tests.fixtures import rasters, tiny_models

RNG = np.random.default_rng(5)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_one_channel_probability_is_a_view() -> None:
    adapter = model_adapter(ModelInfo(), [None, 1, None, None])
    out = RNG.random((2, 1, 8, 8), dtype=np.float32)
    prob = adapter.probability(out)
    assert prob.shape == (2, 8, 8) and np.shares_memory(prob, out)  # no copy on the hot path
    assert (
        adapter.class_name == "landslide" and model_adapter(ModelInfo(), ["N", 1, 8, 8], "m", "1").index == 0
    )
    with pytest.raises(DetectionError, match="maps one class, 'landslide'"):
        model_adapter(ModelInfo(), ["N", 1, 8, 8], "m.onnx", "road")
    with pytest.raises(DetectionError, match="gave 2 output channels"):
        adapter.probability(np.zeros((1, 2, 4, 4), np.float32))


def test_softmax_classes_by_name_or_number() -> None:
    info = ModelInfo(class_names=["background", "landslide"])
    out = _softmax(RNG.normal(size=(2, 2, 8, 8))).astype(np.float32)
    default = model_adapter(info, ["N", 2, "H", "W"])
    assert (default.index, default.class_name) == (1, "landslide")
    np.testing.assert_array_equal(default.probability(out), out[:, 1])
    assert np.shares_memory(default.probability(out), out)
    assert model_adapter(info, ["N", 2, "H", "W"], requested="0").class_name == "background"
    assert model_adapter(info, ["N", 2, "H", "W"], requested="Landslide").index == 1
    with pytest.raises(DetectionError, match=r"no class 'rock'.*0 = background, 1 = landslide"):
        model_adapter(info, ["N", 2, "H", "W"], "m.onnx", "rock")
    with pytest.raises(DetectionError, match="no class '2'"):
        model_adapter(info, ["N", 2, "H", "W"], "m.onnx", "2")

    three = ModelInfo(class_names=["background", "scar", "road"])
    with pytest.raises(DetectionError, match=r"3 classes .* none is called 'landslide'"):
        model_adapter(three, ["N", 3, "H", "W"])
    assert model_adapter(three, ["N", 3, "H", "W"], requested="scar").index == 1
    # Names that do not match the channels: numbered.
    assert model_adapter(ModelInfo(class_names=["a"]), ["N", 2, 4, 4], requested="1").class_name == "class 1"


def test_logits_get_their_sigmoid_or_softmax() -> None:
    logits = RNG.normal(size=(2, 3, 8, 8)).astype(np.float32)
    info = ModelInfo(class_names=["background", "landslide", "road"], output="logits")
    adapter = model_adapter(info, ["N", 3, "H", "W"])
    assert adapter.activation == "softmax" and "softmax" in adapter.describe()
    np.testing.assert_allclose(adapter.probability(logits), _softmax(logits)[:, 1], rtol=1e-5)
    one = model_adapter(ModelInfo(output="logits"), ["N", 1, "H", "W"])
    np.testing.assert_allclose(one.probability(logits[:, :1]), 1 / (1 + np.exp(-logits[:, 0])), rtol=1e-5)
    with pytest.raises(DetectionError, match="output is 'scores'"):
        model_adapter(ModelInfo(output="scores"), ["N", 1, "H", "W"])


def test_deepness_metadata_names_the_classes(tmp_path: Path) -> None:
    props = tiny_models.deepness_props(("background", "landslide"))
    info = parse_metadata(props)
    assert info.network == "foreign" and info.class_names == ["background", "landslide"]
    assert (info.tile_size, info.overlap, info.gsd_m, info.threshold) == (64, 16, 0.5, 0.5)
    model = tiny_models.softmax_model(tmp_path / "deepness.onnx")
    assert load_model_info(str(model)).class_names == ["background", "landslide"]


def _polygons(path: Path) -> list[float]:
    ds = ogr.Open(str(path))
    return sorted(f.GetField("area_m2") for f in ds.GetLayer(0))


def test_a_deepness_style_softmax_model_detects_like_the_sigmoid_one(tmp_path: Path) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    softmax = tiny_models.softmax_model(tmp_path / "softmax.onnx")
    messages: list[str] = []
    options = DetectionOptions(class_name="landslide")
    result = run_detection(
        str(raster), str(softmax), str(tmp_path / "l.gpkg"), None, options, log=messages.append
    )
    # 15 x 15 and 20 x 30 pixels of 0.25 m²: the bright squares, as the one-channel model finds them.
    assert result.polygon_count == 2 and _polygons(tmp_path / "l.gpkg") == [56.25, 150.0]
    assert any("class 'landslide' (output channel 1 of 2)" in m for m in messages)

    # The other class: the dark ground around them (one polygon with two holes).
    background = run_detection(
        str(raster), str(softmax), str(tmp_path / "b.gpkg"), None, DetectionOptions(class_name="0")
    )
    assert background.polygon_count == 1
    assert background.total_area_m2 == pytest.approx(100 * 120 * 0.25 - 206.25)

    # The same model stopping at its logits (its metadata says so) gives the same probabilities.
    names = ["background", "landslide"]
    probabilities = tiny_models.softmax_model(
        tmp_path / "probabilities.onnx", info=tiny_models.default_info(class_names=names)
    )
    logits = tiny_models.softmax_model(
        tmp_path / "logits.onnx",
        logits=True,
        info=tiny_models.default_info(class_names=names, output="logits"),
    )
    run_detection(str(raster), str(probabilities), None, str(tmp_path / "p1.tif"))
    run_detection(str(raster), str(logits), None, str(tmp_path / "p2.tif"))
    first, second = (gdal.Open(str(tmp_path / p)).ReadAsArray() for p in ("p1.tif", "p2.tif"))
    assert first.max() > 0.9 and first.min() < 0.1
    np.testing.assert_allclose(first, second, atol=1e-5)

    with pytest.raises(DetectionError, match="no class 'rock'"):
        run_detection(
            str(raster), str(softmax), str(tmp_path / "x.gpkg"), None, DetectionOptions(class_name="rock")
        )
    assert not (tmp_path / "x.gpkg").exists()
