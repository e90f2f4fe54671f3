# SPDX-License-Identifier: GPL-2.0-or-later
"""run_detection end to end on generated GeoTIFFs and tiny ONNX models (real GDAL, real onnxruntime)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from osgeo import gdal, ogr

from core.engine import DetectionOptions, run_detection
from core.errors import DetectionCanceled, DetectionError
from tests.fixtures import rasters, tiny_models

PIXEL_AREA = rasters.PIXEL**2


@pytest.fixture
def brightness(tmp_path):
    return str(tiny_models.brightness_model(tmp_path / "brightness.onnx"))


@pytest.fixture
def constant(tmp_path):
    return str(tiny_models.constant_model(tmp_path / "constant.onnx", value=0.7))


def _read(path):
    ds = gdal.Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray(), ds


def _features(path):
    ds = ogr.Open(str(path))
    layer = ds.GetLayerByName("landslides")
    assert layer is not None
    return [
        {
            "area": f.GetField("area_m2"),
            "perimeter": f.GetField("perimeter_m"),
            "mean": f.GetField("mean_prob"),
            "max": f.GetField("max_prob"),
            "geom_area": f.GetGeometryRef().GetArea(),
            "id": f.GetField("id"),
        }
        for f in layer
    ]


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("rows", "cols", "tile", "overlap"),
    [
        (100, 120, None, None),
        (37, 53, None, None),
        (1, 1, None, None),
        (129, 203, 64, 24),
        (64, 64, 64, 0),
        (70, 50, 32, 5),
    ],
)
def test_constant_model_gives_constant_map(tmp_path, constant, rows, cols, tile, overlap):
    image = np.random.default_rng(1).integers(0, 255, (3, rows, cols), dtype=np.uint8)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    out = tmp_path / "prob.tif"
    options = DetectionOptions(tile_size=tile, overlap=overlap, batch_size=3)
    result = run_detection(str(raster), constant, None, str(out), options)
    prob, ds = _read(out)
    assert prob.shape == (rows, cols)
    np.testing.assert_allclose(prob, 0.7, atol=1e-6)
    assert ds.GetGeoTransform() == rasters.geotransform()
    assert ds.GetRasterBand(1).GetNoDataValue() == -1
    assert result.provider.used == "CPU"
    assert result.polygons_path is None and result.probability_path == str(out)


def test_per_pixel_model_is_reproduced_exactly_across_tiles(tmp_path, brightness):
    """Blending must not change a per-pixel model's output anywhere, edges and last row/column included."""
    image = np.random.default_rng(2).integers(0, 255, (3, 131, 149), dtype=np.uint8)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    out = tmp_path / "prob.tif"
    run_detection(str(raster), brightness, None, str(out), DetectionOptions(tile_size=48, overlap=13))
    expected = image.astype(np.float64).mean(axis=0) / 255.0
    np.testing.assert_allclose(_read(out)[0], expected, atol=2e-6)


def test_rectangles_become_polygons_with_exact_pixel_areas(tmp_path, brightness):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif")  # 20x30 and 15x15 pixel squares
    gpkg = tmp_path / "out.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg), None)
    features = sorted(_features(gpkg), key=lambda f: f["area"])
    assert [round(f["area"] / PIXEL_AREA) for f in features] == [15 * 15, 20 * 30]
    for f, (h, w) in zip(features, [(15, 15), (20, 30)]):
        assert f["area"] == pytest.approx(h * w * PIXEL_AREA, rel=1e-12)
        assert f["geom_area"] == pytest.approx(f["area"], rel=1e-12)
        assert f["perimeter"] == pytest.approx(2 * (h + w) * rasters.PIXEL)
        assert f["mean"] == pytest.approx(240 / 255, abs=1e-6)
        assert f["max"] == pytest.approx(240 / 255, abs=1e-6)
    assert result.polygon_count == 2
    assert result.total_area_m2 == pytest.approx((15 * 15 + 20 * 30) * PIXEL_AREA)
    assert result.pixel_size == (rasters.PIXEL, rasters.PIXEL)
    assert "32647" in result.crs_wkt
    assert _files(tmp_path) == ["brightness.onnx", "in.tif", "out.gpkg"]  # no temporary left over


