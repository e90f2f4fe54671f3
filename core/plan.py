# SPDX-License-Identifier: GPL-2.0-or-later
"""What a detection will do, decided before anything runs: :func:`make_plan`.

A :class:`DetectionPlan` is a function of the raster, the model's :class:`ModelInfo` and input shape,
and the :class:`DetectionOptions`: the raster actually read (the input, or a VRT resampled to the
model's resolution), the window, the bands and how their values are scaled, the valid-pixel rule,
the tile grid and batch, the threshold and minimum area, and the warnings the analyst should see.
Bad input is refused here with a :class:`DetectionError` naming the fix, before any thread starts
or any output is created. The engine (:mod:`core.engine`) only carries a plan out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from osgeo import gdal, osr

from .elevation import align_elevation, pixel_size_xy_m
from .errors import DetectionError
from .inputs import Scaling, check_bands, resample_to_gsd, value_scaling
from .memory import check_fits, check_tile_size, detection_bytes
from .model_info import InputSpec
from .model_metadata import ModelInfo
from .pipeline import READ_SPAN, TileJob
from .raster_io import (
    Window,
    dataset_srs,
    extent_window,
    layer_in_srs,
    open_raster,
    pixel_size_m,
    window_geotransform,
)
from .strips import VECTOR_PIECE_PIXELS
from .terrain import check_channels
from .tiling import FIT_MAX_AREA, FIT_MAX_AREA_INT8, TileGrid, fit_tile_shape, make_grid, round_up
from .valid_pixels import ValidPixels

QUEUE_BYTES = 256 * 1024 * 1024  # input batches read ahead of inference, at most
GPU_BATCH_TILES = 4  # automatic GPU batches hold the pixels of this many model-size tiles
GSD_WARN_RATIO = 2.0  # warn when raster and model resolutions differ by more than this factor


@dataclass
class DetectionOptions:
    bands: list[int] | None = None  # 1-based raster bands in model order; default: the model's
    threshold: float | None = None  # probability threshold; default: the model's
    min_area_m2: float | None = None  # polygons smaller than this are dropped; default: the model's
    device: str = "auto"  # 'auto' | 'cuda' | 'cpu'
    threads: int = 0  # onnxruntime intra-op threads, 0 = onnxruntime's default
    tile_size: int | None = None  # default: fitted to the raster (see core.tiling.fit_tile_shape)
    overlap: int | None = None  # default: the model's
    batch_size: int = 0  # 0: automatic (see auto_batch_size)
    tta: bool = False  # average over flips (and 90-degree rotations for square tiles)
    extent: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax, raster CRS
    mask_path: str | None = None  # polygons limiting the detection (reprojected if needed)
    resample_to_model_gsd: bool = False
    simplify_tolerance: float = 0.0  # map units; 0 keeps exact pixel boundaries
    queue_batches: int = 2  # batches read ahead of inference
    precision: str = "auto"  # 'auto' | 'float32' | 'int8' on the CPU (see core.precision)
    class_name: str | None = None  # the class mapped, by name or output channel (core.model_adapter)
    dsm_path: str | None = None  # an elevation raster (DSM/DEM, any resolution and CRS), see core.elevation


@dataclass
class DetectionPlan:
    source: str  # the raster the reader opens: the input, or a VRT of it on the model's resolution
    dataset: gdal.Dataset  # ``source``, open (the outputs copy its grid and CRS)
    window: Window  # the pixels searched, in ``source``
    bands: list[int]
    scaling: Scaling
    validity: ValidPixels
    grid: TileGrid
    overlap: int
    batch_size: int
    queue_depth: int  # batches read ahead of inference
    threshold: float
    min_area_m2: float
    mask_path: str | None = None
    elevation: str | None = None  # the elevation raster on ``source``'s grid (a VRT), when given
    extra_channels: list[str] = field(default_factory=list)  # the model's elevation channels
    warnings: list[str] = field(default_factory=list)  # for the analyst, in the order found
    notes: list[str] = field(default_factory=list)  # what was decided, for the log

    @property
    def srs(self) -> osr.SpatialReference | None:
        return dataset_srs(self.dataset)

    @property
    def geotransform(self) -> tuple[float, ...]:
        """The geotransform of the window (the outputs' grid)."""
        return window_geotransform(self.dataset.GetGeoTransform(), self.window)

    @property
    def pixel_size(self) -> tuple[float, float]:
        gt = self.dataset.GetGeoTransform()
        return abs(gt[1]), abs(gt[5])

    @property
    def area_units(self) -> str:
        return "m2" if self.srs is not None else "pixel units"

    @property
    def channels(self) -> int:
        """Channels of the model's input: the bands, then the elevation channels."""
        return len(self.bands) + len(self.extra_channels)

    def tile_job(self) -> TileJob:
        return TileJob(
            self.source,
            self.window,
            self.bands,
            self.grid,
            self.scaling,
            self.validity,
            self.batch_size,
            self.mask_path,
            self.dataset.GetProjection(),
            self.elevation if self.extra_channels else None,
            self.extra_channels,
            pixel_size_xy_m(self.dataset),
        )

    def describe(self) -> str:
        grid = self.grid
        return (
            f"{self.window.xsize} x {self.window.ysize} pixels, {grid.count} tiles of {grid.rows.padded} x "
            f"{grid.cols.padded} (overlap {self.overlap}), batches of {self.batch_size}, bands {self.bands}"
        )


def auto_batch_size(requested: int, provider: str, model_tile: int, tile_pixels: int) -> int:
    """``requested`` when > 0; else 1 on CPU and, on a GPU, as many tiles as hold the pixels of
    ``GPU_BATCH_TILES`` model-size tiles (at least 1).

    On CPU a batch is no faster than single tiles (measured: +-3 % from 1 to 8) and every extra
    tile costs onnxruntime several hundred MB of activations; a GPU needs work in flight.
    """
    if requested > 0:
        return int(requested)
    if provider != "CUDA":
        return 1
    return max(1, GPU_BATCH_TILES * model_tile * model_tile // max(tile_pixels, 1))


def make_plan(
    raster_path: str,
    info: ModelInfo,
    spec: InputSpec,
    options: DetectionOptions,
    provider: str = "CPU",
    work: str | None = None,
    polygons: bool = True,
    precision: str = "float32",
) -> DetectionPlan:
    """The plan for detecting with a model (``info``, ``spec``) on ``provider`` ('CPU' or 'CUDA')
    in ``precision`` ('float32' or 'int8': the fitted tiles' area cap, see :func:`fit_area_cap`).

    ``work``: a folder for derived rasters (the resampled VRT); ``polygons``: polygons are wanted
    (the vectoriser's memory counts). Raises DetectionError for anything that cannot run.
    """
    src = open_raster(raster_path)
    bands = [int(b) for b in (options.bands or info.bands)]
    check_bands(src, bands, spec, info, raster_path)
    inputs = _Inputs(raster_path, info, options, work)
    warnings = inputs.warnings
    source, src, extent = _source(inputs, src)
    window = Window(0, 0, src.RasterXSize, src.RasterYSize) if extent is None else extent_window(src, extent)
    scaling = value_scaling(src, bands, info, warnings)
    tile, overlap, grid = _grid(window, info, spec, options, warnings, fit_area_cap(precision))
    tile_pixels = grid.rows.padded * grid.cols.padded
    batch = spec.batch or auto_batch_size(options.batch_size, provider, tile, tile_pixels)
    plan = DetectionPlan(
        source=source,
        dataset=src,
        window=window,
        bands=bands,
        scaling=scaling,
        validity=ValidPixels.of(src, bands),
        grid=grid,
        overlap=overlap,
        batch_size=batch,
        queue_depth=1,
        threshold=_threshold(info, options),
        min_area_m2=_min_area(info, options),
        mask_path=options.mask_path,
        elevation=_elevation(inputs, src),
        extra_channels=list(info.extra_channels),
        warnings=warnings,
        notes=inputs.notes,
    )
    # Large tiles x batches: read fewer batches ahead so that memory stays bounded.
    batch_bytes = batch * plan.channels * grid.rows.padded * grid.cols.padded * 4
    plan.queue_depth = max(1, min(int(options.queue_batches), QUEUE_BYTES // max(batch_bytes, 1)))
    _check_memory(plan, options, provider, info, polygons)
    if options.mask_path:
        layer_in_srs(options.mask_path, plan.srs)  # fail early on a bad mask file
    return plan


@dataclass
class _Inputs:
    """What a plan is made from, and the warnings and notes found on the way."""

    raster_path: str
    info: ModelInfo
    options: DetectionOptions
    work: str | None  # a folder for derived rasters (VRTs)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def work_folder(self) -> str:
        if self.work is None or not os.path.isdir(self.work):
            raise DetectionError("Internal error: no work folder for derived rasters.")
        return self.work


def _source(
    inputs: _Inputs, src: gdal.Dataset
) -> tuple[str, gdal.Dataset, tuple[float, float, float, float] | None]:
    """The raster to read (the input, or a VRT resampled to the model's resolution) and the extent
    left to apply on it; warnings about the CRS and the resolution."""
    raster_path, info, options, warnings = inputs.raster_path, inputs.info, inputs.options, inputs.warnings
    srs = dataset_srs(src)
    if srs is None:
        warnings.append(
            "The raster has no coordinate reference system: the detection works in pixel units and "
            "areas/perimeters are in (map) pixel units, not m². Assign a CRS to get metric areas."
        )
    size_m = pixel_size_m(src)
    if not (info.gsd_m > 0 and size_m):
        return raster_path, src, options.extent
    ratio = size_m / info.gsd_m
    if not options.resample_to_model_gsd:
        if not 1 / GSD_WARN_RATIO <= ratio <= GSD_WARN_RATIO:
            warnings.append(
                f"The raster's pixels ({size_m:.3g} m) are {ratio:.2g} times the model's training "
                f"resolution ({info.gsd_m:.3g} m): detection quality may suffer. Enable "
                "resampling to the model's resolution or use imagery closer to it."
            )
        return raster_path, src, options.extent
    if srs is None or srs.IsGeographic():
        warnings.append("Resampling to the model's resolution needs a projected CRS in metres; skipped.")
        return raster_path, src, options.extent
    if abs(ratio - 1.0) <= 1e-6:
        return raster_path, src, options.extent
    inputs.notes.append(f"Resampling the raster from {size_m:.3g} m to the model's {info.gsd_m:.3g} m pixels")
    source = resample_to_gsd(src, raster_path, info.gsd_m, options.extent, inputs.work_folder())
    return source, open_raster(source), None


def _elevation(inputs: _Inputs, src: gdal.Dataset) -> str | None:
    """The elevation raster on ``src``'s grid, or None; refused when the model needs one and has none."""
    info, options = inputs.info, inputs.options
    try:
        check_channels(info.extra_channels)
    except ValueError as exc:
        raise DetectionError(f"The model cannot run here: {exc}. Update the plugin.") from exc
    if not options.dsm_path:
        if info.extra_channels:
            raise DetectionError(
                f"The model also needs an elevation raster (DSM or DEM of the area of "
                f"'{inputs.raster_path}') for its channels {', '.join(info.extra_channels)}. Give it as "
                "the elevation raster (DSM)."
            )
        return None
    path, found = align_elevation(str(options.dsm_path), src, inputs.work_folder())
    inputs.warnings.extend(found)
    return path


def fit_area_cap(precision: str) -> int | None:
    """The largest fitted tile area: int8 ran no faster with tiles above 512² (and held 60-120 MB
    more), float32 up to 640² (bench/README.md)."""
    return FIT_MAX_AREA_INT8 if precision == "int8" else FIT_MAX_AREA


def _grid(
    window: Window,
    info: ModelInfo,
    spec: InputSpec,
    options: DetectionOptions,
    warnings: list[str],
    max_area: int | None,
) -> tuple[int, int, TileGrid]:
    """(model tile length, overlap, grid): fitted to the window (tiles of at most ``max_area``
    pixels) unless a tile size is given."""
    div = max(1, int(info.size_divisor or 1))
    if options.tile_size:
        check_tile_size(int(options.tile_size))
    tile = int(options.tile_size or info.tile_size or 512)
    tile = round_up(max(tile, div), div)
    overlap = int(info.overlap if options.overlap is None else options.overlap)
    if overlap < 0 or overlap >= tile:
        raise DetectionError(f"The overlap ({overlap}) must be between 0 and the tile size ({tile}) - 1.")
    if options.tile_size and spec.height and spec.height != tile:
        warnings.append(
            f"The model only accepts {spec.height} x {spec.width} tiles; tile size {tile} ignored."
        )
    tile_hw = (
        (tile, tile)
        if options.tile_size
        else fit_tile_shape(window.ysize, window.xsize, tile, overlap, div, max_area)
    )
    grid = make_grid(window.ysize, window.xsize, tile_hw, overlap, div, (spec.height, spec.width))
    return tile, overlap, grid


def _threshold(info: ModelInfo, options: DetectionOptions) -> float:
    threshold = float(info.threshold if options.threshold is None else options.threshold)
    if not 0.0 <= threshold <= 1.0:
        raise DetectionError(f"The threshold {threshold} is not a probability. Use a value from 0 to 1.")
    return threshold


def _min_area(info: ModelInfo, options: DetectionOptions) -> float:
    min_area = float(info.min_area_m2 if options.min_area_m2 is None else options.min_area_m2)
    if min_area < 0.0:
        raise DetectionError(f"The minimum area {min_area} is negative. Use 0 or more square metres.")
    return min_area


def _check_memory(
    plan: DetectionPlan, options: DetectionOptions, provider: str, info: ModelInfo, polygons: bool
) -> None:
    """Refuse what cannot fit before allocating it (the system would kill the process)."""
    grid, window, src = plan.grid, plan.window, plan.dataset
    tiled = src.GetRasterBand(plan.bands[0]).GetBlockSize()[0] < src.RasterXSize
    check_fits(
        detection_bytes(
            (grid.rows.padded, grid.cols.padded),
            plan.batch_size,
            plan.channels,
            window.xsize,
            options.queue_batches,
            provider != "CUDA",
            info.width,
            READ_SPAN if tiled else None,
            VECTOR_PIECE_PIXELS if polygons else 0,
        ),
        f"Tiles of {grid.rows.padded} x {grid.cols.padded} pixels in batches of {plan.batch_size} over "
        f"a raster {window.xsize} pixels wide",
        "Use a smaller tile size or batch size (or leave them empty: automatic), or process the "
        "raster in parts with an extent.",
    )
