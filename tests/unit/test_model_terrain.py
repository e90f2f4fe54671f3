# SPDX-License-Identifier: GPL-2.0-or-later
"""RGB + DSM training: elevation channels read beside the orthophoto with the core's own code, the
training run and export recording them, and the exported model detecting with its DSM."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from osgeo import gdal

from core.engine import DetectionOptions, run_detection
from core.errors import DetectionError
from core.model_metadata import METADATA_KEY
from core.terrain import halo, pad_edges, terrain_channels
from model.data import NODATA_FILL, DataError, normalised
from model.export import export
from model.readers import dsm_beside, load_orthophoto
from model.sources import load_split
from model.train import main
from tests.unit.test_model_data import GSD, NO_IMAGERY_COLS, H, W, _write_orthophoto, _write_polygons

torch.set_num_threads(1)
NAMES = ["slope", "relative_height"]


def _write_dsm(path, heights: np.ndarray) -> None:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), W, H, 1, gdal.GDT_Float32)
    reference = gdal.Open(str(path.with_name("scene_rgb.tif")))
    ds.SetGeoTransform(reference.GetGeoTransform())
    ds.SetProjection(reference.GetProjection())
    ds.GetRasterBand(1).SetNoDataValue(0.0)
    ds.GetRasterBand(1).WriteArray(heights)
    ds = None


@pytest.fixture
def scene(tmp_path):
    image, polygons, dsm = tmp_path / "scene_rgb.tif", tmp_path / "inventory.gpkg", tmp_path / "scene_dsm.tif"
    _write_orthophoto(image)
    _write_polygons(polygons)
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float32)
    heights = 2000.0 + 0.4 * cols + 3.0 * np.sin(rows / 7.0)  # a hillside with ripples
    heights[80:, 100:] = 0.0  # no elevation there
    _write_dsm(dsm, heights)
    return image, polygons, dsm, np.where(heights == 0.0, np.nan, heights)


def test_the_dsm_beside_an_orthophoto() -> None:
    assert dsm_beside("data/amu/scene_A_rgb.tif").name == "scene_A_dsm.tif"
    assert dsm_beside("ortho.tif").name == "ortho_dsm.tif"


def test_training_channels_are_the_detections(scene) -> None:
    image, polygons, _dsm, heights = scene
    loaded = load_orthophoto(image, polygons, terrain=NAMES)  # the DSM found beside the image
    assert loaded.image.shape == (5, H, W) and loaded.value_max == [255.0] * 3
    m = halo(NAMES)
    expected = terrain_channels(pad_edges(heights, m, m, m, m), NAMES, GSD, GSD)
    expected[:, :, :NO_IMAGERY_COLS] = NODATA_FILL  # no imagery: every channel gets the fill
    np.testing.assert_allclose(loaded.image[3:].astype(np.float32), expected, atol=1e-3)  # float16
    assert (loaded.image[3:, 90, 110] == NODATA_FILL).all()  # no elevation there
    rgb = load_orthophoto(image, polygons)
    # the RGB-only scene keeps its 8-bit bands raw; the same numbers once normalised (float16 here)
    np.testing.assert_allclose(normalised(rgb.image), loaded.image[:3].astype(np.float32), atol=1e-3)


def test_terrain_needs_orthophotos_with_a_dsm(scene, tmp_path) -> None:
    image, polygons, _dsm, _heights = scene
    with pytest.raises(DataError, match="tile folders have none"):
        load_split([str(tmp_path)], [(str(image), str(polygons))], [], terrain=["slope"])
    with pytest.raises(DataError, match="--dsm IMAGE DSM"):
        load_orthophoto(image, polygons, dsm=tmp_path / "missing.tif", terrain=["slope"])


def test_an_rgb_and_dsm_model_is_trained_exported_and_detects_with_its_dsm(scene, tmp_path) -> None:
    image, polygons, dsm, _heights = scene
    out = tmp_path / "run"
    rc = main(
        [
            "--ortho", str(image), str(polygons), "--dsm", str(image), str(dsm),
            "--terrain", "slope,relative_height",
            "--ortho-holdout", "0.3", "--holdout-gap", "8", "--width", "2", "--depth", "2", "--crop", "32",
            "--batch", "2", "--epochs", "1", "--steps-per-epoch", "2", "--threads", "1", "--no-progress",
            "--val-tile", "64", "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    meta = torch.load(out / "best.pt", weights_only=False)["meta"]
    assert (meta["bands"], meta["terrain"]) == (5, NAMES)
    model = export(out / "best.pt", tmp_path / "rgb_dsm.onnx")
    info = json.loads({p.key: p.value for p in onnx.load(str(model)).metadata_props}[METADATA_KEY])
    assert (info["bands"], info["extra_channels"], len(info["value_max"])) == ([1, 2, 3], NAMES, 3)

    options = DetectionOptions(dsm_path=str(dsm), threshold=0.0, min_area_m2=0.0)
    result = run_detection(str(image), str(model), str(tmp_path / "l.gpkg"), None, options)
    assert result.polygon_count >= 1 and result.tiles_inferred >= 1
    with pytest.raises(DetectionError, match="also needs an elevation raster"):
        run_detection(str(image), str(model), str(tmp_path / "x.gpkg"))