def test_one_pixel_landslide_survives_unless_filtered(tmp_path, brightness):
    raster = rasters.write_raster(tmp_path / "in.tif", rasters.squares_image(50, 60, [(20, 33, 1, 1)]))
    gpkg = tmp_path / "out.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg))
    assert result.polygon_count == 1
    assert _features(gpkg)[0]["area"] == pytest.approx(PIXEL_AREA)
    result = run_detection(str(raster), brightness, str(gpkg), None, DetectionOptions(min_area_m2=0.5))
    assert result.polygon_count == 0
    assert _features(gpkg) == []


def test_threshold_option_overrides_the_model(tmp_path, brightness):
    image = rasters.squares_image(40, 40, [(5, 5, 10, 10)], foreground=150)  # probability 150/255 = 0.59
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    gpkg = tmp_path / "out.gpkg"
    assert run_detection(str(raster), brightness, str(gpkg)).polygon_count == 1
    options = DetectionOptions(threshold=0.7)
    assert run_detection(str(raster), brightness, str(gpkg), None, options).polygon_count == 0


def test_nodata_border_is_nodata_and_gives_no_polygon(tmp_path, brightness):
    image = np.full((3, 80, 90), 20, np.uint8)
    image[:, :, :12] = 255  # bright no-imagery collar marked by the nodata value
    image[:, -7:, :] = 255
    raster = rasters.write_raster(tmp_path / "in.tif", image, nodata=255)
    prob_path, gpkg = tmp_path / "prob.tif", tmp_path / "out.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg), str(prob_path))
    prob, _ = _read(prob_path)
    assert (prob[:, :12] == -1).all() and (prob[-7:] == -1).all()
    assert prob[:-7, 12:] == pytest.approx(20 / 255, abs=1e-6)
    assert result.polygon_count == 0


def test_mask_band_pixels_are_excluded_and_filled_dark(tmp_path, brightness):
    image = rasters.squares_image(80, 90, [(30, 40, 10, 10)])
    image[:, :, :20] = 250  # bright, but outside the imagery mask
    mask = np.ones((80, 90), bool)
    mask[:, :20] = False
    raster = rasters.write_raster(tmp_path / "in.tif", image, mask=mask)
    prob_path, gpkg = tmp_path / "prob.tif", tmp_path / "out.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg), str(prob_path))
    prob, _ = _read(prob_path)
    assert (prob[:, :20] == -1).all()
    assert (prob[:, 20:] >= 0).all()
    assert result.polygon_count == 1
    assert _features(gpkg)[0]["area"] == pytest.approx(100 * PIXEL_AREA)


def test_extent_limits_processing_to_a_sub_grid(tmp_path, brightness):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif")  # squares at (10,10) and (60,70)
    x0, y0 = rasters.ORIGIN
    # columns 50..110, rows 40..90 (pixel edges): only the second square
    extent = (
        x0 + 50 * rasters.PIXEL,
        y0 - 90 * rasters.PIXEL,
        x0 + 110 * rasters.PIXEL,
        y0 - 40 * rasters.PIXEL,
    )
    prob_path, gpkg = tmp_path / "prob.tif", tmp_path / "out.gpkg"
    result = run_detection(
        str(raster), brightness, str(gpkg), str(prob_path), DetectionOptions(extent=extent)
    )
    prob, ds = _read(prob_path)
    assert prob.shape == (50, 60)
    assert ds.GetGeoTransform()[0] == pytest.approx(extent[0])
    assert ds.GetGeoTransform()[3] == pytest.approx(extent[3])
    assert result.polygon_count == 1
    assert _features(gpkg)[0]["area"] == pytest.approx(15 * 15 * PIXEL_AREA)


