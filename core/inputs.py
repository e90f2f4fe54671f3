# SPDX-License-Identifier: GPL-2.0-or-later
"""Input preparation for the engine: value scaling, early checks, resampling (valid pixels:
:mod:`core.valid_pixels`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from osgeo import gdal

from .atomic import check_writable
from .errors import DetectionError
from .model_info import InputSpec
from .model_metadata import ModelInfo
from .raster_io import dataset_srs, last_error, quiet_gdal


@dataclass
class Scaling:
    scale: np.ndarray  # float32 (C,)
    offset: np.ndarray  # float32 (C,): normalised = raw * scale + offset
    fill: float
    clip: bool = True  # clip to [-0.5, 0.5] as training does (not needed when the range is the type's)


def _band_range(band: gdal.Band) -> tuple[float, float] | None:
    """Approximate minimum and maximum of a band (a sample of its blocks or an overview; never
    stored next to the raster), None when it has no valid pixel."""
    try:
        with quiet_gdal():
            mn, mx = band.ComputeRasterMinMax(True)
    except (RuntimeError, TypeError):
        return None
    return float(mn), float(mx)


def _declared_bits(band: gdal.Band) -> int | None:
    """Bit depth an integer band declares (GeoTIFF NBITS, e.g. 12 for 12-bit imagery in UInt16)."""
    value = band.GetMetadataItem("NBITS", "IMAGE_STRUCTURE")
    try:
        bits = int(value) if value else None
    except ValueError:
        return None
    return bits if bits and band.DataType != gdal.GDT_Byte and 1 < bits < 32 else None


def _fit_declared_range(
    ds: gdal.Dataset, bands: list[int], lo: np.ndarray, hi: np.ndarray, warnings: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The raw range to scale each band from, for a model that declares its input range.

    Bands already in the model's range (8-bit imagery, also stored as UInt16 or Float32) are used as
    they are. A band in 0..1 (floating point reflectance) or declaring its bit depth (NBITS) is
    stretched onto the model's range, with a warning. Anything else cannot be scaled without a
    guess: DetectionError says how to convert the raster.
    """
    lo, hi = lo.copy(), hi.copy()
    for i, b in enumerate(bands):
        band = ds.GetRasterBand(b)
        if band.DataType == gdal.GDT_Byte and lo[i] <= 0 and hi[i] >= 255:
            continue  # the common case: no statistics needed
        found = _band_range(band)
        if found is None:
            continue  # no valid pixel: nothing will be detected in it anyway
        mn, mx = found
        type_name = gdal.GetDataTypeName(band.DataType)
        # Floating point values all within 0..1 against a model for 0..255: reflectance, not a black image.
        if band.DataType in (gdal.GDT_Float32, gdal.GDT_Float64) and mn >= 0.0 and mx <= 1.0 < hi[i]:
            warnings.append(
                f"Band {b} holds {type_name} values from 0 to 1 (e.g. reflectance) but the model expects "
                f"{lo[i]:g} to {hi[i]:g}: it was stretched from 0..1 onto the model's range."
            )
            lo[i], hi[i] = 0.0, 1.0
            continue
        tolerance = 1e-6 * max(1.0, abs(hi[i] - lo[i]))
        bits = _declared_bits(band)
        if mn >= lo[i] - tolerance and mx <= hi[i] + tolerance and not (bits and 2**bits - 1 > hi[i]):
            continue
        if bits and mn >= 0.0 and mx <= 2**bits - 1:
            warnings.append(
                f"Band {b} is {bits}-bit imagery (0 to {2**bits - 1}) but the model expects {lo[i]:g} to "
                f"{hi[i]:g}: it was stretched from its bit depth onto the model's range."
            )
            lo[i], hi[i] = 0.0, float(2**bits - 1)
            continue
        raise DetectionError(
            f"Band {b} of the raster holds {type_name} values from {mn:g} to {mx:g}, but the model expects "
            f"values from {lo[i]:g} to {hi[i]:g} (8-bit imagery). Rescale the raster to that range first, "
            f"choosing the stretch that shows the imagery well: e.g. Raster > Conversion > Translate with "
            f"the extra options '-ot Byte -scale {mn:g} {mx:g} 0 255', or gdal_translate -ot Byte "
            f"-scale {mn:g} {mx:g} 0 255 input.tif output.tif."
        )
    return lo, hi


