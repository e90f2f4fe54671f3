# SPDX-License-Identifier: GPL-2.0-or-later
"""The plugin loads through classFactory, adds its button, menu entries and provider, and unload
removes every one of them (pytest-qgis's QgisInterface, a real QgsApplication)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from qgis.core import QgsApplication
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QAction, QDockWidget, QToolBar

ROOT = Path(__file__).resolve().parents[2]
PLUGINS_DIR = ROOT / ".build" / "plugins"


def _flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def _our_actions(window) -> list[QAction]:
    return [a for a in window.findChildren(QAction) if a.objectName().startswith("landslideDetector")]


def test_load_init_gui_and_unload_leave_nothing(qgis_iface, qgis_new_project) -> None:
    import landslide_detector

    registry = QgsApplication.processingRegistry()
    provider_before = registry.providerById("landslides")
    window = qgis_iface.mainWindow()

    plugin = landslide_detector.classFactory(qgis_iface)
    plugin.initGui()

    # The button and the panel toggle sit on the plugin's toolbar and in the Raster menu.
    toolbar = window.findChild(QToolBar, "LandslideDetectorToolbar")
    assert toolbar is not None
    texts = [action.text() for action in toolbar.actions()]
    assert texts == ["Detect landslides", "Landslide Detector panel"]
    assert not toolbar.actions()[0].icon().isNull()
    menu_calls = qgis_iface.addPluginToRasterMenu.call_args_list
    assert [call.args[1] for call in menu_calls] == toolbar.actions()
    assert {call.args[0] for call in menu_calls} == {"&Landslide Detector"}

    # The provider is there, with the algorithm the button runs.
    assert registry.providerById("landslides") is not None
    assert registry.algorithmById("landslides:detect") is not None

    dock = plugin.show_dock()
    assert window.findChild(QDockWidget, "LandslideDetectorDock") is dock
    assert plugin.dock_action.isChecked()
    actions = list(plugin.actions)

    plugin.unload()
    _flush_deletes()

    removed = [call.args for call in qgis_iface.removePluginRasterMenu.call_args_list]
    assert removed == [call.args for call in menu_calls]
    assert window.findChild(QToolBar, "LandslideDetectorToolbar") is None
    assert window.findChild(QDockWidget, "LandslideDetectorDock") is None
    assert _our_actions(window) == []
    assert all(sip.isdeleted(action) for action in actions)
    assert sip.isdeleted(dock)
    # Unload restores the registry as it was: our provider gone, anyone else's left in place.
    assert registry.providerById("landslides") is provider_before


def test_dock_toggle_follows_the_dock(qgis_iface, qgis_new_project) -> None:
    import landslide_detector

    window = qgis_iface.mainWindow()
    window.show()  # the dock reports opening and closing through show and hide events
    plugin = landslide_detector.classFactory(qgis_iface)
    plugin.initGui()
    try:
        assert plugin.dock is None  # created on first use, not at QGIS start-up
        plugin.dock_action.setChecked(True)
        assert plugin.dock is not None and plugin.dock.isUserVisible()
        plugin.dock.close()  # the user closes the panel with its X button
        assert not plugin.dock_action.isChecked()
        plugin.dock_action.trigger()
        assert plugin.dock.isUserVisible()
    finally:
        plugin.unload()
        _flush_deletes()
        window.hide()


# In a fresh QGIS (what a user has) the plugin itself registers the provider and removes it again.
# A separate process, because this session's registry may already hold the test suite's provider.
_FRESH_QGIS = r"""
import json, sys
from qgis.core import QgsApplication
from qgis.gui import QgsMapCanvas
from qgis.PyQt.QtWidgets import QMainWindow
from pytest_qgis.mock_qgis_classes import MockMessageBar
from pytest_qgis.qgis_interface import QgisInterface

if "--without-onnxruntime" in sys.argv:
    sys.modules["onnxruntime"] = None  # exactly what Python does for a package that is not installed
