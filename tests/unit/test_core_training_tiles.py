# SPDX-License-Identifier: GPL-2.0-or-later
"""Training tile export: the image/label pairs model/data.py reads."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from core.errors import DetectionCanceled
from core.training_tiles import export_training_tiles
from tests.fixtures import rasters


@pytest.fixture
def scene(tmp_path):
    mask = np.ones((100, 120), bool)
    mask[:, :8] = False  # no imagery on the left
    raster = rasters.bright_squares_raster(tmp_path / "ortho.tif", mask=mask)
    inventory = rasters.write_polygons(tmp_path / "inv.gpkg", [rasters.pixel_rect_wkt(10, 10, 20, 30)])
    return str(raster), str(inventory)


def test_tiles_and_labels(tmp_path, scene):
    out = tmp_path / "tiles"
    result = export_training_tiles(*scene, str(out), tile_size=64, overlap=8, prefix="amu")
    # rows start at 0, 36; columns at 0, 56: 4 tiles, only the top-left one holds the landslide
    assert result.tiles_written == 4 and result.positive_tiles == 1 and result.negative_tiles == 3
    names = sorted(p.name for p in (out / "images").iterdir())
    assert names == sorted(p.name for p in (out / "labels").iterdir())
    assert names == ["amu_000_000.tif", "amu_000_001.tif", "amu_001_000.tif", "amu_001_001.tif"]
    img = gdal.Open(str(out / "images" / "amu_000_000.tif"))
    assert (img.RasterCount, img.RasterXSize, img.RasterYSize) == (3, 64, 64)
    assert img.GetGeoTransform() == rasters.geotransform()
    lab = gdal.Open(str(out / "labels" / "amu_000_000.tif")).ReadAsArray()
    assert lab.dtype == np.uint8
    assert (lab[10:30, 10:40] == 1).all() and (lab == 1).sum() == 600
    assert (lab[:, :8] == 255).all()  # no imagery -> nodata
    assert set(np.unique(lab)) == {0, 1, 255}
    lab2 = gdal.Open(str(out / "labels" / "amu_001_001.tif"))
    assert lab2.GetGeoTransform()[0] == pytest.approx(rasters.ORIGIN[0] + 56 * rasters.PIXEL)


def test_negatives_can_be_dropped(tmp_path, scene):
    result = export_training_tiles(*scene, str(tmp_path / "t"), tile_size=64, negative_fraction=0.0)
    assert (result.tiles_written, result.skipped_negative) == (1, 3)


def test_small_raster_is_padded_with_nodata(tmp_path):
    raster = rasters.bright_squares_raster(tmp_path / "s.tif", rows=40, cols=30, squares=[(5, 5, 3, 3)])
    inv = rasters.write_polygons(tmp_path / "i.gpkg", [rasters.pixel_rect_wkt(5, 5, 3, 3)])
    result = export_training_tiles(str(raster), str(inv), str(tmp_path / "t"), tile_size=64)
    assert result.tiles_written == 1
    lab = gdal.Open(result.files[0].replace("images", "labels")).ReadAsArray()
    assert lab.shape == (64, 64) and (lab[40:] == 255).all() and (lab[:, 30:] == 255).all()
    assert (lab == 1).sum() == 9


def test_cancel_removes_written_tiles(tmp_path, scene):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(DetectionCanceled):
        export_training_tiles(*scene, str(tmp_path / "t"), tile_size=64, is_canceled=cancel)
    assert list((tmp_path / "t" / "images").iterdir()) == []
    assert list((tmp_path / "t" / "labels").iterdir()) == []
