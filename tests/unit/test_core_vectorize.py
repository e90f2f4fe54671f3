# SPDX-License-Identifier: GPL-2.0-or-later
"""Vectorising probability rasters: exact pixel polygons, attributes, geographic CRSs, atomic output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from core.atomic import AtomicOutputs, atomic_output
from core.errors import DetectionCanceled, DetectionError
from core.vectorize import vectorize_probability
from tests.fixtures import rasters


def _prob_raster(path, prob, epsg=rasters.EPSG, gt=None):
    ds = gdal.GetDriverByName("GTiff").Create(str(path), prob.shape[1], prob.shape[0], 1, gdal.GDT_Float32)
    ds.SetGeoTransform(gt or rasters.geotransform())
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).SetNoDataValue(-1)
    ds.GetRasterBand(1).WriteArray(prob.astype(np.float32))
    ds = None
    return str(path)


def _layer(path):
    ds = ogr.Open(str(path))
    return ds, ds.GetLayerByName("landslides")


def test_attributes_and_4_connectedness(tmp_path):
    prob = np.zeros((30, 40), np.float32)
    prob[2:6, 3:8] = 0.8
    prob[3, 4] = 0.95
    prob[10, 10] = prob[11, 11] = 0.9  # diagonal neighbours: two landslides (4-connectedness)
    prob[20:25, 0:3] = -1  # nodata never becomes a landslide, even with threshold 0
    path = _prob_raster(tmp_path / "p.tif", prob)
    result = vectorize_probability(path, str(tmp_path / "o.gpkg"), threshold=0.5)
    assert result.polygon_count == 3
    ds, layer = _layer(tmp_path / "o.gpkg")
    assert layer.GetSpatialRef().GetAuthorityCode(None) == str(rasters.EPSG)
    feats = sorted(layer, key=lambda f: -f.GetField("area_m2"))
    big = feats[0]
    assert big.GetField("area_m2") == pytest.approx(20 * 0.25)
    assert big.GetField("perimeter_m") == pytest.approx(18 * 0.5)
    assert big.GetField("mean_prob") == pytest.approx((19 * 0.8 + 0.95) / 20, abs=1e-6)
    assert big.GetField("max_prob") == pytest.approx(0.95, abs=1e-6)
    assert [f.GetField("area_m2") for f in feats[1:]] == [pytest.approx(0.25)] * 2
    assert all(f.GetGeometryRef().IsValid() for f in feats)
    assert sorted(f.GetField("id") for f in feats) == [1, 2, 3]
    del ds
    result = vectorize_probability(path, str(tmp_path / "z.gpkg"), threshold=0.0)
    assert result.total_area_m2 == pytest.approx((30 * 40 - 15) * 0.25)


def test_polygon_with_hole_and_simplify(tmp_path):
    prob = np.zeros((40, 40), np.float32)
    prob[5:30, 5:30] = 0.9
    prob[15:18, 15:18] = 0.1  # a hole
    path = _prob_raster(tmp_path / "p.tif", prob)
    vectorize_probability(path, str(tmp_path / "o.gpkg"))
    ds, layer = _layer(tmp_path / "o.gpkg")
    f = layer.GetNextFeature()
    assert f.GetField("area_m2") == pytest.approx((625 - 9) * 0.25)
    assert f.GetField("perimeter_m") == pytest.approx((100 + 12) * 0.5)
    del ds
    vectorize_probability(path, str(tmp_path / "s.gpkg"), simplify_tolerance=0.3)
    _ds, layer = _layer(tmp_path / "s.gpkg")
    assert layer.GetFeatureCount() == 1 and layer.GetNextFeature().GetGeometryRef().IsValid()


def test_geographic_crs_gives_ellipsoidal_metres(tmp_path):
    lat = 45.0
    deg = 1e-4  # ~11 m x 7.9 m pixels
    prob = np.zeros((20, 20), np.float32)
    prob[5:15, 5:15] = 1.0
    path = _prob_raster(tmp_path / "g.tif", prob, epsg=4326, gt=(10.0, deg, 0, lat + 0.001, 0, -deg))
    result = vectorize_probability(path, str(tmp_path / "o.gpkg"))
    # 10 x 10 pixels: ground width 10*deg*N(lat)*cos(lat) by height 10*deg*M(lat) (WGS84 radii)
    a, e2 = 6378137.0, 0.00669437999014
    phi = np.radians(lat + 0.001 - 10 * deg)
    n = a / np.sqrt(1 - e2 * np.sin(phi) ** 2)
    m = a * (1 - e2) / (1 - e2 * np.sin(phi) ** 2) ** 1.5
    width, height = np.radians(10 * deg) * n * np.cos(phi), np.radians(10 * deg) * m
    assert result.total_area_m2 == pytest.approx(width * height, rel=1e-4)
    _ds, layer = _layer(tmp_path / "o.gpkg")
    assert layer.GetNextFeature().GetField("perimeter_m") == pytest.approx(2 * (width + height), rel=1e-3)


def test_min_area_filter(tmp_path):
    prob = np.zeros((20, 20), np.float32)
    prob[1:3, 1:3] = 0.9  # 1 m²
    prob[10:14, 10:14] = 0.9  # 4 m²
    path = _prob_raster(tmp_path / "p.tif", prob)
    result = vectorize_probability(path, str(tmp_path / "o.gpkg"), min_area_m2=2.0)
    assert result.polygon_count == 1 and result.total_area_m2 == pytest.approx(4.0)


def test_bad_output_and_cancel_leave_nothing(tmp_path):
    path = _prob_raster(tmp_path / "p.tif", np.full((10, 10), 0.9, np.float32))
    with pytest.raises(DetectionError, match="GeoPackage"):
        vectorize_probability(path, str(tmp_path / "o.shp"))
    with pytest.raises(DetectionCanceled):
        vectorize_probability(path, str(tmp_path / "o.gpkg"), is_canceled=lambda: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tif"]


def test_atomic_output(tmp_path):
    final = tmp_path / "out.tif"
    final.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(final) as tmp:
        Path(tmp).write_text("partial")
        Path(tmp + ".aux.xml").write_text("x")
        raise RuntimeError("boom")
    assert final.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]
    with atomic_output(final) as tmp:
        Path(tmp).write_text("new")
        Path(tmp + ".aux.xml").write_text("stats")
    assert final.read_text() == "new"
    assert (tmp_path / "out.tif.aux.xml").read_text() == "stats"
    with AtomicOutputs() as outputs:
        a, b = outputs.temp_for(tmp_path / "a.txt"), outputs.temp_for(tmp_path / "b.txt")
        Path(a).write_text("a")
        Path(b).write_text("b")
    assert not (tmp_path / "a.txt").exists()  # no commit: both discarded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "out.tif.aux.xml"]


def test_group_max_matches_numpy():
    from core.vectorize import _group_max

    rng = np.random.default_rng(5)
    ids = rng.integers(1, 50, 10_000)
    values = rng.random(10_000).astype(np.float32).astype(np.float64)
    values[ids == 7] = 1.0
    expected = np.full(50, -np.inf)
    np.maximum.at(expected, ids, values)
    got = np.full(50, -np.inf)
    _group_max(got, ids[:5000], values[:5000])
    _group_max(got, ids[5000:], values[5000:])
    np.testing.assert_allclose(got, expected, atol=1e-9)


def _stream(path, prob, rows_per_strip, gt=None, **kwargs):
    from core.vectorize import StreamVectorizer

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(rasters.EPSG)
    gt = gt or rasters.geotransform()
    stream = StreamVectorizer(str(path), srs, gt, prob.shape[1], 0.5, **kwargs)
    for y in range(0, prob.shape[0], rows_per_strip):
        stream.add_strip(y, prob[y : y + rows_per_strip].astype(np.float32))
    result = stream.close()
    _ds, layer = _layer(path)
    rows = sorted(
        (
            round(f.GetField("area_m2"), 6),
            round(f.GetField("perimeter_m"), 6),
            round(f.GetField("mean_prob"), 6),
            round(f.GetField("max_prob"), 6),
            f.GetGeometryRef().IsValid(),
            f.GetGeometryRef().GetGeometryName(),
        )
        for f in layer
    )
    return result, rows


def test_landslides_crossing_strips_are_joined(tmp_path):
    prob = np.zeros((30, 30), np.float32)
    prob[2:25, 3:6] = 0.9  # tall bar over many strips
    prob[10:20, 10:13] = 0.7  # U: two arms joined at the bottom ...
    prob[10:20, 16:19] = 0.8
    prob[18:20, 10:19] = 0.6  # ... in a later strip
    prob[5:15, 22:29] = 0.95  # ring with a hole spanning strips
    prob[8:11, 24:27] = 0.0
    prob[26, 20] = prob[27, 21] = 0.9  # corner contact across a boundary: two landslides
    single, expected = _stream(tmp_path / "one.gpkg", prob, 30)
    assert single.polygon_count == 5
    for rows in (1, 2, 3, 7):
        result, got = _stream(tmp_path / f"s{rows}.gpkg", prob, rows)
        assert result.polygon_count == single.polygon_count
        assert result.total_area_m2 == pytest.approx(single.total_area_m2)
        assert got == expected
    ring = [r for r in expected if r[0] == pytest.approx((70 - 9) * 0.25)]
    assert len(ring) == 1 and ring[0][1] == pytest.approx((2 * (7 + 10) + 12) * 0.5)


def test_random_masks_do_not_depend_on_strips(tmp_path):
    rng = np.random.default_rng(6)
    prob = (rng.random((40, 50)) < 0.45).astype(np.float32) * rng.uniform(0.5, 1.0, (40, 50)).astype(
        np.float32
    )
    # 0.3 m pixels at an odd origin: coordinates are not exact binary fractions
    for gt in (None, (500000.1, 0.3, 0.0, 3400000.7, 0.0, -0.3)):
        single, expected = _stream(tmp_path / "one.gpkg", prob, 40, gt=gt)
        assert single.polygon_count > 20
        _result, got = _stream(tmp_path / "s.gpkg", prob, 3, gt=gt)
        assert got == expected
        assert all(valid and name == "POLYGON" for *_, valid, name in got)


def test_label_stats_matches_pixelwise():
    from core.vectorize import _label_stats

    rng = np.random.default_rng(7)
    ids = rng.integers(0, 6, (20, 30)).astype(np.int32)
    ids[:, 10:20] = 3  # long runs crossing row ends
    values = rng.random((20, 30)).astype(np.float32)
    sums, counts, peaks = _label_stats(ids, values, 5)
    for k in range(1, 6):
        sel = values[ids == k].astype(np.float64)
        assert counts[k] == sel.size
        assert sums[k] == pytest.approx(sel.sum())
        assert peaks[k] == pytest.approx(sel.max())


def test_an_attribute_is_one_spec_over_a_strip_layer(tmp_path):
    """Any layer the strips carry can become an attribute: one AttributeSpec (name, type, source layer,
    reducer), merged exactly across strips; NaN pixels of the layer do not count."""
    from core.vectorize import ATTRIBUTES, AttributeSpec, StreamVectorizer

    prob = np.zeros((40, 30), np.float32)
    prob[5:35, 5:10] = 0.9  # one landslide across both strips below
    prob[5:8, 20:25] = 0.7  # one without any height
    height = np.full((40, 30), np.nan, np.float32)
    height[5:35, 5:10] = np.arange(30, dtype=np.float32)[:, None]  # rows 5..34 hold 0..29
    height[10, 5] = np.nan
    specs = (
        *ATTRIBUTES,
        AttributeSpec("height_max", ogr.OFTReal, "height", "max"),
        AttributeSpec("height_mean", ogr.OFTReal, "height", "mean"),
        AttributeSpec("height_pixels", ogr.OFTInteger, "height", "count"),
    )
    stream = StreamVectorizer(
        str(tmp_path / "l.gpkg"), None, rasters.geotransform(), 30, 0.5, attributes=specs
    )
    for y in (0, 20):
        stream.add_strip(y, {"probability": prob[y : y + 20], "height": height[y : y + 20]})
    assert stream.close().polygon_count == 2
    ds, layer = _layer(tmp_path / "l.gpkg")
    rows = sorted((f.items() for f in layer), key=lambda row: -row["area_m2"])
    del layer, ds
    tall, flat = rows
    assert tall["height_max"] == 29.0 and tall["height_pixels"] == 30 * 5 - 1
    assert tall["height_mean"] == pytest.approx((14.5 * 150 - 5) / 149)
    assert tall["mean_prob"] == pytest.approx(0.9)
    assert flat["height_max"] is None and flat["height_pixels"] == 0
