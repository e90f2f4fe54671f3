# SPDX-License-Identifier: GPL-2.0-or-later
"""``python -m batch`` over a folder of orthophotos on a LocalCluster of 2 worker processes, as a
user runs it; the plugin zip leaves the command out; its pins match the development ones."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.engine import DetectionOptions, run_detection
from tests.fixtures import batch_scenes, tiny_models
from tools.package import build_zip

ROOT = Path(__file__).resolve().parents[2]


def run_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "batch", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_command_maps_a_folder_into_one_geopackage_and_resumes(tmp_path):
    folder = tmp_path / "orthophotos"
    folder.mkdir()
    batch_scenes.seams_raster(folder / "seams.tif")
    batch_scenes.far_raster(folder / "far.tif")
    model = str(tiny_models.brightness_model(tmp_path / "brightness.onnx"))
    out = tmp_path / "region.gpkg"
    common = ["--output", str(out), "--model", model, "--min-area", str(batch_scenes.MIN_AREA)]
    common += ["--window", str(batch_scenes.WINDOW), "--halo", str(batch_scenes.HALO)]

    first = run_command(str(folder), *common, "--workers", "2")

    assert first.returncode == 0, first.stderr
    assert "10 units from 2 rasters: 10 run now" in first.stdout and "on 2 workers" in first.stdout
    assert re.search(r"Dask dashboard: http://\S+/status", first.stderr), first.stderr
    assert "10/10 units" in first.stderr  # the progress bar's last state
    want = []
    for path in sorted(folder.glob("*.tif")):
        target = tmp_path / f"{path.stem}-reference.gpkg"
        run_detection(
            str(path), model, str(target), options=DetectionOptions(min_area_m2=batch_scenes.MIN_AREA)
        )
        want += batch_scenes.read_polygons(target)
    batch_scenes.assert_same_polygons(batch_scenes.read_polygons(out), sorted(want, key=lambda r: r["key"]))

    (folder / "broken.tif").write_bytes(b"not a raster at all")
    again = run_command(str(folder), *common, "--workers", "2", "--quiet")
    assert again.returncode == 3, again.stderr  # output written, one input failed
    assert "10 finished before" in again.stdout and "broken.tif" in again.stdout
    batch_scenes.assert_same_polygons(batch_scenes.read_polygons(out), sorted(want, key=lambda r: r["key"]))


def test_command_errors_leave_no_output(tmp_path):
    out = tmp_path / "region.gpkg"
    missing = run_command(str(tmp_path / "nowhere"), "--output", str(out))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    shapefile = run_command(str(tmp_path), "--output", str(tmp_path / "region.shp"))
    assert shapefile.returncode == 1 and ".gpkg" in shapefile.stderr
    usage = run_command("--output", str(out))
    assert usage.returncode == 2
    assert not out.exists()


def test_plugin_zip_leaves_the_batch_command_out(tmp_path):
    with zipfile.ZipFile(build_zip(tmp_path / "plugin.zip")) as archive:
        tops = {name.split("/")[1] for name in archive.namelist()}
    assert "batch" not in tops and "core" in tops


def test_batch_requirements_are_pinned_like_the_development_ones():
    def pins(path: Path) -> dict[str, str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return dict(line.split("==") for line in lines if "==" in line)

    batch, dev = pins(ROOT / "batch" / "requirements.txt"), pins(ROOT / "requirements-dev.txt")
    assert {"dask", "distributed"} <= set(batch)
    assert {name: dev.get(name) for name in batch} == batch
