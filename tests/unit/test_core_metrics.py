# SPDX-License-Identifier: GPL-2.0-or-later
"""Pixel and object metrics on hand-made masks whose scores can be computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from core.metrics import align_raster, evaluate, object_metrics, pixel_metrics, rasterize_polygons
from core.report import write_html_report
from tests.fixtures import rasters


def _mask(rows, cols, rects, dtype=np.uint8, value=1):
    m = np.zeros((rows, cols), dtype)
    for r, c, h, w in rects:
        m[r : r + h, c : c + w] = value
    return m


@pytest.fixture
def pair(tmp_path):
    # reference: A 10x10 at (0,0) and B 4x4 at (20,20); prediction: A shifted by 2 columns, C 3x3 at (40,40)
    ref = _mask(50, 60, [(0, 0, 10, 10), (20, 20, 4, 4)])
    pred = _mask(50, 60, [(0, 2, 10, 10), (40, 40, 3, 3)])
    return (
        str(rasters.write_raster(tmp_path / "pred.tif", pred)),
        str(rasters.write_raster(tmp_path / "ref.tif", ref)),
    )


def test_pixel_metrics_by_hand(pair):
    m = pixel_metrics(*pair)
    tp, fp, fn = 80, 20 + 9, 20 + 16
    assert (m["tp"], m["fp"], m["fn"]) == (tp, fp, fn)
    assert m["tn"] == 50 * 60 - tp - fp - fn
    assert m["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))
    p, r = tp / (tp + fp), tp / (tp + fn)
    assert m["f1"] == pytest.approx(2 * p * r / (p + r))


def test_object_metrics_by_hand(pair):
    m = object_metrics(*pair, iou_threshold=0.5)
    # A vs A': intersection 80, union 120 -> IoU 0.667 matches; B and C match nothing.
    assert (m["objects_predicted"], m["objects_reference"], m["objects_matched"]) == (2, 2, 1)
    assert m["object_precision"] == pytest.approx(0.5)
    assert m["object_recall"] == pytest.approx(0.5)
    assert object_metrics(*pair, iou_threshold=0.7)["objects_matched"] == 0


def test_nodata_pixels_are_ignored(tmp_path):
    ref = _mask(20, 20, [(0, 0, 5, 5)])
    ref[:, 10:] = 255  # unknown
    pred = _mask(20, 20, [(0, 0, 5, 5), (0, 12, 5, 5)])
    m = pixel_metrics(
        str(rasters.write_raster(tmp_path / "p.tif", pred)),
        str(rasters.write_raster(tmp_path / "r.tif", ref, nodata=255)),
    )
    assert (m["tp"], m["fp"], m["fn"]) == (25, 0, 0)


def test_evaluate_accepts_polygons_and_misaligned_rasters(tmp_path, pair):
    pred, _ref = pair
    wkts = [rasters.pixel_rect_wkt(0, 0, 10, 10), rasters.pixel_rect_wkt(20, 20, 4, 4)]
    ref_polys = str(rasters.write_polygons(tmp_path / "ref.gpkg", wkts))
    m = evaluate(pred, ref_polys)
    assert (m["tp"], m["objects_matched"]) == (80, 1)
    # a reference raster on a coarser grid is warped onto the prediction's grid
    coarse = _mask(25, 30, [(0, 0, 5, 5), (10, 10, 2, 2)])
    coarse_path = str(rasters.write_raster(tmp_path / "coarse.tif", coarse, pixel=1.0))
    assert evaluate(pred, coarse_path)["tp"] == 80
    burned = rasterize_polygons(ref_polys, pred, str(tmp_path / "burn.tif"))
    assert pixel_metrics(burned, pair[1])["iou"] == 1.0
    aligned = align_raster(coarse_path, pred, str(tmp_path / "al.tif"))
    assert pixel_metrics(aligned, pair[1])["iou"] == 1.0


def test_html_report(tmp_path, pair):
    m = evaluate(*pair)
    path = write_html_report(tmp_path / "r.html", m, "Scene <A>")
    text = (tmp_path / "r.html").read_text()
    assert path.endswith("r.html")
    assert "Scene &lt;A&gt;" in text and "IoU (pixels)" in text and f"{m['iou']:.4f}" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.tif", "r.html", "ref.tif"]
