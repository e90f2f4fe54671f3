# SPDX-License-Identifier: GPL-2.0-or-later
"""The engine under faults: a full disk, very wide rasters (bounded buffers), aborts that must be prompt."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from core import pipeline
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
    add_strip = pipeline.VectorWorker.handle
    read = pipeline.TileReader._read
    monkeypatch.setattr(pipeline, "VECTOR_PIECE_PIXELS", 20 * cols)
    monkeypatch.setattr(pipeline, "READ_SPAN", 512)
    monkeypatch.setattr(
        pipeline.VectorWorker,
        "handle",
        lambda self, item: (pieces.append(item[1].shape), add_strip(self, item))[1],
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
        rows = max(1, pipeline.VECTOR_PIECE_PIXELS // width)
        assert rows * width <= max(pipeline.VECTOR_PIECE_PIXELS, width)
    assert pipeline.VECTOR_PIECE_PIXELS // 16384 >= 1024  # ordinary rasters: whole strips, as before


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
    worker = pipeline.VectorWorker(stream)
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

    writer = pipeline.StripWriter(FailingBand(), 40, 300, grid, 2)
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
