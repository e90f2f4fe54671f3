# SPDX-License-Identifier: GPL-2.0-or-later
"""Input rasters and band lists read without side effects on the user's files.

* A raster given as a **file path** is opened with GDAL only, read-only. Loading it as a QGIS layer
  (what Processing does by default, already while checking the parameters) makes QGIS compute
  statistics for the layer's style, which GDAL saves in an ``.aux.xml`` file next to the user's
  raster. A layer already loaded in the project is used as it is (QGIS made it).
* ``BANDS=3,2,1`` (how one writes a list on the command line) is a list of three bands; repeating
  ``BANDS`` works too. Anything else that is not a band number is refused with the way to write it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsProperty,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..core.raster_io import quiet_gdal


def _tr(text: str) -> str:
    return QCoreApplication.translate("landslides", text)


@dataclass
class RasterInput:
    """What the algorithms need of an input raster: the GDAL source, its CRS and a name."""

    path: str
    _crs: QgsCoordinateReferenceSystem
    name: str

    def crs(self) -> QgsCoordinateReferenceSystem:
        return self._crs

    def source(self) -> str:
        return self.path

    def isValid(self) -> bool:  # as QgsMapLayer's
        return True


def _static(value: Any) -> Any:
    if isinstance(value, QgsProperty) and value.propertyType() == QgsProperty.StaticProperty:
        return value.staticValue()
    return value


def loaded_layer(value: Any, context: QgsProcessingContext) -> QgsMapLayer | None:
    """The layer ``value`` names among the layers already loaded (project, temporary store)."""
    value = _static(value)
    if isinstance(value, QgsMapLayer):
        return value
    if not isinstance(value, str) or not value:
        return None
    return QgsProcessingUtils.mapLayerFromString(value, context, False)


def _gdal_raster(path: str) -> gdal.Dataset | None:
    try:
        with quiet_gdal():
            ds = gdal.OpenEx(path, gdal.OF_RASTER | gdal.OF_READONLY)
    except RuntimeError:
        return None
    return ds if ds is not None and ds.RasterCount > 0 else None


def _unloaded_raster(value: Any, context: QgsProcessingContext) -> tuple[str, gdal.Dataset] | None:
    """``value`` opened with GDAL when it is a raster file path (or GDAL source) that no loaded
    layer stands for."""
    value = _static(value)
    if not isinstance(value, str) or not value or loaded_layer(value, context) is not None:
        return None
    ds = _gdal_raster(value)
    return (value, ds) if ds is not None else None


def unloaded_raster_path(value: Any, context: QgsProcessingContext) -> str | None:
    """``value`` when it is a raster file path (or GDAL source) that no loaded layer stands for."""
    found = _unloaded_raster(value, context)
    return found[0] if found else None


def raster_input(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict[str, Any],
    key: str,
    context: QgsProcessingContext,
) -> RasterInput:
    """The raster of parameter ``key``; a file path is never loaded as a QGIS layer."""
    value = parameters.get(key)
    found = _unloaded_raster(value, context)
    if found is not None:
        path, ds = found
        wkt = ds.GetProjection()
        crs = QgsCoordinateReferenceSystem.fromWkt(wkt) if wkt else QgsCoordinateReferenceSystem()
        ds = None
        return RasterInput(path, crs, path)
    layer = algorithm.parameterAsRasterLayer(parameters, key, context)
    source = algorithm.gdal_raster_source(layer, value)
    return RasterInput(source, layer.crs(), layer.name())


class RasterFileParameter(QgsProcessingParameterRasterLayer):
    """A raster layer parameter that accepts a raster file GDAL opens without loading it as a QGIS
    layer (qgis_process and the algorithm's checks both call this before the run)."""

    def checkValueIsAcceptable(self, value: Any, context: QgsProcessingContext | None = None) -> bool:
        if context is not None and unloaded_raster_path(value, context) is not None:
            return True
        return super().checkValueIsAcceptable(value, context)


class LayerFileParameter(QgsProcessingParameterMapLayer):
    """A map layer parameter (raster or polygons) that checks a raster file with GDAL only."""

    def checkValueIsAcceptable(self, value: Any, context: QgsProcessingContext | None = None) -> bool:
        if context is not None and unloaded_raster_path(value, context) is not None:
            return True
        return super().checkValueIsAcceptable(value, context)


def band_list(parameters: dict[str, Any], key: str) -> list[int] | None:
    """The band numbers of parameter ``key`` (None when empty): a list, repeated values, or one
    comma-separated string."""
    value = _static(parameters.get(key))
    if value is None or value == "" or value == []:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    bands: list[int] = []
    for item in items:
        for part in re.split(r"[,;\s]+", str(_static(item)).strip()):
            if not part:
                continue
            try:
                bands.append(int(part))
            except ValueError as exc:
                raise QgsProcessingException(
                    _tr(
                        "{}: '{}' is not a band number. Give band numbers in model order, e.g. {}=3,2,1 "
                        "(or repeat the parameter: {}=3 {}=2 {}=1)."
                    ).format(key, part, key, key, key, key)
                ) from exc
    return bands or None


def tile_size_problem(parameters: dict[str, Any], key: str, largest: int) -> str | None:
    """A message when the tile size parameter ``key`` is beyond ``largest`` pixels (else None)."""
    value = _static(parameters.get(key))
    try:
        tile = int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None  # not a number: Processing's own check says so
    if tile is None or tile <= largest:
        return None
    return _tr(
        "{}={} is larger than {} pixels: tiles that big do not fit in memory and never help. Use the "
        "model's tile size (e.g. 512 or 1024), or leave it empty for the automatic choice."
    ).format(key, tile, largest)
