# SPDX-License-Identifier: GPL-2.0-or-later
"""The dock never needs more width than it opens with: long texts wrap or are shortened (issue 13.1).

Real widgets, laid out by Qt at the width the dock opens with in QGIS's right dock area.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QCoreApplication, QEvent, QPoint
from qgis.PyQt.QtWidgets import QLabel

from tests.fixtures import rasters

OPEN_WIDTH = 380  # the dock's width in the .ui file: what it opens with in QGIS's right dock area
LONG = "a_really_long_orthophoto_name_from_the_field_campaign_2026_uav_flight_block_seven_mosaic"


def flush() -> None:
    for _ in range(3):
        QCoreApplication.processEvents()


def overflow(dock) -> list[str]:
    """What does not fit: the contents' minimum width, and any widget reaching past the viewport."""
    flush()
    viewport = dock.scrollArea.viewport()
    problems = []
    needed = dock.scrollContents.minimumSizeHint().width()
    if needed > viewport.width():
        problems.append(f"contents need {needed} px, the dock shows {viewport.width()} px")
    for widget in (dock.runButton, dock.cancelButton, dock.statusLabel, dock.resultsList):
        if widget.isVisibleTo(dock):
            right = widget.mapTo(viewport, QPoint(widget.width(), 0)).x()
            if right > viewport.width():
                problems.append(f"{widget.objectName()} ends at {right} px of {viewport.width()}")
    if dock.scrollArea.horizontalScrollBar().maximum() > 0:
        problems.append("horizontal scroll bar")
    # A wrapped text must get the height its lines need, or its last lines are cut off.
    for label in dock.findChildren(QLabel):
        if label.wordWrap() and label.isVisibleTo(dock) and label.text():
            needed = label.heightForWidth(label.width())
            if label.height() < needed:
                problems.append(f"{label.objectName()} is {label.height()} px high, its text needs {needed}")
    return problems


@pytest.fixture(params=["en", "de"])
def language(request, monkeypatch):
    """The dock in English and in German (longer words), through the plugin's own translator."""
    from tests.qgis.conftest import interface_language

    interface_language(monkeypatch, "de_DE" if request.param == "de" else "en_US")
    return request.param


def test_long_texts_never_widen_the_dock(
    language, qgis_iface, qgis_new_project, qtbot, tmp_path: Path, tiny_model_files
) -> None:
    import landslide_detector

    plugin = landslide_detector.classFactory(qgis_iface)
    plugin.initGui()
    try:
        if language == "de":
            assert plugin.translator is not None, "make translations builds i18n/*.qm"
        raster = QgsRasterLayer(str(rasters.bright_squares_raster(tmp_path / f"{LONG}.tif")), LONG)
        QgsProject.instance().addMapLayer(raster)
        qgis_iface.setActiveLayer(raster)
        dock = plugin.show_dock()
        dock.setFloating(True)
        dock.resize(OPEN_WIDTH, 900)
        dock.show()
        qtbot.waitExposed(dock)
        assert overflow(dock) == [], "as opened"

        dock.advancedGroup.setCollapsed(False)
        assert overflow(dock) == [], "Advanced expanded"

        # The other processing areas show their own widgets and explanations.
        for index in range(dock.areaCombo.count()):
            dock.areaCombo.setCurrentIndex(index)
            assert overflow(dock) == [], f"area {index}"
        dock.areaCombo.setCurrentIndex(0)

        # The install banner with a running, then a failed pip (long paths, no spaces).
        long_path = "/opt/" + "/".join([LONG] * 3) + "/python3"
        dock.onnxFrame.setVisible(True)
        dock.onnxCommand.setText(f"{long_path} -m pip install --upgrade onnxruntime-gpu numpy==1.24.2")
        dock.onnxStatusLabel.setText("Installing… (this can take a few minutes)")
        assert overflow(dock) == [], "installing"
        dock._on_install_finished(False, f"pip failed (exit code 1): ERROR: {long_path}/site-packages")
        assert overflow(dock) == [], "install failed"
        dock.refresh_runtime()

        # A finished run with a long file name, its result card, and a model that cannot be used.
        dock.modelFile.setFilePath(str(tiny_model_files.brightness))
        dock.outputFolder.setFilePath(str(tmp_path / LONG / LONG))
        # Pressing Detect hands the focus to Cancel, so the panel does not scroll away from the mouse.
        dock.activateWindow()
        dock.runButton.setFocus()
        flush()
        scrolled = dock.scrollArea.verticalScrollBar().value()
        had_focus = dock.runButton.hasFocus()
        run = dock.start_detection()
        assert dock.cancelButton.hasFocus() or not had_focus
        assert dock.scrollArea.verticalScrollBar().value() == scrolled
        qtbot.waitUntil(lambda: run.done, timeout=120_000)
        assert dock.scrollArea.verticalScrollBar().value() == scrolled
        assert dock.status_kind == "done"
        assert len(dock.statusLabel.text()) < len(str(run.final_path))  # shortened …
        assert dock.statusLabel.toolTip() == str(run.final_path)  # … the whole path in the tooltip
        assert overflow(dock) == [], "finished with a long file name"
        dock.modelFile.setFilePath(str(tmp_path / LONG / f"{LONG}_missing.onnx"))
        assert overflow(dock) == [], "model error"
    finally:
        plugin.unload()
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
