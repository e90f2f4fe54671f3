# SPDX-License-Identifier: GPL-2.0-or-later
"""Pixel IoU of a detection against a raster inventory, for the side-by-side runs.

Inventories are label rasters on the orthophoto's grid like the AMU scenes' ``scene_X_label.tif``:
1 landslide, 0 background, 255 (or the band's nodata) unknown, ignored. Our result is the polygon
layer (exact pixel edges: rasterised by pixel centre it gives back the pixels); Deepness's is its
class mask (``X.gpkg.mask.npy``, value 2 = the positive class of a one-channel sigmoid model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

UNKNOWN = 255


def label_for(raster: Path) -> Path | None:
    """``scene_A_rgb.tif`` -> ``scene_A_label.tif`` when it exists."""
    if raster.name.endswith("_rgb.tif"):
        label = raster.with_name(raster.name[: -len("_rgb.tif")] + "_label.tif")
        return label if label.exists() else None
    return None


def read_inventory(label: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], str]:
    """(landslide, ignore, geotransform, projection) of a label raster."""
    ds = gdal.Open(str(label))
    band = ds.GetRasterBand(1)
    values = band.ReadAsArray()
    ignore = values == UNKNOWN
    nodata = band.GetNoDataValue()
    if nodata is not None:
        ignore |= values == nodata
    return (values == 1) & ~ignore, ignore, ds.GetGeoTransform(), ds.GetProjection()


def rasterise(gpkg: Path, shape: tuple[int, int], gt: tuple[float, ...], wkt: str) -> np.ndarray:
    """The polygons of the first layer of ``gpkg`` burnt on the grid (pixel centres inside)."""
    mem = gdal.GetDriverByName("MEM").Create("", shape[1], shape[0], 1, gdal.GDT_Byte)
    mem.SetGeoTransform(gt)
    mem.SetProjection(wkt)
    vector = ogr.Open(str(gpkg))
    gdal.RasterizeLayer(mem, [1], vector.GetLayer(0), burn_values=[1])
    return mem.GetRasterBand(1).ReadAsArray() > 0


def deepness_mask(npy: Path, shape: tuple[int, int]) -> np.ndarray:
    """Deepness's positive class on the inventory's grid (nearest pixel if its size differs by a pixel
    or two: Deepness rounds the extent to its processing resolution)."""
    mask = np.load(str(npy)) == 2
    if mask.shape != shape:
        rows = np.minimum((np.arange(shape[0]) * mask.shape[0] / shape[0]).astype(int), mask.shape[0] - 1)
        cols = np.minimum((np.arange(shape[1]) * mask.shape[1] / shape[1]).astype(int), mask.shape[1] - 1)
        mask = mask[rows][:, cols]
    return mask


def scores(pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray) -> dict[str, float]:
    keep = ~ignore
    tp = int((pred & truth & keep).sum())
    fp = int((pred & ~truth & keep).sum())
    fn = int((~pred & truth & keep).sum())
    return {
        "iou": tp / max(tp + fp + fn, 1),
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "predicted_share": float(pred[keep].mean()) if keep.any() else 0.0,
    }


def score_ours(gpkg: Path, label: Path) -> dict[str, float]:
    truth, ignore, gt, wkt = read_inventory(label)
    return scores(rasterise(gpkg, truth.shape, gt, wkt), truth, ignore)


def score_deepness(npy: Path, label: Path) -> dict[str, float]:
    truth, ignore, _gt, _wkt = read_inventory(label)
    return scores(deepness_mask(npy, truth.shape), truth, ignore)
