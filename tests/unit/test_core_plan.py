# SPDX-License-Identifier: GPL-2.0-or-later
"""core.plan: everything a detection decides before it runs, as a pure function (no threads, no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import DetectionError
from core.model_info import InputSpec
from core.plan import DetectionOptions, make_plan
from tests.fixtures import rasters
from tests.fixtures.tiny_models import default_info

ANY_SIZE = InputSpec("input", None, 3, None, None)


@pytest.fixture
def raster(tmp_path: Path) -> Path:
    return rasters.bright_squares_raster(tmp_path / "squares.tif", rows=300, cols=500)


def test_the_models_values_unless_options_say_otherwise(raster: Path) -> None:
    info = default_info(threshold=0.6, min_area_m2=4.0, tile_size=64, overlap=16)
    plan = make_plan(str(raster), info, ANY_SIZE, DetectionOptions())
    assert plan.source == str(raster)
    assert (plan.window.xsize, plan.window.ysize) == (500, 300)
    assert plan.bands == [1, 2, 3] and plan.channels == 3
    assert (plan.threshold, plan.min_area_m2, plan.overlap) == (0.6, 4.0, 16)
    assert plan.batch_size == 1 and plan.validity.trivial and not plan.scaling.clip
    assert plan.warnings == [] and plan.area_units == "m2" and plan.pixel_size == (0.5, 0.5)
    # Tiles fitted to the raster: fewer pixels pushed through the model than a fixed 64 grid.
    assert plan.grid.rows.padded % 16 == 0 and plan.grid.cols.padded > 64

    options = DetectionOptions(bands=[3, 2, 1], threshold=0.3, min_area_m2=0.0, tile_size=128, overlap=8)
    plan = make_plan(str(raster), info, ANY_SIZE, options)
    assert plan.bands == [3, 2, 1] and (plan.threshold, plan.min_area_m2) == (0.3, 0.0)
    assert (plan.grid.rows.padded, plan.grid.cols.padded, plan.overlap) == (128, 128, 8)
    assert "500 x 300 pixels" in plan.describe() and "bands [3, 2, 1]" in plan.describe()


def test_fitted_tiles_stay_under_the_area_cap_of_the_precision_that_runs(tmp_path: Path) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "wide.tif", rows=1200, cols=1500)
    info = default_info(tile_size=512, overlap=64)
    float32 = make_plan(str(raster), info, ANY_SIZE, DetectionOptions())
    int8 = make_plan(str(raster), info, ANY_SIZE, DetectionOptions(), precision="int8")
    # float32: 640 x 640 tiles push 1280 x 1920 px instead of 1536 x 2048 with 512 px tiles.
    assert (float32.grid.rows.padded, float32.grid.cols.padded) == (640, 640)
    # int8 ran no faster with larger tiles, which hold more memory: the model's tile.
    assert (int8.grid.rows.padded, int8.grid.cols.padded) == (512, 512)


def test_warnings_are_data_not_log_lines(tmp_path: Path) -> None:
    info = default_info(gsd_m=0.5)
    no_crs = rasters.bright_squares_raster(tmp_path / "nocrs.tif", epsg=None)
    plan = make_plan(str(no_crs), info, ANY_SIZE, DetectionOptions())
    assert len(plan.warnings) == 1 and "coordinate reference system" in plan.warnings[0]
    assert plan.area_units == "pixel units"

    coarse = rasters.bright_squares_raster(tmp_path / "coarse.tif", pixel=2.0)
    plan = make_plan(str(coarse), info, ANY_SIZE, DetectionOptions())
    assert len(plan.warnings) == 1 and "4 times the model's training resolution" in plan.warnings[0]

    fixed = InputSpec("input", None, 3, 64, 64)
    plan = make_plan(
        str(coarse),
        info,
        fixed,
        DetectionOptions(tile_size=128, resample_to_model_gsd=True),
        work=str(tmp_path),
    )
    assert any("only accepts 64 x 64 tiles" in w for w in plan.warnings)
    assert (plan.grid.rows.padded, plan.grid.cols.padded) == (64, 64)
    # Resampled to the model's 0.5 m: a VRT four times the size, and a note for the log.
    assert plan.source.endswith(".vrt") and plan.pixel_size == pytest.approx((0.5, 0.5))
    assert (plan.window.xsize, plan.window.ysize) == (480, 400)
    assert plan.notes and "Resampling" in plan.notes[0]


def test_extent_batch_and_valid_pixels(tmp_path: Path) -> None:
    image = rasters.squares_image(100, 120, [(10, 10, 20, 30)])
    raster = rasters.write_raster(tmp_path / "nodata.tif", image, nodata=0)
    x0, y0 = rasters.ORIGIN
    extent = (x0 + 5.0, y0 - 40.0, x0 + 35.0, y0 - 10.0)  # 60 x 60 pixels from column 10, row 20
    options = DetectionOptions(extent=extent, batch_size=0)
    plan = make_plan(str(raster), default_info(), ANY_SIZE, options, provider="CUDA")
    assert (plan.window.xoff, plan.window.yoff, plan.window.xsize, plan.window.ysize) == (10, 20, 60, 60)
    assert plan.validity.nodata == [0.0, 0.0, 0.0] and not plan.validity.trivial
    assert plan.batch_size > 1  # a GPU gets several tiles a batch
    assert plan.geotransform[0] == pytest.approx(x0 + 5.0)
    fixed_batch = InputSpec("input", 2, 3, None, None)
    assert make_plan(str(raster), default_info(), fixed_batch, options, provider="CUDA").batch_size == 2
    job = plan.tile_job()
    assert (job.batch_size, job.channels, job.window) == (plan.batch_size, 3, plan.window)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (DetectionOptions(overlap=64, tile_size=64), "overlap"),
        (DetectionOptions(threshold=1.5), "not a probability"),
        (DetectionOptions(min_area_m2=-1.0), "negative"),
        (DetectionOptions(bands=[1, 2]), "needs 3"),
        (DetectionOptions(bands=[1, 2, 7]), "do not exist"),
        (DetectionOptions(extent=(0.0, 0.0, 1.0, 1.0)), "does not overlap"),
        (DetectionOptions(tile_size=100_000), "larger than"),
        (DetectionOptions(resample_to_model_gsd=True), "work folder"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(
    tmp_path: Path, options: DetectionOptions, message: str
) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "coarse.tif", pixel=2.0)
    with pytest.raises(DetectionError, match=message):
        make_plan(str(raster), default_info(), ANY_SIZE, options)


def test_a_raster_too_wide_for_memory_is_refused(tmp_path: Path, monkeypatch) -> None:
    from core import plan as plan_module

    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    monkeypatch.setattr(plan_module, "check_fits", _refuse)
    with pytest.raises(DetectionError, match="over a raster 120 pixels wide"):
        make_plan(str(raster), default_info(), ANY_SIZE, DetectionOptions())


def _refuse(needed: int, what: str, fix: str, available: int | None = None) -> None:
    raise DetectionError(f"{what} need {needed} bytes. {fix}")


def test_deepness_models_get_deepness_scaling(tmp_path: Path) -> None:
    """A model from Deepness's zoo: (x / 255 - mean) / std per band, not clipped; raw 0 as the fill."""
    from core.model_metadata import parse_metadata
    from tests.fixtures import tiny_models

    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    info = parse_metadata(tiny_models.deepness_props(("background", "landslide"), mean=0.485, std=0.229))
    plan = make_plan(str(raster), info, ANY_SIZE, DetectionOptions())
    raw = np.array([0.0, 20.0, 240.0, 255.0])
    scaled = raw * plan.scaling.scale[0] + plan.scaling.offset[0]
    np.testing.assert_allclose(scaled, (raw / 255 - 0.485) / 0.229, rtol=1e-5)
    assert not plan.scaling.clip and plan.scaling.fill == pytest.approx(-0.485 / 0.229)
    assert plan.warnings == []  # 8-bit input, as Deepness expects: nothing to say
    default = parse_metadata({"model_type": '"Segmentor"'})  # no standardisation keys: x / 255
    plan = make_plan(str(raster), default, ANY_SIZE, DetectionOptions())
    np.testing.assert_allclose(raw * plan.scaling.scale[0] + plan.scaling.offset[0], raw / 255, rtol=1e-5)