def test_mask_polygons_limit_processing_and_skip_tiles(tmp_path, brightness):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif", rows=200, cols=220)
    mask = rasters.write_polygons(tmp_path / "mask.gpkg", [rasters.pixel_rect_wkt(0, 0, 40, 50)])
    prob_path, gpkg = tmp_path / "prob.tif", tmp_path / "out.gpkg"
    options = DetectionOptions(mask_path=str(mask), tile_size=64)  # a grid, not one fitted tile
    result = run_detection(str(raster), brightness, str(gpkg), str(prob_path), options)
    prob, _ = _read(prob_path)
    assert (prob[:40, :50] >= 0).all()
    assert (prob[40:] == -1).all() and (prob[:, 50:] == -1).all()
    assert result.polygon_count == 1
    assert result.tiles_inferred < result.tiles_total


def test_all_nodata_raster_gives_empty_output(tmp_path, brightness):
    raster = rasters.write_raster(tmp_path / "in.tif", np.zeros((3, 40, 50), np.uint8), nodata=0)
    prob_path, gpkg = tmp_path / "prob.tif", tmp_path / "out.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg), str(prob_path))
    assert result.polygon_count == 0 and result.total_area_m2 == 0
    assert result.tiles_inferred == 0
    assert (_read(prob_path)[0] == -1).all()
    assert _features(gpkg) == []


def test_raster_without_crs_warns_and_works_in_pixel_units(tmp_path, brightness):
    raster = rasters.write_raster(
        tmp_path / "in.tif", rasters.squares_image(40, 40, [(5, 5, 4, 6)]), epsg=None
    )
    gpkg = tmp_path / "out.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg))
    assert any("coordinate reference system" in w for w in result.warnings)
    assert result.area_units == "pixel units"
    assert _features(gpkg)[0]["area"] == pytest.approx(24.0)


def test_tta_keeps_a_symmetric_model_unchanged(tmp_path, brightness):
    image = np.random.default_rng(3).integers(0, 255, (3, 70, 90), dtype=np.uint8)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    run_detection(str(raster), brightness, None, str(a))
    run_detection(str(raster), brightness, None, str(b), DetectionOptions(tta=True))
    np.testing.assert_allclose(_read(a)[0], _read(b)[0], atol=1e-6)


def test_band_selection_and_uint16_scaling_from_statistics(tmp_path):
    info = tiny_models.default_info(1, value_min=[], value_max=[])
    model = tiny_models.brightness_model(tmp_path / "one.onnx", bands=1, info=info)
    image = np.zeros((2, 30, 40), np.uint16)
    image[0] = 4000  # band 1 constant: would give a flat map
    image[1, :, 20:] = 1000  # band 2: min 0, max 1000
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    out = tmp_path / "p.tif"
    result = run_detection(str(raster), str(model), None, str(out), DetectionOptions(bands=[2]))
    prob, _ = _read(out)
    assert prob[:, :20] == pytest.approx(0.0, abs=1e-6)
    assert prob[:, 20:] == pytest.approx(1.0, abs=1e-6)
    assert any("minimum/maximum" in w for w in result.warnings)


def test_resolution_warning_and_resampling_to_model_gsd(tmp_path):
    model = tiny_models.brightness_model(tmp_path / "m.onnx", info=tiny_models.default_info(gsd_m=1.0))
    raster = rasters.bright_squares_raster(tmp_path / "in.tif", pixel=0.25)
    out = tmp_path / "p.tif"
    result = run_detection(str(raster), str(model), None, str(out))
    assert any("training resolution" in w for w in result.warnings)
    result = run_detection(
        str(raster), str(model), None, str(out), DetectionOptions(resample_to_model_gsd=True)
    )
    prob, ds = _read(out)
    assert prob.shape == (25, 30)
    assert ds.GetGeoTransform()[1] == pytest.approx(1.0)
    assert result.pixel_size == (1.0, 1.0)


