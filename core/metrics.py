# SPDX-License-Identifier: GPL-2.0-or-later
"""Accuracy of a detection against a reference inventory, streamed over raster windows.

* Pixel level: confusion counts -> IoU, precision, recall, F1 (pixels that are nodata in either
  raster are ignored).
* Object level: connected components (4-connectedness, as in :mod:`core.vectorize`) of prediction
  and reference are labelled by polygonising each binary raster and rasterising the polygons back
  with their id; objects are matched one-to-one, greedily by decreasing IoU, when IoU >= threshold.
  Precision = matched predictions / predictions, recall = matched references / references.
* Helpers rasterise a polygon layer onto a raster's grid and warp a raster onto another's grid,
  so either side may be polygons or a raster. :func:`evaluate` does all of this.

A raster is binarised as ``value >= threshold`` (0/1 masks, 0/255 masks and probability rasters
all work with the default 0.5); its nodata pixels are excluded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
from osgeo import gdal, ogr

from .atomic import make_work_folder
from .errors import DetectionCanceled, DetectionError
from .raster_io import (
    BLOCK,
    bounded_gdal_cache,
    dataset_srs,
    last_error,
    layer_in_srs,
    open_raster,
    quiet_gdal,
)
from .valid_pixels import valid_mask

WINDOW_ROWS = 4 * BLOCK
LABEL_NODATA = -1


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _scores(tp: float, fp: float, fn: float) -> dict[str, float]:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "iou": _ratio(tp, tp + fp + fn),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
    }


def _windows(height: int) -> list[tuple[int, int]]:
    return [(y, min(WINDOW_ROWS, height - y)) for y in range(0, height, WINDOW_ROWS)]


def _binary(ds: gdal.Dataset, y: int, h: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(positive, valid) for rows y..y+h of band 1 of ``ds``."""
    data = ds.GetRasterBand(1).ReadAsArray(0, y, ds.RasterXSize, h)
    if data is None:
        raise DetectionError(f"Reading a raster failed ({last_error()}).")
    valid = valid_mask(ds, [1], data[None], 0, y)
    return (data >= threshold) & valid, valid


def _same_grid(a: gdal.Dataset, b: gdal.Dataset) -> bool:
    if (a.RasterXSize, a.RasterYSize) != (b.RasterXSize, b.RasterYSize):
        return False
    return np.allclose(
        a.GetGeoTransform(), b.GetGeoTransform(), rtol=0, atol=1e-9 * max(1.0, abs(a.GetGeoTransform()[1]))
    )


def pixel_metrics(
    prediction: str, reference: str, pred_threshold: float = 0.5, ref_threshold: float = 0.5
) -> dict[str, float]:
    """Pixel confusion counts and scores of two rasters on the same grid."""
    pred_ds, ref_ds = open_raster(prediction), open_raster(reference)
    if not _same_grid(pred_ds, ref_ds):
        raise DetectionError(
            "The prediction and reference rasters are not on the same grid. Align them first "
            "(core.metrics.align_raster) or use core.metrics.evaluate, which does it."
        )
    tp = fp = fn = tn = 0
    for y, h in _windows(pred_ds.RasterYSize):
        p, pv = _binary(pred_ds, y, h, pred_threshold)
        r, rv = _binary(ref_ds, y, h, ref_threshold)
        valid = pv & rv
        tp += int(np.count_nonzero(p & r & valid))
        fp += int(np.count_nonzero(p & ~r & valid))
        fn += int(np.count_nonzero(~p & r & valid))
        tn += int(np.count_nonzero(~p & ~r & valid))
    result: dict[str, float] = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    result.update(_scores(tp, fp, fn))
    return result


