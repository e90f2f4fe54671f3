# SPDX-License-Identifier: GPL-2.0-or-later
"""The engine under faults: a full disk, very wide rasters (bounded buffers), aborts that must be prompt."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from core import pipeline, strips
from core.engine import DetectionOptions, run_detection
from core.errors import DetectionError
from tests.fixtures import rasters, tiny_models
from tests.fixtures.filesystems import small_filesystem, snapshot


@pytest.fixture
def brightness(tmp_path: Path) -> str:
    return str(tiny_models.brightness_model(tmp_path / "brightness.onnx"))


@pytest.mark.parametrize("output", ["probability", "polygons"])
def test_full_disk_fails_and_keeps_the_previous_file(tmp_path: Path, brightness: str, output: str) -> None:
    # Noise compresses badly: both outputs need more than the 200 kB disk (as in the report).
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (3, 400, 400), dtype=np.uint8)
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    name = "p.tif" if output == "probability" else "l.gpkg"
    with small_filesystem(tmp_path / "disk", 200, {name: b"the user's earlier file"}) as disk:
        before = snapshot(disk)
        target = str(disk / name)
        with pytest.raises(DetectionError, match="disk space"):
            run_detection(
                str(raster),
                brightness,
                target if output == "polygons" else None,
                target if output == "probability" else None,
            )
        assert snapshot(disk) == before
        assert sorted(p.name for p in disk.iterdir()) == [name]


def test_buffers_do_not_grow_with_the_raster_width(tmp_path: Path, brightness: str, monkeypatch) -> None:
    """With small budgets, a 'very wide' raster is read in spans and vectorised in thin pieces, and
    the polygons are exactly those of an unbounded run."""
    rng = np.random.default_rng(3)
    rows, cols = 90, 3000
    blobs = np.zeros((rows, cols), np.uint8)
    for _ in range(120):
        r, c = rng.integers(0, rows - 20), rng.integers(0, cols - 40)
        blobs[r : r + rng.integers(2, 40), c : c + rng.integers(2, 60)] = 1
    image = np.where(blobs > 0, 230, 25).astype(np.uint8)[None].repeat(3, 0)
    raster = rasters.write_raster(tmp_path / "wide.tif", image)  # tiled: read in spans
    options = DetectionOptions(tile_size=128)
    reference = run_detection(str(raster), brightness, str(tmp_path / "ref.gpkg"), None, options)

    pieces: list[tuple[int, int]] = []
    reads: list[int] = []
    add_strip = strips.VectorWorker.handle
    read = pipeline.TileReader._read
    monkeypatch.setattr(strips, "VECTOR_PIECE_PIXELS", 20 * cols)
    monkeypatch.setattr(pipeline, "READ_SPAN", 512)
    monkeypatch.setattr(
        strips.VectorWorker,
        "handle",
        lambda self, item: (pieces.append(item[1][strips.PROBABILITY].shape), add_strip(self, item))[1],
    )
    monkeypatch.setattr(
        pipeline.TileReader,
        "_read",
        lambda self, ds, x, y, w, h: (reads.append(w), read(self, ds, x, y, w, h))[1],
    )
    bounded = run_detection(str(raster), brightness, str(tmp_path / "bounded.gpkg"), None, options)

    assert pieces and max(h * w for h, w in pieces) <= 20 * cols
    assert len(reads) > 6 and max(reads) <= 512  # spans of whole tiles, not 3000-pixel strips
    assert bounded.polygon_count == reference.polygon_count > 50
    assert bounded.total_area_m2 == pytest.approx(reference.total_area_m2)


def test_piece_rows_shrink_with_width_at_the_default_budget() -> None:
    for width in (1000, 16384, 200_000, 2_000_000):
        rows = max(1, strips.VECTOR_PIECE_PIXELS // width)
        assert rows * width <= max(strips.VECTOR_PIECE_PIXELS, width)
    assert strips.VECTOR_PIECE_PIXELS // 16384 >= 1024  # ordinary rasters: whole strips, as before


class _SlowStream:
    """A vectoriser stream whose strips take long (a huge GEOS union, say)."""

    def __init__(self) -> None:
        self.discarded = threading.Event()
        self.should_stop = lambda: False

    def add_strip(self, _y: int, _prob: np.ndarray) -> None:
        time.sleep(3.0)

    def close(self) -> None:
        raise AssertionError("an aborted run is never finished")

    def discard(self) -> None:
        self.discarded.set()


def test_an_abort_does_not_wait_for_a_long_vectoriser_step() -> None:
    stream = _SlowStream()
    worker = strips.VectorWorker(stream)
    worker.start()
    worker.put((0, np.zeros((1, 1), np.float32)))
    time.sleep(0.2)  # the worker is inside the slow step now
    start = time.perf_counter()
    worker.abort(wait_s=0.3)
    assert time.perf_counter() - start < 2.0
    # The worker closes its own output once its step ends (nobody else touches it meanwhile).
    assert stream.discarded.wait(10.0)
    worker.join(10.0)
    assert not worker.is_alive()


def test_a_writer_failure_while_finishing_is_raised_not_a_hang(tmp_path: Path) -> None:
    """A failure in the last flush (after the end of the input) used to leave close() waiting."""
    from core.tiling import make_grid

    grid = make_grid(300, 40, 64, 16, 16)

    class FailingBand:
        def WriteArray(self, *_args):
            gdal.Error(gdal.CE_Failure, 1, "No space left on device")
            return 0

        def FlushCache(self):
            return None

    writer = strips.StripWriter(40, 300, grid, 2, [strips.ProbabilityRasterWriter(FailingBand())])
    writer.start()
    done = threading.Event()
    errors: list[BaseException] = []

    def close() -> None:
        try:
            writer.close()
        except BaseException as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=close, daemon=True).start()
    assert done.wait(20.0), "close() hangs"
    assert errors and "disk space" in str(errors[0])


# --- rasters that are not 8-bit, with a model that expects 0..255 ----------------------------------


def _squares(dtype: str, background: float, foreground: float) -> np.ndarray:
    image = np.full((3, 60, 80), background, dtype=dtype)
    image[:, 10:30, 10:40] = foreground
    return image


@pytest.mark.parametrize(
    ("case", "image"),
    [
        ("uint16 holding 8-bit values", _squares("uint16", 20, 240)),
        ("float32 reflectance 0..1", _squares("float32", 20 / 255, 240 / 255)),
    ],
)
def test_non_byte_rasters_that_can_be_scaled_without_a_guess(
    tmp_path: Path, brightness: str, case: str, image: np.ndarray
) -> None:
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    result = run_detection(str(raster), brightness, str(tmp_path / "l.gpkg"), str(tmp_path / "p.tif"))
    assert result.polygon_count == 1, case
    assert result.total_area_m2 == pytest.approx(20 * 30 * rasters.PIXEL**2)
    prob = gdal.Open(str(tmp_path / "p.tif")).ReadAsArray()
    assert prob[15, 15] == pytest.approx(240 / 255, abs=1e-3)  # the same map as the 8-bit raster
    assert any("0 to 1" in w for w in result.warnings) == case.startswith("float32")


def test_declared_bit_depth_is_stretched_with_a_warning(tmp_path: Path, brightness: str) -> None:
    image = _squares("uint16", 300, 3900)
    raster = tmp_path / "in.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(raster), 80, 60, 3, gdal.GDT_UInt16, ["NBITS=12"])
    ds.SetGeoTransform(rasters.geotransform())
    for b in range(3):
        ds.GetRasterBand(b + 1).WriteArray(image[b])
    ds = None
    result = run_detection(str(raster), brightness, str(tmp_path / "l.gpkg"))
    assert result.polygon_count == 1
    assert any("12-bit" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("case", "image", "named"),
    [
        ("uint16 full range", _squares("uint16", 1000, 60000), "1000 to 60000"),
        ("int16 with negatives", _squares("int16", -50, 3000), "-50 to 3000"),
        ("float32 beyond 0..1", _squares("float32", -1.5, 2.5), "-1.5 to 2.5"),
    ],
)
def test_non_byte_rasters_that_would_need_a_guess_are_refused(
    tmp_path: Path, brightness: str, case: str, image: np.ndarray, named: str
) -> None:
    raster = rasters.write_raster(tmp_path / "in.tif", image)
    with pytest.raises(DetectionError) as error:
        run_detection(str(raster), brightness, str(tmp_path / "l.gpkg"))
    message = str(error.value)
    assert "-ot Byte -scale" in message and "0 to 255" in message, case
    assert named in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brightness.onnx", "in.tif"]


# --- tile sizes bounded, damaged rasters, inventories that are not polygons ------------------------


def test_absurd_tile_sizes_are_refused_before_allocating(tmp_path: Path, brightness: str) -> None:
    from core.training_tiles import export_training_tiles

    raster = rasters.bright_squares_raster(tmp_path / "in.tif")
    inventory = rasters.write_polygons(tmp_path / "inv.gpkg", [rasters.pixel_rect_wkt(10, 10, 20, 30)])
    with pytest.raises(DetectionError, match="tile size 100000 is larger than 8192"):
        run_detection(
            str(raster), brightness, str(tmp_path / "l.gpkg"), None, DetectionOptions(tile_size=100000)
        )
    with pytest.raises(DetectionError, match="tile size 100000 is larger than 8192"):
        export_training_tiles(str(raster), str(inventory), str(tmp_path / "tiles"), tile_size=100000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brightness.onnx", "in.tif", "inv.gpkg"]


def test_memory_estimate_refuses_what_cannot_fit() -> None:
    from core.memory import GB, check_fits, detection_bytes

    # 4096² tiles of the shipped model on the CPU: ~9 GB of activations (9.5 GB measured).
    needed = detection_bytes((4096, 4096), 1, 3, 4096, 2, on_cpu=True, model_width=12)
    assert 8 * GB < needed < 12 * GB
    assert detection_bytes((4096, 4096), 1, 3, 4096, 2, on_cpu=False, model_width=12) < 2 * GB
    with pytest.raises(DetectionError, match=r"need about 9\.\d GB of memory, but only 4\.0 GB"):
        check_fits(needed, "Tiles of 4096 x 4096 pixels", "Use smaller tiles.", available=4 * GB)
    check_fits(needed, "Tiles", "fix", available=64 * GB)  # fits: no error


def test_export_tiles_from_a_damaged_raster_fails_clearly(tmp_path: Path) -> None:
    from core.training_tiles import export_training_tiles

    rng = np.random.default_rng(2)
    raster = rasters.write_raster(tmp_path / "in.tif", rng.integers(0, 255, (3, 300, 300), dtype=np.uint8))
    data = raster.read_bytes()
    raster.write_bytes(data[: len(data) * 2 // 3])  # truncated: the header is fine, the last tiles are gone
    inventory = rasters.write_polygons(tmp_path / "inv.gpkg", [rasters.pixel_rect_wkt(10, 10, 20, 30)])
    out = tmp_path / "tiles"
    with pytest.raises(DetectionError, match="damaged or truncated"):
        export_training_tiles(str(raster), str(inventory), str(out), tile_size=64)
    assert not any(p.is_file() for p in out.rglob("*"))


def test_export_tiles_refuses_points(tmp_path: Path) -> None:
    from osgeo import ogr

    from core.training_tiles import export_training_tiles

    raster = rasters.bright_squares_raster(tmp_path / "in.tif")
    points = tmp_path / "points.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(points))
    layer = ds.CreateLayer("points", None, ogr.wkbPoint)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POINT (500001 3399999)"))
    layer.CreateFeature(feature)
    ds = None
    with pytest.raises(DetectionError, match="holds Point, not landslide polygons"):
        export_training_tiles(str(raster), str(points), str(tmp_path / "tiles"), tile_size=64)


def test_export_tiles_on_a_full_disk_keeps_the_earlier_tiles(tmp_path: Path) -> None:
    from core.training_tiles import export_training_tiles

    rng = np.random.default_rng(4)
    raster = rasters.write_raster(tmp_path / "in.tif", rng.integers(0, 255, (3, 256, 256), dtype=np.uint8))
    inventory = rasters.write_polygons(tmp_path / "inv.gpkg", [rasters.pixel_rect_wkt(10, 10, 20, 30)])
    with small_filesystem(tmp_path / "disk", 200) as disk:
        (disk / "images").mkdir()
        (disk / "labels").mkdir()
        (disk / "images" / "tile_000_000.tif").write_bytes(b"an earlier export")
        before = snapshot(disk)
        with pytest.raises(DetectionError, match="disk space"):
            export_training_tiles(str(raster), str(inventory), str(disk), tile_size=64)
        assert snapshot(disk) == before
        assert sorted(p.name for p in (disk / "images").iterdir()) == ["tile_000_000.tif"]
