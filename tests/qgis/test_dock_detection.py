# SPDX-License-Identifier: GPL-2.0-or-later
"""The dock end to end: detection through the real task manager, results list, cancel, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsGeometry,
    QgsProject,
    QgsRasterLayer,
    QgsTask,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication, QEvent

from tests.fixtures import rasters

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def plugin(qgis_iface, qgis_new_project):
    """The plugin as QGIS starts it; unloaded again after the test."""
    import landslide_detector

    instance = landslide_detector.classFactory(qgis_iface)
    instance.initGui()
    qgis_iface.messageBar().clear_messages()
    yield instance
    instance.unload()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def add_raster(path: Path, name: str, iface) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), name)
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    iface.setActiveLayer(layer)
    return layer


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []


def test_button_detects_on_the_active_raster_and_lists_the_result(
    plugin, qgis_iface, qtbot, tmp_path: Path, squares_raster: Path, tiny_model_files
) -> None:
    add_raster(squares_raster, "squares", qgis_iface)
    dock = plugin.show_dock()
    dock.modelFile.setFilePath(str(tiny_model_files.brightness))
    assert "test-brightness" in dock.modelCardLabel.text()
    assert "Runs on:" in dock.providerLabel.text() and "CPU" in dock.providerLabel.text()
    out = tmp_path / "results"
    dock.outputFolder.setFilePath(str(out))

    # The toolbar button opens the dock ready to run; the analyst starts it there.
    assert plugin.detect_landslides() is None
    assert dock.run is None and dock.status_kind == "ready" and dock.runButton.isEnabled()
    assert dock.raster_layer().name() == "squares"
    dock.runButton.click()
    run = dock.run
    assert run is not None
    assert not dock.runButton.isEnabled() and dock.cancelButton.isEnabled()
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)

    assert dock.status_kind == "done", dock.statusLabel.text()
    assert dock.statusLabel.text().startswith("Done: 2 polygons"), dock.statusLabel.text()
    assert dock.progressBar.value() == 100
    # One GeoPackage in the output folder, nothing half-written beside it.
    written = files_in(out)
    assert len(written) == 1 and written[0].suffix == ".gpkg" and written[0].name.startswith("squares_")
    # The layer is in the project, in the "Landslides" group, graded by confidence and listed.
    layer_id = dock.result_layer_ids()[0]
    layer = QgsProject.instance().mapLayer(layer_id)
    assert isinstance(layer, QgsVectorLayer) and layer.featureCount() == 2
    assert Path(layer.source().split("|")[0]) == written[0]
    group = QgsProject.instance().layerTreeRoot().findGroup("Landslides")
    assert group is not None and group.findLayer(layer_id) is not None
    assert layer.renderer().type() == "graduatedSymbol"
    assert layer.renderer().classAttribute() == "mean_prob"
    entry = dock.resultsList.itemWidget(dock.resultsList.item(0))
    # 20 x 30 + 15 x 15 pixels of 0.25 m² each.
    # What ran is named: the execution provider and the precision (no int8 copy of this model).
    assert entry.details.text().startswith("2 polygons · 206 m² · CPU float32 · ")
    assert "Precision: float32 (" in entry.details.toolTip()
    assert any("2 polygons" in m for m in qgis_iface.messageBar().get_messages(Qgis.Success))

    # Zoom, attribute table and "save as" act on that layer.
    entry.zoom_button.click()
    assert qgis_iface.mapCanvas().extent().contains(layer.extent())
    entry.table_button.click()
    qgis_iface.showAttributeTable.assert_called_with(layer)
    copy = tmp_path / "copy.gpkg"
    assert dock.save_result(layer_id, str(copy))
    saved = ogr.Open(str(copy))
    assert saved.GetLayer(0).GetFeatureCount() == 2

    # Removing the layer from the project removes its entry.
    QgsProject.instance().removeMapLayer(layer_id)
    assert dock.resultsList.count() == 0


def test_the_engines_warnings_reach_the_message_bar(
    plugin, qgis_iface, qtbot, tmp_path: Path, tiny_model_files
) -> None:
    """A run that succeeds with a warning (pixels 4 times the model's training resolution) says so in
    the message bar, where the analyst sees why the result may be off, not only in a log."""
    coarse = rasters.bright_squares_raster(tmp_path / "coarse.tif", pixel=2.0)
    add_raster(coarse, "coarse", qgis_iface)
    dock = plugin.show_dock()
    dock.modelFile.setFilePath(str(tiny_model_files.brightness))
    dock.outputFolder.setFilePath(str(tmp_path / "results"))
    outcomes = []
    dock.runFinished.connect(outcomes.append)
    run = dock.start_detection()
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)

    assert dock.status_kind == "done", dock.statusLabel.text()
    assert [len(outcome.report.warnings) for outcome in outcomes] == [1]
    assert "training resolution" in outcomes[0].report.warnings[0]
    shown = qgis_iface.messageBar().get_messages(Qgis.Warning)
    assert [message for message in shown if "training resolution" in message], shown


def test_results_list_is_rebuilt_from_a_saved_project(
    plugin, qgis_iface, qtbot, tmp_path: Path, squares_raster: Path, tiny_model_files
) -> None:
    project = QgsProject.instance()
    project_path = tmp_path / "survey" / "survey.qgz"
    project_path.parent.mkdir()
    assert project.write(str(project_path))
    add_raster(squares_raster, "squares", qgis_iface)
    dock = plugin.show_dock()
    # A saved project: results go next to it, and the dock says so.
    assert Path(dock.outputFolder.filePath()) == project_path.parent / "landslides"
    assert "Next to your project" in dock.outputFolderLabel.text()
    dock.modelFile.setFilePath(str(tiny_model_files.brightness))
    run = dock.start_detection()
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)
    assert len(list((project_path.parent / "landslides").glob("*.gpkg"))) == 1
    assert project.write()

    project.clear()
    assert dock.resultsList.count() == 0
    assert "Temporary folder" in dock.outputFolderLabel.text()
    assert project.read(str(project_path))
    assert dock.resultsList.count() == 1
    entry = dock.resultsList.itemWidget(dock.resultsList.item(0))
    assert entry.details.text().startswith("2 polygons")


def start_long_run(plugin, qgis_iface, qtbot, tmp_path: Path, model: Path):
    """Start the dock on a 2048² raster and return once the task reports progress.

    Returns the dock, the run, its output folder and the project's layer ids before the run.
    """
    big = rasters.write_raster(tmp_path / "big.tif", np.full((3, 2048, 2048), 200, dtype=np.uint8))
    add_raster(big, "big", qgis_iface)
    dock = plugin.show_dock()
    dock.modelFile.setFilePath(str(model))
    out = tmp_path / "results"
    dock.outputFolder.setFilePath(str(out))
    layers_before = set(QgsProject.instance().mapLayers())

    run = dock.start_detection()
    qtbot.waitUntil(lambda: dock.progressBar.value() > 0 or run.done, timeout=RUN_TIMEOUT_MS)
    return dock, run, out, layers_before


def test_cancel_leaves_no_layer_and_no_file(
    plugin, qgis_iface, qtbot, tmp_path: Path, tiny_model_files
) -> None:
    dock, run, out, layers_before = start_long_run(
        plugin, qgis_iface, qtbot, tmp_path, tiny_model_files.constant
    )
    assert not run.done, "the run finished before it could be cancelled: make the raster bigger"
    task = run.task
    assert task.status() == task.Running
    dock.cancelButton.click()
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)

    assert "cancelled" in dock.statusLabel.text().lower()
    assert set(QgsProject.instance().mapLayers()) == layers_before
    assert dock.resultsList.count() == 0
    assert files_in(out) == []
    assert dock.runButton.isEnabled() and not dock.cancelButton.isEnabled()
    qtbot.waitUntil(lambda: QgsApplication.taskManager().countActiveTasks() == 0, timeout=RUN_TIMEOUT_MS)


def test_unloading_the_plugin_mid_run_cancels_and_cleans_up(
    qgis_iface, qgis_new_project, qtbot, tmp_path: Path, tiny_model_files
) -> None:
    import landslide_detector

    plugin = landslide_detector.classFactory(qgis_iface)
    plugin.initGui()
    _dock, run, out, layers_before = start_long_run(
        plugin, qgis_iface, qtbot, tmp_path, tiny_model_files.constant
    )
    assert not run.done
    plugin.unload()  # QGIS closing, or the user disabling the plugin, while the task runs
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)

    assert set(QgsProject.instance().mapLayers()) == layers_before
    assert files_in(out) == []


def test_bad_model_shows_a_plain_error(
    plugin, qgis_iface, qtbot, tmp_path: Path, squares_raster: Path, tiny_model_files
) -> None:
    add_raster(squares_raster, "squares", qgis_iface)
    dock = plugin.show_dock()
    dock.modelFile.setFilePath(str(tiny_model_files.corrupt))
    assert "cannot be used" in dock.modelCardLabel.text()
    assert "corrupt" in dock.modelCardLabel.text()
    out = tmp_path / "results"
    dock.outputFolder.setFilePath(str(out))
    layers_before = set(QgsProject.instance().mapLayers())

    run = dock.start_detection()
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)

    status = dock.statusLabel.text()
    assert status.startswith("Detection failed:") and "corrupt.onnx" in status
    assert "Traceback" not in status
    critical = qgis_iface.messageBar().get_messages(Qgis.Critical)
    assert any("corrupt.onnx" in m and "Traceback" not in m for m in critical)
    assert set(QgsProject.instance().mapLayers()) == layers_before
    assert files_in(out) == []


def test_non_raster_active_layer_asks_for_the_orthophoto(plugin, qgis_iface, tmp_path: Path) -> None:
    polygons = rasters.write_polygons(tmp_path / "p.gpkg", [rasters.pixel_rect_wkt(0, 0, 5, 5)])
    vector = QgsVectorLayer(str(polygons), "polygons", "ogr")
    QgsProject.instance().addMapLayer(vector)
    qgis_iface.setActiveLayer(vector)

    assert plugin.detect_landslides() is None
    assert plugin.dock is not None and plugin.dock_action.isChecked()
    assert "Add an orthophoto" in plugin.dock.statusLabel.text()
    assert not plugin.dock.runButton.isEnabled()


def test_dock_follows_the_active_raster(plugin, qgis_iface, squares_raster: Path, tmp_path: Path) -> None:
    first = add_raster(squares_raster, "first", qgis_iface)
    dock = plugin.show_dock()
    second = add_raster(rasters.bright_squares_raster(tmp_path / "b.tif"), "second", qgis_iface)
    qgis_iface.currentLayerChanged.emit(qgis_iface.mapCanvas())
    assert dock.raster_layer() is second
    qgis_iface.setActiveLayer(first)
    qgis_iface.currentLayerChanged.emit(qgis_iface.mapCanvas())
    assert dock.raster_layer() is first


def test_missing_onnxruntime_explains_how_to_install(plugin, monkeypatch) -> None:
    dock = plugin.show_dock()
    assert dock.onnxFrame.isHidden()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what Python does when it is not installed
    dock.refresh_runtime()
    assert not dock.onnxFrame.isHidden()
    command = dock.onnxCommand.text()
    assert " -m pip install " in command and "onnxruntime" in command
    assert not dock.runButton.isEnabled()
    assert "onnxruntime is missing" in dock.providerLabel.text()
    monkeypatch.delitem(sys.modules, "onnxruntime")
    dock.refresh_runtime()
    assert dock.onnxFrame.isHidden()


@pytest.mark.parametrize(
    ("code", "ok", "words"),
    [("pass", True, "installed and ready"), ("import sys; sys.exit(3)", False, "exit code 3")],
)
def test_installer_reports_the_outcome(qtbot, code: str, ok: bool, words: str) -> None:
    from landslide_detector.ui.installer import OnnxRuntimeInstaller

    installer = OnnxRuntimeInstaller([sys.executable, "-c", code])
    with qtbot.waitSignal(installer.finished, timeout=30_000) as blocker:
        installer.start()
    assert blocker.args[0] is ok
    assert words in blocker.args[1]


def test_out_of_range_parameter_is_refused_before_running(
    plugin, qgis_iface, qtbot, tmp_path: Path, squares_raster: Path, tiny_model_files
) -> None:
    add_raster(squares_raster, "squares", qgis_iface)
    dock = plugin.show_dock()
    dock.modelFile.setFilePath(str(tiny_model_files.brightness))
    dock.tileSizeSpin.setValue(8)  # the algorithm needs at least 16 pixels
    out = tmp_path / "results"
    dock.outputFolder.setFilePath(str(out))

    run = dock.start_detection()
    assert run.done and run.task is None  # refused at once: no task was queued
    # The message names the setting and the smallest value it takes.
    assert dock.status_kind == "error"
    assert "'Tile size in pixels" in dock.statusLabel.text() and " 16" in dock.statusLabel.text()
    assert files_in(out) == []


# --- issue 13: what a real run in QGIS desktop showed -------------------------------------------


def ready_dock(plugin, qgis_iface, tmp_path: Path, raster_path: Path, model: Path):
    raster = add_raster(raster_path, "squares", qgis_iface)
    dock = plugin.show_dock()
    dock.modelFile.setFilePath(str(model))
    dock.outputFolder.setFilePath(str(tmp_path / "results"))
    return dock, raster


def run_and_wait(dock, qtbot):
    run = dock.start_detection()
    assert run is not None, dock.statusLabel.text()
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)
    return run


def test_toolbar_button_shows_the_run_ready_and_can_run_at_once(
    plugin, qgis_iface, qtbot, tmp_path: Path, squares_raster: Path, tiny_model_files
) -> None:
    add_raster(squares_raster, "squares", qgis_iface)
    assert plugin.dock is None
    plugin.detect_action.trigger()  # the first click after loading a raster
    dock = plugin.dock
    assert dock is not None and plugin.dock_action.isChecked()  # the panel is open
    assert dock.run is None and dock.status_kind == "ready"
    assert dock.raster_layer().name() == "squares" and dock.runButton.isEnabled()

    # "Toolbar button starts the detection at once", remembered, makes the next click start it.
    dock.modelFile.setFilePath(str(tiny_model_files.brightness))
    dock.outputFolder.setFilePath(str(tmp_path / "results"))
    dock.runAtOnceCheck.setChecked(True)
    plugin.detect_action.trigger()
    run = dock.run
    assert run is not None
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)
    assert dock.status_kind == "done"


def test_install_clears_the_install_first_warning(
    plugin, qgis_iface, qtbot, monkeypatch, tmp_path: Path, squares_raster: Path
) -> None:
    add_raster(squares_raster, "squares", qgis_iface)
    dock = plugin.show_dock()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not installed
    dock.refresh_runtime()
    assert dock.start_detection() is None
    assert dock.status_kind == "runtime" and dock.statusLabel.styleSheet()  # the red line

    # Install: a real QProcess whose "pip" succeeds, after which onnxruntime imports again.
    monkeypatch.delitem(sys.modules, "onnxruntime")
    monkeypatch.setattr("landslide_detector.ui.dock.install_args", lambda: [sys.executable, "-c", "pass"])
    dock.installButton.click()
    qtbot.waitUntil(lambda: dock.installButton.isEnabled(), timeout=30_000)

    assert dock.onnxFrame.isHidden() and dock.runButton.isEnabled()
    assert dock.status_kind == "ready" and dock.statusLabel.styleSheet() == ""


def test_cancel_is_not_reported_as_a_failure(
    plugin, qgis_iface, qtbot, tmp_path: Path, tiny_model_files
) -> None:
    statuses: list[tuple[int, int]] = []
    manager = QgsApplication.taskManager()
    manager.statusChanged.connect(lambda task_id, status: statuses.append((task_id, status)))
    dock, run, _out, _layers = start_long_run(plugin, qgis_iface, qtbot, tmp_path, tiny_model_files.constant)
    assert not run.done
    task_id = manager.taskId(run.task)
    dock.cancelButton.click()
    qtbot.waitUntil(lambda: run.done, timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: manager.countActiveTasks() == 0, timeout=RUN_TIMEOUT_MS)

    # QGIS announces a task that ends "terminated" as "Task failed": a cancelled run ends complete.
    final = [status for tid, status in statuses if tid == task_id][-1]
    assert final == QgsTask.Complete
    assert dock.status_kind == "cancelled"
    assert qgis_iface.messageBar().get_messages(Qgis.Critical) == []
    assert qgis_iface.messageBar().get_messages(Qgis.Info)


def test_failed_run_still_ends_as_a_failed_task(
    plugin, qgis_iface, qtbot, tmp_path: Path, squares_raster: Path, tiny_model_files
) -> None:
    statuses: list[int] = []
    QgsApplication.taskManager().statusChanged.connect(lambda _tid, status: statuses.append(status))
    dock, _raster = ready_dock(plugin, qgis_iface, tmp_path, squares_raster, tiny_model_files.wrong_rank)
    run_and_wait(dock, qtbot)
    assert dock.status_kind == "error"
    assert statuses[-1] == QgsTask.Terminated


def test_processing_area_extent_and_selected_polygons(
    plugin, qgis_iface, qtbot, tmp_path: Path, squares_raster: Path, tiny_model_files
) -> None:
    from landslide_detector.ui.processing_area import AREA_MODES

    dock, raster = ready_dock(plugin, qgis_iface, tmp_path, squares_raster, tiny_model_files.brightness)
    assert not dock.areaLayerCombo.isVisibleTo(dock)

    # Visible map extent: the map shows only the first bright rectangle.
    canvas = qgis_iface.mapCanvas()
    canvas.resize(400, 300)
    canvas.setDestinationCrs(raster.crs())
    canvas.setExtent(QgsGeometry.fromWkt(rasters.pixel_rect_wkt(5, 5, 30, 40)).boundingBox())
    dock.areaCombo.setCurrentIndex(AREA_MODES.index("extent"))
    run_and_wait(dock, qtbot)
    layer = QgsProject.instance().mapLayer(dock.result_layer_ids()[0])
    assert layer.featureCount() == 1
    assert next(layer.getFeatures())["area_m2"] == 150.0

    # Selected polygons: two polygons, only the one over the second rectangle selected.
    mask = rasters.write_polygons(
        tmp_path / "areas.gpkg",
        [rasters.pixel_rect_wkt(55, 65, 25, 25), rasters.pixel_rect_wkt(5, 5, 30, 40)],
    )
    areas = QgsVectorLayer(str(mask), "areas", "ogr")
    QgsProject.instance().addMapLayer(areas)
    dock.areaCombo.setCurrentIndex(AREA_MODES.index("selection"))
    dock.areaLayerCombo.setLayer(areas)
    assert dock.areaLayerCombo.isVisibleTo(dock)
    assert dock.start_detection() is None and dock.status_kind == "error"  # nothing selected yet
    areas.selectByIds([next(f.id() for f in areas.getFeatures() if f["id"] == 1)])
    run_and_wait(dock, qtbot)
    layer = QgsProject.instance().mapLayer(dock.result_layer_ids()[0])
    assert [f["area_m2"] for f in layer.getFeatures()] == [56.25]
    # The remembered choice comes back with the next session's dock.
    assert dock.settings.get("area") == "selection"


def test_probability_layer_graded_styling_and_names_that_differ(
    plugin, qgis_iface, qtbot, tmp_path: Path, squares_raster: Path
) -> None:
    from landslide_detector.processing_provider.styles import confidence_bounds

    from tests.fixtures import tiny_models

    model = tiny_models.brightness_model(
        tmp_path / "calibrated.onnx", info=tiny_models.default_info(threshold=0.4, min_area_m2=3.0)
    )
    dock, _raster = ready_dock(plugin, qgis_iface, tmp_path, squares_raster, model)
    dock.probabilityCheck.setChecked(True)
    run = run_and_wait(dock, qtbot)
    assert dock.status_kind == "done"

    # The probability raster sits beside the GeoPackage and below the polygons, coloured 0 to 1.
    assert run.probability_path.is_file() and run.probability_path.parent == run.final_path.parent
    group = QgsProject.instance().layerTreeRoot().findGroup("Landslides")
    polygons, probability = (node.layer() for node in group.findLayers()[:2])
    assert isinstance(probability, QgsRasterLayer) and probability.source() == str(run.probability_path)
    renderer = probability.renderer()
    assert renderer.type() == "singlebandpseudocolor"
    assert (renderer.classificationMin(), renderer.classificationMax()) == (0.0, 1.0)
    items = renderer.shader().rasterShaderFunction().colorRampItemList()
    assert items[0].color.alpha() == 0 and items[-1].value == 1.0

    # Polygons graded by mean_prob in three classes from the model's calibrated threshold.
    graded = polygons.renderer()
    assert graded.type() == "graduatedSymbol" and graded.classAttribute() == "mean_prob"
    assert [r.upperValue() for r in graded.ranges()] == pytest.approx(confidence_bounds(0.4)[1:])
    assert len({r.symbol().color().name() for r in graded.ranges()}) == 3

    # A second run with the analyst's own values: the layer names say what differs.
    dock.modelValuesCheck.setChecked(False)
    dock.thresholdSpin.setValue(0.7)
    dock.minAreaSpin.setValue(10)
    run_and_wait(dock, qtbot)
    second = QgsProject.instance().mapLayer(dock.result_layer_ids()[0])
    assert "0.40" in polygons.name() and "3 m²" in polygons.name() and "calibrated" in polygons.name()
    assert "0.70" in second.name() and "10 m²" in second.name()
    assert second.name() != polygons.name()
    assert second.renderer().ranges()[1].lowerValue() == pytest.approx(confidence_bounds(0.7)[1])
