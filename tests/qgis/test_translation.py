# SPDX-License-Identifier: GPL-2.0-or-later
"""Translations (issue 13.13): every text of the dock, the button and the toolbox goes through tr(),
the German translation is complete and current, and the plugin speaks the user's language."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QCoreApplication, QEvent

from tests.fixtures import rasters

ROOT = Path(__file__).resolve().parents[2]
GERMAN_TS = ROOT / "i18n" / "landslide_detector_de.ts"
# The dock and the button: plain tr() texts (context @default) and the .ui file's (LandslideDock).
DOCK_SOURCES = ["plugin.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "ui").glob("*.py"))]
DOCK_SOURCES += ["ui/landslide_dock.ui"]
TOOLBOX_CONTEXTS = {
    "LandslidesProvider",
    "LandslidesAlgorithm",
    "DetectLandslidesAlgorithm",
    "EvaluateAlgorithm",
    "ExportTilesAlgorithm",
}


def messages(ts: Path) -> dict[tuple[str, str], ET.Element]:
    root = ET.parse(ts).getroot()
    return {
        (context.findtext("name"), message.findtext("source")): message.find("translation")
        for context in root.iter("context")
        for message in context.iter("message")
    }


def translated(element: ET.Element) -> bool:
    return not element.get("type") and bool((element.text or "").strip())


def test_dock_translation_is_complete_and_current(tmp_path: Path) -> None:
    """Every text of the dock and the button is in the German .ts, translated, and none is stale."""
    pylupdate = shutil.which("pylupdate5")
    assert pylupdate, "pylupdate5 is missing: `make setup` installs pyqt5-dev-tools"
    fresh = tmp_path / "fresh.ts"
    subprocess.run(
        [pylupdate, "-noobsolete", *DOCK_SOURCES, "-ts", str(fresh)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    expected = set(messages(fresh))
    dock = {"@default", "LandslideDock"}
    assert {context for context, _source in expected} == dock
    committed = {key: tr for key, tr in messages(GERMAN_TS).items() if key[0] in dock}
    added, removed = sorted(expected - set(committed)), sorted(set(committed) - expected)
    assert (added, removed) == ([], []), "run `make update-translations`, then translate the new texts"
    assert [key for key, tr in committed.items() if not translated(tr)] == []


def test_toolbox_translation() -> None:
    """The toolbox texts are in the German .ts; a text added since may wait for its translator
    (QGIS shows the English one meanwhile, and `make update-translations` collects it)."""
    committed = messages(GERMAN_TS)
    assert {context for context, _source in committed} >= TOOLBOX_CONTEXTS
    toolbox = {key: tr for key, tr in committed.items() if key[0] in TOOLBOX_CONTEXTS}
    names = [
        ("LandslidesProvider", "Landslide detection"),
        ("LandslidesAlgorithm", "Landslides"),
        ("DetectLandslidesAlgorithm", "Detect landslides"),
        ("EvaluateAlgorithm", "Evaluate against inventory"),
        ("ExportTilesAlgorithm", "Export training tiles"),
    ]
    assert all(translated(toolbox[name]) for name in names)
    assert sum(translated(tr) for tr in toolbox.values()) >= 0.9 * len(toolbox)


def test_every_dock_text_goes_through_tr() -> None:
    """No user-visible string literal handed straight to a widget in plugin.py and ui/."""
    import ast
    import re

    setters = {"setText", "setToolTip", "setTitle", "setWindowTitle", "setPlaceholderText", "pushMessage"}

    def words(arg: ast.AST) -> str:
        """The literal text of a str constant or f-string, without markup (tags, punctuation)."""
        parts = [arg] if isinstance(arg, ast.Constant) else getattr(arg, "values", [])
        text = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
        return re.sub(r"<[^>]*>|[^A-Za-z]", "", text)

    offenders = []
    for path in [ROOT / "plugin.py", *sorted((ROOT / "ui").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in setters:
                offenders += [f"{path.name}:{node.lineno}" for arg in node.args if words(arg)]
    assert offenders == []


def test_translation_files_by_locale() -> None:
    from landslide_detector.ui.i18n import qm_file

    assert qm_file("de_DE").name == "landslide_detector_de.qm", "`make translations` builds it"
    assert qm_file("de_CH") == qm_file("de") == qm_file("de-AT")
    assert qm_file("en_US") is None and qm_file("") is None  # English is the source


def test_the_interface_language_is_qgis_own() -> None:
    """The plugin follows QGIS's interface language (Settings ▸ Options ▸ General), which the other
    tests replace so that they never write it into the settings concurrent sessions share."""
    from tests.qgis.conftest import REAL_LOCALE_LOOKUPS

    assert REAL_LOCALE_LOOKUPS["user_locale"]() == QgsApplication.locale()
    assert REAL_LOCALE_LOOKUPS["qgis_locale"]() == QgsApplication.locale()


@pytest.fixture
def german(qgis_iface, qgis_new_project, monkeypatch):
    from tests.qgis.conftest import interface_language

    interface_language(monkeypatch, "de_DE")
    import landslide_detector

    plugin = landslide_detector.classFactory(qgis_iface)
    plugin.initGui()
    yield plugin
    plugin.unload()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def test_the_plugin_speaks_the_users_language(german, qgis_iface, qtbot, tmp_path: Path, tiny_model_files):
    plugin = german
    ts = messages(GERMAN_TS)
    assert plugin.translator is not None
    assert plugin.detect_action.text() == ts[("@default", "Detect landslides")].text
    dock = plugin.show_dock()
    assert dock.runButton.text() == ts[("LandslideDock", "Detect landslides")].text != "Detect landslides"
    assert dock.advancedGroup.title() == ts[("LandslideDock", "Advanced")].text

    # The toolbox: names, parameter descriptions and help, all German.
    algorithm = QgsApplication.processingRegistry().algorithmById("landslides:detect").create()
    assert algorithm.displayName() == ts[("DetectLandslidesAlgorithm", "Detect landslides")].text
    assert algorithm.group() == ts[("LandslidesAlgorithm", "Landslides")].text
    source = "Probability threshold (empty: the model's own)"
    threshold = algorithm.parameterDefinition("THRESHOLD").description()
    assert threshold == ts[("DetectLandslidesAlgorithm", source)].text
    assert "Eingaben" in algorithm.shortHelpString() and "\n" not in algorithm.shortHelpString()

    # A whole run in German: the dock's states, not its words, say how it went.
    raster = QgsRasterLayer(str(rasters.bright_squares_raster(tmp_path / "squares.tif")), "squares")
    QgsProject.instance().addMapLayer(raster)
    qgis_iface.setActiveLayer(raster)
    dock.modelFile.setFilePath(str(tiny_model_files.brightness))
    dock.outputFolder.setFilePath(str(tmp_path / "results"))
    plugin.detect_landslides()
    assert dock.status_kind == "ready"
    dock.runButton.click()
    qtbot.waitUntil(lambda: dock.run is None, timeout=120_000)
    assert dock.status_kind == "done" and dock.resultsList.count() == 1
    assert dock.statusLabel.text().startswith(ts[("@default", "Done: {}. Saved as {}")].text[:6])
