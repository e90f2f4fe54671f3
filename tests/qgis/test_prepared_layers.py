# SPDX-License-Identifier: GPL-2.0-or-later
"""Every algorithm looks its layers up in prepareAlgorithm (the main thread), never in the run.

In QGIS 3.22 a look-up from the worker thread of a background run discards the project's expression
scope and can crash QGIS while the map canvas rebuilds it (processing_provider/prepared_layers.py; the
dock's tests crashed about one run in three before). Checked deterministically: after ``prepare`` the
context is pointed at an empty project, so a look-up during the run would find nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from osgeo import ogr
from qgis.core import (
    QgsApplication,
    QgsProcessingContext,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from tests.fixtures import rasters

if TYPE_CHECKING:
    from tests.qgis.conftest import TinyModels

pytestmark = pytest.mark.usefixtures("landslides_provider")


@pytest.fixture
def project_layers(tmp_path: Path, squares_raster: Path):
    """The squares raster and two polygons (one over each bright square) loaded in the project."""
    areas = rasters.write_polygons(
        tmp_path / "areas.gpkg",
        [rasters.pixel_rect_wkt(55, 65, 25, 25), rasters.pixel_rect_wkt(5, 5, 30, 40)],
    )
    raster = QgsRasterLayer(str(squares_raster), "squares")
    polygons = QgsVectorLayer(str(areas), "areas", "ogr")
    assert raster.isValid() and polygons.isValid()
    QgsProject.instance().addMapLayers([raster, polygons])
    yield raster, polygons
    QgsProject.instance().removeMapLayers([raster.id(), polygons.id()])


def run_prepared_elsewhere(algorithm_id: str, parameters: dict[str, Any]) -> dict[str, Any]:
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    assert algorithm.prepare(parameters, context, feedback)
    context.setProject(QgsProject())  # what a look-up during the run would search: nothing
    results = algorithm.runPrepared(parameters, context, feedback)
    assert results, f"{algorithm_id} failed"
    return results


def test_detect_uses_the_layers_found_before_the_run(
    tmp_path: Path, project_layers, tiny_model_files: TinyModels
) -> None:
    raster, polygons = project_layers
    polygons.selectByIds([next(f.id() for f in polygons.getFeatures() if f["id"] == 1)])
    out = tmp_path / "out.gpkg"
    run_prepared_elsewhere(
        "landslides:detect",
        {
            "INPUT": raster.id(),
            "MODEL": str(tiny_model_files.brightness),
            "MASK": QgsProcessingFeatureSourceDefinition(polygons.id(), True),  # the selected polygon
            "EXTENT": polygons.id(),
            "OUTPUT": str(out),
        },
    )
    dataset = ogr.Open(str(out))
    areas = [feature.GetField("area_m2") for feature in dataset.GetLayer(0)]
    dataset = None
    assert areas == [15 * 15 * rasters.PIXEL**2]  # only the square under the selected polygon


def test_export_tiles_and_evaluate_use_the_layers_found_before_the_run(
    tmp_path: Path, project_layers
) -> None:
    raster, polygons = project_layers
    results = run_prepared_elsewhere(
        "landslides:export_tiles",
        {
            "INPUT": raster.id(),
            "INVENTORY": polygons.id(),
            "TILE_SIZE": 64,
            "OVERLAP": 0,
            "OUTPUT_FOLDER": str(tmp_path / "tiles"),
        },
    )
    assert list((tmp_path / "tiles").rglob("*.tif"))
    results = run_prepared_elsewhere(
        "landslides:evaluate",
        {
            "PREDICTION": polygons.id(),
            "INVENTORY": polygons.id(),
            "OUTPUT": str(tmp_path / "metrics.gpkg"),
            "REPORT": str(tmp_path / "report.html"),
        },
    )
    assert results["IOU"] == pytest.approx(1.0)
