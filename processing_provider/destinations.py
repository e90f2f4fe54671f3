# SPDX-License-Identifier: GPL-2.0-or-later
"""Where a Processing output goes: checked before a run, written into a staging folder during it,
and committed together with the run's other outputs after it (``core.atomic``).

* :func:`destination_file`: the file an output value names (a plain path, ``path|layername=...``
  or an ``ogr:dbname='path' table="name"`` URI), or None for temporary, memory and database outputs.
* :func:`check_writable_destination`: fail before a long run when that file cannot be written.
* :func:`write_staged_sink`: QGIS writes the features into the staging folder instead of the final
  file; the file is closed and read back before the caller commits, and the layer QGIS will load
  afterwards is pointed at the final file. A failed write (a full disk) fails the run, and the
  previous file of that name stays as it was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsDataSourceUri,
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProperty,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..core.atomic import AtomicOutputs
from ..core.raster_io import recorded_gdal_errors

# Destinations that are not files (databases, memory layers): nothing to check or stage.
_NON_FILE_PREFIXES = ("memory:", "postgres:", "postgis:", "spatialite:", "mssql:", "oracle:", "hana:")


def _tr(text: str) -> str:
    return QCoreApplication.translate("landslides", text)


def _value_string(value: Any) -> str | None:
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        value = value.sink
    if isinstance(value, QgsProperty):
        if value.propertyType() != QgsProperty.StaticProperty:
            return None
        value = value.staticValue()
    if not isinstance(value, str) or not value or value == QgsProcessing.TEMPORARY_OUTPUT:
        return None
    return value


def _ogr_uri(value: str) -> QgsDataSourceUri | None:
    """The parsed ``ogr:dbname=... table=...`` destination, or None for other values."""
    if not value.lower().startswith("ogr:"):
        return None
    uri = QgsDataSourceUri(value[4:])
    return uri if uri.database() else None


def destination_file(value: Any) -> str | None:
    """The file an output parameter value names, or None for temporary, memory and database outputs."""
    value = _value_string(value)
    if value is None or value.lower().startswith(_NON_FILE_PREFIXES):
        return None
    uri = _ogr_uri(value)
    if uri is not None:
        return uri.database()
    if value.lower().startswith("ogr:"):
        return None
    return value.split("|", 1)[0]


# Kept for callers of earlier versions.
destination_path = destination_file


def check_writable_destination(value: Any, what: str) -> None:
    """Raise a helpful QgsProcessingException when the output file ``value`` cannot be created."""
    path = destination_file(value)
    if path is None:
        return
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise QgsProcessingException(
            _tr(
                "Cannot write the {} to '{}': the folder '{}' does not exist. "
                "Create it or choose another output path."
            ).format(what, path, folder)
        )
    if target.is_dir():
        raise QgsProcessingException(
            _tr("Cannot write the {} to '{}': it is a folder. Give a file name.").format(what, path)
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise QgsProcessingException(
            _tr(
                "Cannot write the {} to '{}': permission denied or a read-only disk. "
                "Choose an output path in a folder you can write to."
            ).format(what, path)
        )


class StagedDestination:
    """One sink output of a run: its final file (None: not a file) and the value that makes QGIS
    write into the staging folder instead."""

    def __init__(self, value: Any, outputs: AtomicOutputs) -> None:
        self.value = value
        self.final = destination_file(value)
        self.staged: str | None = None
        if self.final is not None:
            self.final = os.path.abspath(self.final)
            self.staged = outputs.temp_for(self.final)  # locks the final file for the run

    def staged_value(self) -> Any:
        """``value`` with the final file replaced by the staged one (same file name)."""
        if self.staged is None:
            return self.value
        text = _value_string(self.value) or ""
        uri = _ogr_uri(text)
        if uri is not None:
            # A layer added to an existing database: start from a copy, so its other layers stay.
            if os.path.exists(self.final):
                shutil.copy2(self.final, self.staged)
            uri.setDatabase(self.staged)
            text = "ogr:" + uri.uri(False)
        else:
            rest = text.split("|", 1)
            text = self.staged + ("|" + rest[1] if len(rest) > 1 else "")
        if isinstance(self.value, QgsProcessingOutputLayerDefinition):
            definition = QgsProcessingOutputLayerDefinition(self.value)
            definition.sink = QgsProperty.fromValue(text)
            return definition
        return text

    def final_id(self, staged_id: str) -> str:
        if self.staged is None or not staged_id:
            return staged_id
        return staged_id.replace(self.staged, self.final, 1)


def _layer_name(dest_id: str) -> str | None:
    for part in dest_id.split("|")[1:]:
        if part.lower().startswith("layername="):
            return part.split("=", 1)[1]
    return None


def _verify(path: str, dest_id: str, expected: int, what: str, earlier: str) -> None:
    """Read the written file back: the layer exists and holds every feature."""
    found = None
    with recorded_gdal_errors() as errors:
        try:
            dataset = gdal.OpenEx(path, gdal.OF_VECTOR)
            if dataset is not None:
                name = _layer_name(dest_id)
                layer = dataset.GetLayerByName(name) if name else dataset.GetLayer(0)
                found = None if layer is None else layer.GetFeatureCount()
            layer = dataset = None
        except RuntimeError as exc:
            errors.messages.append(str(exc))
    if found != expected:
        detail = earlier or errors.summary(_tr("{} of {} features found").format(found or 0, expected))
        raise QgsProcessingException(
            _tr("Writing the {} failed ({}). Check the free disk space; no output was changed.").format(
                what, detail
            )
        )


def _repoint_loaded_layer(context: QgsProcessingContext, staged_id: str, final_id: str) -> None:
    """The layer QGIS loads when the run ends is the final file, not the staged one."""
    layers = context.layersToLoadOnCompletion()
    if staged_id in layers and staged_id != final_id:
        details = layers.pop(staged_id)
        layers[final_id] = details
        context.setLayersToLoadOnCompletion(layers)


def write_staged_sink(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict[str, Any],
    key: str,
    context: QgsProcessingContext,
    destination: StagedDestination,
    fields: QgsFields,
    wkb_type: int,
    crs: QgsCoordinateReferenceSystem,
    features: Iterable[QgsFeature],
    what: str,
) -> str:
    """Write ``features`` to output ``key`` (staged when it is a file); returns the final dest id.

    The sink is closed and, for a file, read back here: the caller commits afterwards.
    """
    staged_parameters = dict(parameters)
    staged_parameters[key] = destination.staged_value()
    sink, dest_id = algorithm.parameterAsSink(staged_parameters, key, context, fields, wkb_type, crs)
    if sink is None:
        raise QgsProcessingException(algorithm.invalidSinkError(parameters, key))
    count = 0
    with recorded_gdal_errors() as errors:
        try:
            for feature in features:
                if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
                    raise QgsProcessingException(algorithm.writeFeatureError(sink, parameters, key))
                count += 1
            flushed = sink.flushBuffer()
            error = sink.lastError()
        finally:
            del sink  # closes the file: SQLite commits (and may fail) only now
    if not flushed or error:
        raise QgsProcessingException(
            _tr("Writing the {} failed ({}). Check the free disk space; no output was changed.").format(
                what, error or errors.summary()
            )
        )
    if destination.staged is not None:
        _verify(destination.staged, dest_id, count, what, errors.summary(""))
    final_id = destination.final_id(dest_id)
    _repoint_loaded_layer(context, dest_id, final_id)
    return final_id