def _label_raster(path: str, threshold: float, out_path: str) -> tuple[str, int]:
    """Int32 raster of connected-component ids (0 = background, -1 = nodata); returns (path, count)."""
    ds = open_raster(path)
    width, height = ds.RasterXSize, ds.RasterYSize
    gt = ds.GetGeoTransform()
    work = os.path.dirname(out_path)
    mask_path = out_path + ".mask.tif"
    drv = gdal.GetDriverByName("GTiff")
    opts = ["TILED=YES", "COMPRESS=DEFLATE", "ZLEVEL=1", "BIGTIFF=IF_SAFER"]
    mask = drv.Create(mask_path, width, height, 1, gdal.GDT_Byte, options=opts)
    labels = drv.Create(out_path, width, height, 1, gdal.GDT_Int32, options=opts)
    for target in (mask, labels):
        target.SetGeoTransform(gt)
        target.SetProjection(ds.GetProjection())
    mb, lb = mask.GetRasterBand(1), labels.GetRasterBand(1)
    for y, h in _windows(height):
        positive, valid = _binary(ds, y, h, threshold)
        mb.WriteArray(positive.view(np.uint8), 0, y)
        lb.WriteArray(np.where(valid, 0, LABEL_NODATA).astype(np.int32), 0, y)
    vds = ogr.GetDriverByName("GPKG").CreateDataSource(
        os.path.join(work, os.path.basename(out_path) + ".gpkg")
    )
    layer = vds.CreateLayer("components", dataset_srs(ds), ogr.wkbPolygon, options=["SPATIAL_INDEX=NO"])
    layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger))
    layer.StartTransaction()
    gdal.Polygonize(mb, mb, layer, 0, [])
    layer.CommitTransaction()
    # Polygonize wrote the pixel value (1) into "id": number the components instead.
    layer.StartTransaction()
    count = 0
    layer.ResetReading()
    for feature in layer:
        count += 1
        feature.SetField("id", count)
        layer.SetFeature(feature)
    layer.CommitTransaction()
    if count:
        gdal.RasterizeLayer(labels, [1], layer, options=["ATTRIBUTE=id"])
    labels.FlushCache()
    labels = mask = vds = None
    return out_path, count


