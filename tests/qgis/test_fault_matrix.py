# SPDX-License-Identifier: GPL-2.0-or-later
"""The fault matrix of issue 11, through ``qgis_process.bin`` as a user runs it.

Every row builds its inputs and outputs in a fresh folder, runs one algorithm and checks:

* the exit status (0 only where the run must succeed);
* the message: the expected text, and an error printed **once** (not three times);
* that **no partial output and no changed file** remain: every watched folder (the outputs', and
  the inputs', so no ``.aux.xml`` appears next to an input) holds exactly what it held before, or
  for a success, that plus the outputs, and never a staging folder, temporary file or lock file.

Full disks and read-only folders are small tmpfs mounts (skipped, saying why, without root). Kills
and concurrent writers are at the end: they need a run long enough to be interrupted.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from tests.fixtures import rasters
from tests.fixtures.filesystems import read_only_folder, small_filesystem, snapshot
from tests.qgis.conftest import QGIS_PROCESS, qgis_process_env

if TYPE_CHECKING:
    from tests.qgis.conftest import TinyModels

LEFTOVER = re.compile(r"(^|/)\.(landslides\.tmp-|.+\.lock$)|\.tmp-\d+-")  # staging, temporary, lock files
OLD = b"the user's earlier file"


# --- inputs ---------------------------------------------------------------------------------------


def noise_raster(
    path: Path, size: int = 256, dtype: str = "uint8", low: float = 0, high: float = 255
) -> Path:
    """Random values: compresses badly, so outputs need more than a 200 kB disk."""
    rng = np.random.default_rng(7)
    image = rng.uniform(low, high, (3, size, size)).astype(dtype)
    return rasters.write_raster(path, image)


def truncated_raster(path: Path) -> Path:
    noise_raster(path, 300)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # the header is intact, the last tiles are gone
    return path


def points_layer(path: Path) -> Path:
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(rasters.EPSG)
    layer = ds.CreateLayer("points", srs, ogr.wkbPoint)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({rasters.ORIGIN[0] + 5} {rasters.ORIGIN[1] - 5})"))
    layer.CreateFeature(feature)
    ds = None
    return path


def csv_table(path: Path) -> Path:
    path.write_text(f"id,x,y\n1,{rasters.ORIGIN[0] + 5},{rasters.ORIGIN[1] - 5}\n", encoding="utf-8")
    return path


def inventory(path: Path) -> Path:
    return rasters.write_polygons(path, [rasters.pixel_rect_wkt(10, 10, 20, 30)])


def slow_raster(folder: Path, repeat: int = 12) -> Path:
    """A VRT repeating a 512² squares tile ``repeat`` x ``repeat`` times: long enough to be killed."""
    tile = rasters.bright_squares_raster(folder / "tile.tif", rows=512, cols=512)
    src = gdal.Open(str(tile))
    bands = []
    for b in range(1, 4):
        sources = "".join(
            f"<SimpleSource><SourceFilename relativeToVRT='1'>tile.tif</SourceFilename>"
            f"<SourceBand>{b}</SourceBand><SrcRect xOff='0' yOff='0' xSize='512' ySize='512'/>"
            f"<DstRect xOff='{i * 512}' yOff='{j * 512}' xSize='512' ySize='512'/></SimpleSource>"
            for j in range(repeat)
            for i in range(repeat)
        )
        bands.append(f"<VRTRasterBand dataType='Byte' band='{b}'>{sources}</VRTRasterBand>")
    gt = ", ".join(repr(v) for v in src.GetGeoTransform())
    (folder / "slow.vrt").write_text(
        f"<VRTDataset rasterXSize='{512 * repeat}' rasterYSize='{512 * repeat}'><SRS>{src.GetProjection()}"
        f"</SRS><GeoTransform>{gt}</GeoTransform>{''.join(bands)}</VRTDataset>",
        encoding="utf-8",
    )
    return folder / "slow.vrt"


# --- the table --------------------------------------------------------------------------------------


@dataclass
class Row:
    args: list[str]  # after "run"
    returncode: int  # 0: success, else any non-zero
    message: str  # a regular expression the output must contain (an error's: exactly once)
    watched: list[Path]  # folders whose files must not change (besides the expected outputs)
    outputs: list[Path] = field(default_factory=list)  # files a success must leave complete
    check: Callable[[str], None] | None = None  # more checks on the output


@dataclass
class Env:
    tmp: Path
    models: TinyModels
    stack: contextlib.ExitStack

    def folder(self, name: str, files: dict[str, bytes] | None = None) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        for file_name, data in (files or {}).items():
            (path / file_name).write_bytes(data)
        return path

    def full_disk(self, name: str, files: dict[str, bytes] | None = None) -> Path:
        return self.stack.enter_context(small_filesystem(self.tmp / name, 200, files))

    def read_only(self, name: str, files: dict[str, bytes] | None = None) -> Path:
        return self.stack.enter_context(read_only_folder(self.tmp / name, files))


def detect(env: Env, raster: Path, *extra: str) -> list[str]:
    return [
        "landslides:detect",
        "--",
        f"INPUT={raster}",
        f"MODEL={env.models.brightness}",
        "DEVICE=cpu",
        *extra,
    ]


def export(raster: Path, inventory_path: Path, out: Path, *extra: str) -> list[str]:
    return [
        "landslides:export_tiles",
        "--",
        f"INPUT={raster}",
        f"INVENTORY={inventory_path}",
        "TILE_SIZE=64",
        f"OUTPUT_FOLDER={out}",
        *extra,
    ]


def full_disk_polygons(env: Env) -> Row:
    """Item 1 and 2: the polygon sink fails on a full disk after the detection; the earlier polygons
    and the earlier probability raster (another folder) both stay as they were."""
    inputs = env.folder("in")
    raster = noise_raster(inputs / "noise.tif")
    disk = env.full_disk("disk", {"landslides.gpkg": OLD})
    other = env.folder("other", {"probability.tif": OLD})
    args = detect(
        env, raster, f"OUTPUT={disk / 'landslides.gpkg'}", f"PROBABILITY={other / 'probability.tif'}"
    )
    return Row(args, 1, r"Writing the landslide polygons failed \(.*(full|space).*\)", [inputs, disk, other])


def full_disk_probability(env: Env) -> Row:
    inputs = env.folder("in")
    raster = noise_raster(inputs / "noise.tif", 512)  # a 1 MB probability raster
    disk = env.full_disk("disk", {"probability.tif": OLD})
    other = env.folder("other", {"landslides.gpkg": OLD})
    args = detect(
        env, raster, f"OUTPUT={other / 'landslides.gpkg'}", f"PROBABILITY={disk / 'probability.tif'}"
    )
    return Row(args, 1, r"probability raster failed \(.*No space left", [inputs, disk, other])


def full_disk_tiles(env: Env) -> Row:
    inputs = env.folder("in")
    raster = noise_raster(inputs / "noise.tif")
    inv = inventory(inputs / "inventory.gpkg")
    disk = env.full_disk("disk")
    (disk / "images").mkdir()
    (disk / "images" / "tile_000_000.tif").write_bytes(OLD)
    return Row(export(raster, inv, disk), 1, r"Writing the tile .* failed .*disk space", [inputs, disk])


def read_only_ogr_uri(env: Env) -> Row:
    """Item 2: a GeoPackage in a read-only folder given as an ogr:dbname URI fails before the run,
    and the earlier probability raster at the other path stays."""
    inputs = env.folder("in")
    raster = rasters.bright_squares_raster(inputs / "squares.tif")
    locked = env.read_only("locked", {"landslides.gpkg": OLD})
    other = env.folder("other", {"probability.tif": OLD})
    uri = f"ogr:dbname='{locked / 'landslides.gpkg'}' table=\"landslides\" (geom)"
    args = detect(env, raster, f"OUTPUT={uri}", f"PROBABILITY={other / 'probability.tif'}")
    row = Row(
        args, 1, r"Cannot write the landslide polygons .*(read-only|permission)", [inputs, locked, other]
    )
    row.check = lambda output: assert_not_in(output, "Inferred")  # refused before any inference
    return row


def read_only_report(env: Env) -> Row:
    inputs = env.folder("in")
    inv = inventory(inputs / "inventory.gpkg")
    locked = env.read_only("locked")
    other = env.folder("other")
    args = [
        "landslides:evaluate",
        "--",
        f"PREDICTION={inv}",
        f"INVENTORY={inv}",
        f"REPORT={locked / 'report.html'}",
        f"OUTPUT={other / 'metrics.gpkg'}",
    ]
    return Row(args, 1, r"HTML report .*(read-only|permission)", [inputs, locked, other])


def damaged_detect(env: Env) -> Row:
    inputs = env.folder("in")
    raster = truncated_raster(inputs / "damaged.tif")
    out = env.folder("out", {"landslides.gpkg": OLD})
    return Row(detect(env, raster, f"OUTPUT={out / 'landslides.gpkg'}"), 1, r"damaged", [inputs, out])


def damaged_export(env: Env) -> Row:
    """Item 8: no Python traceback."""
    inputs = env.folder("in")
    raster = truncated_raster(inputs / "damaged.tif")
    inv = inventory(inputs / "inventory.gpkg")
    out = env.folder("tiles")
    row = Row(export(raster, inv, out), 1, r"damaged or truncated", [inputs, out])
    row.check = lambda output: assert_not_in(output, "Traceback")
    return row


def points_inventory(env: Env) -> Row:
    inputs = env.folder("in")
    raster = rasters.bright_squares_raster(inputs / "squares.tif")
    points = points_layer(inputs / "points.gpkg")
    out = env.folder("tiles")
    return Row(export(raster, points, out), 1, r"holds Point.*not landslide polygons", [inputs, out])


def csv_inventory(env: Env) -> Row:
    inputs = env.folder("in")
    raster = rasters.bright_squares_raster(inputs / "squares.tif")
    table = csv_table(inputs / "inventory.csv")
    out = env.folder("tiles")
    return Row(export(raster, table, out), 1, r"holds \w+, not landslide polygons", [inputs, out])


def points_mask(env: Env) -> Row:
    inputs = env.folder("in")
    raster = rasters.bright_squares_raster(inputs / "squares.tif")
    points = points_layer(inputs / "points.gpkg")
    out = env.folder("out")
    args = detect(env, raster, f"MASK={points}", f"OUTPUT={out / 'landslides.gpkg'}")
    return Row(args, 1, r"The mask .* holds no polygons", [inputs, out])


def huge_tile_detect(env: Env) -> Row:
    """Item 6: refused at once, nothing allocated."""
    inputs = env.folder("in")
    raster = rasters.bright_squares_raster(inputs / "squares.tif")
    out = env.folder("out")
    args = detect(env, raster, "TILE_SIZE=100000", f"OUTPUT={out / 'landslides.gpkg'}")
    return Row(args, 1, r"TILE_SIZE=100000 is larger than 8192 pixels", [inputs, out])


def huge_tile_export(env: Env) -> Row:
    inputs = env.folder("in")
    raster = rasters.bright_squares_raster(inputs / "squares.tif")
    inv = inventory(inputs / "inventory.gpkg")
    out = env.folder("tiles")
    args = export(raster, inv, out)
    args[args.index("TILE_SIZE=64")] = "TILE_SIZE=100000"
    return Row(args, 1, r"TILE_SIZE=100000 is larger than 8192 pixels", [inputs, out])


def band_list_with_commas(env: Env) -> Row:
    """Item 10: a comma list is three bands (in that order)."""
    inputs = env.folder("in")
    raster = rasters.bright_squares_raster(inputs / "squares.tif")
    out = env.folder("out")
    args = detect(env, raster, "BANDS=3,2,1", f"OUTPUT={out / 'landslides.gpkg'}")
    return Row(args, 0, r"bands \[3, 2, 1\]", [inputs, out], [out / "landslides.gpkg"])


def band_list_not_numbers(env: Env) -> Row:
    inputs = env.folder("in")
    raster = rasters.bright_squares_raster(inputs / "squares.tif")
    out = env.folder("out")
    args = detect(env, raster, "BANDS=3,x,1", f"OUTPUT={out / 'landslides.gpkg'}")
    return Row(args, 1, r"BANDS: 'x' is not a band number.*BANDS=3,2,1", [inputs, out])


def non_byte(kind: str) -> Callable[[Env], Row]:
    """Item 3: uint16 over its whole range and int16 with negatives refused with the fix; float32
    reflectance (0..1) scaled and said so."""

    def build(env: Env) -> Row:
        inputs = env.folder("in")
        out = env.folder("out", {"landslides.gpkg": OLD})
        if kind == "float32":
            image = rasters.squares_image(100, 120, [(10, 10, 20, 30)]).astype("float32") / 255.0
            raster = rasters.write_raster(inputs / "reflectance.tif", image)
            args = detect(env, raster, f"OUTPUT={out / 'landslides.gpkg'}")
            row = Row(args, 0, r"values from 0 to 1 .* stretched", [inputs, out], [out / "landslides.gpkg"])
            row.check = lambda output: assert_in(output, "1 landslides")
            return row
        low, high = (0, 65535) if kind == "uint16" else (-300, 3000)
        raster = noise_raster(inputs / f"{kind}.tif", 64, kind, low, high)
        args = detect(env, raster, f"OUTPUT={out / 'landslides.gpkg'}")
        return Row(args, 1, r"expects values from 0 to 255 .*-ot Byte -scale", [inputs, out])

    return build


CASES: dict[str, Callable[[Env], Row]] = {
    "full disk: polygons": full_disk_polygons,
    "full disk: probability raster": full_disk_probability,
    "full disk: training tiles": full_disk_tiles,
    "read-only: ogr:dbname GeoPackage": read_only_ogr_uri,
    "read-only: evaluation report": read_only_report,
    "damaged input: detect": damaged_detect,
    "damaged input: export_tiles": damaged_export,
    "damaged input: points inventory": points_inventory,
    "damaged input: CSV inventory": csv_inventory,
    "damaged input: points mask": points_mask,
    "out of range: detect TILE_SIZE": huge_tile_detect,
    "out of range: export TILE_SIZE": huge_tile_export,
    "parameter: BANDS=3,2,1": band_list_with_commas,
    "parameter: BANDS not numbers": band_list_not_numbers,
    "non-8-bit: uint16 0..65535": non_byte("uint16"),
    "non-8-bit: int16 with negatives": non_byte("int16"),
    "non-8-bit: float32 0..1": non_byte("float32"),
}


def assert_in(output: str, text: str) -> None:
    assert text in output, output


def assert_not_in(output: str, text: str) -> None:
    assert text not in output, output


def leftovers(folder: Path) -> list[str]:
    return [
        str(p.relative_to(folder)) for p in folder.rglob("*") if LEFTOVER.search(str(p.relative_to(folder)))
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_fault(case: str, tmp_path: Path, tiny_model_files: TinyModels, qgis_process) -> None:
    with contextlib.ExitStack() as stack:
        env = Env(tmp_path, tiny_model_files, stack)
        row = CASES[case](env)
        before = {folder: snapshot(folder) for folder in row.watched}
        result = qgis_process("run", *row.args)
        output = result.output
        if row.returncode == 0:
            assert result.returncode == 0, output
        else:
            assert result.returncode != 0, output
        found = re.findall(row.message, output)
        assert found, f"expected /{row.message}/ in:\n{output}"
        if row.returncode != 0:
            error_line = next(line for line in output.splitlines() if re.search(row.message, line))
            assert output.count(error_line.replace("ERROR:\t", "")) == 1, f"printed more than once:\n{output}"
        if row.check is not None:
            row.check(output)
        for folder, files in before.items():
            after = snapshot(folder)
            for path in row.outputs:
                if path.parent == folder:
                    assert path.is_file() and path.stat().st_size > len(OLD), path
                    after.pop(path.name, None)
                    files.pop(path.name, None)
            assert after == files, f"{folder} changed"
            assert leftovers(folder) == []


@pytest.mark.parametrize("json", [False, True])
def test_an_error_is_printed_once(
    tmp_path: Path, tiny_model_files: TinyModels, qgis_process, json: bool
) -> None:
    """Item 11: qgis_process 3.22 printed a Python algorithm's error three times (twice with --json)."""
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    args = ["--json"] if json else []
    result = qgis_process(
        *args,
        "run",
        "landslides:detect",
        "--",
        f"INPUT={raster}",
        f"MODEL={tiny_model_files.brightness}",
        f"OUTPUT={tmp_path / 'missing' / 'landslides.gpkg'}",
    )
    assert result.returncode != 0
    assert result.output.count("the folder '") == 1, result.output


