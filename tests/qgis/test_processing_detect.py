# SPDX-License-Identifier: GPL-2.0-or-later
"""``landslides:detect`` through processing.run on generated rasters and tiny ONNX models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import processing
import pytest
from osgeo import gdal, ogr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
    QgsVectorLayer,
)

from tests.fixtures import rasters

if TYPE_CHECKING:
    from tests.qgis.conftest import RecordingFeedback, TinyModels

PIXEL_AREA = rasters.PIXEL**2
# The two rectangles of rasters.bright_squares_raster: 20 x 30 and 15 x 15 pixels.
SQUARE_AREAS = sorted([20 * 30 * PIXEL_AREA, 15 * 15 * PIXEL_AREA])

pytestmark = pytest.mark.usefixtures("landslides_provider")


def run_detect(parameters: dict, feedback: RecordingFeedback | None = None) -> dict:
    return processing.run("landslides:detect", parameters, feedback=feedback or QgsProcessingFeedback())


def read_polygons(path: Path) -> list[dict]:
    dataset = ogr.Open(str(path))
    layer = dataset.GetLayer(0)
    rows = []
    for feature in layer:
        row = {name: feature.GetField(name) for name in ("area_m2", "perimeter_m", "mean_prob", "max_prob")}
        row["geometry_area"] = feature.GetGeometryRef().GetArea()
        rows.append(row)
    srs_wkt = layer.GetSpatialRef().ExportToWkt() if layer.GetSpatialRef() else ""
    dataset = None
    for row in rows:
        row["srs"] = srs_wkt
    return rows


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_polygons_cover_exactly_the_bright_pixels(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels, feedback: RecordingFeedback
) -> None:
    result = run_detect(
        {
            "INPUT": str(squares_raster),
            "MODEL": str(tiny_model_files.brightness),
            "OUTPUT": str(tmp_path / "landslides.gpkg"),
            "PROBABILITY": str(tmp_path / "probability.tif"),
            "DEVICE": "cpu",
        },
        feedback,
    )
    polygons = read_polygons(tmp_path / "landslides.gpkg")
    assert sorted(round(p["geometry_area"], 6) for p in polygons) == SQUARE_AREAS
    assert sorted(round(p["area_m2"], 6) for p in polygons) == SQUARE_AREAS
    assert "32647" in polygons[0]["srs"]
    # Foreground value 240 of 255 is the brightness model's probability inside the squares.
    for polygon in polygons:
        assert polygon["mean_prob"] == pytest.approx(240 / 255, abs=1e-3)
        assert polygon["max_prob"] == pytest.approx(240 / 255, abs=1e-3)

    assert result["POLYGON_COUNT"] == 2
    assert result["TOTAL_AREA_M2"] == pytest.approx(sum(SQUARE_AREAS))
    assert result["EXECUTION_PROVIDER"] == "CPU"
    assert result["PROVIDER_REASON"]
    assert result["ELAPSED_S"] >= 0
    assert any("CPU" in message for message in feedback.infos)

    probability = gdal.Open(result["PROBABILITY"]).ReadAsArray()
    assert probability.shape == (100, 120)
    assert probability[15, 15] == pytest.approx(240 / 255, abs=1e-3)
    assert probability[0, 0] == pytest.approx(20 / 255, abs=1e-3)


def test_threshold_and_min_area_filter(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels
) -> None:
    run_detect(
        {
            "INPUT": str(squares_raster),
            "MODEL": str(tiny_model_files.brightness),
            "MIN_AREA": 100.0,  # drops the 56.25 m² square
            "OUTPUT": str(tmp_path / "big.gpkg"),
        }
    )
    assert [round(p["area_m2"], 6) for p in read_polygons(tmp_path / "big.gpkg")] == [SQUARE_AREAS[1]]

    result = run_detect(
        {
            "INPUT": str(squares_raster),
            "MODEL": str(tiny_model_files.brightness),
            "THRESHOLD": 0.99,  # above every pixel's probability
            "OUTPUT": str(tmp_path / "none.gpkg"),
        }
    )
    assert result["POLYGON_COUNT"] == 0
    assert read_polygons(tmp_path / "none.gpkg") == []


def test_nodata_pixels_are_never_landslides(tmp_path: Path, tiny_model_files: TinyModels) -> None:
    # The background value is declared nodata: a model that says 0.7 everywhere finds only the squares.
    raster = rasters.bright_squares_raster(tmp_path / "nodata.tif", nodata=20)
    run_detect(
        {
            "INPUT": str(raster),
            "MODEL": str(tiny_model_files.constant),
            "OUTPUT": str(tmp_path / "out.gpkg"),
        }
    )
    assert sorted(round(p["area_m2"], 6) for p in read_polygons(tmp_path / "out.gpkg")) == SQUARE_AREAS


def test_mask_band_pixels_are_never_landslides(tmp_path: Path, tiny_model_files: TinyModels) -> None:
    valid = np.ones((100, 120), dtype=bool)
    valid[:, :40] = False
    raster = rasters.write_raster(tmp_path / "masked.tif", rasters.squares_image(100, 120, []), mask=valid)
    run_detect(
        {
            "INPUT": str(raster),
            "MODEL": str(tiny_model_files.constant),
            "OUTPUT": str(tmp_path / "out.gpkg"),
        }
    )
    assert [p["area_m2"] for p in read_polygons(tmp_path / "out.gpkg")] == [
        pytest.approx(100 * 80 * PIXEL_AREA)
    ]


def test_mask_layer_limits_the_search(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels
) -> None:
    # A mask in WGS 84 around the first square only: reprojected to the raster's UTM zone by the algorithm.
    utm = QgsGeometry.fromWkt(rasters.pixel_rect_wkt(0, 0, 50, 60))
    to_wgs84 = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:32647"),
        QgsCoordinateReferenceSystem("EPSG:4326"),
        QgsProject.instance(),
    )
    utm.transform(to_wgs84)
    mask = rasters.write_polygons(tmp_path / "mask.gpkg", [utm.asWkt(12)], epsg=4326)
    run_detect(
        {
            "INPUT": str(squares_raster),
            "MODEL": str(tiny_model_files.brightness),
            "MASK": str(mask),
            "OUTPUT": str(tmp_path / "out.gpkg"),
        }
    )
    assert [round(p["area_m2"], 6) for p in read_polygons(tmp_path / "out.gpkg")] == [SQUARE_AREAS[1]]


def test_extent_limits_the_search(tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels) -> None:
    x0, y0 = rasters.ORIGIN
    # Rows 50..100, all columns: only the second square (rows 60..75).
    extent = (
        f"{x0},{x0 + 120 * rasters.PIXEL},{y0 - 100 * rasters.PIXEL},{y0 - 50 * rasters.PIXEL} [EPSG:32647]"
    )
    run_detect(
        {
            "INPUT": str(squares_raster),
            "MODEL": str(tiny_model_files.brightness),
            "EXTENT": extent,
            "OUTPUT": str(tmp_path / "out.gpkg"),
        }
    )
    assert [round(p["area_m2"], 6) for p in read_polygons(tmp_path / "out.gpkg")] == [SQUARE_AREAS[0]]


def test_memory_output_keeps_fields_and_crs(squares_raster: Path, tiny_model_files: TinyModels) -> None:
    context = QgsProcessingContext()
    result = processing.run(
        "landslides:detect",
        {
            "INPUT": str(squares_raster),
            "MODEL": str(tiny_model_files.brightness),
            "OUTPUT": "TEMPORARY_OUTPUT",
        },
        context=context,
    )
    layer = result["OUTPUT"]
    if not isinstance(layer, QgsVectorLayer):
        layer = context.getMapLayer(layer)
    assert layer.featureCount() == 2
    assert {"area_m2", "perimeter_m", "mean_prob", "max_prob"} <= set(layer.fields().names())
    assert layer.crs().authid() == "EPSG:32647"


def test_raster_without_crs_warns_but_succeeds(
    tmp_path: Path, tiny_model_files: TinyModels, feedback: RecordingFeedback
) -> None:
    raster = rasters.bright_squares_raster(tmp_path / "nocrs.tif", epsg=None)
    result = run_detect(
        {
            "INPUT": str(raster),
            "MODEL": str(tiny_model_files.brightness),
            "OUTPUT": str(tmp_path / "out.gpkg"),
        },
        feedback,
    )
    assert result["POLYGON_COUNT"] == 2
    assert feedback.warnings, "a raster without CRS must be reported"
    assert any("crs" in w.lower() or "coordinate" in w.lower() for w in feedback.warnings)
    # Each warning once in the log, and typed in the results.
    assert len(feedback.warnings) == len(set(feedback.warnings))
    assert result["WARNINGS"].split("\n") == feedback.warnings


def test_all_nodata_raster_gives_empty_output(tmp_path: Path, tiny_model_files: TinyModels) -> None:
    raster = rasters.write_raster(tmp_path / "empty.tif", np.zeros((3, 64, 64), dtype=np.uint8), nodata=0)
    result = run_detect(
        {"INPUT": str(raster), "MODEL": str(tiny_model_files.constant), "OUTPUT": str(tmp_path / "out.gpkg")}
    )
    assert result["POLYGON_COUNT"] == 0
    assert read_polygons(tmp_path / "out.gpkg") == []


def _bad_input_cases(tmp_path: Path, squares_raster: Path, models: TinyModels) -> dict[str, tuple[dict, str]]:
    not_a_raster = tmp_path / "not_a_raster.tif"
    not_a_raster.write_text("this is not an image")
    good = {"INPUT": str(squares_raster), "MODEL": str(models.brightness)}
    return {
        "not a raster": ({**good, "INPUT": str(not_a_raster)}, "not_a_raster"),
        "too few bands": ({**good, "MODEL": str(models.brightness_4band)}, "band"),
        "corrupt model": ({**good, "MODEL": str(models.corrupt)}, "corrupt.onnx"),
        "wrong rank": ({**good, "MODEL": str(models.wrong_rank)}, "wrong_rank.onnx"),
        "missing model": ({**good, "MODEL": str(tmp_path / "missing.onnx")}, "missing.onnx"),
        "band out of range": ({**good, "BANDS": [1, 2, 7]}, "7"),
    }


BAD_INPUTS = [
    "not a raster",
    "too few bands",
    "corrupt model",
    "wrong rank",
    "missing model",
    "band out of range",
]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_clearly_and_leaves_nothing(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels, case: str
) -> None:
    parameters, named = _bad_input_cases(tmp_path, squares_raster, tiny_model_files)[case]
    out = tmp_path / "out"
    out.mkdir()
    parameters.update(OUTPUT=str(out / "landslides.gpkg"), PROBABILITY=str(out / "probability.tif"))
    with pytest.raises(QgsProcessingException) as error:
        run_detect(parameters)
    assert named.lower() in str(error.value).lower(), str(error.value)
    assert files_in(out) == set()


def test_unwritable_output_fails_before_running(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels
) -> None:
    with pytest.raises(QgsProcessingException) as error:
        run_detect(
            {
                "INPUT": str(squares_raster),
                "MODEL": str(tiny_model_files.brightness),
                "OUTPUT": str(tmp_path / "no_such_folder" / "landslides.gpkg"),
                "PROBABILITY": str(tmp_path / "probability.tif"),
            }
        )
    assert "no_such_folder" in str(error.value)
    assert not (tmp_path / "probability.tif").exists()
    assert files_in(tmp_path) == {"squares.tif"}


def test_unwritable_output_definition_from_the_dialog_fails_early(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels
) -> None:
    # The algorithm dialog and the model designer pass outputs as QgsProcessingOutputLayerDefinition.
    destination = QgsProcessingOutputLayerDefinition(str(tmp_path / "gone" / "landslides.gpkg"))
    with pytest.raises(QgsProcessingException, match="does not exist"):
        run_detect(
            {"INPUT": str(squares_raster), "MODEL": str(tiny_model_files.brightness), "OUTPUT": destination}
        )
    assert files_in(tmp_path) == {"squares.tif"}


def test_unwritable_probability_fails_and_leaves_nothing(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels
) -> None:
    with pytest.raises(QgsProcessingException) as error:
        run_detect(
            {
                "INPUT": str(squares_raster),
                "MODEL": str(tiny_model_files.brightness),
                "OUTPUT": str(tmp_path / "landslides.gpkg"),
                "PROBABILITY": str(tmp_path / "missing_dir" / "probability.tif"),
            }
        )
    assert "missing_dir" in str(error.value)
    assert files_in(tmp_path) == {"squares.tif"}


def test_cancel_leaves_nothing(
    tmp_path: Path, tiny_model_files: TinyModels, cancel_feedback: QgsProcessingFeedback
) -> None:
    # Big enough for several batches of 64-pixel tiles, so the run is still going when cancel comes.
    raster = rasters.bright_squares_raster(tmp_path / "big.tif", rows=256, cols=256)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(QgsProcessingException) as error:
        run_detect(
            {
                "INPUT": str(raster),
                "MODEL": str(tiny_model_files.brightness),
                "BATCH_SIZE": 1,
                "OUTPUT": str(out / "landslides.gpkg"),
                "PROBABILITY": str(out / "probability.tif"),
            },
            cancel_feedback,
        )
    assert "cancel" in str(error.value).lower()
    assert cancel_feedback.progress_reports >= 1
    assert files_in(out) == set()


def test_default_model_is_the_shipped_one(tmp_path: Path, squares_raster: Path) -> None:
    from qgis.core import QgsApplication

    shipped = Path(__file__).resolve().parents[2] / "resources" / "model" / "landslide_daunet.onnx"
    algorithm = QgsApplication.processingRegistry().algorithmById("landslides:detect")
    assert Path(algorithm.parameterDefinition("MODEL").defaultValue()) == shipped
    parameters = {"INPUT": str(squares_raster), "OUTPUT": str(tmp_path / "out.gpkg")}  # no MODEL
    if not shipped.exists():
        with pytest.raises(QgsProcessingException, match=r"landslide_daunet\.onnx"):
            run_detect(parameters)
    else:
        result = run_detect(parameters)
        assert result["POLYGON_COUNT"] >= 0
        assert (tmp_path / "out.gpkg").is_file()


# --- outputs staged and committed together (issue 11) -----------------------------------------------


def test_a_layer_added_to_an_existing_geopackage_keeps_its_other_layers(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels
) -> None:
    database = rasters.write_polygons(tmp_path / "project.gpkg", [rasters.pixel_rect_wkt(0, 0, 2, 2)])
    uri = f"ogr:dbname='{database}' table=\"landslides\" (geom)"
    result = run_detect(
        {"INPUT": str(squares_raster), "MODEL": str(tiny_model_files.brightness), "OUTPUT": uri}
    )
    assert result["OUTPUT"] == f"{database}|layername=landslides"
    dataset = ogr.Open(str(database))
    layers = {dataset.GetLayer(i).GetName(): dataset.GetLayer(i).GetFeatureCount() for i in range(2)}
    dataset = None
    assert layers == {"inventory": 1, "landslides": 2}
    assert files_in(tmp_path) == {"squares.tif", "project.gpkg"}


@pytest.mark.parametrize("extension", [".gpkg", ".shp", ".geojson"])
def test_loaded_layers_are_the_final_files_not_the_staged_ones(
    tmp_path: Path, squares_raster: Path, tiny_model_files: TinyModels, extension: str
) -> None:
    project = QgsProject()
    context = QgsProcessingContext()
    context.setProject(project)
    target = tmp_path / f"landslides{extension}"
    result = processing.run(
        "landslides:detect",
        {
            "INPUT": str(squares_raster),
            "MODEL": str(tiny_model_files.brightness),
            "OUTPUT": QgsProcessingOutputLayerDefinition(str(target), project),
        },
        context=context,
    )
    assert result["OUTPUT"] == str(target)
    assert list(context.layersToLoadOnCompletion()) == [str(target)]
    layer = QgsVectorLayer(str(target), "landslides", "ogr")
    assert layer.isValid() and layer.featureCount() == 2
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_deepness_style_softmax_model_maps_the_class_asked_for(
    tmp_path: Path, feedback: RecordingFeedback
) -> None:
    """An N x 2 x H x W softmax model with Deepness's metadata (class_names, no landslide_detector
    key) runs with CLASS=landslide: the bright squares, as the one-channel models find them."""
    from tests.fixtures import tiny_models

    model = tiny_models.softmax_model(tmp_path / "deepness.onnx")
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    parameters = {"INPUT": str(raster), "MODEL": str(model), "CLASS": "landslide"}
    result = run_detect({**parameters, "OUTPUT": str(tmp_path / "l.gpkg")}, feedback)
    assert result["POLYGON_COUNT"] == 2
    assert sorted(row["area_m2"] for row in read_polygons(tmp_path / "l.gpkg")) == SQUARE_AREAS
    assert any("class 'landslide' (output channel 1 of 2)" in line for line in feedback.infos)

    with pytest.raises(QgsProcessingException, match=r"no class 'rock'.*0 = background, 1 = landslide"):
        run_detect({**parameters, "CLASS": "rock", "OUTPUT": str(tmp_path / "r.gpkg")})
    assert not (tmp_path / "r.gpkg").exists()


def test_an_rgb_and_dsm_model_takes_the_elevation_raster(tmp_path: Path, feedback: RecordingFeedback) -> None:
    """A model with an elevation channel (here: probability = slope / 90) gets its DSM through the
    DSM parameter, at another resolution than the orthophoto (1 m for 0.5 m pixels)."""
    from tests.fixtures import tiny_models

    info = tiny_models.default_info(extra_channels=["slope"], threshold=0.4)
    model = tiny_models.channel_model(tmp_path / "slope.onnx", 3, 4, info)
    raster = rasters.bright_squares_raster(tmp_path / "ortho.tif")
    heights = rasters.ramp_heights(50, 60, box=(10, 15, 20, 25), pixel=1.0)  # a 40-degree ramp
    dsm = rasters.write_raster(tmp_path / "dsm.tif", heights, pixel=1.0)
    parameters = {"INPUT": str(raster), "MODEL": str(model), "MIN_AREA": 0}
    result = run_detect({**parameters, "DSM": str(dsm), "OUTPUT": str(tmp_path / "l.gpkg")}, feedback)
    assert result["POLYGON_COUNT"] == 1
    # The ramp, 20 m x 25 m, a little wider where bilinear resampling onto 0.5 m pixels smooths its edges.
    assert 20 * 25 <= result["TOTAL_AREA_M2"] <= 1.3 * 20 * 25
    # With an elevation raster every polygon gets its mean slope, rounded to a tenth of a degree: at
    # least the 36 degrees the threshold asks for (the ramp's side walls are steeper).
    dataset = ogr.Open(str(tmp_path / "l.gpkg"))  # not a QgsVectorLayer: pytest.raises below keeps
    slope = dataset.GetLayer(0).GetNextFeature().GetField("slope_mean_deg")  # this frame alive
    dataset = None  # until Python exits, after QGIS, and a layer deleted then crashes it
    assert 36.0 <= slope <= 90.0 and slope == round(slope, 1)

    with pytest.raises(QgsProcessingException, match="also needs an elevation raster"):
        run_detect({**parameters, "OUTPUT": str(tmp_path / "none.gpkg")})
