# SPDX-License-Identifier: GPL-2.0-or-later
"""Export training tiles: orthophoto + landslide inventory polygons -> image/label GeoTIFF pairs.

Layout (what ``model/data.py`` ``tile_pairs`` reads)::

    out_dir/images/<prefix>_<row>_<col>.tif   the orthophoto bands, original data type, georeferenced
    out_dir/labels/<prefix>_<row>_<col>.tif   Byte: 1 landslide, 0 background, 255 nodata (no imagery)

``row``/``col`` are the tile's indices in the grid (zero-padded to 3 digits). Tiles start every
``tile_size - overlap`` pixels; the last row/column is shifted back to end on the raster edge (a
raster smaller than a tile gives one tile padded with nodata). Tiles without any imagery are
skipped; tiles without landslides are kept with probability ``negative_fraction`` (0 = none).
On error or cancel the files written by this run are deleted.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

from .atomic import AtomicOutputs
from .errors import DetectionCanceled, DetectionError
from .memory import check_fits, check_tile_size
from .raster_io import (
    Window,
    dataset_srs,
    last_error,
    layer_in_srs,
    open_raster,
    open_vector,
    recorded_gdal_errors,
    window_geotransform,
)
from .tiling import tile_starts
from .valid_pixels import valid_mask

LABEL_NODATA = 255


@dataclass
class TileExportResult:
    tiles_written: int
    positive_tiles: int
    negative_tiles: int
    skipped_empty: int  # tiles without imagery
    skipped_negative: int  # tiles without landslides that were not kept
    images_dir: str
    labels_dir: str
    files: list[str] = field(default_factory=list)  # image tile paths
    warnings: list[str] = field(default_factory=list)


def _read_tile(ds: gdal.Dataset, x: int, y: int, w: int, h: int, bands: list[int], path: str) -> np.ndarray:
    with recorded_gdal_errors() as errors:
        try:
            data = ds.ReadAsArray(x, y, w, h, band_list=bands)
        except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
            data = None
            errors.messages.append(str(exc))
    if data is None:
        raise DetectionError(
            f"Reading the raster '{path}' failed at pixels {x},{y} ({errors.summary(last_error())}). "
            "The file may be damaged or truncated: check it (e.g. gdalinfo -checksum) or export it again."
        )
    return data.reshape(len(bands), h, w)


def _write_pair(
    gtiff: gdal.Driver,
    img_path: str,
    lab_path: str,
    ds: gdal.Dataset,
    bands: list[int],
    tgt: tuple[float, ...],
    padded: np.ndarray,
    label: np.ndarray,
    full_valid: np.ndarray,
    nodata: float | None,
) -> None:
    """One image tile and its label tile (GDAL reports write failures to the error handler)."""
    tile_size = label.shape[0]
    img = gtiff.Create(
        img_path,
        tile_size,
        tile_size,
        len(bands),
        ds.GetRasterBand(bands[0]).DataType,
        options=["COMPRESS=DEFLATE"],
    )
    if img is None:
        raise RuntimeError(last_error("the tile cannot be created"))
    img.SetGeoTransform(tgt)
    img.SetProjection(ds.GetProjection())
    for k in range(len(bands)):
        band = img.GetRasterBand(k + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        band.SetColorInterpretation(ds.GetRasterBand(bands[k]).GetColorInterpretation())
        band.WriteArray(padded[k])
    if nodata is None and not full_valid.all():
        # an internal mask (GDAL < 3.9 writes a .msk side-car by default)
        previous = gdal.GetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", None)
        gdal.SetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
        try:
            img.CreateMaskBand(gdal.GMF_PER_DATASET)
        finally:
            gdal.SetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", previous)
        img.GetRasterBand(1).GetMaskBand().WriteArray(full_valid.view(np.uint8) * 255)
    img.FlushCache()
    img = None
    lab = gtiff.Create(lab_path, tile_size, tile_size, 1, gdal.GDT_Byte, options=["COMPRESS=DEFLATE"])
    if lab is None:
        raise RuntimeError(last_error("the label tile cannot be created"))
    lab.SetGeoTransform(tgt)
    lab.SetProjection(ds.GetProjection())
    lab.GetRasterBand(1).SetNoDataValue(LABEL_NODATA)
    lab.GetRasterBand(1).WriteArray(label)
    lab.FlushCache()
    lab = None


def check_polygons(layer: ogr.Layer, path: str) -> None:
    """Refuse an inventory that is not polygons (points, lines, a table without geometry)."""
    polygonal = (ogr.wkbPolygon, ogr.wkbMultiPolygon, ogr.wkbCurvePolygon, ogr.wkbMultiSurface)
    layer.ResetReading()
    kinds = {ogr.GT_Flatten(f.GetGeometryRef().GetGeometryType()) for f in layer if f.GetGeometryRef()}
    layer.ResetReading()
    if layer.GetFeatureCount() == 0:
        kinds = {ogr.GT_Flatten(layer.GetGeomType())}  # an empty layer: what it is declared to hold
    if not kinds or not kinds <= set(polygonal):
        names = ", ".join(sorted(ogr.GeometryTypeToName(k) for k in kinds)) or "no geometry"
        raise DetectionError(
            f"The inventory '{path}' holds {names}, not landslide polygons. Give a polygon layer "
            "(points or a table cannot be burnt into label tiles)."
        )


def _check_inputs(ds: gdal.Dataset, bands: list[int], tile_size: int, overlap: int) -> None:
    if tile_size < 1 or not 0 <= overlap < tile_size:
        raise DetectionError(
            f"Tile size {tile_size} / overlap {overlap}: use a tile size > 0 and 0 <= overlap < size."
        )
    bad = [b for b in bands if not 1 <= b <= ds.RasterCount]
    if bad:
        raise DetectionError(
            f"The raster has {ds.RasterCount} band(s); band(s) {bad} do not exist. Fix BANDS."
        )
    if not ds.GetProjection() and ds.GetGeoTransform(can_return_null=True) is None:
        raise DetectionError("The orthophoto has no georeferencing, so the inventory cannot be placed on it.")
    check_tile_size(tile_size)
    itemsize = max(1, gdal.GetDataTypeSize(ds.GetRasterBand(bands[0]).DataType) // 8)
    check_fits(
        # a tile's bands (read and padded) plus its label, mask and validity arrays
        tile_size * tile_size * (2 * len(bands) * itemsize + 4),
        f"Tiles of {tile_size} x {tile_size} pixels",
        "Use a smaller tile size (the shipped model trains on 512 or smaller).",
    )


def _output_folders(out_dir: str) -> tuple[Path, Path]:
    images, labels = Path(out_dir) / "images", Path(out_dir) / "labels"
    try:
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DetectionError(
            f"The folder '{out_dir}' cannot be created ({exc}). Choose a writable folder."
        ) from exc
    if not os.access(images, os.W_OK):
        raise DetectionError(f"The folder '{images}' is not writable. Choose another output folder.")
    return images, labels


class _TileWriter:
    """Writes the tile pairs of one export, staged in ``outputs``, and counts them in ``result``."""

    def __init__(
        self,
        ds: gdal.Dataset,
        raster_path: str,
        bands: list[int],
        layer: ogr.Layer,
        tile_size: int,
        prefix: str,
        negative_fraction: float,
        seed: int,
        outputs: AtomicOutputs,
        result: TileExportResult,
    ) -> None:
        self.ds, self.raster_path, self.bands, self.layer = ds, raster_path, bands, layer
        self.tile_size, self.prefix, self.negative_fraction = tile_size, prefix, negative_fraction
        self.h, self.w = min(tile_size, ds.RasterYSize), min(tile_size, ds.RasterXSize)
        self.nodata = ds.GetRasterBand(bands[0]).GetNoDataValue()
        self.rng = random.Random(seed)
        self.gtiff = gdal.GetDriverByName("GTiff")
        self.outputs, self.result = outputs, result

    def _label(self, tgt: tuple[float, ...]) -> np.ndarray:
        """The inventory burnt onto the tile's grid (1 inside a polygon)."""
        size = self.tile_size
        mem = gdal.GetDriverByName("MEM").Create("", size, size, 1, gdal.GDT_Byte)
        mem.SetGeoTransform(tgt)
        mem.SetProjection(self.ds.GetProjection())
        x_edges = (tgt[0], tgt[0] + size * tgt[1])
        y_edges = (tgt[3], tgt[3] + size * tgt[5])
        self.layer.SetSpatialFilterRect(min(x_edges), min(y_edges), max(x_edges), max(y_edges))
        gdal.RasterizeLayer(mem, [1], self.layer, burn_values=[1])
        self.layer.SetSpatialFilter(None)
        return mem.GetRasterBand(1).ReadAsArray()

    def write(self, i: int, j: int, x: int, y: int) -> None:
        """The tile at row ``i``, column ``j`` (pixel ``x``, ``y``), unless it is skipped."""
        h, w, size, result = self.h, self.w, self.tile_size, self.result
        data = _read_tile(self.ds, x, y, w, h, self.bands, self.raster_path)
        valid = valid_mask(self.ds, self.bands, data, x, y)
        if not valid.any():
            result.skipped_empty += 1
            return
        tgt = window_geotransform(self.ds.GetGeoTransform(), Window(x, y, w, h))
        label = self._label(tgt)
        full_valid = np.zeros((size, size), bool)
        full_valid[:h, :w] = valid
        label[~full_valid] = LABEL_NODATA
        positive = bool((label == 1).any())
        if not positive and self.rng.random() >= self.negative_fraction:
            result.skipped_negative += 1
            return
        padded = np.zeros((len(self.bands), size, size), data.dtype)
        if self.nodata is not None:
            padded[:] = np.asarray(self.nodata).astype(data.dtype)
        padded[:, :h, :w] = data
        name = f"{self.prefix}_{i:03d}_{j:03d}.tif"
        img_path, lab_path = Path(result.images_dir) / name, Path(result.labels_dir) / name
        with recorded_gdal_errors() as errors:
            try:
                _write_pair(
                    self.gtiff,
                    self.outputs.temp_for(img_path, lock=False),
                    self.outputs.temp_for(lab_path, lock=False),
                    self.ds,
                    self.bands,
                    tgt,
                    padded,
                    label,
                    full_valid,
                    self.nodata,
                )
            except RuntimeError as exc:  # gdal.UseExceptions() set by someone else
                errors.messages.append(str(exc))
        if errors.messages:
            raise DetectionError(
                f"Writing the tile '{name}' failed ({errors.summary()}). Check the free disk space; "
                "no tile was written."
            )
        result.tiles_written += 1
        result.files.append(str(img_path))
        if positive:
            result.positive_tiles += 1
        else:
            result.negative_tiles += 1


