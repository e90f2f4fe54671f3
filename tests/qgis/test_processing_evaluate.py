# SPDX-License-Identifier: GPL-2.0-or-later
"""``landslides:evaluate`` on hand-made polygons and rasters whose scores are computed by hand below.

Reference (pixels of 0.5 m): A = 10 x 10 at (0, 0), B = 10 x 10 at (20, 20), C = 4 x 4 at (40, 40).
Prediction: A' = 10 x 8 inside A (IoU 0.8), B' = B shifted 5 columns (IoU 50 / 150), D = 2 x 2 at (60, 60).
Pixels: TP = 80 + 50 = 130, FP = 50 + 4 = 54, FN = 20 + 50 + 16 = 86.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import processing
import pytest
from osgeo import ogr
from qgis.core import QgsProcessingException

from tests.fixtures import rasters

TP, FP, FN = 130, 54, 86
REFERENCE = [(0, 0, 10, 10), (20, 20, 10, 10), (40, 40, 4, 4)]
PREDICTION = [(0, 0, 10, 8), (20, 25, 10, 10), (60, 60, 2, 2)]
EXPECTED_PIXEL = {
    "IOU": TP / (TP + FP + FN),
    "PRECISION": TP / (TP + FP),
    "RECALL": TP / (TP + FN),
    "F1": 2 * TP / (2 * TP + FP + FN),
}

pytestmark = pytest.mark.usefixtures("landslides_provider")


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return rasters.write_polygons(
        tmp_path / "reference.gpkg", [rasters.pixel_rect_wkt(*r) for r in REFERENCE]
    )


@pytest.fixture
def prediction_polygons(tmp_path: Path) -> Path:
    wkts = [rasters.pixel_rect_wkt(*r) for r in PREDICTION]
    return rasters.write_polygons(tmp_path / "prediction.gpkg", wkts, layer_name="landslides")


@pytest.fixture
def prediction_raster(tmp_path: Path) -> Path:
    mask = np.zeros((100, 120), dtype=np.uint8)
    for row, col, height, width in PREDICTION:
        mask[row : row + height, col : col + width] = 1
    return rasters.write_raster(tmp_path / "prediction.tif", mask)


def read_table(path: Path) -> dict[str, float]:
    dataset = ogr.Open(str(path))
    table = {feature.GetField("metric"): feature.GetField("value") for feature in dataset.GetLayer(0)}
    dataset = None
    return table


def run_evaluate(tmp_path: Path, prediction: Path, reference: Path, **extra) -> dict:
    parameters = {
        "PREDICTION": str(prediction),
        "INVENTORY": str(reference),
        "OUTPUT": str(tmp_path / "metrics.gpkg"),
        "REPORT": str(tmp_path / "report.html"),
        **extra,
    }
    return processing.run("landslides:evaluate", parameters)


@pytest.mark.parametrize("prediction_kind", ["polygons", "raster"])
def test_scores_match_the_hand_count(
    tmp_path: Path, reference: Path, prediction_polygons: Path, prediction_raster: Path, prediction_kind: str
) -> None:
    prediction = prediction_polygons if prediction_kind == "polygons" else prediction_raster
    result = run_evaluate(tmp_path, prediction, reference)
    for key, value in EXPECTED_PIXEL.items():
        assert result[key] == pytest.approx(value), key
    # Only A' matches A at IoU >= 0.5: one of three on each side.
    assert result["OBJ_PRECISION"] == pytest.approx(1 / 3)
    assert result["OBJ_RECALL"] == pytest.approx(1 / 3)
    assert result["OBJ_F1"] == pytest.approx(1 / 3)

    table = read_table(tmp_path / "metrics.gpkg")
    assert (table["tp"], table["fp"], table["fn"]) == (TP, FP, FN)
    assert table["iou"] == pytest.approx(EXPECTED_PIXEL["IOU"])
    assert table["objects_matched"] == 1
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "IoU" in report
    assert f"{EXPECTED_PIXEL['IOU']:.4f}" in report


def test_lower_overlap_threshold_matches_more_objects(
    tmp_path: Path, reference: Path, prediction_polygons: Path
) -> None:
    result = run_evaluate(tmp_path, prediction_polygons, reference, OVERLAP_THRESHOLD=0.3)
    # B' (IoU 1/3) now matches B too.
    assert result["OBJ_PRECISION"] == pytest.approx(2 / 3)
    assert result["OBJ_RECALL"] == pytest.approx(2 / 3)
    assert result["IOU"] == pytest.approx(EXPECTED_PIXEL["IOU"])


def test_perfect_prediction_scores_one(tmp_path: Path, reference: Path) -> None:
    result = run_evaluate(tmp_path, reference, reference)
    for key in ("IOU", "PRECISION", "RECALL", "F1", "OBJ_PRECISION", "OBJ_RECALL", "OBJ_F1"):
        assert result[key] == pytest.approx(1.0), key


def test_points_are_rejected_and_nothing_is_written(tmp_path: Path, reference: Path) -> None:
    points = tmp_path / "points.gpkg"
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(str(points))
    layer = dataset.CreateLayer("points", None, ogr.wkbPoint)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POINT (500001 3399999)"))
    layer.CreateFeature(feature)
    dataset = None
    with pytest.raises(QgsProcessingException):
        run_evaluate(tmp_path, points, reference)
    assert not (tmp_path / "report.html").exists()
    assert not (tmp_path / "metrics.gpkg").exists()


def _to_wgs84(wkt: str) -> str:
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsGeometry, QgsProject

    geometry = QgsGeometry.fromWkt(wkt)
    geometry.transform(
        QgsCoordinateTransform(
            QgsCoordinateReferenceSystem(f"EPSG:{rasters.EPSG}"),
            QgsCoordinateReferenceSystem("EPSG:4326"),
            QgsProject.instance(),
        )
    )
    return geometry.asWkt(12)


@pytest.mark.parametrize("geographic", ["inventory", "both"])
def test_geographic_polygons_are_compared_on_a_metric_grid(
    tmp_path: Path, prediction_polygons: Path, geographic: str
) -> None:
    """PIXEL_SIZE 0.5 is half a metre, not half a degree, when an input is in EPSG:4326 (issue 11)."""
    inventory = rasters.write_polygons(
        tmp_path / "inventory_wgs84.gpkg",
        [_to_wgs84(rasters.pixel_rect_wkt(*r)) for r in REFERENCE],
        epsg=4326,
    )
    prediction = prediction_polygons
    if geographic == "both":
        prediction = rasters.write_polygons(
            tmp_path / "prediction_wgs84.gpkg",
            [_to_wgs84(rasters.pixel_rect_wkt(*r)) for r in PREDICTION],
            epsg=4326,
            layer_name="landslides",
        )
    result = run_evaluate(tmp_path, prediction, inventory)
    # Both in WGS 84: rasterised in the UTM zone (47N), whose 0.5 m grid need not match the
    # original pixels exactly; a projected prediction gives its own grid back exactly.
    tolerance = 1e-9 if geographic == "inventory" else 0.03
    for key, value in EXPECTED_PIXEL.items():
        assert result[key] == pytest.approx(value, abs=tolerance), key
    assert result["OBJ_RECALL"] == pytest.approx(1 / 3)
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "32647" in report  # the grid's CRS is named in the report
