# SPDX-License-Identifier: GPL-2.0-or-later
"""The batch command's parts without a cluster: inputs, windows, one unit, the manifest, the merge."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from osgeo import ogr

from batch.merge import DRIVERS, _Deduplicator, _Polygon, affine_wkb, join_seams, output_driver
from batch.plan import Source, make_plan, split_axis, units_of
from batch.progress import Progress, format_duration
from batch.sources import InputError, expand_inputs, to_gdal_path
from batch.store import WorkStore, store_path
from batch.unit import Piece, UnitResult, UnitSettings, run_unit, window_extent
from core.engine import DetectionOptions
from core.errors import DetectionError
from tests.fixtures import batch_scenes, rasters, tiny_models

SETTINGS = {"model_sha256": "x", "threshold": 0.5, "window": 128, "halo": 16}


# --- inputs ----------------------------------------------------------------------------------------


def test_inputs_expand_folders_lists_and_urls(tmp_path):
    folder = tmp_path / "photos"
    (folder / "day2").mkdir(parents=True)
    a = rasters.bright_squares_raster(folder / "a.tif")
    b = rasters.bright_squares_raster(folder / "day2" / "b.TIF")
    (folder / "a.tif.aux.xml").write_text("<PAMDataset/>")
    (folder / "notes.txt").write_text("not a list of rasters, and not in a folder's results\n")
    (folder / ".hidden.tif").write_bytes(b"")
    c = rasters.bright_squares_raster(tmp_path / "c.tif")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# rasters of day 3\nc.tif\n\n{a}\n")

    found = expand_inputs([str(folder), str(listing)])

    assert found == [str(a), str(b), str(c)]  # sorted, recursive, each once, list paths relative to it
    assert to_gdal_path("https://example.org/cog.tif") == "/vsicurl/https://example.org/cog.tif"
    assert to_gdal_path("s3://bucket/key/cog.tif") == "/vsis3/bucket/key/cog.tif"
    assert expand_inputs(["/vsis3/bucket/cog.tif"]) == ["/vsis3/bucket/cog.tif"]
    assert expand_inputs([str(folder)], exclude=[str(folder / "day2")]) == [str(a)]


def test_virtual_paths_are_listed_and_mapped(tmp_path):
    """A GDAL virtual folder (here a zip: /vsicurl/ and /vsis3/ need a network) is listed and read."""
    raster = batch_scenes.far_raster(tmp_path / "far.tif")
    archive = tmp_path / "orthophotos.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(raster, "day1/far.tif")
    folder = f"/vsizip/{archive}/day1"
    (path,) = expand_inputs([folder])
    assert path == f"{folder}/far.tif"
    plan = make_plan([path], 3, 8192, 128)
    model = tiny_models.brightness_model(tmp_path / "m.onnx")
    result = run_unit(plan.units[0], UnitSettings(str(model), DetectionOptions()))
    assert result.ok and sorted(p.pixels for p in result.pieces) == [225, 600]


def test_inputs_missing_or_empty_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        expand_inputs([str(tmp_path / "nowhere.tif")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no raster files"):
        expand_inputs([str(tmp_path / "empty")])


# --- windows ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "window", "halo"), [(300, 128, 16), (260, 128, 16), (9000, 8192, 128), (50, 128, 16)]
)
def test_cores_tile_the_axis_and_halos_stay_inside(size, window, halo):
    parts = split_axis(size, window, halo)
    assert parts[0][0] == 0 and sum(p[1] for p in parts) == size
    for (start, length, lo, n), nxt in zip(parts, [*parts[1:], None]):
        assert length <= window and (nxt is None or nxt[0] == start + length)
        assert 0 <= lo <= start and start + length <= lo + n <= size
        assert lo == max(0, start - halo) if start > 0 else lo == 0
    lengths = [p[1] for p in parts]
    assert max(lengths) - min(lengths) <= 1  # equal parts, not window + remainder


def test_units_of_a_large_raster_and_their_seams(tmp_path):
    raster = batch_scenes.seams_raster(tmp_path / "seams.tif")
    plan = make_plan([str(raster)], 3, batch_scenes.WINDOW, batch_scenes.HALO)
    assert len(plan.units) == 9 and not plan.failed
    middle = plan.units[4]
    assert (middle.core.xoff, middle.core.yoff, middle.core.xsize, middle.core.ysize) == (87, 100, 87, 100)
    assert (middle.halo.xoff, middle.halo.yoff, middle.halo.xsize, middle.halo.ysize) == (71, 84, 119, 132)
    assert middle.seams == 15 and plan.units[0].seams == 4 | 8
    assert len({u.uid for u in plan.units}) == 9
    # Extents are exact pixel edges: the engine selects exactly the halo window.
    gt = plan.sources[0].geotransform
    assert window_extent(gt, middle.halo) == (
        gt[0] + 71 * 0.5,
        gt[3] - 216 * 0.5,
        gt[0] + 190 * 0.5,
        gt[3] - 84 * 0.5,
    )


def test_unreadable_rasters_are_left_out_with_the_reason(tmp_path):
    good = rasters.bright_squares_raster(tmp_path / "good.tif")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a raster")
    nocrs = rasters.bright_squares_raster(tmp_path / "nocrs.tif", epsg=None)
    gray = rasters.write_raster(tmp_path / "gray.tif", np.zeros((20, 20), np.uint8))
    plan = make_plan([str(good), str(bad), str(nocrs), str(gray)], 3, 8192, 128)
    assert [s.path for s in plan.sources] == [str(good)]
    reasons = dict(plan.failed)
    assert "cannot be opened as a raster" in reasons[str(bad)]
    assert "no coordinate reference system" in reasons[str(nocrs)]
    assert "1 band(s) but the model needs 3" in reasons[str(gray)]


def test_same_file_names_in_two_folders_get_unique_names(tmp_path):
    paths = []
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        paths.append(str(rasters.bright_squares_raster(tmp_path / day / "ortho.tif")))
    plan = make_plan(paths, 3, 8192, 128)
    assert [s.name for s in plan.sources] == ["ortho", "ortho-2"]


# --- one unit, in this process (what a Dask worker runs) ------------------------------------------


def test_unit_pieces_are_exact_pixel_polygons_with_their_statistics(tmp_path):
    raster = batch_scenes.seams_raster(tmp_path / "seams.tif")
    model = tiny_models.brightness_model(tmp_path / "m.onnx")
    plan = make_plan([str(raster)], 3, batch_scenes.WINDOW, batch_scenes.HALO)
    settings = UnitSettings(str(model), DetectionOptions())
    pieces = {u.uid: run_unit(u, settings) for u in plan.units}
    assert all(r.ok for r in pieces.values())
    total = sum(p.pixels for r in pieces.values() for p in r.pieces)
    bright = sum(h * w for shape in batch_scenes.SEAM_SHAPES.values() for _, _, h, w in shape)
    assert total == bright  # every bright pixel in exactly one unit's core
    # The square on the corner of four units comes back as four quarters, each touching two seams.
    envelopes = [
        (p, ogr.CreateGeometryFromWkb(p.wkb).GetEnvelope()) for r in pieces.values() for p in r.pieces
    ]
    corner = [p for p, e in envelopes if 87 in (e[0], e[1]) and 100 in (e[2], e[3])]
    assert sorted(p.pixels for p in corner) == [70, 70, 130, 130]  # columns 80..87..100, rows 90..100..110
    assert sorted(p.seams for p in corner) == [1 | 2, 2 | 4, 1 | 8, 4 | 8]
    geom = ogr.CreateGeometryFromWkb(corner[0].wkb)
    assert all(float(v).is_integer() for point in geom.GetGeometryRef(0).GetPoints() for v in point)
    assert all(p.prob_sum == pytest.approx(p.pixels * 240 / 255, rel=1e-6) for p in corner)


def test_unit_with_unreadable_blocks_fails_alone(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (3, 300, 300), dtype=np.uint8)
    path = rasters.write_raster(tmp_path / "truncated.tif", noise)
    plan = make_plan([str(path)], 3, 8192, 128)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    model = tiny_models.brightness_model(tmp_path / "m.onnx")
    result = run_unit(plan.units[0], UnitSettings(str(model), DetectionOptions()))
    assert not result.ok and "damaged" in result.message


# --- the manifest ----------------------------------------------------------------------------------


def _source() -> Source:
    return Source(0, "/data/a.tif", "k", 100, 100, (0.0, 1.0, 0.0, 0.0, 0.0, -1.0), "", 3, "a")


def _square(x: int, y: int, n: int) -> bytes:
    g = ogr.CreateGeometryFromWkt(f"POLYGON(({x} {y},{x + n} {y},{x + n} {y + n},{x} {y + n},{x} {y}))")
    return bytes(g.ExportToWkb(ogr.wkbNDR))


def test_manifest_records_units_atomically_and_refuses_other_settings(tmp_path):
    out = tmp_path / "region.gpkg"
    unit_a, unit_b = units_of(_source(), 50, 8)[:2]
    store = WorkStore(str(out), SETTINGS)
    assert store.path == store_path(str(out)) == str(tmp_path / "region.manifest.gpkg")
    store.record(unit_a, UnitResult(unit_a.uid, True, pieces=[Piece(_square(0, 0, 4), 16, 8.0, 0.9, 0)]))
    store.record(unit_b, UnitResult(unit_b.uid, False, message="bad blocks"))
    store.close()

    store = WorkStore(str(out), SETTINGS)
    assert store.finished() == {unit_a.uid}  # the failed unit runs again next time
    (piece,) = list(store.pieces(unit_a.uid))
    assert (piece.pixels, piece.prob_sum, piece.max_prob) == (16, 8.0, pytest.approx(0.9))
    store.record(unit_a, UnitResult(unit_a.uid, True, pieces=[]))  # a unit recorded again replaces itself
    assert list(store.pieces(unit_a.uid)) == []
    store.close()

    with pytest.raises(DetectionError, match=r"threshold.*--restart"):
        WorkStore(str(out), {**SETTINGS, "threshold": 0.7})
    assert WorkStore(str(out), {**SETTINGS, "threshold": 0.7}, restart=True).finished() == set()


# --- merge -----------------------------------------------------------------------------------------


def test_affine_wkb_maps_pixels_to_the_grid():
    wkb = _square(2, 3, 1)
    gt = (500000.0, 0.5, 0.0, 3400000.0, 0.0, -0.5)
    moved = ogr.CreateGeometryFromWkb(affine_wkb(wkb, gt))
    assert moved.GetEnvelope() == (500001.0, 500001.5, 3399998.0, 3399998.5)
    multi = ogr.Geometry(ogr.wkbMultiPolygon)
    multi.AddGeometry(ogr.CreateGeometryFromWkb(wkb))
    multi.AddGeometry(ogr.CreateGeometryFromWkb(_square(10, 10, 2)))
    big_endian = multi.ExportToWkb(ogr.wkbXDR)
    assert ogr.CreateGeometryFromWkb(affine_wkb(big_endian, gt)).GetArea() == pytest.approx(5 * 0.25)


def test_seams_join_edges_not_corners():
    source = _source()
    left, right = units_of(source, 50, 8)[:2]  # cores x 0..50 and 50..100 of the top row
    edge_a = Piece(_square(40, 0, 10), 100, 90.0, 0.9, 4)  # touches x = 50 over 10 rows
    edge_b = Piece(_square(50, 5, 10), 100, 80.0, 0.8, 1)
    corner_a = Piece(_square(40, 30, 10), 100, 90.0, 0.9, 4)  # rows 30..40
    corner_b = Piece(_square(50, 40, 10), 100, 90.0, 0.9, 1)  # rows 40..50: meets corner_a at a point
    groups = join_seams([(left, edge_a), (right, edge_b), (left, corner_a), (right, corner_b)])
    assert groups == [[0, 1], [2], [3]]


def test_duplicates_keep_the_higher_confidence_polygon():
    a, b = _source(), _source()
    b.index, b.path = 1, "/data/b.tif"
    square = ogr.CreateGeometryFromWkb(_square(0, 0, 10))
    shifted = ogr.CreateGeometryFromWkb(_square(3, 0, 10))  # 70 % shared
    neighbour = ogr.CreateGeometryFromWkb(_square(9, 20, 10))
    dedup = _Deduplicator(0.2)
    for order, (geom, mean, source) in enumerate([(square, 0.7, a), (shifted, 0.9, b), (neighbour, 0.6, a)]):
        dedup.add(_Polygon(geom, geom.GetArea(), 40.0, mean, mean, source, order))
    kept = dedup.survivors()
    assert [(p.source.path, p.mean) for p in kept] == [("/data/b.tif", 0.9), ("/data/a.tif", 0.6)]
    assert dedup.dropped == 1


def test_output_formats(tmp_path):
    assert output_driver(str(tmp_path / "a.gpkg")) == "GPKG"
    with pytest.raises(DetectionError, match=r"\.gpkg"):
        output_driver(str(tmp_path / "a.shp"))
    if ogr.GetDriverByName(DRIVERS[".parquet"]) is None:
        with pytest.raises(DetectionError, match="no Parquet driver"):
            output_driver(str(tmp_path / "a.parquet"))


# --- progress, shipping ----------------------------------------------------------------------------


def test_progress_line_counts_units_rate_and_time_left():
    stream = io.StringIO()
    progress = Progress(4, 400.0, stream=stream)
    progress.start -= 10.0  # ten seconds ago
    progress.update(100.0, True)
    line = progress.line()
    assert "1/4 units" in line and "100/400 MPix" in line and "ETA 00:30" in line
    assert format_duration(3725) == "1:02:05"
    progress.update(100.0, False)
    assert "1 failed" in progress.line()


def test_code_zip_holds_core_and_batch_and_is_reproducible():
    from batch.ship import code_zip

    data = code_zip()
    assert data == code_zip()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "batch/unit.py" in names and "core/engine.py" in names and "batch/task.py" in names
    assert not [n for n in names if not n.endswith(".py") or n.startswith(("tests/", "model/"))]
