# SPDX-License-Identifier: GPL-2.0-or-later
"""Elevation channels (core.terrain), the elevation raster beside the orthophoto (core.elevation) and
models that take them (RGB + DSM) through the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from core.elevation import ElevationReader, align_elevation
from core.engine import DetectionOptions, run_detection
from core.errors import DetectionError
from core.terrain import halo, pad_edges, relative_height, slope_degrees, terrain_channels
from tests.fixtures import rasters, tiny_models

ROWS, COLS = 100, 120
NAMES = ["slope", "relative_height"]


def _whole(heights: np.ndarray, names: list[str], pixel: float = rasters.PIXEL) -> np.ndarray:
    """The channels of a whole scene, as model.readers computes them for training."""
    m = halo(names)
    return terrain_channels(pad_edges(heights, m, m, m, m), names, pixel, pixel)


def test_slope_and_relative_height() -> None:
    x = np.arange(40, dtype=np.float32) * 0.5
    plane = np.tile(np.tan(np.radians(30.0)) * x, (30, 1))
    np.testing.assert_allclose(slope_degrees(plane, 0.5, 0.5), 30.0, atol=1e-3)
    assert slope_degrees(plane, 0.5, 0.5).shape == (28, 38)
    bump = np.zeros((21, 21), np.float32)
    bump[10, 10] = 5.0
    assert relative_height(bump, 10)[0, 0] == pytest.approx(5.0 - 5.0 / 441, rel=1e-6)
    holes = bump.copy()
    holes[0, 0] = np.nan
    assert np.isnan(slope_degrees(holes, 1, 1)[0, 0]) and np.isfinite(relative_height(holes, 10)[0, 0])
    channels = _whole(rasters.ramp_heights(ROWS, COLS), NAMES)
    assert channels.shape == (2, ROWS, COLS) and channels.min() >= -0.5 and channels.max() <= 0.5
    assert channels[0, 40, 55] == pytest.approx(40.0 / 90.0 - 0.5, abs=1e-3)  # inside the ramp


def test_windows_read_with_their_halo_equal_the_whole_scene(tmp_path: Path) -> None:
    """What the engine reads strip by strip is what training computes on the whole scene."""
    heights = rasters.ramp_heights(ROWS, COLS)
    heights[70:80, 5:15] = 0.0  # no data there
    dsm = rasters.write_raster(tmp_path / "dsm.tif", heights, nodata=0.0)
    reader = ElevationReader(str(dsm), (rasters.PIXEL, rasters.PIXEL))
    expected = _whole(np.where(heights == 0.0, np.nan, heights), NAMES)
    for x, y, w, h in [(0, 0, 50, 40), (37, 25, 64, 64), (90, 60, 30, 40), (0, 0, COLS, ROWS)]:
        np.testing.assert_array_equal(reader.channels(NAMES, x, y, w, h), expected[:, y : y + h, x : x + w])
    assert (expected[:, 72, 8] == -0.5).all()  # no elevation: the fill value


def test_align_any_resolution_and_crs(tmp_path: Path) -> None:
    ortho = gdal.Open(str(rasters.bright_squares_raster(tmp_path / "ortho.tif")))
    heights = rasters.ramp_heights(ROWS // 2, COLS // 2, box=(10, 15, 20, 25), pixel=1.0)
    coarse = rasters.write_raster(tmp_path / "coarse.tif", heights, pixel=1.0)
    path, warnings = align_elevation(str(coarse), ortho, str(tmp_path))
    aligned = gdal.Open(path).ReadAsArray()
    assert aligned.shape == (ROWS, COLS) and warnings == []
    assert aligned[4, 4] == pytest.approx(1000.0) and aligned.max() > 1000.0 + 20

    # The same surface in geographic coordinates: warped back onto the UTM grid.
    geographic = tmp_path / "wgs84.tif"
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    gdal.Warp(str(geographic), str(coarse), dstSRS=wgs84.ExportToWkt(), resampleAlg="bilinear")
    path, _ = align_elevation(str(geographic), ortho, str(tmp_path))
    assert gdal.Open(path).ReadAsArray()[50, 20] == pytest.approx(1000.0, abs=0.5)

    half = heights.copy()
    half[:, : COLS // 4] = 0.0
    partial = rasters.write_raster(tmp_path / "partial.tif", half, pixel=1.0, nodata=0.0)
    _, warnings = align_elevation(str(partial), ortho, str(tmp_path))
    assert len(warnings) == 1 and "covers about 5" in warnings[0]

    far = rasters.write_raster(tmp_path / "far.tif", heights, pixel=1.0)
    ds = gdal.Open(str(far), gdal.GA_Update)
    ds.SetGeoTransform((600000.0, 1.0, 0.0, 3300000.0, 0.0, -1.0))
    ds = None
    with pytest.raises(DetectionError, match="does not cover the orthophoto"):
        align_elevation(str(far), ortho, str(tmp_path))


@pytest.mark.parametrize("channel", NAMES)
def test_a_model_with_an_elevation_channel(tmp_path: Path, channel: str) -> None:
    """RGB + DSM: the engine feeds the model the channel core.terrain defines, tile by tile."""
    info = tiny_models.default_info(extra_channels=[channel], tile_size=64, overlap=16)
    model = tiny_models.channel_model(tmp_path / "m.onnx", 3, 4, info)
    raster = rasters.bright_squares_raster(tmp_path / "ortho.tif")
    heights = rasters.ramp_heights(ROWS, COLS)
    dsm = rasters.write_raster(tmp_path / "dsm.tif", heights)
    options = DetectionOptions(dsm_path=str(dsm), tile_size=64)
    run_detection(str(raster), str(model), None, str(tmp_path / "p.tif"), options)
    prob = gdal.Open(str(tmp_path / "p.tif")).ReadAsArray()
    np.testing.assert_allclose(prob, _whole(heights, [channel])[0] + 0.5, atol=1e-5)

    with pytest.raises(DetectionError, match="also needs an elevation raster"):
        run_detection(str(raster), str(model), None, str(tmp_path / "q.tif"))
    assert not (tmp_path / "q.tif").exists()


def test_polygons_get_the_mean_slope_when_an_elevation_raster_is_given(tmp_path: Path) -> None:
    """slope_mean_deg: one attribute spec and the strips' slope layer; no elevation, no attribute."""
    from osgeo import ogr

    model = tiny_models.brightness_model(tmp_path / "m.onnx")
    raster = rasters.bright_squares_raster(tmp_path / "ortho.tif")  # squares at rows 10 and 60
    heights = rasters.ramp_heights(ROWS, COLS, box=(50, 60, 40, 40), slope_deg=40.0)
    heights[55:80, 80:100] = 0.0  # no elevation under the right part of the lower square
    dsm = rasters.write_raster(tmp_path / "dsm.tif", heights, nodata=0.0)

    def attributes(gpkg: Path) -> list[dict]:
        ds = ogr.Open(str(gpkg))  # kept while its layer is read
        rows = sorted((f.items() for f in ds.GetLayer(0)), key=lambda row: row["area_m2"])
        ds = None
        return rows

    with_dsm = DetectionOptions(dsm_path=str(dsm))
    run_detection(str(raster), str(model), str(tmp_path / "with.gpkg"), None, with_dsm)
    small, large = attributes(tmp_path / "with.gpkg")
    assert large["slope_mean_deg"] == pytest.approx(0.0, abs=1e-6)  # flat ground
    # The lower square on the 40-degree ramp; its pixels without elevation do not count.
    assert small["slope_mean_deg"] == pytest.approx(40.0, abs=0.01)
    heights[:, :] = 0.0
    empty = rasters.write_raster(tmp_path / "empty.tif", heights, nodata=0.0)
    with pytest.raises(DetectionError, match="does not cover"):
        no_data = DetectionOptions(dsm_path=str(empty))
        run_detection(str(raster), str(model), str(tmp_path / "x.gpkg"), None, no_data)

    run_detection(str(raster), str(model), str(tmp_path / "without.gpkg"))
    assert "slope_mean_deg" not in attributes(tmp_path / "without.gpkg")[0]