app = QgsApplication([], False)
app.initQgis()
window = QMainWindow()
iface = QgisInterface(QgsMapCanvas(window), MockMessageBar(), window)
registry = QgsApplication.processingRegistry()
report = {"before": registry.providerById("landslides") is not None}
import landslide_detector
plugin = landslide_detector.classFactory(iface)
plugin.initProcessing()  # what QGIS calls first for hasProcessingProvider=yes
plugin.initGui()
report["after_init"] = registry.providerById("landslides") is not None
report["detect"] = registry.algorithmById("landslides:detect") is not None
report["provider_error"] = plugin.provider_error
dock = plugin.show_dock()
report["install_banner"] = not dock.onnxFrame.isHidden()
report["install_command"] = dock.onnxCommand.text()
report["run_enabled_without_raster"] = dock.runButton.isEnabled()
plugin.unload()
report["after_unload"] = registry.providerById("landslides") is not None
print("REPORT " + json.dumps(report))
app.exitQgis()
"""


@pytest.mark.parametrize("onnxruntime_installed", [True, False])
def test_fresh_qgis_registers_and_removes_the_provider(onnxruntime_installed: bool) -> None:
    """Also without onnxruntime: the plugin loads, the provider registers, the dock says how to install."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(PLUGINS_DIR))
    args = [sys.executable, "-c", _FRESH_QGIS] + ([] if onnxruntime_installed else ["--without-onnxruntime"])
    completed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, completed.stdout + completed.stderr
    report = json.loads(lines[-1][len("REPORT ") :])
    command = report.pop("install_command")
    assert report == {
        "before": False,
        "after_init": True,
        "detect": True,
        "provider_error": "",
        "install_banner": not onnxruntime_installed,
        "run_enabled_without_raster": False,
        "after_unload": False,
    }
    if not onnxruntime_installed:
        python = command.split(" -m pip install ")[0]
        assert Path(python).parent == Path(sys.exec_prefix) / "bin"
        assert " -m pip install --upgrade onnxruntime" in command


@pytest.mark.parametrize(
    ("managed", "writable", "venv", "flags"),
    [
        (True, False, False, ["--user", "--break-system-packages"]),  # Debian/Ubuntu system Python
        (False, False, False, ["--user"]),  # a read-only Python without PEP 668
        (False, True, False, []),  # Windows OSGeo4W / macOS QGIS.app own Python
        (True, False, True, []),  # a virtual environment
    ],
)
def test_pip_command_per_installation(managed: bool, writable: bool, venv: bool, flags: list[str]) -> None:
    from landslide_detector.ui.onnx_install import pip_install_args

    args = pip_install_args(
        "/x/python3",
        "onnxruntime-gpu",
        is_externally_managed=managed,
        writable=writable,
        in_venv=venv,
        numpy_version="1.24.2",
    )
    assert args[:5] == ["/x/python3", "-m", "pip", "install", "--upgrade"]
    assert "onnxruntime-gpu" in args and "numpy==1.24.2" in args
    extra = [a for a in args if a in ("--user", "--break-system-packages")]
    assert extra == flags


def test_package_per_platform() -> None:
    from landslide_detector.ui.onnx_install import package_name

    assert package_name("Darwin", "arm64") == "onnxruntime"
    assert package_name("Darwin", "x86_64") == "onnxruntime"
    assert package_name("Linux", "x86_64") == "onnxruntime-gpu"
    assert package_name("Windows", "AMD64") == "onnxruntime-gpu"
    assert package_name("Linux", "aarch64") == "onnxruntime"


def test_this_python_gets_a_runnable_command() -> None:
    from landslide_detector.ui.onnx_install import install_args, python_executable

    python = python_executable()
    args = install_args()
    assert args[0] == python and args[1:4] == ["-m", "pip", "install"]
    # The very interpreter QGIS runs (same prefix and version), not another python3 on PATH.
    probe = subprocess.run(
        [python, "-c", "import sys; print(sys.prefix, sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.stdout.strip() == f"{sys.prefix} {sys.version_info[:2]}"
    pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True, check=False)
    assert pip.returncode == 0, pip.stderr
