# SPDX-License-Identifier: GPL-2.0-or-later
"""``landslides:evaluate``: pixel and object agreement between detected landslides and an inventory."""

from __future__ import annotations

import math
import os
from typing import Any

from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsFields,
    QgsMapLayer,
    QgsMapLayerType,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsRectangle,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..core.atomic import AtomicOutputs, work_folder
from ..core.errors import DetectionCanceled, DetectionError
from ..core.metrics import evaluate
from ..core.raster_io import recorded_gdal_errors
from ..core.report import write_html_report
from .algorithm_base import LandslidesAlgorithm
from .destinations import StagedDestination, check_writable_destination, write_staged_sink
from .ogr_io import export_polygon_parameter
from .raster_input import LayerFileParameter, RasterInput
from .run_guard import guarded

MAX_GRID_PIXELS = 2_000_000_000  # comparison grid for two polygon layers (Byte, tiled, mostly sparse)

# Numeric outputs and the metric names the core reports them under.
METRIC_OUTPUTS = {
    "IOU": "iou",
    "PRECISION": "precision",
    "RECALL": "recall",
    "F1": "f1",
    "OBJ_PRECISION": "object_precision",
    "OBJ_RECALL": "object_recall",
    "OBJ_F1": "object_f1",
}


class EvaluateAlgorithm(LandslidesAlgorithm):
    PREDICTION = "PREDICTION"
    INVENTORY = "INVENTORY"
    OVERLAP_THRESHOLD = "OVERLAP_THRESHOLD"
    PIXEL_SIZE = "PIXEL_SIZE"
    RASTER_THRESHOLD = "RASTER_THRESHOLD"
    OUTPUT = "OUTPUT"
    REPORT = "REPORT"
    IOU = "IOU"
    PRECISION = "PRECISION"
    RECALL = "RECALL"
    F1 = "F1"
    OBJ_PRECISION = "OBJ_PRECISION"
    OBJ_RECALL = "OBJ_RECALL"
    OBJ_F1 = "OBJ_F1"

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:
        return self.tr("Evaluate against inventory")

    def tags(self) -> list[str]:
        return self.tr("landslide,accuracy,iou,precision,recall,f1,validation,inventory").split(",")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        layer_types = [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeRaster]
        self.addParameter(
            LayerFileParameter(
                self.PREDICTION, self.tr("Detected landslides (polygons or raster)"), types=layer_types
            )
        )
        self.addParameter(
            LayerFileParameter(
                self.INVENTORY, self.tr("Reference inventory (polygons or raster)"), types=layer_types
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.OVERLAP_THRESHOLD,
                self.tr("Object match threshold (intersection over union)"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=0.5,
                minValue=0.0,
                maxValue=1.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.PIXEL_SIZE,
                self.tr(
                    "Pixel size when both inputs are polygons (projected CRS units; metres if geographic)"
                ),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=0.5,
                minValue=0.0,
            )
        )
        raster_threshold = QgsProcessingParameterNumber(
            self.RASTER_THRESHOLD,
            self.tr("Raster inputs: landslide where the value is at least"),
            type=QgsProcessingParameterNumber.Double,
            defaultValue=0.5,
        )
        raster_threshold.setFlags(raster_threshold.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(raster_threshold)
        self.addParameter(
            QgsProcessingParameterFeatureSink(
                self.OUTPUT, self.tr("Metrics table"), type=QgsProcessing.TypeVector, createByDefault=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.REPORT, self.tr("HTML report"), fileFilter=self.tr("HTML files (*.html)")
            )
        )
        descriptions = {
            self.IOU: self.tr("Pixel IoU"),
            self.PRECISION: self.tr("Pixel precision"),
            self.RECALL: self.tr("Pixel recall"),
            self.F1: self.tr("Pixel F1"),
            self.OBJ_PRECISION: self.tr("Object precision"),
            self.OBJ_RECALL: self.tr("Object recall"),
            self.OBJ_F1: self.tr("Object F1"),
        }
        for key, description in descriptions.items():
            self.addOutput(QgsProcessingOutputNumber(key, description))

    @guarded
    def processAlgorithm(
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        parameters = self.prepared(parameters)
        prediction = self._input_layer(parameters, self.PREDICTION, context)
        inventory = self._input_layer(parameters, self.INVENTORY, context)
        for layer, key in ((prediction, self.PREDICTION), (inventory, self.INVENTORY)):
            if layer is None or not layer.isValid():
                raise QgsProcessingException(
                    self.tr("Could not open '{}' ({}) as a polygon layer or a raster.").format(
                        parameters.get(key), key
                    )
                )
        iou_threshold = self.parameterAsDouble(parameters, self.OVERLAP_THRESHOLD, context)
        raster_threshold = self.parameterAsDouble(parameters, self.RASTER_THRESHOLD, context)
        pixel_size = self.parameterAsDouble(parameters, self.PIXEL_SIZE, context)
        report_path = self.parameterAsFileOutput(parameters, self.REPORT, context)
        check_writable_destination(report_path, self.tr("HTML report"))
        check_writable_destination(parameters.get(self.OUTPUT), self.tr("metrics table"))

        # The comparison grid is a raster side's; vectors are reprojected (by QGIS) into its CRS.
        grid_layer = next((layer for layer in (prediction, inventory) if self._is_raster(layer)), None)
        if grid_layer is not None:
            target_crs = grid_layer.crs()
        else:
            target_crs = self._projected_crs(prediction, inventory, context)
            feedback.pushInfo(
                self.tr("Both inputs are polygons: compared on a grid of {} pixels in {}.").format(
                    pixel_size, target_crs.userFriendlyIdentifier()
                )
            )
        with work_folder("evaluate") as work:
            extent = QgsRectangle()
            paths = {}
            for layer, key in ((prediction, self.PREDICTION), (inventory, self.INVENTORY)):
                if isinstance(layer, RasterInput):
                    paths[key] = layer.path
                elif self._is_raster(layer):
                    paths[key] = self.gdal_raster_source(layer, parameters.get(key))
                else:
                    paths[key] = self._export_polygons(parameters, key, context, target_crs, work, extent)
            grid_path = None
            if grid_layer is None:
                grid_path = self._grid_raster(os.path.join(work, "grid.tif"), extent, pixel_size, target_crs)
            feedback.setProgress(10)
            try:
                metrics = evaluate(
                    paths[self.PREDICTION],
                    paths[self.INVENTORY],
                    iou_threshold=iou_threshold,
                    pred_threshold=raster_threshold,
                    ref_threshold=raster_threshold,
                    grid_raster=grid_path,
                    is_canceled=feedback.isCanceled,
                )
            except DetectionCanceled as error:
                raise QgsProcessingException(
                    self.tr("Evaluation canceled; no output was written.")
                ) from error
            except DetectionError as error:
                raise QgsProcessingException(str(error)) from error
        feedback.setProgress(90)

        details = {
            self.tr("Detected landslides"): prediction.source(),
            self.tr("Reference inventory"): inventory.source(),
            self.tr("Object match IoU threshold"): iou_threshold,
        }
        if grid_layer is None:
            details[self.tr("Comparison grid")] = self.tr("{} pixels in {}").format(
                pixel_size, target_crs.userFriendlyIdentifier()
            )
        # The report and the table are staged and committed together (a failure changes neither).
        try:
            with AtomicOutputs() as outputs:
                table = StagedDestination(parameters.get(self.OUTPUT), outputs)
                staged_report = outputs.temp_for(report_path)
                try:
                    write_html_report(
                        staged_report, metrics, self.tr("Landslide detection accuracy"), details
                    )
                except OSError as error:
                    raise QgsProcessingException(
                        self.tr("Could not write the HTML report '{}': {}").format(report_path, error)
                    ) from error
                dest_id = self._write_table(parameters, context, metrics, table)
                outputs.commit()
        except DetectionError as error:
            raise QgsProcessingException(str(error)) from error

        for key, name in METRIC_OUTPUTS.items():
            feedback.pushInfo(f"{key}: {metrics[name]:.4f}")
        results: dict[str, Any] = {self.OUTPUT: dest_id, self.REPORT: report_path}
        results.update({key: float(metrics[name]) for key, name in METRIC_OUTPUTS.items()})
        return results

    def _input_layer(
        self, parameters: dict[str, Any], key: str, context: QgsProcessingContext
    ) -> QgsMapLayer | RasterInput | None:
        """A raster file as a RasterInput (never loaded as a layer), anything else as a layer."""
        raster = self.raster(key)  # looked up in the main thread
        if raster is not None:
            return raster
        return self.parameterAsLayer(parameters, key, context)

    @staticmethod
    def _is_raster(layer: QgsMapLayer | RasterInput) -> bool:
        return isinstance(layer, RasterInput) or layer.type() == QgsMapLayerType.RasterLayer

    def _projected_crs(
        self, prediction: QgsMapLayer, inventory: QgsMapLayer, context: QgsProcessingContext
    ) -> QgsCoordinateReferenceSystem:
        """The CRS of the grid for two polygon layers: the prediction's if projected, else the
        inventory's if projected, else (both geographic) the UTM zone of the prediction, so that
        PIXEL_SIZE is a length on the ground (0.5 would otherwise be half a degree)."""
        for layer in (prediction, inventory):
            if layer.crs().isValid() and not layer.crs().isGeographic():
                return layer.crs()
        layer = prediction if prediction.crs().isValid() else inventory
        if not layer.crs().isValid():
            return inventory.crs()  # no CRS at all: map units, as given
        wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
        transform = QgsCoordinateTransform(layer.crs(), wgs84, context.transformContext())
        centre = transform.transform(layer.extent().center())
        zone = min(60, max(1, int((centre.x() + 180.0) // 6.0) + 1))
        return QgsCoordinateReferenceSystem(f"EPSG:{32600 + zone if centre.y() >= 0 else 32700 + zone}")

    def _export_polygons(
        self,
        parameters: dict[str, Any],
        key: str,
        context: QgsProcessingContext,
        crs: QgsCoordinateReferenceSystem,
        work: str,
        extent: QgsRectangle,
    ) -> str:
        path = os.path.join(work, f"{key.lower()}.gpkg")
        export_polygon_parameter(
            self,
            parameters,
            key,
            context,
            crs,
            path,
            lambda source: self.tr(
                "'{}' ({}) holds no polygons: give landslide polygons or a landslide raster."
            ).format(source.sourceName(), key),
            extent,
        )
        return path

    def _grid_raster(
        self, path: str, extent: QgsRectangle, pixel_size: float, crs: QgsCoordinateReferenceSystem
    ) -> str:
        """An empty raster covering both polygon layers, on which they are compared pixel by pixel."""
        if pixel_size <= 0:
            raise QgsProcessingException(
                self.tr("Both inputs are polygons: set a pixel size above 0 to compare them on a grid.")
            )
        if extent.isNull() or extent.isEmpty():
            extent = QgsRectangle(0, 0, pixel_size, pixel_size)  # both layers empty: all metrics are 0
        cols = max(1, math.ceil(extent.width() / pixel_size))
        rows = max(1, math.ceil(extent.height() / pixel_size))
        if cols * rows > MAX_GRID_PIXELS:
            raise QgsProcessingException(
                self.tr(
                    "Comparing the polygons at a pixel size of {} would need a {} x {} pixel grid. "
                    "Increase the pixel size."
                ).format(pixel_size, cols, rows)
            )
        with recorded_gdal_errors() as errors:
            dataset = gdal.GetDriverByName("GTiff").Create(
                path,
                cols,
                rows,
                1,
                gdal.GDT_Byte,
                options=["TILED=YES", "COMPRESS=DEFLATE", "SPARSE_OK=TRUE"],
            )
        if dataset is None:
            raise QgsProcessingException(
                self.tr(
                    "The comparison grid cannot be created in '{}' ({}). Check the free disk space."
                ).format(path, errors.summary())
            )
        dataset.SetGeoTransform((extent.xMinimum(), pixel_size, 0.0, extent.yMaximum(), 0.0, -pixel_size))
        if crs.isValid():
            dataset.SetProjection(crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL))
        dataset = None
        return path

    def _write_table(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        metrics: dict,
        destination: StagedDestination,
    ) -> str:
        fields = QgsFields()
        fields.append(QgsField("metric", QVariant.String))
        fields.append(QgsField("value", QVariant.Double))
        features = []
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                feature = QgsFeature(fields)
                feature.setAttributes([name, float(value)])
                features.append(feature)
        return write_staged_sink(
            self,
            parameters,
            self.OUTPUT,
            context,
            destination,
            fields,
            QgsWkbTypes.NoGeometry,
            QgsCoordinateReferenceSystem(),
            features,
            self.tr("metrics table"),
        )
