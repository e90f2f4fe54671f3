# SPDX-License-Identifier: GPL-2.0-or-later
"""``landslides:detect`` PRECISION (auto / float32 / int8): what runs, and what the user is told.

A tiny convolutional model and its int8 copy made by ``tools/quantize_int8.py`` (real files, real
onnxruntime sessions); ``auto`` is checked against this machine's real CPU flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import processing
import pytest
from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingParameterDefinition

from tests.fixtures import int8_models

if TYPE_CHECKING:
    from tests.qgis.conftest import RecordingFeedback

pytestmark = pytest.mark.usefixtures("landslides_provider")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return int8_models.int8_pair(tmp_path_factory.mktemp("int8"))


def detect(raster: Path, model: Path, out: Path, feedback: RecordingFeedback, **extra: str) -> dict:
    parameters = {"INPUT": str(raster), "MODEL": str(model), "DEVICE": "cpu", "OUTPUT": str(out), **extra}
    return processing.run("landslides:detect", parameters, feedback=feedback)


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_forced_precision_runs_and_is_reported(
    precision: str, pair: tuple[Path, Path], squares_raster: Path, tmp_path: Path, feedback: RecordingFeedback
) -> None:
    result = detect(squares_raster, pair[0], tmp_path / "out.gpkg", feedback, PRECISION=precision)
    assert result["PRECISION_USED"] == precision
    assert result["PRECISION_REASON"]
    assert any(line.startswith(f"Precision: {precision} (") for line in feedback.infos), feedback.infos
    assert result["POLYGON_COUNT"] == 2  # both bright squares, in either precision


def test_auto_follows_this_cpu(
    pair: tuple[Path, Path], squares_raster: Path, tmp_path: Path, feedback: RecordingFeedback
) -> None:
    """Without VNNI/AMX auto runs float32; with them, whichever file measured faster here, as the
    verdict cached by core.precision_probe says (the tests' own cache folder)."""
    import json
    import os

    from landslide_detector.core.precision import int8_feature, read_cpu_flags
    from landslide_detector.core.precision_probe import CACHE_FILE

    result = detect(squares_raster, pair[0], tmp_path / "out.gpkg", feedback)  # PRECISION left out: auto
    reason = result["PRECISION_REASON"]
    assert reason.startswith("auto: ")
    if not int8_feature(read_cpu_flags()):
        assert result["PRECISION_USED"] == "float32", reason
        return
    cache = Path(os.environ["LANDSLIDES_CACHE_DIR"]) / CACHE_FILE
    verdicts = [v for k, v in json.loads(cache.read_text()).items() if v["model"] == pair[0].name]
    assert verdicts and result["PRECISION_USED"] == verdicts[0]["precision"], reason
    assert "measured" in reason and f"{verdicts[0]['speedup']:.2f}x as fast as float32" in reason


def test_int8_without_a_copy_fails_clearly_and_writes_nothing(
    tmp_path: Path, squares_raster: Path, feedback: RecordingFeedback
) -> None:
    model = int8_models.conv_model(tmp_path / "alone.onnx")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(QgsProcessingException) as err:
        detect(squares_raster, model, out_dir / "landslides.gpkg", feedback, PRECISION="int8")
    message = str(err.value)
    assert "alone.int8.onnx" in message and "quantize_int8.py" in message
    assert list(out_dir.iterdir()) == []


def test_precision_is_an_advanced_choice() -> None:
    algorithm = QgsApplication.processingRegistry().algorithmById("landslides:detect")
    parameter = algorithm.parameterDefinition("PRECISION")
    assert parameter.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert parameter.options() == ["auto", "float32", "int8"]
    assert parameter.defaultValue() == "auto"
    assert parameter.flags() & QgsProcessingParameterDefinition.FlagOptional  # missing means auto


def test_graphs_saved_before_precision_existed_still_validate(tmp_path: Path) -> None:
    import re

    from qgis.core import QgsProcessingModelAlgorithm

    shipped = Path(__file__).resolve().parents[2] / "resources" / "detect_and_evaluate.model3"
    text = shipped.read_text(encoding="utf-8")
    # The detect step's PRECISION value removed: a graph saved by an earlier version of the plugin.
    older, removed = re.subn(
        r'\s*<Option type="List" name="PRECISION">.*?</Option>\s*</Option>', "", text, flags=re.S
    )
    assert removed == 1
    (tmp_path / "older.model3").write_text(older, encoding="utf-8")
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(tmp_path / "older.model3"))
    assert "PRECISION" not in model.childAlgorithm("detect").parameterSources()
    ok, errors = model.validate()
    assert ok, errors
