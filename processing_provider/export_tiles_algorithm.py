# SPDX-License-Identifier: GPL-2.0-or-later
"""``landslides:export_tiles``: image/label tile pairs from an orthophoto and an inventory, for training."""

from __future__ import annotations

import os
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ..core.atomic import work_folder
from ..core.errors import DetectionCanceled, DetectionError
from ..core.memory import MAX_TILE
from ..core.training_tiles import export_training_tiles
from .algorithm_base import LandslidesAlgorithm
from .ogr_io import export_polygon_parameter
from .raster_input import RasterFileParameter, band_list
from .run_guard import guarded


class ExportTilesAlgorithm(LandslidesAlgorithm):
    INPUT = "INPUT"
    RASTER_KEYS = (INPUT,)
    INVENTORY = "INVENTORY"
    TILE_SIZE = "TILE_SIZE"
    CHECKED_TILE_SIZE = TILE_SIZE
    OVERLAP = "OVERLAP"
    NEGATIVE_FRACTION = "NEGATIVE_FRACTION"
    BANDS = "BANDS"
    PREFIX = "PREFIX"
    SEED = "SEED"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    TILE_COUNT = "TILE_COUNT"
    POSITIVE_COUNT = "POSITIVE_COUNT"
    NEGATIVE_COUNT = "NEGATIVE_COUNT"

    def name(self) -> str:
        return "export_tiles"

    def displayName(self) -> str:
        return self.tr("Export training tiles")

    def tags(self) -> list[str]:
        return self.tr("landslide,training,tiles,labels,dataset,fine-tune").split(",")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        # A raster file is checked with GDAL only: loading it as a layer writes statistics next to it.
        self.addParameter(RasterFileParameter(self.INPUT, self.tr("Orthophoto")))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.INVENTORY, self.tr("Landslide inventory"), types=[QgsProcessing.TypeVectorPolygon]
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.TILE_SIZE,
                self.tr("Tile size (pixels)"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=512,
                minValue=16,
                maxValue=MAX_TILE,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.OVERLAP,
                self.tr("Overlap (pixels)"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=0,
                minValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.NEGATIVE_FRACTION,
                self.tr("Share of tiles without landslides to keep (0: none, 1: all)"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=1.0,
                minValue=0.0,
                maxValue=1.0,
            )
        )
        advanced = [
            QgsProcessingParameterBand(
                self.BANDS,
                self.tr("Bands to export (empty: all)"),
                parentLayerParameterName=self.INPUT,
                optional=True,
                allowMultiple=True,
            ),
            QgsProcessingParameterString(self.PREFIX, self.tr("Tile name prefix"), defaultValue="tile"),
            QgsProcessingParameterNumber(
                self.SEED,
                self.tr("Random seed for choosing tiles without landslides"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=0,
            ),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(
            QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, self.tr("Output folder"))
        )
        self.addOutput(QgsProcessingOutputNumber(self.TILE_COUNT, self.tr("Tile pairs written")))
        self.addOutput(QgsProcessingOutputNumber(self.POSITIVE_COUNT, self.tr("Tiles with landslides")))
        self.addOutput(QgsProcessingOutputNumber(self.NEGATIVE_COUNT, self.tr("Tiles without landslides")))

    @guarded
    def processAlgorithm(
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        parameters = self.prepared(parameters)
        raster = self.raster(self.INPUT)  # a file is not loaded as a layer
        raster_path = raster.path
        out_dir = self.parameterAsFileOutput(parameters, self.OUTPUT_FOLDER, context)
        if not out_dir:
            raise QgsProcessingException(self.tr("Choose an output folder for the tiles."))
        prefix = self.parameterAsString(parameters, self.PREFIX, context).strip() or "tile"
        if os.sep in prefix or "/" in prefix:
            raise QgsProcessingException(
                self.tr("The tile name prefix '{}' must not contain '/'.").format(prefix)
            )

        with work_folder("tiles") as work:
            inventory_path = os.path.join(work, "inventory.gpkg")
            count = export_polygon_parameter(
                self,
                parameters,
                self.INVENTORY,
                context,
                raster.crs(),
                inventory_path,
                lambda source: self.tr(
                    "The inventory '{}' holds {}, not landslide polygons. Give a polygon layer (points, "
                    "lines or a table cannot be burnt into label tiles)."
                ).format(source.sourceName(), QgsWkbTypes.displayString(source.wkbType())),
            )
            feedback.pushInfo(self.tr("{} inventory polygons").format(count))
            try:
                result = export_training_tiles(
                    raster_path,
                    inventory_path,
                    out_dir,
                    tile_size=self.parameterAsInt(parameters, self.TILE_SIZE, context),
                    overlap=self.parameterAsInt(parameters, self.OVERLAP, context),
                    bands=band_list(parameters, self.BANDS),  # BANDS=3,2,1 or a repeated BANDS
                    prefix=prefix,
                    negative_fraction=self.parameterAsDouble(parameters, self.NEGATIVE_FRACTION, context),
                    seed=self.parameterAsInt(parameters, self.SEED, context),
                    progress=feedback.setProgress,
                    is_canceled=feedback.isCanceled,
                )
            except DetectionCanceled as error:
                raise QgsProcessingException(str(error)) from error
            except DetectionError as error:
                raise QgsProcessingException(str(error)) from error
        for warning in result.warnings:
            feedback.pushWarning(warning)
        feedback.pushInfo(
            self.tr("{} tile pairs ({} with landslides, {} without) in {}").format(
                result.tiles_written, result.positive_tiles, result.negative_tiles, out_dir
            )
        )
        return {
            self.OUTPUT_FOLDER: out_dir,
            self.TILE_COUNT: result.tiles_written,
            self.POSITIVE_COUNT: result.positive_tiles,
            self.NEGATIVE_COUNT: result.negative_tiles,
        }