# --- kills and concurrent writers ----------------------------------------------------------------


@contextlib.contextmanager
def background_run(args: list[str], profile: Path) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [QGIS_PROCESS, "run", *args],
        env=qgis_process_env(profile),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)


def wait_for(predicate: Callable[[], bool], process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)


def started_writing(folder: Path) -> Callable[[], bool]:
    return lambda: any(p.name.startswith(".landslides.tmp-") for p in folder.iterdir())


@pytest.fixture
def slow_run(tmp_path: Path, tiny_model_files: TinyModels) -> tuple[list[str], Path, Path]:
    """Arguments of a detection that runs for a while (6144² pixels in 64-pixel tiles, one at a time)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    raster = slow_raster(inputs)
    out = tmp_path / "out"
    out.mkdir()
    (out / "landslides.gpkg").write_bytes(OLD)
    (out / "probability.tif").write_bytes(OLD)
    args = [
        "landslides:detect",
        "--",
        f"INPUT={raster}",
        f"MODEL={tiny_model_files.brightness}",
        "DEVICE=cpu",
        "TILE_SIZE=64",
        "BATCH_SIZE=1",
        f"OUTPUT={out / 'landslides.gpkg'}",
        f"PROBABILITY={out / 'probability.tif'}",
    ]
    return args, inputs, out


def work_folders_of(pid: int) -> list[str]:
    """The process's work folders in the system's temporary folder (core.atomic.make_work_folder)."""
    import tempfile

    return [n for n in os.listdir(tempfile.gettempdir()) if n.startswith("landslides-") and f"-{pid}-" in n]


def without_leftovers(folder: Path) -> dict[str, bytes]:
    return {name: data for name, data in snapshot(folder).items() if not LEFTOVER.search(name)}


def test_fault_sigterm_cancels_and_cleans_up(slow_run, qgis_process_profile: Path) -> None:
    """Item 9: SIGTERM to qgis_process is a cancel: exit status non-zero, said once, nothing left."""
    args, inputs, out = slow_run
    before = snapshot(out), snapshot(inputs)
    with background_run(args, qgis_process_profile) as process:
        wait_for(started_writing(out), process)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode not in (0, -signal.SIGTERM), output  # handled, not killed by the signal
    assert output.count("Stopped by a termination signal (SIGTERM)") == 1, output
    assert (snapshot(out), snapshot(inputs)) == before
    assert leftovers(out) == [] and work_folders_of(process.pid) == []


def test_fault_sigkill_leftovers_are_removed_by_the_next_run(
    slow_run, qgis_process_profile: Path, qgis_process, tiny_model_files: TinyModels, tmp_path: Path
) -> None:
    """Item 9: a SIGKILL (or QGIS desktop killed) leaves its staging folder and lock behind; the next
    run writing in that folder removes them, and the earlier files were never touched."""
    args, _inputs, out = slow_run
    before = snapshot(out)
    with background_run(args, qgis_process_profile) as process:
        wait_for(started_writing(out), process)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    assert leftovers(out), "a killed run leaves its staging folder"
    assert without_leftovers(out) == before  # the earlier files were never touched
    assert work_folders_of(process.pid)
    raster = rasters.bright_squares_raster(tmp_path / "squares.tif")
    result = qgis_process(
        "run",
        "landslides:detect",
        "--",
        f"INPUT={raster}",
        f"MODEL={tiny_model_files.brightness}",
        f"OUTPUT={out / 'other.gpkg'}",
    )
    assert result.returncode == 0, result.output
    assert leftovers(out) == [] and work_folders_of(process.pid) == []
    assert sorted(p.name for p in out.iterdir()) == ["landslides.gpkg", "other.gpkg", "probability.tif"]


def test_fault_concurrent_writers(
    slow_run, qgis_process_profile: Path, tiny_model_files: TinyModels, landslides_provider
) -> None:
    """Item 5: a second run on the same outputs fails at once, saying so; the first completes both."""
    import processing
    from qgis.core import QgsProcessingException

    args, inputs, out = slow_run
    args = [a for a in args if a not in ("TILE_SIZE=64", "BATCH_SIZE=1")] + ["TILE_SIZE=256", "BATCH_SIZE=1"]
    with background_run(args, qgis_process_profile) as process:
        wait_for(started_writing(out), process)
        second = {
            "INPUT": str(inputs / "tile.tif"),
            "MODEL": str(tiny_model_files.brightness),
            "OUTPUT": str(out / "landslides.gpkg"),
            "PROBABILITY": str(out / "probability.tif"),
        }
        with pytest.raises(QgsProcessingException, match=r"Another run \(process \d+\) is writing"):
            processing.run("landslides:detect", second)
        assert (out / "landslides.gpkg").read_bytes() == OLD  # the first has not committed yet
        output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output
    assert leftovers(out) == []
    polygons = ogr.Open(str(out / "landslides.gpkg"))
    assert polygons.GetLayer(0).GetFeatureCount() == 2 * 12 * 12  # two squares per repeated tile
    polygons = None
    probability = gdal.Open(str(out / "probability.tif"))
    assert probability.RasterXSize == 512 * 12
    probability = None
