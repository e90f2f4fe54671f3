# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``landslides`` algorithms from the command line: ``qgis_process.bin`` in a throw-away profile.

qgis_process loads a Python plugin found on QGIS_PLUGINPATH only when its metadata says
``hasProcessingProvider=yes`` and the profile has it enabled (``qgis_process.bin plugins enable
landslide_detector``, done once by the ``qgis_process_profile`` fixture).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from osgeo import ogr

from tests.fixtures import rasters

if TYPE_CHECKING:
    from tests.qgis.conftest import TinyModels

ROOT = Path(__file__).resolve().parents[2]
MODEL3 = ROOT / "resources" / "detect_and_evaluate.model3"
SQUARE_AREAS = sorted([20 * 30 * rasters.PIXEL**2, 15 * 15 * rasters.PIXEL**2])


def feature_areas(path: Path) -> list[float]:
    dataset = ogr.Open(str(path))
    areas = sorted(round(feature.GetField("area_m2"), 6) for feature in dataset.GetLayer(0))
    dataset = None
    return areas


def test_plugin_algorithms_are_listed(qgis_process) -> None:
    result = qgis_process("list")
    assert result.returncode == 0, result.output
    for algorithm_id in ("landslides:detect", "landslides:evaluate", "landslides:export_tiles"):
        assert algorithm_id in result.stdout


def test_help_shows_the_parameters(qgis_process) -> None:
    result = qgis_process("help", "landslides:detect")
    assert result.returncode == 0, result.output
    for key in ("INPUT", "MODEL", "THRESHOLD", "MIN_AREA", "DEVICE", "OUTPUT", "PROBABILITY"):
        assert f"{key}:" in result.stdout


def test_detect_runs_and_reports_json(qgis_process, tmp_path: Path, tiny_model_files: TinyModels) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    result = qgis_process(
        "--json",
        "run",
        "landslides:detect",
        "--",
        f"INPUT={raster}",
        f"MODEL={tiny_model_files.brightness}",
        "DEVICE=cpu",
        f"OUTPUT={tmp_path / 'landslides.gpkg'}",
        f"PROBABILITY={tmp_path / 'probability.tif'}",
    )
    assert result.returncode == 0, result.output
    results = result.json()["results"]
    assert results["POLYGON_COUNT"] == 2
    assert results["TOTAL_AREA_M2"] == pytest.approx(sum(SQUARE_AREAS))
    assert results["EXECUTION_PROVIDER"] == "CPU"
    assert results["PROVIDER_REASON"]
    assert Path(results["PROBABILITY"]).is_file()
    assert feature_areas(tmp_path / "landslides.gpkg") == SQUARE_AREAS


@pytest.mark.parametrize(
    ("case", "expected"),
    [("corrupt", "corrupt.onnx"), ("wrong_rank", "wrong_rank.onnx"), ("brightness_4band", "band")],
)
def test_bad_model_exits_non_zero_with_the_reason(
    qgis_process, tmp_path: Path, tiny_model_files: TinyModels, case: str, expected: str
) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    out = tmp_path / "out"
    out.mkdir()
    result = qgis_process(
        "run",
        "landslides:detect",
        "--",
        f"INPUT={raster}",
        f"MODEL={getattr(tiny_model_files, case)}",
        f"OUTPUT={out / 'landslides.gpkg'}",
        f"PROBABILITY={out / 'probability.tif'}",
    )
    assert result.returncode != 0
    assert expected in result.output
    assert list(out.iterdir()) == []


def test_unreadable_raster_exits_non_zero(qgis_process, tmp_path: Path, tiny_model_files: TinyModels) -> None:
    not_a_raster = tmp_path / "notes.tif"
    not_a_raster.write_text("not an image")
    result = qgis_process(
        "run",
        "landslides:detect",
        "--",
        f"INPUT={not_a_raster}",
        f"MODEL={tiny_model_files.brightness}",
        f"OUTPUT={tmp_path / 'landslides.gpkg'}",
    )
    assert result.returncode != 0
    assert "notes.tif" in result.output
    assert not (tmp_path / "landslides.gpkg").exists()


def test_unwritable_output_exits_non_zero(qgis_process, tmp_path: Path, tiny_model_files: TinyModels) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    result = qgis_process(
        "run",
        "landslides:detect",
        "--",
        f"INPUT={raster}",
        f"MODEL={tiny_model_files.brightness}",
        f"OUTPUT={tmp_path / 'missing_folder' / 'landslides.gpkg'}",
    )
    assert result.returncode != 0
    assert "missing_folder" in result.output


def test_model3_graph_runs(qgis_process, tmp_path: Path, tiny_model_files: TinyModels) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    inventory = rasters.write_polygons(
        tmp_path / "inventory.gpkg",
        [rasters.pixel_rect_wkt(10, 10, 20, 30), rasters.pixel_rect_wkt(60, 70, 15, 15)],
    )
    result = qgis_process(
        "--json",
        "run",
        str(MODEL3),
        "--",
        f"orthophoto={raster}",
        f"inventory={inventory}",
        f"model={tiny_model_files.brightness}",
        f"detect:Landslides={tmp_path / 'landslides.gpkg'}",
        f"evaluate:Report={tmp_path / 'report.html'}",
    )
    assert result.returncode == 0, result.output
    assert feature_areas(tmp_path / "landslides.gpkg") == SQUARE_AREAS
    # The brightness model finds exactly the inventory's two squares.
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "IoU (pixels)" in report
    assert "1.0000" in report


def test_model3_file_is_up_to_date(tmp_path: Path) -> None:
    """resources/detect_and_evaluate.model3 is what tools/build_model3.py writes today."""
    import subprocess
    import sys

    from tests.qgis.conftest import qgis_process_env

    env = qgis_process_env(tmp_path / "profile")
    built = tmp_path / "built.model3"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_model3.py"), "--output", str(built)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert built.read_bytes() == MODEL3.read_bytes(), "run tools/build_model3.py and commit the result"


def test_raster_without_crs_succeeds_with_a_warning(
    qgis_process, tmp_path: Path, tiny_model_files: TinyModels
) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "nocrs.tif", epsg=None)
    result = qgis_process(
        "--json",
        "run",
        "landslides:detect",
        "--",
        f"INPUT={raster}",
        f"MODEL={tiny_model_files.brightness}",
        f"OUTPUT={tmp_path / 'landslides.gpkg'}",
    )
    assert result.returncode == 0, result.output
    document = result.json()
    assert document["results"]["POLYGON_COUNT"] == 2
    assert any("coordinate reference system" in w or "CRS" in w for w in document["log"]["warning"])
