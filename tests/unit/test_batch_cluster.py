# SPDX-License-Identifier: GPL-2.0-or-later
"""The batch command on a real Dask cluster of 2 worker processes (1 thread each), started as a
user would by hand (``dask scheduler`` + ``dask worker --nworkers 2``) in a folder where neither
can import this repository: the command ships its code and the model to them.

Real GDAL files, real onnxruntime sessions (the tiny brightness model, which maps bright
rectangles exactly: the single-machine run is the reference).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr

from batch import BatchOptions, run_batch
from batch.store import store_path
from batch.unit import usable_cores
from core.engine import DetectionOptions, run_detection
from core.errors import DetectionError
from tests.fixtures import batch_scenes, rasters, tiny_models
from tests.fixtures.batch_scenes import HALO, MIN_AREA, WINDOW

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, Client) of a 2-process cluster started with Dask's own commands."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["DASK_LOGGING__DISTRIBUTED"] = "warning"
    scheduler_file = folder / "scheduler.json"
    common = ["--scheduler-file", str(scheduler_file), "--no-dashboard", "--host", "127.0.0.1"]
    workers = ["--nworkers", "2", "--nthreads", "1", "--death-timeout", "60"]
    logs = [open(folder / name, "w") for name in ("scheduler.log", "workers.log")]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--port", "0", *common],
            cwd=folder,
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        deadline = time.time() + 120
        while not scheduler_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert scheduler_file.exists(), (folder / "scheduler.log").read_text()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", *common, *workers, "--local-directory", str(folder)],
                cwd=folder,
                env=env,
                stdout=logs[1],
                stderr=subprocess.STDOUT,
            )
        )
        address = json.loads(scheduler_file.read_text())["address"]
        client = Client(address, timeout="60s")
        client.wait_for_workers(2, timeout=180)
        yield address, client
        client.close()
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(tiny_models.brightness_model(tmp_path_factory.mktemp("model") / "brightness.onnx"))


@pytest.fixture
def scene(tmp_path):
    """A folder with the seams raster (3 x 3 units) and a far one-unit raster."""
    folder = tmp_path / "orthophotos"
    folder.mkdir()
    batch_scenes.seams_raster(folder / "seams.tif")
    batch_scenes.far_raster(folder / "far.tif")
    return folder


def reference(paths, model, folder, **options):
    """Polygons of single-machine runs (``landslides:detect``'s engine) over each raster."""
    out = []
    for i, path in enumerate(paths):
        target = folder / f"reference-{i}.gpkg"
        run_detection(str(path), model, str(target), options=DetectionOptions(**options))
        out += batch_scenes.read_polygons(target)
    return sorted(out, key=lambda r: r["key"])


def options(address, model, **kw):
    settings = {"model": model, "scheduler": address, "window": WINDOW, "halo": HALO, "progress": False}
    return BatchOptions(**{**settings, **kw})


def test_merged_output_equals_single_machine_run(cluster, model, scene, tmp_path):
    address, client = cluster
    results = []
    out = tmp_path / "region.gpkg"
    summary = run_batch(
        [str(scene)],
        str(out),
        options(address, model, min_area_m2=MIN_AREA, on_unit=lambda unit, result: results.append(result)),
    )

    assert summary.units == 10 and summary.ran == 10 and not summary.failed
    want = reference(sorted(scene.glob("*.tif")), model, tmp_path, min_area_m2=MIN_AREA)
    got = batch_scenes.read_polygons(out)
    batch_scenes.assert_same_polygons(got, want)
    assert summary.merge.polygons == batch_scenes.SEAM_POLYGONS + 2
    assert summary.merge.seam_joins == batch_scenes.SEAM_JOINS
    assert summary.merge.below_min_area == 1  # the speck; the halves were joined first
    assert {r["source"] for r in got} == {str(scene / "seams.tif"), str(scene / "far.tif")}
    written = ogr.Open(str(out))
    layer = written.GetLayerByName("landslides")
    assert layer.GetFIDColumn() == "fid" and sorted(f.GetFID() for f in layer) == list(range(1, len(got) + 1))
    layer = written = None

    # The halves of the small landslide were two pieces under the minimum area each.
    manifest = ogr.Open(store_path(str(out)))
    pieces = manifest.GetLayerByName("pieces")
    pieces.SetAttributeFilter("pixels = 18")
    assert pieces.GetFeatureCount() == 2
    manifest = None

    # One onnxruntime session per worker process, reused by its later units; threads split the cores.
    by_pid: dict[int, set[int]] = {}
    for result in results:
        by_pid.setdefault(result.pid, set()).add(result.sessions_opened)
    assert len(by_pid) == 2
    assert all(len(opened) == 1 for opened in by_pid.values())
    assert max(sum(r.pid == pid for r in results) for pid in by_pid) >= 2
    assert {r.threads for r in results} == {max(1, usable_cores() // 2)}

    # The workers run the shipped code (they cannot import this repository).
    files = client.run(lambda: sys.modules["batch.unit"].__file__)
    assert all(".zip" in path for path in files.values()), files


def test_interrupted_run_resumes_and_reruns_skip_finished_units(cluster, model, scene, tmp_path):
    address, _ = cluster
    out = tmp_path / "region.gpkg"
    seen = []

    def interrupt_after_four(unit, result):
        seen.append(unit.uid)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(
            [str(scene)],
            str(out),
            options(address, model, min_area_m2=MIN_AREA, on_unit=interrupt_after_four),
        )
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left

    resumed = run_batch([str(scene)], str(out), options(address, model, min_area_m2=MIN_AREA))
    assert (resumed.skipped, resumed.ran, resumed.failed) == (4, 6, [])
    want = reference(sorted(scene.glob("*.tif")), model, tmp_path, min_area_m2=MIN_AREA)
    batch_scenes.assert_same_polygons(batch_scenes.read_polygons(out), want)

    again = run_batch([str(scene)], str(out), options(address, model, min_area_m2=MIN_AREA))
    assert (again.skipped, again.ran) == (10, 0)
    batch_scenes.assert_same_polygons(batch_scenes.read_polygons(out), want)

    # The minimum area is applied by the merge: changing it re-merges without running a unit.
    remerged = run_batch([str(scene)], str(out), options(address, model, min_area_m2=0.0))
    assert remerged.ran == 0 and remerged.merge.polygons == len(want) + 1

    # A threshold changes every unit's result: the manifest is not mixed with a new run.
    with pytest.raises(DetectionError, match="--restart"):
        run_batch([str(scene)], str(out), options(address, model, threshold=0.9))
    restarted = run_batch([str(scene)], str(out), options(address, model, threshold=0.9, restart=True))
    assert (restarted.skipped, restarted.ran) == (0, 10)


def test_killed_worker_loses_only_its_unit(cluster, model, scene, tmp_path):
    import cloudpickle

    from tests.fixtures import dask_faults

    address, client = cluster
    marker = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(dask_faults)
    try:
        client.register_plugin(dask_faults.KillWorkerOnce(str(marker)), name="kill-once")
    finally:
        cloudpickle.unregister_pickle_by_value(dask_faults)
    try:
        out = tmp_path / "region.gpkg"
        summary = run_batch([str(scene)], str(out), options(address, model, min_area_m2=MIN_AREA))
    finally:
        client.unregister_worker_plugin("kill-once")
        client.wait_for_workers(2, timeout=180)  # the nanny restarts the dead worker

    assert marker.read_text().startswith("landslide-unit-")  # a worker really died mid-unit
    assert summary.failed == [] and summary.ran == 10
    want = reference(sorted(scene.glob("*.tif")), model, tmp_path, min_area_m2=MIN_AREA)
    batch_scenes.assert_same_polygons(batch_scenes.read_polygons(out), want)


def test_bad_inputs_are_reported_and_the_rest_mapped(cluster, model, tmp_path):
    address, _ = cluster
    folder = tmp_path / "orthophotos"
    folder.mkdir()
    good = batch_scenes.far_raster(folder / "good.tif")
    (folder / "corrupt.tif").write_bytes(b"II*\x00 this is not a GeoTIFF" * 40)
    rasters.bright_squares_raster(folder / "nocrs.tif", epsg=None)
    noise = np.random.default_rng(0).integers(0, 255, (3, 300, 300), dtype=np.uint8)
    truncated = rasters.write_raster(folder / "truncated.tif", noise)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.6)])  # the header opens, the blocks are gone

    out = tmp_path / "region.gpkg"
    summary = run_batch([str(folder)], str(out), options(address, model, window=1024))  # one unit each

    failed = {Path(what.split(" [")[0]).name: why for what, why in summary.failed}
    assert set(failed) == {"corrupt.tif", "nocrs.tif", "truncated.tif"}
    assert "cannot be opened as a raster" in failed["corrupt.tif"]
    assert "no coordinate reference system" in failed["nocrs.tif"]
    assert "damaged" in failed["truncated.tif"]
    want = reference([good], model, tmp_path)
    batch_scenes.assert_same_polygons(batch_scenes.read_polygons(out), want)
    assert "Failed" in summary.text() and "truncated.tif" in summary.text()


