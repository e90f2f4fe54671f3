# SPDX-License-Identifier: GPL-2.0-or-later
"""`make demo`: detect landslides on the bundled sample orthophoto through ``qgis_process``.

Runs ``qgis_process.bin run landslides:detect`` exactly as a user would from the command line,
in a throw-away QGIS profile (the user's own profile is never touched), writes
``demo-output/landslides.gpkg`` and ``demo-output/probability.tif`` and prints a one-screen summary.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/demo.py [--input ortho.tif] [--model m.onnx]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAME = "landslide_detector"
SAMPLE = ROOT / "resources" / "sample" / "sample_orthophoto.tif"
SAMPLE_INVENTORY = ROOT / "resources" / "sample" / "sample_inventory.gpkg"
OUTPUT_DIR = ROOT / "demo-output"

sys.path.insert(0, str(ROOT))
from core.resources import SHIPPED_MODEL as DEFAULT_MODEL  # noqa: E402 - needs ROOT on the path


class DemoError(Exception):
    """A problem the demo explains and stops on."""


# --- inputs -------------------------------------------------------------------------------------


def describe_raster(path: Path) -> dict[str, Any]:
    from osgeo import gdal, osr

    dataset = gdal.Open(str(path))
    if dataset is None:
        raise DemoError(f"Cannot open the orthophoto '{path}' with GDAL.")
    gt = dataset.GetGeoTransform()
    crs, unit = "no CRS", "map units"
    if dataset.GetProjection():
        srs = osr.SpatialReference(wkt=dataset.GetProjection())
        code = srs.GetAuthorityCode(None)
        crs = f"EPSG:{code} ({srs.GetName()})" if code else srs.GetName()
        unit = "m" if srs.IsProjected() and srs.GetLinearUnits() == 1.0 else srs.GetLinearUnitsName()
    return {
        "width": dataset.RasterXSize,
        "height": dataset.RasterYSize,
        "bands": dataset.RasterCount,
        "crs": crs,
        "pixel": (abs(gt[1]), abs(gt[5])),
        "unit": unit,
    }


def describe_model(path: Path) -> dict[str, Any]:
    from core.errors import DetectionError
    from core.model_info import load_model_info

    try:
        info = load_model_info(str(path))
    except DetectionError as error:
        raise DemoError(str(error)) from error
    training = ", ".join(
        f"{d.get('name', '?')} ({d.get('licence', 'licence not stated')})" for d in info.training_data
    )
    return {
        "name": path.name,
        # "DA-U-Net" or e.g. "DA-U-Net (A-U-Net)" for an ablation variant.
        "architecture": info.network
        if info.variant in ("", info.network)
        else f"{info.network} ({info.variant})",
        "training": training or "not recorded",
        "threshold": info.threshold,
        "tile": info.tile_size,
        "gsd": info.gsd_m,
    }


def largest_polygon(gpkg: Path) -> dict[str, float] | None:
    from osgeo import ogr

    dataset = ogr.Open(str(gpkg))
    if dataset is None:
        raise DemoError(f"qgis_process reported success but '{gpkg}' cannot be opened.")
    best = None
    for feature in dataset.GetLayer(0):
        area = feature.GetField("area_m2")
        if best is None or area > best["area_m2"]:
            best = {"area_m2": area, "mean_prob": feature.GetField("mean_prob")}
    dataset = None
    return best


# --- qgis_process -------------------------------------------------------------------------------


def qgis_process_env(profile: Path) -> dict[str, str]:
    env = dict(os.environ)
    plugins = Path(env.get("QGIS_PLUGINPATH") or ROOT / ".build" / "plugins")
    if not (plugins / PLUGIN_NAME).exists():
        raise DemoError(f"QGIS_PLUGINPATH '{plugins}' holds no '{PLUGIN_NAME}': run `make setup` first.")
    python_path = [sysconfig.get_paths()["purelib"]] if sys.prefix != sys.base_prefix else []
    if env.get("PYTHONPATH"):
        python_path.append(env["PYTHONPATH"])
    env.update(
        QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "offscreen"),
        QGIS_PLUGINPATH=str(plugins),
        QGIS_CUSTOM_CONFIG_PATH=str(profile),  # a private profile: the user's QGIS settings stay as they are
        PYTHONPATH=os.pathsep.join(python_path),  # QGIS's Python finds onnxruntime from the venv
        XDG_RUNTIME_DIR=str(profile / "runtime"),
    )
    (profile / "runtime").mkdir(mode=0o700, exist_ok=True)
    return env


def qgis_process(executable: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([executable, *args], env=env, capture_output=True, text=True, check=False)


def run_detect(
    executable: str, env: dict[str, str], orthophoto: Path, model: Path, device: str
) -> tuple[dict[str, Any], float]:
    enabled = qgis_process(executable, ["plugins", "enable", PLUGIN_NAME], env)
    if enabled.returncode != 0:
        raise DemoError(f"qgis_process could not enable the plugin:\n{enabled.stderr[-2000:]}")
    args = [
        "--json",
        "run",
        "landslides:detect",
        "--",
        f"INPUT={orthophoto}",
        f"MODEL={model}",
        f"DEVICE={device}",
        f"OUTPUT={OUTPUT_DIR / 'landslides.gpkg'}",
        f"PROBABILITY={OUTPUT_DIR / 'probability.tif'}",
    ]
    print("$ qgis_process.bin " + " ".join(args), flush=True)
    start = time.perf_counter()
    completed = qgis_process(executable, args, env)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        lines = [line for line in (completed.stdout + completed.stderr).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-15:]
        raise DemoError(f"qgis_process failed (exit code {completed.returncode}):\n" + "\n".join(errors))
    start_json = completed.stdout.find("{")
    try:
        return json.loads(completed.stdout[start_json:]), wall
    except ValueError as error:
        raise DemoError(f"qgis_process printed no JSON result:\n{completed.stdout[-2000:]}") from error


# --- summary ------------------------------------------------------------------------------------


def summary(raster: dict, model: dict, results: dict, wall: float, biggest: dict | None, inputs: dict) -> str:
    megapixels = raster["width"] * raster["height"] / 1e6
    detect_s = float(results["ELAPSED_S"])
    area = float(results["TOTAL_AREA_M2"])
    lines = [
        "Landslide detection demo",
        "=" * 60,
        f"Input      {inputs['orthophoto']}",
        f"           {raster['width']} x {raster['height']} px, {raster['bands']} bands, {raster['crs']}, "
        f"pixels {raster['pixel'][0]:.3g} x {raster['pixel'][1]:.3g} {raster['unit']}",
        f"Model      {model['name']}: {model['architecture']}, tile {model['tile']}, "
        f"threshold {model['threshold']:.2f}",
        f"           trained on: {model['training']}",
        f"Polygons   {int(results['POLYGON_COUNT'])}",
        f"Area       {area:,.1f} m² ({area / 10_000:,.3f} ha)",
    ]
    if biggest is not None:
        lines.append(f"Largest    {biggest['area_m2']:,.1f} m² (mean probability {biggest['mean_prob']:.2f})")
    lines += [
        f"Provider   {results['EXECUTION_PROVIDER']}: {results['PROVIDER_REASON']}",
        f"Precision  {results.get('PRECISION_USED') or '?'}: {results.get('PRECISION_REASON') or ''}",
        f"Time       detection {detect_s:.1f} s ({megapixels / max(detect_s, 1e-9):.2f} MPix/s); "
        f"qgis_process wall time {wall:.1f} s ({megapixels / max(wall, 1e-9):.2f} MPix/s)",
        f"Outputs    {results['OUTPUT']}",
        f"           {results['PROBABILITY']}",
    ]
    return "\n".join(lines)


def accuracy_line(polygons: Path, inventory: Path, grid: Path) -> str:
    """Pixel and object scores of the detected polygons against an inventory, on the raster's grid."""
    from core.metrics import evaluate

    scores = evaluate(str(polygons), str(inventory), grid_raster=str(grid))
    return (
        f"Accuracy   vs {inventory.name}: pixel IoU {scores['iou']:.2f}, "
        f"precision {scores['precision']:.2f}, recall {scores['recall']:.2f}, F1 {scores['f1']:.2f}; "
        f"objects matched {scores['objects_matched']} of {scores['objects_reference']} "
        f"(F1 {scores['object_f1']:.2f} at IoU {scores['object_iou_threshold']:.1f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Detect landslides on the sample orthophoto via qgis_process."
    )
    parser.add_argument("--input", type=Path, default=SAMPLE, help="orthophoto (default: the bundled sample)")
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL, help="ONNX model (default: the shipped one)"
    )
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument(
        "--inventory",
        type=Path,
        default=None,
        help="landslide polygons to score the result against (default: the sample's own inventory)",
    )
    args = parser.parse_args(argv)
    if args.inventory is None and args.input == SAMPLE:
        args.inventory = SAMPLE_INVENTORY

    executable = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
    try:
        if executable is None:
            raise DemoError("qgis_process.bin is not installed: install QGIS 3.22+ (`make sysdeps`).")
        if not args.model.is_file():
            raise DemoError(
                f"The model '{args.model}' does not exist. "
                "Train and export it (`make train`) or pass --model."
            )
        orthophoto = args.input
        if not orthophoto.is_file():
            raise DemoError(f"The orthophoto '{orthophoto}' does not exist.")
        with tempfile.TemporaryDirectory(prefix="landslide-demo-") as work:
            OUTPUT_DIR.mkdir(exist_ok=True)
            raster = describe_raster(orthophoto)
            model = describe_model(args.model)
            profile = Path(work) / "profile"
            profile.mkdir()
            document, wall = run_detect(
                executable, qgis_process_env(profile), orthophoto, args.model, args.device
            )
        results = document["results"]
        biggest = largest_polygon(Path(results["OUTPUT"]))
        for warning in document.get("log", {}).get("warning", []):
            print(f"Warning: {warning}")
        print(summary(raster, model, results, wall, biggest, {"orthophoto": orthophoto}))
        if args.inventory is not None:
            print(accuracy_line(Path(results["OUTPUT"]), args.inventory, Path(results["PROBABILITY"])))
        return 0
    except DemoError as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
