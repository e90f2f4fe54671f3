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


def _valid(ds: gdal.Dataset, bands: list[int], data: np.ndarray, win: Window) -> np.ndarray:
    valid = np.ones(data.shape[1:], bool)
    for i, b in enumerate(bands):
        band = ds.GetRasterBand(b)
        flags = band.GetMaskFlags()
        if flags & gdal.GMF_NODATA:
            nd = band.GetNoDataValue()
            valid &= ~np.isnan(data[i]) if np.isnan(nd) else data[i] != nd
        elif flags != gdal.GMF_ALL_VALID:
            valid &= band.GetMaskBand().ReadAsArray(win.xoff, win.yoff, win.xsize, win.ysize) > 0
        if data.dtype.kind == "f":
            valid &= ~np.isnan(data[i])
    return valid


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
    if tile_size < 1 or not 0 <= overlap < tile_size:
        raise DetectionError(
            f"Tile size {tile_size} / overlap {overlap}: use a tile size > 0 and 0 <= overlap < size."
        )
    ds = open_raster(raster_path)
    bands = bands or list(range(1, ds.RasterCount + 1))
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
    inventory = open_vector(inventory_path)
    check_polygons(inventory.GetLayer(0), inventory_path)
    inventory = None
    src, layer = layer_in_srs(inventory_path, dataset_srs(ds))
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

    gt = ds.GetGeoTransform()
    rows = tile_starts(
        ds.RasterYSize, min(tile_size, ds.RasterYSize), min(overlap, max(ds.RasterYSize - 1, 0))
    )
    cols = tile_starts(
        ds.RasterXSize, min(tile_size, ds.RasterXSize), min(overlap, max(ds.RasterXSize - 1, 0))
    )
    h, w = min(tile_size, ds.RasterYSize), min(tile_size, ds.RasterXSize)
    first = ds.GetRasterBand(bands[0])
    nodata = first.GetNoDataValue()
    rng = random.Random(seed)
    gtiff = gdal.GetDriverByName("GTiff")
    result = TileExportResult(0, 0, 0, 0, 0, str(images), str(labels))
    total = len(rows) * len(cols)
    # Tiles are staged and moved into place together at the end: an error, a cancel or a full disk
    # leaves the folders (and the tiles of an earlier export) as they were.
    outputs = AtomicOutputs()
    try:
        outputs.lock(images)
        outputs.lock(labels)
        for i, y in enumerate(rows.tolist()):
            for j, x in enumerate(cols.tolist()):
                if is_canceled():
                    raise DetectionCanceled("Tile export canceled; no tile was written.")
                progress(100.0 * (i * len(cols) + j) / total)
                win = Window(x, y, w, h)
                data = _read_tile(ds, x, y, w, h, bands, raster_path)
                valid = _valid(ds, bands, data, win)
                if not valid.any():
                    result.skipped_empty += 1
                    continue
                tgt = window_geotransform(gt, win)
                mem = gdal.GetDriverByName("MEM").Create("", tile_size, tile_size, 1, gdal.GDT_Byte)
                mem.SetGeoTransform(tgt)
                mem.SetProjection(ds.GetProjection())
                x_edges = (tgt[0], tgt[0] + tile_size * tgt[1])
                y_edges = (tgt[3], tgt[3] + tile_size * tgt[5])
                layer.SetSpatialFilterRect(min(x_edges), min(y_edges), max(x_edges), max(y_edges))
                gdal.RasterizeLayer(mem, [1], layer, burn_values=[1])
                layer.SetSpatialFilter(None)
                label = mem.GetRasterBand(1).ReadAsArray()
                full_valid = np.zeros((tile_size, tile_size), bool)
                full_valid[:h, :w] = valid
                label[~full_valid] = LABEL_NODATA
                positive = bool((label == 1).any())
                if not positive and rng.random() >= negative_fraction:
                    result.skipped_negative += 1
                    continue
                name = f"{prefix}_{i:03d}_{j:03d}.tif"
                img_path, lab_path = images / name, labels / name
                padded = np.zeros((len(bands), tile_size, tile_size), data.dtype)
                if nodata is not None:
                    padded[:] = np.asarray(nodata).astype(data.dtype)
                padded[:, :h, :w] = data
                with recorded_gdal_errors() as errors:
                    try:
                        _write_pair(
                            gtiff,
                            outputs.temp_for(img_path, lock=False),
                            outputs.temp_for(lab_path, lock=False),
                            ds,
                            bands,
                            tgt,
                            padded,
                            label,
                            full_valid,
                            nodata,
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
        outputs.commit()
    finally:
        if not outputs.committed:
            outputs.discard()
        layer = None
        del src
    if result.positive_tiles == 0:
        result.warnings.append(
            "No tile contains a landslide: check that the inventory overlaps the orthophoto and uses its CRS."
        )
    progress(100.0)
    return result
