# SPDX-License-Identifier: GPL-2.0-or-later
"""The manifest beside the output: which units are finished, and their pieces, in one GeoPackage.

``region.gpkg`` gets ``region.manifest.gpkg`` beside it, holding

* ``run``: the settings that decide a unit's result (model checksum, bands, threshold, tiling,
  window, halo): a re-run with other settings stops and says so, instead of mixing results;
* ``units``: one row per unit finished or failed (source, window, status, message, seconds, worker);
* ``pieces``: the polygons of every finished unit, in source-raster pixel coordinates, with pixel
  count, probability sum and maximum (what :mod:`batch.merge` needs).

A unit's pieces and its ``units`` row are written in **one SQLite transaction**, so a client that
dies mid-run leaves each unit either fully recorded or absent: a re-run skips exactly the units
recorded as done and runs the rest (failed ones included). The minimum area, the output CRS,
simplification and duplicate handling are applied by the merge, so changing them only re-merges.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from typing import Any

from osgeo import ogr

from core.atomic import remove_with_sidecars
from core.errors import DetectionError
from core.raster_io import quiet_gdal

from .plan import Unit
from .unit import Piece, UnitResult

SUFFIX = ".manifest.gpkg"
UNIT_FIELDS = (
    ("unit", ogr.OFTString),
    ("source", ogr.OFTString),
    ("path", ogr.OFTString),
    ("window", ogr.OFTString),
    ("status", ogr.OFTString),
    ("message", ogr.OFTString),
    ("pieces", ogr.OFTInteger),
    ("megapixels", ogr.OFTReal),
    ("seconds", ogr.OFTReal),
    ("worker", ogr.OFTString),
    ("finished_utc", ogr.OFTString),
)
PIECE_FIELDS = (
    ("unit", ogr.OFTString),
    ("source", ogr.OFTString),
    ("pixels", ogr.OFTInteger64),
    ("prob_sum", ogr.OFTReal),
    ("max_prob", ogr.OFTReal),
    ("seams", ogr.OFTInteger),
)


def store_path(output: str) -> str:
    """``dir/region.gpkg`` -> ``dir/region.manifest.gpkg``."""
    return os.path.splitext(str(output))[0] + SUFFIX


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class WorkStore:
    """Open (or create) the manifest of ``output`` for a run with ``settings``."""

    def __init__(self, output: str, settings: dict[str, Any], restart: bool = False) -> None:
        self.path = store_path(output)
        if restart:
            remove_with_sidecars(self.path)
        self.settings = json.loads(json.dumps(settings, sort_keys=True))
        if os.path.exists(self.path):
            self._open()
        else:
            self._create()

    # -- set-up --
    def _open(self) -> None:
        with quiet_gdal():
            self.ds = ogr.Open(self.path, 1)
        if self.ds is None or self.ds.GetLayerByName("units") is None:
            raise DetectionError(
                f"'{self.path}' is not a manifest of this command (or it is damaged). Remove it, or choose "
                "another output name, and run again."
            )
        self.units = self.ds.GetLayerByName("units")
        self.pieces_layer = self.ds.GetLayerByName("pieces")
        run = self.ds.GetLayerByName("run")
        stored = {f.GetField("key"): json.loads(f.GetField("value")) for f in run}
        if stored != self.settings:
            changed = sorted(
                k for k in set(stored) | set(self.settings) if stored.get(k) != self.settings.get(k)
            )
            raise DetectionError(
                f"The manifest '{self.path}' comes from a run with other settings "
                f"({', '.join(changed)}); its finished units would not match. Run with --restart to start "
                "over (the finished units are discarded), or choose another output name."
            )

    def _create(self) -> None:
        with quiet_gdal():
            self.ds = ogr.GetDriverByName("GPKG").CreateDataSource(self.path)
        if self.ds is None:
            raise DetectionError(
                f"The manifest '{self.path}' cannot be created. Choose a writable output folder."
            )
        run = self.ds.CreateLayer("run", None, ogr.wkbNone)
        run.CreateField(ogr.FieldDefn("key", ogr.OFTString))
        run.CreateField(ogr.FieldDefn("value", ogr.OFTString))
        self.units = self.ds.CreateLayer("units", None, ogr.wkbNone)
        for name, kind in UNIT_FIELDS:
            self.units.CreateField(ogr.FieldDefn(name, kind))
        self.pieces_layer = self.ds.CreateLayer("pieces", None, ogr.wkbPolygon, options=["SPATIAL_INDEX=NO"])
        for name, kind in PIECE_FIELDS:
            self.pieces_layer.CreateField(ogr.FieldDefn(name, kind))
        self.ds.StartTransaction()
        for key, value in self.settings.items():
            f = ogr.Feature(run.GetLayerDefn())
            f.SetField("key", key)
            f.SetField("value", json.dumps(value, sort_keys=True))
            run.CreateFeature(f)
        self.ds.CommitTransaction()
        self.ds.ExecuteSQL("CREATE INDEX IF NOT EXISTS units_unit ON units(unit)")
        self.ds.ExecuteSQL("CREATE INDEX IF NOT EXISTS pieces_unit ON pieces(unit)")

    # -- queries --
    def finished(self) -> set[str]:
        """Units recorded as done."""
        self.units.SetAttributeFilter("status = 'done'")
        try:
            return {f.GetField("unit") for f in self.units}
        finally:
            self.units.SetAttributeFilter(None)

    def pieces(self, uid: str) -> Iterator[Piece]:
        """The pieces of unit ``uid``, in the order the unit produced them."""
        layer = self.pieces_layer
        layer.SetAttributeFilter(f"unit = {_sql_text(uid)}")
        try:
            for f in layer:
                yield Piece(
                    bytes(f.GetGeometryRef().ExportToWkb(ogr.wkbNDR)),
                    int(f.GetField("pixels")),
                    float(f.GetField("prob_sum")),
                    float(f.GetField("max_prob")),
                    int(f.GetField("seams")),
                )
        finally:
            layer.SetAttributeFilter(None)

    # -- updates --
    def record(self, unit: Unit, result: UnitResult) -> None:
        """Write a unit's outcome (and its pieces) in one transaction, replacing an earlier one."""
        uid = _sql_text(unit.uid)
        self.ds.StartTransaction()
        try:
            self.ds.ExecuteSQL(f"DELETE FROM pieces WHERE unit = {uid}")
            self.ds.ExecuteSQL(f"DELETE FROM units WHERE unit = {uid}")
            defn = self.pieces_layer.GetLayerDefn()
            for piece in result.pieces if result.ok else []:
                f = ogr.Feature(defn)
                f.SetField("unit", unit.uid)
                f.SetField("source", unit.source.key)
                f.SetField("pixels", piece.pixels)
                f.SetField("prob_sum", piece.prob_sum)
                f.SetField("max_prob", piece.max_prob)
                f.SetField("seams", piece.seams)
                f.SetGeometry(ogr.CreateGeometryFromWkb(piece.wkb))
                if self.pieces_layer.CreateFeature(f) != 0:
                    raise DetectionError(
                        f"Writing to the manifest '{self.path}' failed. Check the free disk space."
                    )
            c = unit.core
            row = ogr.Feature(self.units.GetLayerDefn())
            values = {
                "unit": unit.uid,
                "source": unit.source.key,
                "path": unit.source.path,
                "window": f"{c.xoff},{c.yoff},{c.xsize},{c.ysize}",
                "status": "done" if result.ok else "failed",
                "message": result.message,
                "pieces": len(result.pieces) if result.ok else 0,
                "megapixels": unit.megapixels,
                "seconds": result.seconds,
                "worker": result.worker,
                "finished_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            }
            for key, value in values.items():
                row.SetField(key, value)
            self.units.CreateFeature(row)
        except BaseException:
            self.ds.RollbackTransaction()
            raise
        self.ds.CommitTransaction()

    def close(self) -> None:
        self.units = self.pieces_layer = None
        self.ds = None
