# SPDX-License-Identifier: GPL-2.0-or-later
"""Read training sources with GDAL: tile folders (PNG/GeoTIFF) and orthophoto + inventory (+ DSM).

Each becomes a :class:`model.data.Scene` (normalised image, label, ignore mask). Kept apart from
:mod:`model.data` so that training from a packed array file (:mod:`model.packed`) needs no GDAL.
Elevation channels (RGB + DSM models) are computed by the inference core's own code
(:mod:`core.elevation`, :mod:`core.terrain`), so training and detection cannot drift apart.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

from core.elevation import ElevationReader, align_elevation, pixel_size_xy_m
from core.errors import DetectionError
from core.valid_pixels import valid_mask
from model.data import IMAGE_SUFFIXES, NODATA_FILL, DataError, Scene

gdal.UseExceptions()
ogr.UseExceptions()


@dataclass
class RasterImage:
    raw: np.ndarray  # C x H x W float32, raw values
    valid: np.ndarray  # H x W bool, imagery present
    value_min: list[float]
    value_max: list[float]
    geotransform: tuple[float, ...] | None
    projection: str
    gsd_m: float


def _open(path: Path) -> gdal.Dataset:
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path given to the training command")
    try:
        return gdal.Open(str(path))
    except RuntimeError as exc:
        raise DataError(f"{path}: GDAL cannot read it ({exc}); give a GeoTIFF or PNG") from exc


def _value_range(ds: gdal.Dataset, path: Path) -> tuple[list[float], list[float]]:
    lo: list[float] = []
    hi: list[float] = []
    for i in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(i)
        if band.DataType == gdal.GDT_Byte:
            lo.append(0.0)
            hi.append(255.0)
        elif band.DataType == gdal.GDT_UInt16 and band.GetMetadataItem("NBITS", "IMAGE_STRUCTURE"):
            lo.append(0.0)
            hi.append(float(2 ** int(band.GetMetadataItem("NBITS", "IMAGE_STRUCTURE")) - 1))
        else:
            mn, mx = band.ComputeRasterMinMax(False)
            if mx <= mn:
                raise DataError(f"{path}: band {i} is constant ({mn}); it carries no information")
            lo.append(float(mn))
            hi.append(float(mx))
    return lo, hi


def read_image(path: str | Path, bands: list[int] | None = None) -> RasterImage:
    """Raw bands, the imagery-present mask (nodata / alpha / mask band / NaN, as the inference core
    decides it: :mod:`core.valid_pixels`) and the value range."""
    path = Path(path)
    ds = _open(path)
    bands = bands or list(range(1, min(ds.RasterCount, 3) + 1))
    if max(bands) > ds.RasterCount:
        raise DataError(f"{path}: has {ds.RasterCount} bands, band {max(bands)} was asked for")
    raw = np.stack([ds.GetRasterBand(b).ReadAsArray().astype(np.float32) for b in bands])
    valid = valid_mask(ds, bands, raw)  # the inference core's rule
    lo, hi = _value_range(ds, path)
    lo = [lo[b - 1] for b in bands]
    hi = [hi[b - 1] for b in bands]
    gt = ds.GetGeoTransform(can_return_null=True)
    gsd = 0.0
    if gt is not None and ds.GetSpatialRef() is not None and ds.GetSpatialRef().IsProjected():
        gsd = float(math.sqrt(abs(gt[1] * gt[5] - gt[2] * gt[4])) * ds.GetSpatialRef().GetLinearUnits())
    return RasterImage(raw, valid, lo, hi, gt, ds.GetProjection(), gsd)


def normalise(raw: np.ndarray, valid: np.ndarray, lo: list[float], hi: list[float]) -> np.ndarray:
    """(v - min) / (max - min) - 0.5 per band, clipped; no-imagery pixels get NODATA_FILL."""
    lo_a = np.asarray(lo, np.float32)[:, None, None]
    hi_a = np.asarray(hi, np.float32)[:, None, None]
    out = np.clip((raw - lo_a) / (hi_a - lo_a) - 0.5, -0.5, 0.5)
    out[:, ~valid] = NODATA_FILL
    return out


def stored_image(raw: np.ndarray, valid: np.ndarray, lo: list[float], hi: list[float]) -> np.ndarray:
    """A scene's image as model.data keeps it: raw uint8 (0 = no imagery) for 8-bit bands, which
    normalise to the same numbers in half the memory of float16, else normalised float16."""
    if all(v == 0.0 for v in lo) and all(v == 255.0 for v in hi):
        image = np.clip(np.rint(raw), 0, 255).astype(np.uint8)
        image[:, ~valid] = 0
        return image
    return normalise(raw, valid, lo, hi).astype(np.float16)


def read_label_raster(path: str | Path, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(label, ignore) from a raster inventory: landslide where not zero, whatever the colour.

    Single-band inventories use 255 (or the band's nodata value) for "unknown", which is ignored;
    in colour (multi-band) label images 255 is just a colour channel of a landslide.
    """
    path = Path(path)
    ds = _open(path)
    if (ds.RasterYSize, ds.RasterXSize) != tuple(shape):
        raise DataError(
            f"{path}: label is {ds.RasterXSize}x{ds.RasterYSize} px but the image is "
            f"{shape[1]}x{shape[0]} px; the inventory raster must be on the image's grid"
        )
    bands = [ds.GetRasterBand(i) for i in range(1, ds.RasterCount + 1)]
    arrays = [b.ReadAsArray() for b in bands]
    ignore = np.zeros(shape, dtype=bool)
    for band, arr in zip(bands, arrays):
        nodata = band.GetNoDataValue()
        if nodata is not None:
            ignore |= arr == nodata
    if len(arrays) == 1:
        ignore |= arrays[0] == 255
    label = np.zeros(shape, dtype=np.uint8)
    for arr in arrays:
        label |= (arr != 0).astype(np.uint8)
    label[ignore] = 0
    return label, ignore


