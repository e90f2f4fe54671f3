# SPDX-License-Identifier: GPL-2.0-or-later
"""The dock remembers the analyst's settings across QGIS sessions (issue 13.7), without ever running a
newly chosen model with values calibrated for another one."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsRasterLayer
from qgis.PyQt.QtCore import QCoreApplication, QEvent

from tests.fixtures import tiny_models


def new_session(qgis_iface):
    """A plugin as QGIS loads it at start-up; QgsSettings is what survives between sessions."""
    import landslide_detector

    plugin = landslide_detector.classFactory(qgis_iface)
    plugin.initGui()
    return plugin


def close_session(plugin) -> None:
    plugin.unload()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


@pytest.fixture
def calibrated_models(tmp_path: Path) -> tuple[Path, Path]:
    """Two models with different calibrated threshold and minimum area."""
    first = tiny_models.brightness_model(
        tmp_path / "first.onnx", info=tiny_models.default_info(threshold=0.35, min_area_m2=4.0)
    )
    second = tiny_models.brightness_model(
        tmp_path / "second.onnx", info=tiny_models.default_info(threshold=0.65, min_area_m2=12.0)
    )
    return first, second


def test_settings_come_back_after_a_restart(
    qgis_iface, qgis_new_project, tmp_path: Path, calibrated_models, squares_raster: Path
):
    first, _second = calibrated_models
    plugin = new_session(qgis_iface)
    dock = plugin.show_dock()
    dock.modelFile.setFilePath(str(first))
    dock.modelValuesCheck.setChecked(False)  # the analyst's own values
    dock.thresholdSpin.setValue(0.42)
    dock.minAreaSpin.setValue(30.0)
    dock.outputFolder.setFilePath(str(tmp_path / "survey"))
    dock.areaCombo.setCurrentIndex(1)
    dock.probabilityCheck.setChecked(True)
    dock.deviceCombo.setCurrentIndex(2)  # CPU
    dock.tileSizeSpin.setValue(256)
    dock.overlapSpin.setValue(32)
    dock.batchSizeSpin.setValue(2)
    dock.ttaCheck.setChecked(True)
    dock.runAtOnceCheck.setChecked(True)
    close_session(plugin)

    plugin = new_session(qgis_iface)
    try:
        dock = plugin.show_dock()
        assert dock.model_path() == str(first)
        assert not dock.use_model_values() and dock.thresholdSpin.isEnabled()
        assert dock.thresholdSpin.value() == pytest.approx(0.42)
        assert dock.minAreaSpin.value() == pytest.approx(30.0)
        assert Path(dock.outputFolder.filePath()) == tmp_path / "survey"
        assert dock.area_mode() == "extent"
        assert dock.probabilityCheck.isChecked()
        assert dock.device() == "cpu"
        advanced = (dock.tileSizeSpin.value(), dock.overlapSpin.value(), dock.batchSizeSpin.value())
        assert advanced == (256, 32, 2)
        assert dock.ttaCheck.isChecked() and dock.run_at_once()
        params = dock.parameters(QgsRasterLayer(str(squares_raster), "squares"))
        assert params["THRESHOLD"] == pytest.approx(0.42) and params["MIN_AREA"] == pytest.approx(30.0)
    finally:
        close_session(plugin)


def test_a_new_model_brings_its_calibrated_values_unless_the_analyst_set_their_own(
    qgis_iface, qgis_new_project, calibrated_models, squares_raster: Path
):
    first, second = calibrated_models
    plugin = new_session(qgis_iface)
    try:
        dock = plugin.show_dock()
        # By default the spin boxes show (read-only) the chosen model's calibrated values …
        dock.modelFile.setFilePath(str(first))
        assert dock.use_model_values() and not dock.thresholdSpin.isEnabled()
        assert (dock.thresholdSpin.value(), dock.minAreaSpin.value()) == pytest.approx((0.35, 4.0))
        # … and the algorithm gets none, so it applies the model's own.
        params = dock.parameters(QgsRasterLayer(str(squares_raster), "squares"))
        assert params["THRESHOLD"] is None and params["MIN_AREA"] is None
        dock.modelFile.setFilePath(str(second))
        assert (dock.thresholdSpin.value(), dock.minAreaSpin.value()) == pytest.approx((0.65, 12.0))

        # Own values stay when another model is chosen.
        dock.modelValuesCheck.setChecked(False)
        dock.thresholdSpin.setValue(0.5)
        dock.minAreaSpin.setValue(7.0)
        dock.modelFile.setFilePath(str(first))
        assert (dock.thresholdSpin.value(), dock.minAreaSpin.value()) == pytest.approx((0.5, 7.0))

        # Back to the model's values: the current model's, not a remembered number.
        dock.modelValuesCheck.setChecked(True)
        assert (dock.thresholdSpin.value(), dock.minAreaSpin.value()) == pytest.approx((0.35, 4.0))
        # Unticking again brings the analyst's own values back.
        dock.modelValuesCheck.setChecked(False)
        assert (dock.thresholdSpin.value(), dock.minAreaSpin.value()) == pytest.approx((0.5, 7.0))
        dock.modelValuesCheck.setChecked(True)
    finally:
        close_session(plugin)

    # Next session, model values on: a newly chosen model's calibration is used.
    plugin = new_session(qgis_iface)
    try:
        dock = plugin.show_dock()
        assert dock.use_model_values()
        dock.modelFile.setFilePath(str(second))
        assert (dock.thresholdSpin.value(), dock.minAreaSpin.value()) == pytest.approx((0.65, 12.0))
    finally:
        close_session(plugin)


def test_a_remembered_model_that_is_gone_falls_back_to_the_shipped_one(
    qgis_iface, qgis_new_project, tmp_path: Path, calibrated_models
):
    from landslide_detector.ui.model_summary import SHIPPED_MODEL

    first, _second = calibrated_models
    moved = tmp_path / "moved.onnx"
    moved.write_bytes(first.read_bytes())
    plugin = new_session(qgis_iface)
    plugin.show_dock().modelFile.setFilePath(str(moved))
    close_session(plugin)
    moved.unlink()

    plugin = new_session(qgis_iface)
    try:
        assert plugin.show_dock().model_path() == str(SHIPPED_MODEL)
    finally:
        close_session(plugin)
