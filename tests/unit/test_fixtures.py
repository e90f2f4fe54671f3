# SPDX-License-Identifier: GPL-2.0-or-later
"""The generated test models compute what their docstrings say (everything else relies on them)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidProtobuf
from osgeo import gdal

from core.model_metadata import METADATA_KEY, parse_metadata
from tests.fixtures import rasters, tiny_models


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0], session


def test_constant_model_ignores_input(tmp_path):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 3, 32, 48)).astype(np.float32)
    y, session = _run(tiny_models.constant_model(tmp_path / "c.onnx", value=0.25), x)
    assert y.shape == (2, 1, 32, 48)
    np.testing.assert_allclose(y, 0.25)
    props = session.get_modelmeta().custom_metadata_map
    assert METADATA_KEY in props
    assert parse_metadata(props).network == "test-constant"


def test_brightness_model_maps_brightness(tmp_path):
    x = np.full((1, 3, 16, 16), -0.5, np.float32)
    x[..., :8] = 0.5
    y, _ = _run(tiny_models.brightness_model(tmp_path / "b.onnx"), x)
    np.testing.assert_allclose(y[0, 0, :, :8], 1.0)
    np.testing.assert_allclose(y[0, 0, :, 8:], 0.0)


def test_bad_models_are_bad(tmp_path):
    with pytest.raises(InvalidProtobuf):
        ort.InferenceSession(str(tiny_models.corrupt_model(tmp_path / "x.onnx")))
    session = ort.InferenceSession(str(tiny_models.wrong_rank_model(tmp_path / "r.onnx")))
    assert len(session.get_inputs()[0].shape) == 2


def test_raster_generator_round_trip(tmp_path):
    mask = np.ones((100, 120), bool)
    mask[:, :10] = False
    path = rasters.bright_squares_raster(tmp_path / "r.tif", mask=mask)
    ds = gdal.Open(str(path))
    assert (ds.RasterCount, ds.RasterYSize, ds.RasterXSize) == (3, 100, 120)
    assert ds.GetRasterBand(1).GetMaskFlags() == gdal.GMF_PER_DATASET
    assert ds.GetRasterBand(1).GetMaskBand().ReadAsArray()[:, :10].max() == 0
    assert ds.GetRasterBand(1).ReadAsArray()[10:30, 10:40].min() == 240