def test_progress_reaches_100_and_is_monotonic(tmp_path, brightness):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif", rows=150, cols=170)
    seen = []
    run_detection(str(raster), brightness, str(tmp_path / "o.gpkg"), None, progress=seen.append)
    assert seen[-1] == 100.0
    assert all(b >= a for a, b in zip(seen, seen[1:]))


# --- bad input: DetectionError with a useful message, and no output left behind ------------------


def _assert_no_output(folder, before):
    assert _files(folder) == before


def test_non_raster_input(tmp_path, brightness):
    bad = tmp_path / "notes.tif"
    bad.write_text("not an image")
    before = _files(tmp_path)
    with pytest.raises(DetectionError, match="cannot be opened as a raster"):
        run_detection(str(bad), brightness, str(tmp_path / "o.gpkg"), str(tmp_path / "p.tif"))
    _assert_no_output(tmp_path, before)
    with pytest.raises(DetectionError, match="does not exist"):
        run_detection(str(tmp_path / "missing.tif"), brightness, str(tmp_path / "o.gpkg"))


def test_too_few_bands_names_both_counts_and_the_fix(tmp_path, brightness):
    raster = rasters.write_raster(tmp_path / "in.tif", np.zeros((30, 30), np.uint8))
    before = _files(tmp_path)
    with pytest.raises(DetectionError) as err:
        run_detection(str(raster), brightness, str(tmp_path / "o.gpkg"), str(tmp_path / "p.tif"))
    message = str(err.value)
    assert "1 band" in message and "needs 3" in message and "BANDS" in message
    _assert_no_output(tmp_path, before)
    with pytest.raises(DetectionError, match="BANDS"):
        run_detection(str(raster), brightness, str(tmp_path / "o.gpkg"), None, DetectionOptions(bands=[1]))


@pytest.mark.parametrize("maker", [tiny_models.corrupt_model, tiny_models.wrong_rank_model])
def test_bad_model(tmp_path, maker):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif")
    model = maker(tmp_path / "bad.onnx")
    before = _files(tmp_path)
    with pytest.raises(DetectionError, match="model") as err:
        run_detection(str(raster), str(model), str(tmp_path / "o.gpkg"), str(tmp_path / "p.tif"))
    assert "bad.onnx" in str(err.value)
    _assert_no_output(tmp_path, before)


