# SPDX-License-Identifier: GPL-2.0-or-later
"""``make screenshot``: the real QGIS desktop, the plugin, one detection, one picture.

Starts Xvfb, starts ``qgis`` with a throw-away profile in which the plugin is enabled (the way a
user enables it), and hands QGIS a start-up script that loads the sample orthophoto, clicks the
toolbar button (which opens the panel ready to run), asks for the probability raster, searches the
visible map extent and presses "Detect landslides" in the panel. When the result layers are on the
map, the whole screen is captured with ImageMagick's ``import`` and QGIS and Xvfb are stopped again.

    .venv/bin/python tools/screenshot.py --output docs/screenshot.png
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAME = "landslide_detector"
PLUGINS_DIR = ROOT / ".build" / "plugins"
SAMPLE = ROOT / "resources" / "sample" / "sample_orthophoto.tif"
SHIPPED_MODEL = ROOT / "resources" / "model" / "landslide_daunet.onnx"

# Runs inside QGIS (``qgis --code``): load the raster, press the button, report when done.
STARTUP_SCRIPT = r"""
import json, os, traceback
from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface, plugins

CFG = json.loads(os.environ["LANDSLIDE_SCREENSHOT"])
STATE = {}


def report(**data):
    with open(CFG["marker"] + ".part", "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(CFG["marker"] + ".part", CFG["marker"])


def menu_entries():
    menu = iface.rasterMenu()
    for action in menu.actions():
        if action.menu() is not None and "Landslide" in action.text():
            return [a.text() for a in action.menu().actions()]
    return []


def start():
    try:
        window = iface.mainWindow()
        window.setGeometry(0, 0, CFG["width"], CFG["height"])
        for dock in window.findChildren(QDockWidget):
            if dock.objectName() in ("Browser", "Browser2"):
                dock.hide()
            elif dock.objectName() == "Layers":  # wide enough for the result layers' names
                window.resizeDocks([dock], [CFG["layers_width"]], 1)  # Qt.Horizontal
        layer = QgsRasterLayer(CFG["raster"], "sample_orthophoto")
        QgsProject.instance().addMapLayer(layer)
        iface.setActiveLayer(layer)
        STATE["layer"] = layer
        plugin = plugins[CFG["plugin"]]
        dock = plugin.show_dock()
        window.resizeDocks([dock], [CFG["dock_width"]], 1)  # Qt.Horizontal
        if CFG.get("model"):
            dock.modelFile.setFilePath(CFG["model"])
        dock.runFinished.connect(finished)
        STATE["dock"] = dock
        if not CFG["detect"]:  # the panel as a user without onnxruntime first sees it
            STATE["outcome"] = {"status": "ok", "message": dock.onnxCommand.text(), "results": {}}
            QTimer.singleShot(CFG["settle_ms"], done)
            return
        iface.mapCanvas().setExtent(layer.extent())
        plugin.detect_action.trigger()  # the toolbar button: the panel, ready to run
        if dock.status_kind != "ready":
            report(status="failed", message=dock.statusLabel.text())
            return
        dock.probabilityCheck.setChecked(True)
        dock.areaCombo.setCurrentIndex(1)  # visible map extent
        dock.runButton.click()
        if dock.run is None:
            report(status="failed", message=dock.statusLabel.text())
    except Exception:
        report(status="error", message=traceback.format_exc())


def finished(outcome):
    try:
        canvas = iface.mapCanvas()
        canvas.setExtent(STATE["layer"].extent())
        canvas.refresh()
        for node in QgsProject.instance().layerTreeRoot().findLayers():
            node.setExpanded(True)  # the graded classes and the probability ramp in the Layers panel
        STATE["outcome"] = {"status": outcome.status, "message": outcome.message, "results": {
            k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in outcome.results.items()}}
        QTimer.singleShot(CFG["settle_ms"], done)
    except Exception:
        report(status="error", message=traceback.format_exc())


def tree_state():
    group = QgsProject.instance().layerTreeRoot().findGroup("Landslides")
    view = iface.layerTreeView()
    index = view.node2index(group) if group else None
    return {"node_expanded": bool(group and group.isExpanded()),
            "view_expanded": bool(index is not None and view.isExpanded(index))}


def drop_task_notice():
    # Xvfb has no window manager, so QGIS never counts as the active window and announces every
    # finished task in the message bar; a user working in QGIS does not get that notice.
    bar = iface.messageBar()
    item = bar.currentItem()
    if item is not None and item.title().startswith("Task complete"):
        bar.popWidget(item)


def done():
    drop_task_notice()
    outcome = STATE["outcome"]
    folder = str(STATE["dock"].output_folder())
    report(menu=menu_entries(), tree=tree_state(), output_folder=folder, **outcome)


QTimer.singleShot(1500, start)
"""


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what}: the process exited early (code {process.returncode}).")
        time.sleep(0.5)
    raise SystemExit(f"Timed out after {timeout:.0f} s waiting for {what}.")


def free_display() -> str:
    """The first X display number from 99 without a server (other sessions may use :99)."""
    for number in range(99, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return f":{number}"
    raise SystemExit("No free X display between :99 and :139.")


def venv_site_packages() -> str:
    """Where this interpreter's onnxruntime lives, for QGIS's (system) Python to find it."""
    import onnxruntime

    return str(Path(onnxruntime.__file__).resolve().parent.parent)


def fallback_model(folder: Path) -> Path:
    """A tiny generated model for development, until the trained model is in resources/model."""
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.tiny_models import brightness_model

    return brightness_model(folder / "brightness.onnx")


def write_profile(profiles: Path) -> None:
    ini = profiles / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text(
        "[PythonPlugins]\n"
        f"{PLUGIN_NAME}=true\n"
        "\n[qgis]\n"
        "checkVersion=false\n"
        "allowVersionCheck=false\n"
        "showTips322=false\n"
        "\n[core]\n"
        "NewsFeed\\httpsfeedqgisorg\\disabled=true\n",
        encoding="utf-8",
    )


def reduce_png(raw: Path, output: Path, width: int, max_bytes: int = 480_000) -> None:
    """Scale and quantise to 255 colours, narrower if needed, so the picture stays small in git."""
    while True:
        subprocess.run(
            [
                "convert",
                str(raw),
                "-resize",
                f"{width}x",
                "-dither",
                "None",
                "-colors",
                "255",
                f"PNG8:{output}",
            ],
            check=True,
        )
        if output.stat().st_size <= max_bytes or width <= 800:
            return
        width -= 120


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--raster", type=Path, default=SAMPLE)
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--display", default="", help="X display for Xvfb (default: first free from :99)")
    parser.add_argument("--size", default="1600x1050")
    parser.add_argument("--png-width", type=int, default=1400, help="width of the saved picture")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary profile and raw capture")
    parser.add_argument(
        "--without-onnxruntime",
        action="store_true",
        help="do not give QGIS this environment's onnxruntime: shows the install banner instead of a run",
    )
    args = parser.parse_args()

    for tool in ("Xvfb", "qgis", "import", "convert"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: sudo apt-get install xvfb qgis imagemagick")
    if not (PLUGINS_DIR / PLUGIN_NAME).exists():
        raise SystemExit(f"{PLUGINS_DIR / PLUGIN_NAME} is missing: run `make setup` first.")
    if not args.raster.is_file():
        raise SystemExit(f"The raster {args.raster} does not exist.")

    args.display = args.display or free_display()
    work = Path(tempfile.mkdtemp(prefix="landslide-screenshot-"))
    model = args.model
    if model is None and not SHIPPED_MODEL.is_file():
        model = fallback_model(work)
        print(f"warning: {SHIPPED_MODEL} is missing; using a generated test model {model}", file=sys.stderr)
    width, height = (int(v) for v in args.size.split("x"))
    profiles = work / "profiles"
    write_profile(profiles)
    script = work / "startup.py"
    script.write_text(STARTUP_SCRIPT, encoding="utf-8")
    marker = work / "done.json"
    config = {
        "raster": str(args.raster.resolve()),
        "model": str(model.resolve()) if model else "",
        "plugin": PLUGIN_NAME,
        "marker": str(marker),
        "width": width,
        "height": height,
        "dock_width": 420,
        "layers_width": 360,
        "settle_ms": 4000,
        "detect": not args.without_onnxruntime,
    }
    runtime_dir = work / "runtime"
    runtime_dir.mkdir(mode=0o700)
    env = dict(os.environ)
    for key in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH"):
        env.pop(key, None)
    python_path = ["" if args.without_onnxruntime else venv_site_packages(), env.get("PYTHONPATH", "")]
    env.update(
        DISPLAY=args.display,
        QGIS_PLUGINPATH=str(PLUGINS_DIR),
        PYTHONPATH=os.pathsep.join(p for p in python_path if p),
        XDG_RUNTIME_DIR=str(runtime_dir),
        LANDSLIDE_SCREENSHOT=json.dumps(config),
    )
    if python_path[0]:
        print(f"QGIS Python gets onnxruntime from {python_path[0]} (as a user's pip install would provide)")

    xvfb = subprocess.Popen(
        ["Xvfb", args.display, "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    qgis = None
    results_folder = work
    log = open(work / "qgis.log", "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
    try:
        socket = Path("/tmp/.X11-unix") / f"X{args.display.lstrip(':')}"
        wait_for(socket.exists, 30, "Xvfb", xvfb)
        qgis = subprocess.Popen(
            ["qgis", "--nologo", "--noversioncheck", "--profiles-path", str(profiles), "--code", str(script)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(marker.exists, args.timeout, "QGIS to finish the detection", qgis)
        report = json.loads(marker.read_text(encoding="utf-8"))
        print(json.dumps(report, indent=2))
        results_folder = Path(report.get("output_folder") or work)
        if report.get("status") != "ok":
            raise SystemExit(f"The detection did not succeed: {report.get('message')}")
        raw = work / "raw.png"
        subprocess.run(["import", "-display", args.display, "-window", "root", str(raw)], check=True)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        reduce_png(raw, args.output, args.png_width)
        print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KB)")
    finally:
        for process in (qgis, xvfb):
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        # The run's GeoPackage went to QGIS's temporary folder for unsaved projects: remove it too.
        if results_folder.parent == Path(tempfile.gettempdir()) and results_folder.name.startswith(
            "landslides-"
        ):
            shutil.rmtree(results_folder, ignore_errors=True)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