def value_scaling(ds: gdal.Dataset, bands: list[int], info: ModelInfo, warnings: list[str]) -> Scaling:
    """raw -> (raw - min) / (max - min) - 0.5 from the model's ranges, else the type range / statistics;
    for Deepness's models ((raw - min) / (max - min) - mean) / std.

    With the model's ranges, the raster's data type and statistics are checked against them
    (see :func:`_fit_declared_range`): values are never scaled by a silent guess.
    """
    n = len(bands)
    if len(info.value_min) >= n and len(info.value_max) >= n:
        lo = np.asarray(info.value_min[:n], dtype=np.float64)
        hi = np.asarray(info.value_max[:n], dtype=np.float64)
        lo, hi = _fit_declared_range(ds, bands, lo, hi, warnings)
    else:
        lo, hi = np.zeros(n), np.zeros(n)
        used_stats = False
        for i, b in enumerate(bands):
            band = ds.GetRasterBand(b)
            if band.DataType == gdal.GDT_Byte:
                lo[i], hi[i] = 0.0, 255.0
                continue
            used_stats = True
            try:
                with quiet_gdal():
                    mn, mx = band.ComputeRasterMinMax(True)
            except (RuntimeError, TypeError):
                mn, mx = 0.0, 1.0
            lo[i], hi[i] = mn, mx
        if used_stats:
            warnings.append(
                "The model does not record its input value range: bands were scaled by the raster's "
                "approximate minimum/maximum. Results are better with a model exported with "
                "value_min/value_max."
            )
    span = np.where(hi > lo, hi - lo, 1.0)
    if info.standardization_std:  # Deepness's models: (x - mean) / std of x on 0..1, not clipped
        mean, std = _per_band(info.standardization_mean, n, 0.0), _per_band(info.standardization_std, n, 1.0)
        scale = (1.0 / (span * std)).astype(np.float32)
        offset = ((-lo / span - mean) / std).astype(np.float32)
        return Scaling(scale, offset, float(np.mean(-mean / std)), clip=False)  # fill: raw 0, as Deepness
    scale = (1.0 / span).astype(np.float32)
    offset = (-lo / span - 0.5).astype(np.float32)
    full_byte = all(ds.GetRasterBand(b).DataType == gdal.GDT_Byte for b in bands) and (
        bool((lo <= 0).all() and (hi >= 255).all())
    )
    return Scaling(scale, offset, float(info.nodata_fill), clip=not full_byte)


def _per_band(values: list[float], n: int, default: float) -> np.ndarray:
    """``values`` for ``n`` bands: one value stands for all, missing ones take ``default``."""
    if len(values) == 1:
        return np.full(n, float(values[0]))
    return np.array([float(values[i]) if i < len(values) else default for i in range(n)])


def check_bands(ds: gdal.Dataset, bands: list[int], spec: InputSpec, info: ModelInfo, raster: str) -> None:
    extra = len(info.extra_channels)  # channels the elevation raster gives, not raster bands
    needed = spec.channels - extra if spec.channels is not None else len(info.bands)
    if len(bands) != needed:
        raise DetectionError(
            f"{len(bands)} bands were chosen ({bands}) but the model needs {needed} "
            f"({', '.join(info.band_names) or 'bands'}). Set BANDS to {needed} raster band numbers "
            "in model order."
        )
    bad = [b for b in bands if not 1 <= b <= ds.RasterCount]
    if bad:
        raise DetectionError(
            f"The raster '{raster}' has {ds.RasterCount} band(s) but the model needs {needed} "
            f"(bands {bands}; band(s) {bad} do not exist). Choose a raster with at least {max(bands)} bands, "
            f"or set BANDS to {needed} existing band numbers (1..{ds.RasterCount}) in model order."
        )


def check_outputs(raster: str, polygons: str | None, probability: str | None) -> None:
    if not polygons and not probability:
        raise DetectionError(
            "No output was requested. Give a polygon output (.gpkg) and/or a probability raster (.tif)."
        )
    for path, exts, kind in (
        (polygons, (".gpkg",), "polygon"),
        (probability, (".tif", ".tiff"), "probability"),
    ):
        if not path:
            continue
        if os.path.splitext(str(path))[1].lower() not in exts:
            raise DetectionError(
                f"The {kind} output '{path}' must end with {' or '.join(exts)} "
                f"({'GeoPackage' if kind == 'polygon' else 'GeoTIFF'}). Change its file name."
            )
        if os.path.abspath(str(path)) == os.path.abspath(str(raster)):
            raise DetectionError(f"The output '{path}' is the input raster. Choose another output file name.")
        check_writable(path)
    if polygons and probability and os.path.abspath(str(polygons)) == os.path.abspath(str(probability)):
        raise DetectionError("The polygon and probability outputs have the same name. Choose two file names.")


def resample_to_gsd(ds: gdal.Dataset, source: str, gsd: float, extent: Any, folder: str) -> str:
    """A VRT of ``source`` at ``gsd`` metres (projected CRS), restricted to ``extent`` if given."""
    path = os.path.join(folder, "resampled.vrt")
    srs = dataset_srs(ds)
    unit = 1.0 if srs is None else srs.GetLinearUnits() or 1.0
    res = gsd / unit
    gt = ds.GetGeoTransform()
    current = abs(gt[1])
    alg = "average" if res > current else "bilinear"
    has_nodata = ds.GetRasterBand(1).GetNoDataValue() is not None
    kwargs: dict[str, Any] = dict(
        format="VRT", xRes=res, yRes=res, resampleAlg=alg, targetAlignedPixels=False
    )
    if extent is not None:
        kwargs["outputBounds"] = tuple(extent)
    if not has_nodata and ds.GetRasterBand(1).GetMaskFlags() != gdal.GMF_ALL_VALID:
        kwargs["dstAlpha"] = True
    with quiet_gdal():
        out = gdal.Warp(path, ds, **kwargs)
    if out is None:
        raise DetectionError(
            f"Resampling the raster to {gsd} m failed ({last_error()}). Run without resampling."
        )
    out = None
    return path