def test_unwritable_outputs_fail_before_inference(tmp_path, brightness):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif")
    with pytest.raises(DetectionError, match="does not exist"):
        run_detection(str(raster), brightness, str(tmp_path / "missing" / "o.gpkg"))
    (tmp_path / "dir.tif").mkdir()
    with pytest.raises(DetectionError, match="is a folder"):
        run_detection(str(raster), brightness, None, str(tmp_path / "dir.tif"))
    with pytest.raises(DetectionError, match=r"\.gpkg"):
        run_detection(str(raster), brightness, str(tmp_path / "o.shp"))
    with pytest.raises(DetectionError, match="input raster"):
        run_detection(str(raster), brightness, None, str(raster))
    with pytest.raises(DetectionError, match="No output"):
        run_detection(str(raster), brightness, None, None)
    assert _files(tmp_path) == ["brightness.onnx", "dir.tif", "in.tif"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder(tmp_path, brightness):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(DetectionError, match="cannot be written"):
            run_detection(str(raster), brightness, str(locked / "o.gpkg"))
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("when", ["first", "third", "after_inference", "last"])
def test_cancel_leaves_no_output(tmp_path, brightness, when):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif", rows=300, cols=300)
    options = DetectionOptions(batch_size=1)
    polls = []
    run_detection(
        str(raster), brightness, str(tmp_path / "x.gpkg"), None, options, is_canceled=lambda: polls.append(1)
    )
    (tmp_path / "x.gpkg").unlink()
    cancel_after = {"first": 0, "third": 2, "after_inference": len(polls) - 2, "last": len(polls) - 1}[when]
    old = tmp_path / "o.gpkg"
    old.write_bytes(b"previous result")  # an existing output survives a canceled run untouched
    before = _files(tmp_path)
    calls = []

    def is_canceled():
        calls.append(1)
        return len(calls) > cancel_after

    with pytest.raises(DetectionCanceled):
        run_detection(
            str(raster), brightness, str(old), str(tmp_path / "p.tif"), options, is_canceled=is_canceled
        )
    _assert_no_output(tmp_path, before)
    assert old.read_bytes() == b"previous result"


# --- less common inputs ----------------------------------------------------------------------------


def _fixed_shape_brightness(path, n=1, size=64):
    """A brightness model whose graph only accepts n x 3 x size x size (like some foreign exports)."""
    import onnx
    from onnx import TensorProto, helper

    from core.model_metadata import metadata_props

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [n, 3, size, size])
    y = helper.make_tensor_value_info("probability", TensorProto.FLOAT, [n, 1, size, size])
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Add", ["mean", "half"], ["probability"]),
    ]
    init = [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])]
    model = helper.make_model(
        helper.make_graph(nodes, "fixed", [x], [y], initializer=init),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    helper.set_model_props(model, metadata_props(tiny_models.default_info(tile_size=256)))
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize(("rows", "cols"), [(150, 170), (40, 30)])
def test_fixed_shape_model(tmp_path, rows, cols):
    model = _fixed_shape_brightness(tmp_path / "fixed.onnx")
    image = np.random.default_rng(4).integers(0, 255, (3, rows, cols), dtype=np.uint8)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    out = tmp_path / "p.tif"
    result = run_detection(str(raster), model, None, str(out), DetectionOptions(batch_size=8))
    np.testing.assert_allclose(_read(out)[0], image.mean(axis=0) / 255.0, atol=2e-6)
    assert result.tiles_total == (1 if rows < 64 else 3 * 4)  # starts 0, 48, 86 and 0, 48, 96, 106


def test_float_raster_nan_is_nodata(tmp_path, brightness):
    image = np.full((3, 40, 50), 0.2, np.float32)
    image[:, :5, :] = np.nan
    info = tiny_models.default_info(value_min=[0.0] * 3, value_max=[1.0] * 3)
    model = tiny_models.brightness_model(tmp_path / "f.onnx", info=info)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    out = tmp_path / "p.tif"
    run_detection(str(raster), str(model), None, str(out))
    prob = _read(out)[0]
    assert (prob[:5] == -1).all()
    assert prob[5:] == pytest.approx(0.2, abs=1e-6)


def test_mask_in_another_crs_is_reprojected(tmp_path, brightness):
    from osgeo import osr

    raster = rasters.bright_squares_raster(tmp_path / "in.tif")
    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(rasters.EPSG)
    wgs.ImportFromEPSG(4326)
    for s in (utm, wgs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    geom = ogr.CreateGeometryFromWkt(rasters.pixel_rect_wkt(50, 60, 40, 50))
    geom.Transform(osr.CoordinateTransformation(utm, wgs))
    mask = rasters.write_polygons(tmp_path / "mask.gpkg", [geom.ExportToWkt()], epsg=4326)
    gpkg = tmp_path / "o.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg), None, DetectionOptions(mask_path=str(mask)))
    assert result.polygon_count == 1
    assert _features(gpkg)[0]["area"] == pytest.approx(15 * 15 * PIXEL_AREA)


def test_extent_outside_raster_and_bad_overlap(tmp_path, brightness):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif")
    with pytest.raises(DetectionError, match="does not overlap"):
        run_detection(
            str(raster), brightness, str(tmp_path / "o.gpkg"), None, DetectionOptions(extent=(0, 0, 1, 1))
        )
    with pytest.raises(DetectionError, match="overlap"):
        run_detection(str(raster), brightness, str(tmp_path / "o.gpkg"), None, DetectionOptions(overlap=64))
    assert _files(tmp_path) == ["brightness.onnx", "in.tif"]


def test_bad_threshold_and_mask_file(tmp_path, brightness):
    raster = rasters.bright_squares_raster(tmp_path / "in.tif")
    with pytest.raises(DetectionError, match="not a probability"):
        run_detection(
            str(raster), brightness, str(tmp_path / "o.gpkg"), None, DetectionOptions(threshold=1.5)
        )
    bad_mask = tmp_path / "mask.gpkg"
    bad_mask.write_text("not a vector file")
    with pytest.raises(DetectionError, match="polygon layer"):
        run_detection(
            str(raster), brightness, str(tmp_path / "o.gpkg"), None, DetectionOptions(mask_path=str(bad_mask))
        )
    assert _files(tmp_path) == ["brightness.onnx", "in.tif", "mask.gpkg"]


@pytest.mark.parametrize("kind", ["mask", "nodata"])
def test_resampling_keeps_no_imagery_as_nodata(tmp_path, kind):
    model = tiny_models.brightness_model(tmp_path / "m.onnx", info=tiny_models.default_info(gsd_m=1.0))
    valid = np.ones((100, 120), bool)
    valid[:, :40] = False
    image = rasters.squares_image(100, 120, [(10, 50, 20, 30)])
    image[:, :, :40] = 250  # bright but no imagery
    if kind == "mask":
        raster = rasters.write_raster(tmp_path / "in.tif", image, mask=valid)
    else:
        raster = rasters.write_raster(
            tmp_path / "in.tif", np.where(valid, image, 255).astype(np.uint8), nodata=255
        )
    prob_path, gpkg = tmp_path / "p.tif", tmp_path / "o.gpkg"
    options = DetectionOptions(resample_to_model_gsd=True)
    result = run_detection(str(raster), str(model), str(gpkg), str(prob_path), options)
    prob, _ = _read(prob_path)
    assert prob.shape == (50, 60)
    assert (prob[:, :20] == -1).all() and (prob[:, 20:] >= 0).all()
    assert result.polygon_count == 1 and result.total_area_m2 == pytest.approx(20 * 30 * 0.25)


def test_alpha_band_marks_no_imagery(tmp_path, brightness):
    image = rasters.squares_image(60, 70, [(20, 30, 10, 10)])
    image[:, :, :15] = 250  # bright, but transparent
    alpha = np.full((1, 60, 70), 255, np.uint8)
    alpha[0, :, :15] = 0
    raster = rasters.write_raster(tmp_path / "in.tif", np.concatenate([image, alpha]))
    ds = gdal.Open(str(raster), gdal.GA_Update)
    ds.GetRasterBand(4).SetColorInterpretation(gdal.GCI_AlphaBand)
    ds = None
    prob_path, gpkg = tmp_path / "p.tif", tmp_path / "o.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg), str(prob_path))
    prob, _ = _read(prob_path)
    assert (prob[:, :15] == -1).all() and (prob[:, 15:] >= 0).all()
    assert result.polygon_count == 1


def test_tall_narrow_raster_with_batches_spanning_many_tile_rows(tmp_path, brightness):
    image = np.random.default_rng(8).integers(0, 255, (3, 1100, 21), dtype=np.uint8)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    out = tmp_path / "p.tif"
    options = DetectionOptions(batch_size=16, tile_size=64)
    result = run_detection(str(raster), brightness, str(tmp_path / "o.gpkg"), str(out), options)
    np.testing.assert_allclose(_read(out)[0], image.mean(axis=0) / 255.0, atol=2e-6)
    assert result.tiles_total == 23


def test_default_tiles_are_fitted_to_the_raster_and_give_the_same_map(tmp_path, brightness):
    """Left to the engine, the grid pushes fewer pixels than the model's 64 px tiles, same result."""
    image = np.random.default_rng(9).integers(0, 255, (3, 1100, 300), dtype=np.uint8)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    fixed, fitted = tmp_path / "fixed.tif", tmp_path / "fitted.tif"
    messages: list[str] = []
    by_model = run_detection(str(raster), brightness, None, str(fixed), DetectionOptions(tile_size=64))
    by_fit = run_detection(str(raster), brightness, None, str(fitted), log=messages.append)
    np.testing.assert_allclose(_read(fitted)[0], _read(fixed)[0], atol=2e-6)
    assert by_fit.tiles_total < by_model.tiles_total
    assert by_fit.timings["read_cpu"] > 0 and by_fit.timings["blend_write_cpu"] > 0  # helper threads' CPU
    # rows: 3 x 384 = 1152 px pushed instead of 23 x 64 = 1472; columns: one tile, 300 padded to 304
    assert any("3 tiles of 384 x 304" in m and "batches of 1" in m for m in messages), messages


def test_engine_polygons_match_a_single_strip_vectorisation(tmp_path, brightness):
    """Strips written by the engine (256-row blocks) give the same landslides as one big strip."""
    from core.vectorize import StreamVectorizer

    rng = np.random.default_rng(9)
    rows, cols = 700, 160
    blobs = np.zeros((rows, cols))
    for _ in range(40):  # random rectangles, many crossing rows 256 and 512
        r, c = rng.integers(0, rows - 60), rng.integers(0, cols - 30)
        blobs[r : r + rng.integers(3, 60), c : c + rng.integers(2, 30)] = 1
    image = np.where(blobs > 0, 230, 25).astype(np.uint8)[None].repeat(3, 0)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    gpkg, prob_path = tmp_path / "o.gpkg", tmp_path / "p.tif"
    result = run_detection(str(raster), brightness, str(gpkg), str(prob_path))
    prob, ds = _read(prob_path)
    stream = StreamVectorizer(str(tmp_path / "ref.gpkg"), None, ds.GetGeoTransform(), cols, 0.5)
    stream.add_strip(0, prob)
    reference = stream.close()
    assert result.polygon_count == reference.polygon_count > 5
    assert result.total_area_m2 == pytest.approx(reference.total_area_m2)
    got = sorted(
        (round(f["area"], 6), round(f["perimeter"], 6), round(f["mean"], 6)) for f in _features(gpkg)
    )
    expected = sorted(
        (round(f["area"], 6), round(f["perimeter"], 6), round(f["mean"], 6))
        for f in _features(tmp_path / "ref.gpkg")
    )
    assert got == expected


def test_automatic_batch_is_one_tile_on_cpu_and_a_pixel_budget_on_gpu():
    from core.engine import auto_batch_size

    assert auto_batch_size(0, "CPU", 512, 896 * 896) == 1
    assert auto_batch_size(0, "CUDA", 512, 512 * 512) == 4
    assert auto_batch_size(0, "CUDA", 512, 1024 * 1024) == 1
    assert auto_batch_size(3, "CPU", 512, 1024 * 1024) == 3  # asked for: honoured


def test_no_imagery_taller_than_the_strip_above_the_first_valid_tile(tmp_path, brightness):
    """Skipped tile rows can move the first blended row further than the strip holds (seen on AMU A).

    64 px tiles: the strip holds 64 + 256 rows; the first valid tile starts at row 576, so rows up to
    512 are flushed at once.
    """
    image = np.random.default_rng(10).integers(1, 255, (3, 900, 40), dtype=np.uint8)
    valid = np.zeros((900, 40), bool)
    valid[600:] = True
    raster = rasters.write_raster(tmp_path / "in.tif", image, mask=valid)
    out, gpkg = tmp_path / "p.tif", tmp_path / "o.gpkg"
    result = run_detection(str(raster), brightness, str(gpkg), str(out), DetectionOptions(tile_size=64))
    prob = _read(out)[0]
    assert (prob[:600] == -1).all()
    np.testing.assert_allclose(prob[600:], image[:, 600:].mean(axis=0) / 255.0, atol=2e-6)
    pixel_area = rasters.PIXEL * rasters.PIXEL
    assert result.total_area_m2 == pytest.approx((prob >= 0.5).sum() * pixel_area)
