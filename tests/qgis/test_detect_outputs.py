# SPDX-License-Identifier: GPL-2.0-or-later
"""What ``landslides:detect`` hands the analyst (issue 13): the attribute table, the styles of toolbox
runs, and the test-time augmentation cost its help states."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import processing
import pytest
from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from tests.fixtures import rasters

pytestmark = pytest.mark.usefixtures("landslides_provider")
ROUNDING = {"area_m2": 2, "perimeter_m": 2, "mean_prob": 3, "max_prob": 3}


def detect(parameters: dict) -> dict:
    return processing.run("landslides:detect", parameters, feedback=QgsProcessingFeedback())


@pytest.mark.parametrize("output", ["landslides.gpkg", QgsProcessing.TEMPORARY_OUTPUT])
def test_one_identifier_and_rounded_numbers(tmp_path: Path, tiny_model_files, output: str) -> None:
    # 0.3 m pixels and a brightness of 240/255: areas, perimeters and probabilities that need rounding.
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif", pixel=0.3)
    destination = output if output == QgsProcessing.TEMPORARY_OUTPUT else str(tmp_path / output)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    result = processing.run(
        "landslides:detect",
        {"INPUT": str(raster), "MODEL": str(tiny_model_files.brightness), "OUTPUT": destination},
        context=context,
        feedback=QgsProcessingFeedback(),
    )
    layer = result["OUTPUT"]
    if not isinstance(layer, QgsVectorLayer):
        layer = context.getMapLayer(layer) or QgsVectorLayer(layer, "out", "ogr")
    assert layer.isValid()
    assert layer.fields().names() == ["fid", "area_m2", "perimeter_m", "mean_prob", "max_prob"]
    features = list(layer.getFeatures())
    assert sorted(int(f["fid"]) for f in features) == [1, 2]
    for feature in features:
        for name, decimals in ROUNDING.items():
            value = float(feature[name])
            assert value == round(value, decimals), (name, value)
        assert feature["mean_prob"] == pytest.approx(0.941, abs=1e-9)  # 240/255 = 0.94117647…
    assert sorted(f["area_m2"] for f in features) == [20.25, 54.0]


def test_toolbox_runs_are_styled_and_load_the_probability_raster(tmp_path: Path, tiny_model_files) -> None:
    from landslide_detector.processing_provider.styles import confidence_bounds

    project = QgsProject.instance()
    before = set(project.mapLayers())
    # What the toolbox dialog does: run, then load the outputs with their post-processors.
    processing.runAndLoadResults(
        "landslides:detect",
        {
            "INPUT": str(rasters.bright_squares_raster(tmp_path / "squares.tif")),
            "MODEL": str(tiny_model_files.brightness),
            "THRESHOLD": 0.3,
            "OUTPUT": str(tmp_path / "landslides.gpkg"),
            "PROBABILITY": str(tmp_path / "probability.tif"),
        },
        feedback=QgsProcessingFeedback(),
    )
    added = [project.mapLayer(layer_id) for layer_id in set(project.mapLayers()) - before]
    polygons = [layer for layer in added if isinstance(layer, QgsVectorLayer)]
    probability = [layer for layer in added if isinstance(layer, QgsRasterLayer)]
    assert len(polygons) == 1 and len(probability) == 1
    renderer = polygons[0].renderer()
    assert renderer.type() == "graduatedSymbol" and renderer.classAttribute() == "mean_prob"
    assert [r.upperValue() for r in renderer.ranges()] == pytest.approx(confidence_bounds(0.3)[1:])
    assert probability[0].renderer().type() == "singlebandpseudocolor"
    assert probability[0].renderer().classificationMax() == 1.0
    project.removeMapLayers([layer.id() for layer in added])


class CountingSession:
    """A real onnxruntime session that counts how often the model runs."""

    def __init__(self, session) -> None:
        self.session = session
        self.runs = 0

    def run(self, *args, **kwargs):
        self.runs += 1
        return self.session.run(*args, **kwargs)


@pytest.mark.parametrize(("height", "width", "passes"), [(64, 64, 8), (64, 128, 4)])
def test_tta_passes_are_what_the_help_says(tiny_model_files, height: int, width: int, passes: int) -> None:
    """The help's cost ("8 times … 4 when tiles are not square") is the number of model passes."""
    import onnxruntime
    from landslide_detector.core.pipeline import infer_batch
    from landslide_detector.processing_provider.algorithm_base import HELP_DIR

    session = CountingSession(onnxruntime.InferenceSession(str(tiny_model_files.brightness)))
    data = np.random.default_rng(0).random((2, 3, height, width), dtype=np.float32)
    plain = infer_batch(session, session.session.get_inputs()[0].name, data, False, None)
    assert session.runs == 1
    session.runs = 0
    augmented = infer_batch(session, session.session.get_inputs()[0].name, data, True, None)
    assert session.runs == passes
    np.testing.assert_allclose(augmented, plain, atol=1e-5)  # a pixel-wise model is symmetric

    help_text = (HELP_DIR / "detect.html").read_text(encoding="utf-8")
    item = re.search(r"<li><b>Test-time augmentation</b>(.*?)</li>", help_text, re.S).group(1)
    assert re.search(rf"\b{passes} times\b", item)