def test_same_landslide_in_overlapping_rasters_counted_once(cluster, model, tmp_path):
    address, _ = cluster
    folder = tmp_path / "orthophotos"
    folder.mkdir()
    first, second = batch_scenes.overlapping_pair(folder)
    out = tmp_path / "region.gpkg"
    summary = run_batch([str(first), str(second)], str(out), options(address, model))

    got = batch_scenes.read_polygons(out)
    assert summary.merge.duplicates_dropped == 1
    assert len(got) == 3  # four detections, one landslide seen twice
    shared = [r for r in got if abs(r["area_m2"] - 144 * 0.25) < 1e-6]
    assert len(shared) == 1
    assert shared[0]["source"] == str(second)  # the higher-confidence detection is kept
    assert shared[0]["mean_prob"] == pytest.approx(250 / 255, abs=1e-6)
    assert sorted(Path(r["source"]).name for r in got) == ["first.tif", "second.tif", "second.tif"]


def test_probability_dir_and_output_crs(cluster, model, scene, tmp_path):
    address, _ = cluster
    out = tmp_path / "region.gpkg"
    probability = tmp_path / "probability"
    summary = run_batch(
        [str(scene)],
        str(out),
        options(address, model, min_area_m2=MIN_AREA, probability_dir=str(probability), crs="EPSG:4326"),
    )
    assert summary.ran == 10 and not summary.failed

    # The windows' probabilities form the single-machine probability raster exactly.
    single = tmp_path / "single.tif"
    run_detection(str(scene / "seams.tif"), model, None, str(single))
    mosaic = batch_scenes.probability_array(probability / "seams.vrt")
    np.testing.assert_array_equal(mosaic, batch_scenes.probability_array(single))
    assert (probability / "far.tif").is_file()
    assert (
        gdal.Open(str(probability / "seams.vrt")).GetGeoTransform()
        == gdal.Open(str(single)).GetGeoTransform()
    )

    # One CRS of the user's choice; areas are measured on the rasters' own grids before reprojection.
    got = batch_scenes.read_polygons(out)
    assert got[0]["srs"].GetAuthorityCode(None) == "4326"
    want = reference(sorted(scene.glob("*.tif")), model, tmp_path, min_area_m2=MIN_AREA)
    assert sorted(round(r["area_m2"], 6) for r in got) == sorted(round(r["area_m2"], 6) for r in want)
    assert all(-180 <= r["geom"].GetEnvelope()[0] <= 180 for r in got)