def rasterise_polygons(path: str | Path, image: RasterImage, shape: tuple[int, int]) -> np.ndarray:
    """Burn every polygon of every layer of an OGR data source onto the image grid (1 inside)."""
    path = Path(path)
    if image.geotransform is None:
        raise DataError(
            f"{path}: a polygon inventory needs a georeferenced image; the image has no geotransform"
        )
    try:
        src = ogr.Open(str(path))
    except RuntimeError as exc:
        raise DataError(
            f"{path}: OGR cannot read it ({exc}); give a GeoPackage, Shapefile or GeoJSON"
        ) from exc
    mem = gdal.GetDriverByName("MEM").Create("", shape[1], shape[0], 1, gdal.GDT_Byte)
    mem.SetGeoTransform(image.geotransform)
    mem.SetProjection(image.projection)
    for i in range(src.GetLayerCount()):
        # GDAL reprojects the layer to the raster's CRS when the two differ.
        gdal.RasterizeLayer(mem, [1], src.GetLayer(i), burn_values=[1])
    return mem.GetRasterBand(1).ReadAsArray().astype(np.uint8)


def _is_raster(path: Path) -> bool:
    try:
        return gdal.OpenEx(str(path), gdal.OF_RASTER) is not None
    except RuntimeError:  # a vector-only data source (GeoPackage, Shapefile, ...)
        return False


def dsm_beside(image_path: str | Path) -> Path:
    """Where an orthophoto's elevation raster lies by default: ``scene_A_rgb.tif`` -> ``scene_A_dsm.tif``
    (the AMU scenes' layout), any other ``name.tif`` -> ``name_dsm.tif``."""
    path = Path(image_path)
    stem = path.stem[: -len("_rgb")] if path.stem.endswith("_rgb") else path.stem
    return path.with_name(f"{stem}_dsm{path.suffix}")