def object_metrics(
    prediction: str,
    reference: str,
    iou_threshold: float = 0.5,
    pred_threshold: float = 0.5,
    ref_threshold: float = 0.5,
) -> dict[str, float]:
    """Object-level precision/recall/F1: one-to-one matches of components with IoU >= ``iou_threshold``."""
    work = make_work_folder("metrics")
    try:
        pred_path, n_pred = _label_raster(prediction, pred_threshold, os.path.join(work, "pred.tif"))
        ref_path, n_ref = _label_raster(reference, ref_threshold, os.path.join(work, "ref.tif"))
        pds, rds = gdal.Open(pred_path), gdal.Open(ref_path)
        if not _same_grid(pds, rds):
            raise DetectionError(
                "The prediction and reference rasters are not on the same grid. Use evaluate()."
            )
        pb, rb = pds.GetRasterBand(1), rds.GetRasterBand(1)
        pred_area = np.zeros(n_pred + 1, np.int64)
        ref_area = np.zeros(n_ref + 1, np.int64)
        pairs: dict[int, int] = {}
        for y, h in _windows(pds.RasterYSize):
            p = pb.ReadAsArray(0, y, pds.RasterXSize, h).astype(np.int64)
            r = rb.ReadAsArray(0, y, pds.RasterXSize, h).astype(np.int64)
            valid = (p >= 0) & (r >= 0)  # pixels nodata in either raster count for neither side
            p, r = p[valid], r[valid]
            pred_area += np.bincount(p, minlength=n_pred + 1)
            ref_area += np.bincount(r, minlength=n_ref + 1)
            both = (p > 0) & (r > 0)
            if both.any():
                keys, counts = np.unique(p[both] * (n_ref + 1) + r[both], return_counts=True)
                for key, c in zip(keys.tolist(), counts.tolist()):
                    pairs[key] = pairs.get(key, 0) + c
        candidates = []
        for key, inter in pairs.items():
            i, j = divmod(key, n_ref + 1)
            union = pred_area[i] + ref_area[j] - inter
            iou = inter / union if union else 0.0
            if iou >= iou_threshold:
                candidates.append((iou, i, j))
        candidates.sort(reverse=True)
        used_p, used_r = set(), set()
        for _iou, i, j in candidates:
            if i not in used_p and j not in used_r:
                used_p.add(i)
                used_r.add(j)
        # Components entirely inside the other side's nodata do not count.
        n_pred_valid = int(np.count_nonzero(pred_area[1:]))
        n_ref_valid = int(np.count_nonzero(ref_area[1:]))
        matched = len(used_p)
        precision, recall = _ratio(matched, n_pred_valid), _ratio(matched, n_ref_valid)
        pds = rds = None
        return {
            "objects_predicted": n_pred_valid,
            "objects_reference": n_ref_valid,
            "objects_matched": matched,
            "object_precision": precision,
            "object_recall": recall,
            "object_f1": _ratio(2 * precision * recall, precision + recall),
            "object_iou_threshold": float(iou_threshold),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rasterize_polygons(vector_path: str, like_raster: str, out_path: str) -> str:
    """Byte raster on ``like_raster``'s grid: 1 inside the polygons (pixel centres), 0 outside.

    The polygons are reprojected to the raster's CRS when their CRS differs. Pixels that are
    nodata in ``like_raster`` stay valid here (the other side's nodata excludes them anyway).
    """
    like = open_raster(like_raster)
    src, layer = layer_in_srs(vector_path, dataset_srs(like))
    ds = gdal.GetDriverByName("GTiff").Create(
        out_path,
        like.RasterXSize,
        like.RasterYSize,
        1,
        gdal.GDT_Byte,
        options=["TILED=YES", "COMPRESS=DEFLATE"],
    )
    ds.SetGeoTransform(like.GetGeoTransform())
    ds.SetProjection(like.GetProjection())
    if gdal.RasterizeLayer(ds, [1], layer, burn_values=[1]) != 0:
        raise DetectionError(f"Rasterising '{vector_path}' failed ({last_error()}).")
    ds.FlushCache()
    ds = None
    del src
    return out_path


def align_raster(src_path: str, like_raster: str, out_path: str, resample: str = "near") -> str:
    """``src_path`` warped onto ``like_raster``'s grid and CRS (nearest neighbour for masks)."""
    like = open_raster(like_raster)
    gt = like.GetGeoTransform()
    bounds = (gt[0], gt[3] + like.RasterYSize * gt[5], gt[0] + like.RasterXSize * gt[1], gt[3])
    kwargs: dict[str, Any] = dict(
        format="GTiff",
        outputBounds=bounds,
        width=like.RasterXSize,
        height=like.RasterYSize,
        resampleAlg=resample,
        creationOptions=["TILED=YES", "COMPRESS=DEFLATE"],
    )
    if like.GetProjection():
        kwargs["dstSRS"] = like.GetProjection()
    src = open_raster(src_path)
    if src.GetRasterBand(1).GetNoDataValue() is None:
        kwargs["dstNodata"] = 255 if src.GetRasterBand(1).DataType == gdal.GDT_Byte else -9999
    with quiet_gdal():
        out = gdal.Warp(out_path, src, **kwargs)
    if out is None:
        raise DetectionError(f"Aligning '{src_path}' to the prediction grid failed ({last_error()}).")
    out = None
    return out_path


def _is_raster(path: str) -> bool:
    try:
        with quiet_gdal():
            ds = gdal.OpenEx(str(path), gdal.OF_RASTER)
    except RuntimeError:
        return False
    return ds is not None and ds.RasterCount > 0


def evaluate(
    prediction: str,
    reference: str,
    iou_threshold: float = 0.5,
    pred_threshold: float = 0.5,
    ref_threshold: float = 0.5,
    grid_raster: str | None = None,
    is_canceled: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Pixel and object metrics; each side may be a raster or a polygon file.

    The comparison grid is the prediction raster's, else the reference raster's, else
    ``grid_raster`` (needed when both sides are polygons).
    """
    with bounded_gdal_cache():
        return _evaluate(
            prediction, reference, iou_threshold, pred_threshold, ref_threshold, grid_raster, is_canceled
        )


def _evaluate(
    prediction: str,
    reference: str,
    iou_threshold: float,
    pred_threshold: float,
    ref_threshold: float,
    grid_raster: str | None,
    is_canceled: Callable[[], bool] | None,
) -> dict[str, float]:
    is_canceled = is_canceled or (lambda: False)
    work = make_work_folder("eval")
    try:
        pred_is_raster, ref_is_raster = _is_raster(prediction), _is_raster(reference)
        grid = prediction if pred_is_raster else reference if ref_is_raster else grid_raster
        if grid is None:
            raise DetectionError(
                "Both prediction and reference are polygons: give a raster whose grid to compare them on."
            )
        if pred_is_raster:
            pred = prediction
        else:
            pred = rasterize_polygons(prediction, grid, os.path.join(work, "pred.tif"))
            pred_threshold = 0.5
        if ref_is_raster:
            ref = reference
            if not _same_grid(open_raster(pred), open_raster(ref)):
                ref = align_raster(reference, pred, os.path.join(work, "ref.tif"))
        else:
            ref = rasterize_polygons(reference, pred, os.path.join(work, "ref.tif"))
            ref_threshold = 0.5
        if is_canceled():
            raise DetectionCanceled()
        result = pixel_metrics(pred, ref, pred_threshold, ref_threshold)
        if is_canceled():
            raise DetectionCanceled()
        result.update(object_metrics(pred, ref, iou_threshold, pred_threshold, ref_threshold))
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
