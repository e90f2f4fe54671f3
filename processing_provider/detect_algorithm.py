# SPDX-License-Identifier: GPL-2.0-or-later
"""``landslides:detect``: landslide polygons (and optionally a probability raster) from an orthophoto."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ..core.atomic import AtomicOutputs, work_folder
from ..core.engine import DetectionOptions, DetectionResult, run_detection
from ..core.errors import DetectionCanceled, DetectionError
from ..core.memory import MAX_TILE
from ..core.precision import PRECISIONS as PRECISION_CHOICES
from .algorithm_base import LandslidesAlgorithm
from .destinations import StagedDestination, check_writable_destination, write_staged_sink
from .detect_io import DetectNames, DetectReport
from .ogr_io import export_polygon_parameter, gpkg_features, gpkg_schema
from .paths import DEFAULT_MODEL_PATH
from .raster_input import RasterFileParameter, RasterInput, band_list
from .result_fields import output_feature, output_fields
from .run_guard import guarded
from .styles import attach_stylers

DEVICES = ["auto", "cuda", "cpu"]
PRECISIONS = list(PRECISION_CHOICES)


class DetectLandslidesAlgorithm(LandslidesAlgorithm, DetectNames):
    """Parameter and output names (INPUT, THRESHOLD, ...) are class constants from DetectNames,
    which the dock's typed request and report share."""

    RASTER_KEYS = (DetectNames.INPUT, DetectNames.DSM)
    CHECKED_TILE_SIZE = DetectNames.TILE_SIZE

    def name(self) -> str:
        return "detect"

    def displayName(self) -> str:
        return self.tr("Detect landslides")

    def tags(self) -> list[str]:
        return self.tr("landslide,deep learning,segmentation,onnx,orthophoto,da-u-net").split(",")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        # A raster file is checked with GDAL only: loading it as a layer writes statistics next to it.
        self.addParameter(RasterFileParameter(self.INPUT, self.tr("Orthophoto")))
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                self.tr("ONNX model (empty: the model shipped with the plugin)"),
                behavior=QgsProcessingParameterFile.File,
                extension="onnx",
                defaultValue=str(DEFAULT_MODEL_PATH),
                # Optional so that a missing value means "the default": qgis_process 3.22 rejects a
                # required file parameter left out even when it has a default.
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.THRESHOLD,
                self.tr("Probability threshold (empty: the model's own)"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=None,
                optional=True,
                minValue=0.0,
                maxValue=1.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MIN_AREA,
                self.tr("Minimum polygon area in m² (empty: the model's own)"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=None,
                optional=True,
                minValue=0.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.MASK,
                self.tr("Search only inside these polygons"),
                types=[QgsProcessing.TypeVectorPolygon],
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterExtent(
                self.EXTENT, self.tr("Search only inside this extent"), optional=True
            )
        )
        self.addParameter(
            RasterFileParameter(
                self.DSM,
                self.tr("Elevation raster (DSM or DEM, any resolution and CRS; adds slope_mean_deg)"),
                optional=True,
            )
        )

        advanced = [
            QgsProcessingParameterString(
                self.CLASS,
                self.tr("Class to map, by name or number (empty: 'landslide', or the model's only class)"),
                optional=True,
            ),
            QgsProcessingParameterBand(
                self.BANDS,
                self.tr("Bands in model order (empty: as the model was trained)"),
                parentLayerParameterName=self.INPUT,
                optional=True,
                allowMultiple=True,
            ),
            QgsProcessingParameterEnum(
                self.DEVICE,
                self.tr("Device (auto: CUDA GPU if available, else CPU)"),
                options=DEVICES,
                defaultValue=DEVICES[0],
                usesStaticStrings=True,
            ),
            QgsProcessingParameterEnum(
                self.PRECISION,
                self.tr("CPU precision (auto: int8 on CPUs with VNNI or AMX if the model has an int8 copy)"),
                options=PRECISIONS,
                defaultValue=PRECISIONS[0],
                usesStaticStrings=True,
                # Optional: model-builder graphs saved before it existed run on (missing = auto).
                optional=True,
            ),
            QgsProcessingParameterNumber(
                self.THREADS,
                self.tr("CPU threads (0: automatic)"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=0,
                minValue=0,
            ),
            QgsProcessingParameterNumber(
                self.TILE_SIZE,
                self.tr("Tile size in pixels (empty: fitted to the raster)"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=None,
                optional=True,
                minValue=16,
                maxValue=MAX_TILE,
            ),
            QgsProcessingParameterNumber(
                self.OVERLAP,
                self.tr("Tile overlap in pixels (empty: the model's)"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=None,
                optional=True,
                minValue=0,
            ),
            QgsProcessingParameterNumber(
                self.BATCH_SIZE,
                self.tr("Tiles per batch (0: automatic)"),
                type=QgsProcessingParameterNumber.Integer,
                defaultValue=0,
                minValue=0,
            ),
            QgsProcessingParameterBoolean(
                self.TTA,
                self.tr("Test-time augmentation (4 or 8 model passes per tile: 3 to 8 times slower)"),
                defaultValue=False,
            ),
            QgsProcessingParameterBoolean(
                self.RESAMPLE,
                self.tr("Resample to the model's ground sampling distance"),
                defaultValue=False,
            ),
            QgsProcessingParameterNumber(
                self.SIMPLIFY,
                self.tr("Simplify polygons: tolerance in raster CRS units (0: exact pixel edges)"),
                type=QgsProcessingParameterNumber.Double,
                defaultValue=0.0,
                minValue=0.0,
            ),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)

        self.addParameter(
            QgsProcessingParameterFeatureSink(
                self.OUTPUT, self.tr("Landslides"), type=QgsProcessing.TypeVectorPolygon
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                self.PROBABILITY,
                self.tr("Landslide probability"),
                optional=True,
                createByDefault=False,
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.POLYGON_COUNT, self.tr("Number of landslides")))
        self.addOutput(QgsProcessingOutputNumber(self.TOTAL_AREA_M2, self.tr("Total landslide area (m²)")))
        self.addOutput(QgsProcessingOutputString(self.EXECUTION_PROVIDER, self.tr("Execution provider used")))
        self.addOutput(QgsProcessingOutputString(self.PROVIDER_REASON, self.tr("Why this provider")))
        self.addOutput(QgsProcessingOutputString(self.PRECISION_USED, self.tr("Precision used")))
        self.addOutput(QgsProcessingOutputString(self.PRECISION_REASON, self.tr("Why this precision")))
        self.addOutput(QgsProcessingOutputNumber(self.ELAPSED_S, self.tr("Detection time (s)")))
        self.addOutput(QgsProcessingOutputString(self.WARNINGS, self.tr("Warnings (one per line)")))

    # --- parameters -> engine options ------------------------------------------------------------

    def _optional_number(
        self, parameters: dict[str, Any], key: str, context: QgsProcessingContext, integer: bool
    ) -> float | int | None:
        if parameters.get(key) in (None, ""):
            return None
        if integer:
            return self.parameterAsInt(parameters, key, context)
        return self.parameterAsDouble(parameters, key, context)

    def _options(
        self, parameters: dict[str, Any], context: QgsProcessingContext, raster: RasterInput
    ) -> DetectionOptions:
        bands = band_list(parameters, self.BANDS)  # BANDS=3,2,1 or a repeated BANDS
        extent = None
        if parameters.get(self.EXTENT) not in (None, ""):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, raster.crs())
            if not rect.isNull() and not rect.isEmpty():
                extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        return DetectionOptions(
            bands=bands or None,
            threshold=self._optional_number(parameters, self.THRESHOLD, context, integer=False),
            min_area_m2=self._optional_number(parameters, self.MIN_AREA, context, integer=False),
            device=self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto",
            precision=self.parameterAsEnumString(parameters, self.PRECISION, context) or "auto",
            threads=self.parameterAsInt(parameters, self.THREADS, context),
            tile_size=self._optional_number(parameters, self.TILE_SIZE, context, integer=True),
            overlap=self._optional_number(parameters, self.OVERLAP, context, integer=True),
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            tta=self.parameterAsBool(parameters, self.TTA, context),
            extent=extent,
            resample_to_model_gsd=self.parameterAsBool(parameters, self.RESAMPLE, context),
            simplify_tolerance=self.parameterAsDouble(parameters, self.SIMPLIFY, context),
            class_name=self.parameterAsString(parameters, self.CLASS, context).strip() or None,
        )

    # --- run -------------------------------------------------------------------------------------

    @guarded
    def processAlgorithm(
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        parameters = self.prepared(parameters)
        raster = self.raster(self.INPUT)  # a file is not loaded as a layer
        raster_path = raster.path
        model_path = self.parameterAsFile(parameters, self.MODEL, context) or str(DEFAULT_MODEL_PATH)
        options = self._options(parameters, context, raster)
        dsm = self.raster(self.DSM)
        if dsm is not None:
            options.dsm_path = dsm.path
        probability_path = self.parameterAsOutputLayer(parameters, self.PROBABILITY, context) or None
        # Fail before a long run, not after it, when an output cannot be written.
        check_writable_destination(parameters.get(self.OUTPUT), self.tr("landslide polygons"))
        if probability_path:
            check_writable_destination(probability_path, self.tr("probability raster"))

        warnings: list[str] = []

        def warn(message: str) -> None:  # the toolbox log at once, the report at the end
            warnings.append(message)
            feedback.pushWarning(message)

        # Both outputs are written into staging folders (their paths locked against a concurrent run)
        # and committed together at the end: a failure anywhere changes no existing file.
        try:
            with AtomicOutputs() as outputs, work_folder("detect") as work:
                polygons_destination = StagedDestination(parameters.get(self.OUTPUT), outputs)
                staged_probability = outputs.temp_for(probability_path) if probability_path else None
                if parameters.get(self.MASK) not in (None, ""):
                    options.mask_path = self._write_mask(parameters, context, raster.crs(), work, warn)
                polygons_path = os.path.join(work, "landslides.gpkg")
                result = self._detect(
                    raster_path, model_path, polygons_path, staged_probability, options, feedback, warn
                )
                dest_id = self._copy_to_sink(
                    parameters, context, polygons_path, raster.crs(), polygons_destination
                )
                if feedback.isCanceled():
                    raise DetectionCanceled()
                outputs.commit()
        except DetectionCanceled as error:
            raise QgsProcessingException(self.tr("Detection canceled; no output was written.")) from error
        except DetectionError as error:
            raise QgsProcessingException(str(error)) from error

        area_units = "m²" if getattr(result, "area_units", "m2") == "m2" else result.area_units
        feedback.pushInfo(
            self.tr(
                "{} landslides, {:.1f} {} in total, found in {:.1f} s (threshold {:g}, minimum area {:g} m²)."
            ).format(
                result.polygon_count,
                result.total_area_m2,
                area_units,
                result.elapsed_s,
                result.threshold,
                result.min_area_m2,
            )
        )
        # Styled in postProcessAlgorithm (main thread), when QGIS loads the outputs into a project.
        self._loaded_outputs = {"polygons": dest_id, "probability": probability_path}
        self._threshold = result.threshold
        return DetectReport(
            polygon_count=result.polygon_count,
            total_area_m2=result.total_area_m2,
            provider=result.provider.used,
            provider_reason=result.provider.reason,
            precision=result.provider.precision,
            precision_reason=result.provider.precision_reason,
            elapsed_s=result.elapsed_s,
            warnings=warnings,
            output=dest_id,
            probability=probability_path,
        ).results()

    def postProcessAlgorithm(
        self, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict[str, Any]:
        outputs = getattr(self, "_loaded_outputs", None)
        if outputs:
            attach_stylers(context, outputs, self._threshold)
        return {}

    def _copy_to_sink(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        polygons_path: str,
        crs: QgsCoordinateReferenceSystem,
        destination: StagedDestination,
    ) -> str:
        core_fields, wkb_type = gpkg_schema(polygons_path)
        fields = output_fields(core_fields)  # one identifier (fid), rounded numbers
        features = (
            output_feature(core_feature, fields)
            for core_feature in gpkg_features(polygons_path, core_fields, wkb_type)
        )
        return write_staged_sink(
            self,
            parameters,
            self.OUTPUT,
            context,
            destination,
            fields,
            wkb_type,
            crs,
            features,
            self.tr("landslide polygons"),
        )

    def _detect(
        self,
        raster_path: str,
        model_path: str,
        polygons_path: str,
        probability_path: str | None,
        options: DetectionOptions,
        feedback: QgsProcessingFeedback,
        warn: Callable[[str], None],
    ) -> DetectionResult:
        try:
            return run_detection(
                raster_path,
                model_path,
                polygons_path,
                probability_path=probability_path,
                options=options,
                progress=feedback.setProgress,
                is_canceled=feedback.isCanceled,
                log=feedback.pushInfo,
                warn=warn,
            )
        except DetectionCanceled as error:
            raise QgsProcessingException(self.tr("Detection canceled; no output was written.")) from error
        except DetectionError as error:
            raise QgsProcessingException(str(error)) from error

    def _write_mask(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        raster_crs: QgsCoordinateReferenceSystem,
        work: str,
        warn: Callable[[str], None],
    ) -> str:
        path = os.path.join(work, "mask.gpkg")
        count = export_polygon_parameter(
            self,
            parameters,
            self.MASK,
            context,
            raster_crs,
            path,
            lambda source: self.tr(
                "The mask '{}' holds no polygons ({}). Give a polygon layer to search inside."
            ).format(source.sourceName(), QgsWkbTypes.displayString(source.wkbType())),
        )
        if count == 0:
            warn(self.tr("The mask layer holds no polygons: nothing will be searched."))
        return path