def elevation_channels(image_path: str | Path, dsm_path: str | Path, names: list[str]) -> np.ndarray:
    """The elevation channels ``names`` (len x H x W, normalised) on the orthophoto's grid, computed
    as the detection computes them (the DSM warped onto the grid, the same halo and formulas)."""
    ds = _open(Path(image_path))
    if not Path(dsm_path).exists():
        raise DataError(
            f"{dsm_path}: elevation raster not found for {image_path}; give it with --dsm IMAGE DSM"
        )
    try:
        with tempfile.TemporaryDirectory(prefix="landslides-dsm-") as folder:
            path, _warnings = align_elevation(str(dsm_path), ds, folder)
            reader = ElevationReader(path, pixel_size_xy_m(ds))
            channels = reader.channels(list(names), 0, 0, ds.RasterXSize, ds.RasterYSize)
            reader.close()
    except (DetectionError, ValueError) as exc:
        raise DataError(f"{dsm_path}: {exc}") from exc
    return channels


def load_orthophoto(
    image_path: str | Path,
    inventory_path: str | Path,
    source: str = "",
    dsm: str | Path | None = None,
    terrain: tuple[str, ...] | list[str] = (),
) -> Scene:
    """A georeferenced orthophoto and its inventory (label raster on the same grid or polygon layer);
    with ``terrain`` channel names, the elevation channels of ``dsm`` (default: :func:`dsm_beside`)
    follow the bands."""
    image = read_image(image_path)
    shape = image.valid.shape
    inv = Path(inventory_path)
    if not inv.exists():
        raise DataError(f"{inv}: inventory not found; give a label raster or a polygon layer")
    if _is_raster(inv):
        label, ignore = read_label_raster(inv, shape)
    else:
        label, ignore = rasterise_polygons(inv, image, shape), np.zeros(shape, dtype=bool)
    ignore = ignore | ~image.valid
    label[ignore] = 0
    name = Path(image_path).stem
    if terrain:
        img = normalise(image.raw, image.valid, image.value_min, image.value_max)
        extra = elevation_channels(image_path, dsm or dsm_beside(image_path), list(terrain))
        extra[:, ~image.valid] = NODATA_FILL  # the engine fills every channel of a pixel without imagery
        img = np.concatenate([img, extra]).astype(np.float16)
    else:
        img = stored_image(image.raw, image.valid, image.value_min, image.value_max)
    return Scene(name, source or name, img, label, ignore, image.value_min, image.value_max, image.gsd_m)


def tile_pairs(folder: str | Path) -> list[tuple[Path, Path]]:
    """(image, label) pairs of a tile folder with ``images/`` and ``masks/`` (or ``labels/``)."""
    folder = Path(folder)
    images = folder / "images"
    masks = next((folder / n for n in ("masks", "labels") if (folder / n).is_dir()), None)
    if not images.is_dir() or masks is None:
        raise DataError(f"{folder}: a tile folder needs the sub-folders images/ and masks/ (or labels/)")
    by_stem = {p.stem: p for p in masks.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    pairs = []
    for img in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        if img.stem not in by_stem:
            raise DataError(f"{img}: no label image with the same name in {masks}")
        pairs.append((img, by_stem[img.stem]))
    if not pairs:
        raise DataError(f"{images}: no PNG/GeoTIFF tiles found")
    return pairs


def load_tile(image_path: Path, label_path: Path, source: str) -> Scene:
    image = read_image(image_path)
    label, ignore = read_label_raster(label_path, image.valid.shape)
    ignore |= ~image.valid
    label[ignore] = 0
    img = stored_image(image.raw, image.valid, image.value_min, image.value_max)
    return Scene(
        f"{source}/{image_path.stem}",
        source,
        img,
        label,
        ignore,
        image.value_min,
        image.value_max,
        image.gsd_m,
    )
