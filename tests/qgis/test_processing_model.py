# SPDX-License-Identifier: GPL-2.0-or-later
"""The shipped model-builder graph resources/detect_and_evaluate.model3, loaded and run inside QGIS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import processing
import pytest
from qgis.core import QgsProcessingModelAlgorithm

from tests.fixtures import rasters

if TYPE_CHECKING:
    from tests.qgis.conftest import TinyModels

MODEL3 = Path(__file__).resolve().parents[2] / "resources" / "detect_and_evaluate.model3"

pytestmark = pytest.mark.usefixtures("landslides_provider")


def load_model() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL3))
    return model


def test_graph_chains_detect_into_evaluate() -> None:
    model = load_model()
    ok, errors = model.validate()
    assert ok, errors
    children = model.childAlgorithms()
    assert {child.algorithmId() for child in children.values()} == {
        "landslides:detect",
        "landslides:evaluate",
    }
    prediction_sources = children["evaluate"].parameterSources()["PREDICTION"]
    assert [(s.outputChildId(), s.outputName()) for s in prediction_sources] == [("detect", "OUTPUT")]
    assert {p.name() for p in model.parameterDefinitions()} == {
        "orthophoto",
        "inventory",
        "model",
        "detect:Landslides",
        "evaluate:Report",
    }


def test_graph_runs_in_processing(tmp_path: Path, tiny_model_files: TinyModels) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    # The inventory holds only the first square: pixel recall = 600 / 600, precision = 600 / 825.
    inventory = rasters.write_polygons(tmp_path / "inventory.gpkg", [rasters.pixel_rect_wkt(10, 10, 20, 30)])
    model = load_model()
    result = processing.run(
        model,
        {
            "orthophoto": str(raster),
            "inventory": str(inventory),
            "model": str(tiny_model_files.brightness),
            "detect:Landslides": str(tmp_path / "landslides.gpkg"),
            "evaluate:Report": str(tmp_path / "report.html"),
        },
    )
    assert Path(result["detect:Landslides"]).is_file()
    report = Path(result["evaluate:Report"]).read_text(encoding="utf-8")
    assert f"{600 / 825:.4f}" in report  # pixel precision
    assert f"{1 / 2:.4f}" in report  # object precision: one of the two detections matches
