# SPDX-License-Identifier: GPL-2.0-or-later
"""Finished strips of a detection and what consumes them: the probability GeoTIFF and the vectoriser.

The :class:`StripWriter` thread blends tile outputs into a strip accumulator (see :mod:`core.tiling`:
the weights sum to 1 at every pixel). Rows no later tile can touch are finished: they become a
:class:`Strip`, a set of **named layers** (``probability`` always: 0..1, -1 where there is no
imagery), handed to each :class:`StripConsumer` in turn, top to bottom. A consumer that needs a
layer of its own (the vectoriser's slope for ``slope_mean_deg``) gets it from a
:class:`LayerSource` in its own thread, so the writer never waits for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from osgeo import gdal

from .errors import DetectionCanceled, DetectionError
from .pipeline import TileBatch, Worker
from .raster_io import BLOCK, PROBABILITY_NODATA, last_error, recorded_gdal_errors
from .tiling import TileGrid

PROBABILITY = "probability"  # the layer every strip has
VECTOR_PIECE_PIXELS = 16 * 1024 * 1024  # pixels per piece handed to the vectoriser (64 MB of float32)
WRITE_SPAN = 32 * BLOCK  # columns of the probability raster compressed at once


@dataclass
class Strip:
    """Finished rows ``y`` .. ``y + rows`` of the window, one (rows x width) array per named layer."""

    y: int
    layers: dict[str, np.ndarray]

    @property
    def rows(self) -> int:
        return next(iter(self.layers.values())).shape[0]


class StripConsumer:
    """Receives every finished strip, in the writer's thread. ``stop()`` turns true on an abort: a
    consumer that waits or works long checks it and raises DetectionCanceled."""

    def consume(self, strip: Strip, stop: Callable[[], bool]) -> None:
        raise NotImplementedError


class LayerSource:
    """Adds named layers to a strip in the consuming thread (e.g. the slope from an elevation model)."""

    def layers(self, y: int, rows: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        return None


class ProbabilityRasterWriter(StripConsumer):
    """Writes the ``probability`` layer into the GeoTIFF band, in whole block rows of at most
    WRITE_SPAN columns compressed at once (bounded cache; an abort does not wait for a wide strip)."""

    def __init__(self, band: gdal.Band) -> None:
        self.band: gdal.Band | None = band

    def consume(self, strip: Strip, stop: Callable[[], bool]) -> None:
        out = strip.layers[PROBABILITY]
        width = out.shape[1]
        with recorded_gdal_errors() as errors:
            ok = True
            try:
                for x in range(0, width, WRITE_SPAN):
                    if stop():
                        raise DetectionCanceled()
                    ok = self.band.WriteArray(out[:, x : x + WRITE_SPAN], x, strip.y) == 0 and ok
                    self.band.FlushCache()
            except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
                ok = False
                errors.messages.append(str(exc))
        if not ok or errors.messages:
            raise DetectionError(
                f"Writing the probability raster failed ({errors.summary(last_error())}). "
                "Check the free disk space."
            )


class VectorWorker(Worker, StripConsumer):
    """Vectorises finished strips (``stream``: a :class:`core.vectorize.StreamVectorizer`) in its own
    thread while inference goes on; ``sources`` add the layers its attributes need."""

    def __init__(self, stream: Any, sources: Sequence[LayerSource] = (), depth: int = 2) -> None:
        super().__init__("landslide-vectoriser", depth)
        self.stream = stream
        self.sources = list(sources)
        self.stream.should_stop = lambda: self.aborted  # an abort interrupts a long strip
        self.result: Any = None

    def consume(self, strip: Strip, stop: Callable[[], bool]) -> None:
        # In pieces of a bounded pixel count: a very wide raster gets thinner strips, so the
        # vectoriser's queue and work arrays do not grow with the width, and an abort is prompt.
        width = strip.layers[PROBABILITY].shape[1]
        step = max(1, VECTOR_PIECE_PIXELS // max(width, 1))
        for r in range(0, strip.rows, step):
            piece = {name: layer[r : r + step].copy() for name, layer in strip.layers.items()}
            if not self.put((strip.y + r, piece), give_up=stop):
                raise DetectionCanceled()  # aborted meanwhile: nothing more to do

    def handle(self, item: tuple[int, np.ndarray | Mapping[str, np.ndarray]]) -> None:
        y, layers = item[0], dict(strip_layers(item[1]))
        rows = layers[PROBABILITY].shape[0]
        for source in self.sources:
            layers.update(source.layers(y, rows))
        self.stream.add_strip(y, layers)

    def finish(self) -> None:
        self.result = self.stream.close()
        self._close_sources()

    def discard(self) -> None:
        # Here, not in the caller's thread: a cancel need not wait for a long GEOS union to end,
        # and the GeoPackage is closed by the only thread that uses it.
        self.stream.discard()
        self._close_sources()

    def _close_sources(self) -> None:
        for source in self.sources:
            source.close()


class StripWriter(Worker):
    """Blends tile outputs into a strip accumulator and hands finished rows to the consumers, in its
    own thread so that blending and GeoTIFF compression overlap with inference."""

    def __init__(
        self, width: int, height: int, grid: TileGrid, depth: int, consumers: Sequence[StripConsumer] = ()
    ) -> None:
        super().__init__("landslide-strip-writer", depth)
        self.width, self.height, self.grid = width, height, grid
        self.consumers = list(consumers)
        self.cap = grid.rows.length + BLOCK
        self.acc = np.zeros((self.cap, width), dtype=np.float32)
        self.valid = np.zeros((self.cap, width), dtype=bool)
        self.y0 = 0  # raster row of acc[0]
        self._weights: dict[tuple[int, int], np.ndarray] = {}

    def handle(self, item: tuple[TileBatch, np.ndarray]) -> None:
        self.add_batch(*item)

    def _weight(self, ri: int, cj: int) -> np.ndarray:
        """2-D weight of tile (ri, cj); interior tiles share one array (few distinct weights)."""
        rows, cols = self.grid.rows, self.grid.cols
        key = (rows.weight_ids[ri], cols.weight_ids[cj])
        w = self._weights.get(key)
        if w is None:
            w = rows.weights[ri][:, None] * cols.weights[cj][None, :]
            self._weights[key] = w
        return w

    def _ensure(self, y_min: int, y_max: int) -> None:
        """Make rows [y_min, y_max) addressable: flush finished rows (< y_min), grow if still short."""
        if y_min < self.y0:
            raise RuntimeError("tiles arrived out of order")
        target = min((y_min // BLOCK) * BLOCK, self.height)
        while target > self.y0:  # skipped tile rows (no imagery) can jump further than the strip holds
            self._flush(min(target - self.y0, self.cap))
        if y_max - self.y0 > self.cap:
            extra = y_max - self.y0 - self.cap
            self.acc = np.concatenate([self.acc, np.zeros((extra, self.width), np.float32)])
            self.valid = np.concatenate([self.valid, np.zeros((extra, self.width), bool)])
            self.cap += extra

    def _flush(self, n: int) -> None:
        n = min(n, self.height - self.y0)
        if n <= 0:
            return
        out = self.acc[:n]
        np.clip(out, 0.0, 1.0, out=out)
        np.copyto(out, np.float32(PROBABILITY_NODATA), where=~self.valid[:n])
        strip = Strip(self.y0, {PROBABILITY: out})
        for consumer in self.consumers:
            consumer.consume(strip, lambda: self.aborted)
        rest = self.cap - n
        self.acc[:rest] = self.acc[n:]
        self.acc[rest:] = 0.0
        self.valid[:rest] = self.valid[n:]
        self.valid[rest:] = False
        self.y0 += n

    def add_batch(self, batch: TileBatch, probs: np.ndarray) -> None:
        """``probs``: (tiles, H, W), the probability of the chosen class (see core.model_adapter)."""
        grid = self.grid
        h, w = grid.rows.length, grid.cols.length
        ys = [t[0] for t in batch.tiles] + [s[0] for s in batch.strips]
        self._ensure(min(ys), max(ys) + h)
        for y, x, valid, sw in batch.strips:
            region = self.valid[y - self.y0 : y - self.y0 + h, x : x + sw]
            if valid is None:
                region[...] = True
            else:
                region[...] = valid
        tmp = np.empty((h, w), np.float32)
        for k, (y, x, ri, cj) in enumerate(batch.tiles):
            np.multiply(probs[k, :h, :w], self._weight(ri, cj), out=tmp)
            region = self.acc[y - self.y0 : y - self.y0 + h, x : x + w]
            np.add(region, tmp, out=region)

    def finish(self) -> None:
        while self.y0 < self.height:
            self._flush(min(self.cap, self.height - self.y0))


def strip_layers(item: np.ndarray | Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    """A strip's layers; a bare array is the probability (the vectoriser's callers outside the engine)."""
    return {PROBABILITY: item} if isinstance(item, np.ndarray) else item
