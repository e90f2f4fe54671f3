# SPDX-License-Identifier: GPL-2.0-or-later
"""The plumbing of the Deepness side-by-side benchmark (no timing: what it runs and how it scores).

The peer itself (its venv, QGIS) is exercised by ``python -m bench.run --parts deepness``; here: the
fixed-tile model copy it gets, the session.run timer wrapped around its runner, the IoU of both
tools' outputs against an inventory, and the reason given when the peer is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from bench import accuracy, deepness
from tests.fixtures import int8_models, rasters


def test_fixed_tile_copy_for_deepness(tmp_path, monkeypatch):
    monkeypatch.setattr(deepness, "TMP", tmp_path / "tmp")
    model = int8_models.conv_model(tmp_path / "conv.onnx")
    copy = deepness.fixed_tile_copy(model, 128)
    loaded = onnx.load(str(copy))
    dims = [d.dim_value or d.dim_param for d in loaded.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 3, 128, 128]  # batch stays dynamic, H and W fixed
    assert loaded.ir_version <= deepness.MAX_IR
    assert {p.key: p.value for p in loaded.metadata_props} == {
        p.key: p.value for p in onnx.load(str(model)).metadata_props
    }
    session = ort.InferenceSession(str(copy), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": np.zeros((2, 3, 128, 128), np.float32)})[0]
    assert out.shape == (2, 1, 128, 128)
    assert deepness.deepness_settings(copy) == {"overlap_pct": 25.0, "threshold": 0.5}


def test_child_times_session_run_of_an_unchanged_runner(tmp_path):
    runner = tmp_path / "runner.py"
    model = int8_models.conv_model(tmp_path / "conv.onnx")
    runner.write_text(
        "import sys, numpy as np, onnxruntime as ort\n"
        "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n"
        "for _ in range(3):\n"
        "    s.run(None, {'input': np.zeros((1, 3, 32, 32), np.float32)})\n"
        "print('runner done', sys.argv[2])\n"
    )
    proc = subprocess.run(
        [sys.executable, str(deepness.CHILD), str(runner), str(model), "extra-arg"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "runner done extra-arg" in proc.stdout  # the runner got its own argv
    record = json.loads(proc.stdout.split("BENCH_JSON ", 1)[1])
    assert record["session_runs"] == 3 and record["session_run_s"] > 0 and record["error"] is None
    # Its own peak (VmHWM, reset by exec), not ru_maxrss, which starts from the parent's at fork.
    assert 10 < record["vm_hwm_mb"] < 1024


def test_child_reports_a_failing_runner(tmp_path):
    runner = tmp_path / "fails.py"
    runner.write_text("import sys\nsys.exit(2)\n")
    proc = subprocess.run([sys.executable, str(deepness.CHILD), str(runner)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert json.loads(proc.stdout.split("BENCH_JSON ", 1)[1])["error"] == "exit 2"


def test_absent_peer_is_a_clear_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(deepness, "PEER", tmp_path / "nowhere")
    problem = deepness.peer_problem()
    assert problem is not None and str(tmp_path / "nowhere") in problem


def _inventory(tmp_path):
    """A 40 x 60 label raster: landslide in rows 10..19, cols 10..29; unknown (255) in cols 50..59."""
    label = np.zeros((40, 60), np.uint8)
    label[10:20, 10:30] = 1
    label[:, 50:] = 255
    image = tmp_path / "scene_X_rgb.tif"
    rasters.write_raster(image, np.zeros((3, 40, 60), np.uint8))
    rasters.write_raster(tmp_path / "scene_X_label.tif", label, nodata=255)
    return image, tmp_path / "scene_X_label.tif"


def test_our_polygons_are_scored_pixel_by_pixel(tmp_path):
    image, label = _inventory(tmp_path)
    assert accuracy.label_for(image) == label
    x0, y0, px = rasters.ORIGIN[0], rasters.ORIGIN[1], rasters.PIXEL
    # predicted: rows 10..19, cols 20..39 (10 x 10 pixels right, 10 x 10 wrong) + cols 50..55 (unknown)
    wkt = [
        f"POLYGON(({x0 + 20 * px} {y0 - 10 * px},{x0 + 40 * px} {y0 - 10 * px},{x0 + 40 * px} {y0 - 20 * px},"
        f"{x0 + 20 * px} {y0 - 20 * px},{x0 + 20 * px} {y0 - 10 * px}))",
        f"POLYGON(({x0 + 50 * px} {y0},{x0 + 56 * px} {y0},{x0 + 56 * px} {y0 - 40 * px},"
        f"{x0 + 50 * px} {y0 - 40 * px},{x0 + 50 * px} {y0}))",
    ]
    gpkg = rasters.write_polygons(tmp_path / "ours.gpkg", wkt)
    scores = accuracy.score_ours(gpkg, label)
    assert scores["iou"] == pytest.approx(100 / 300)  # tp 100, fp 100, fn 100; unknown ignored
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(0.5)


def test_deepness_mask_is_scored_on_the_inventory_grid(tmp_path):
    _image, label = _inventory(tmp_path)
    mask = np.ones((40, 60), np.uint8)  # Deepness: 1 = background class, 2 = landslide
    mask[10:20, 10:30] = 2
    np.save(tmp_path / "d.npy", mask)
    assert accuracy.score_deepness(tmp_path / "d.npy", label)["iou"] == pytest.approx(1.0)
    # one row and column more (Deepness rounds its extent): nearest pixel, still on the grid
    bigger = np.ones((41, 61), np.uint8)
    bigger[10:20, 10:30] = 2
    np.save(tmp_path / "d41.npy", bigger)
    assert accuracy.score_deepness(tmp_path / "d41.npy", label)["iou"] > 0.85