def export_training_tiles(
    raster_path: str,
    inventory_path: str,
    out_dir: str,
    tile_size: int = 512,
    overlap: int = 0,
    bands: list[int] | None = None,
    prefix: str = "tile",
    negative_fraction: float = 1.0,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
) -> TileExportResult:
    """Write image/label tile pairs; see the module docstring."""
    progress = progress or (lambda _p: None)
    is_canceled = is_canceled or (lambda: False)
    ds = open_raster(raster_path)
    bands = bands or list(range(1, ds.RasterCount + 1))
    _check_inputs(ds, bands, tile_size, overlap)
    inventory = open_vector(inventory_path)
    check_polygons(inventory.GetLayer(0), inventory_path)
    inventory = None
    src, layer = layer_in_srs(inventory_path, dataset_srs(ds))
    images, labels = _output_folders(out_dir)
    rows = tile_starts(
        ds.RasterYSize, min(tile_size, ds.RasterYSize), min(overlap, max(ds.RasterYSize - 1, 0))
    )
    cols = tile_starts(
        ds.RasterXSize, min(tile_size, ds.RasterXSize), min(overlap, max(ds.RasterXSize - 1, 0))
    )
    result = TileExportResult(0, 0, 0, 0, 0, str(images), str(labels))
    total = len(rows) * len(cols)
    # Tiles are staged and moved into place together at the end: an error, a cancel or a full disk
    # leaves the folders (and the tiles of an earlier export) as they were.
    outputs = AtomicOutputs()
    try:
        outputs.lock(images)
        outputs.lock(labels)
        writer = _TileWriter(
            ds, raster_path, bands, layer, tile_size, prefix, negative_fraction, seed, outputs, result
        )
        for i, y in enumerate(rows.tolist()):
            for j, x in enumerate(cols.tolist()):
                if is_canceled():
                    raise DetectionCanceled("Tile export canceled; no tile was written.")
                progress(100.0 * (i * len(cols) + j) / total)
                writer.write(i, j, x, y)
        outputs.commit()
    finally:
        if not outputs.committed:
            outputs.discard()
        layer = writer = None
        del src
    if result.positive_tiles == 0:
        result.warnings.append(
            "No tile contains a landslide: check that the inventory overlaps the orthophoto and uses its CRS."
        )
    progress(100.0)
    return result
