# SPDX-License-Identifier: GPL-2.0-or-later
"""What every ``landslides`` algorithm shares: group, translation, help text from ``help/*.html``."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingFeedback,
)
from qgis.PyQt.QtCore import QCoreApplication, QUrl

from ..core.memory import MAX_TILE
from .prepared_layers import PreparedLayers, prepare_layers
from .raster_input import RasterInput, tile_size_problem

HELP_DIR = Path(__file__).resolve().parent / "help"


def help_file(name: str, locale: str = "") -> Path:
    """``help/<lang>/<name>.html`` when that translation exists, else the English ``help/<name>.html``."""
    language = locale.replace("-", "_").split("_")[0]
    translated = HELP_DIR / language / f"{name}.html"
    return translated if language and translated.is_file() else HELP_DIR / f"{name}.html"


@cache
def help_html(name: str, locale: str = "") -> str:
    """The help page of algorithm ``name``; kept in files so translators and writers never touch code.

    Returned on one line: QGIS's help panel turns every line break of ``shortHelpString`` into a new
    paragraph, so the files' hard-wrapped lines are joined (whitespace means nothing in HTML).
    """
    try:
        text = help_file(name, locale).read_text(encoding="utf-8")
    except OSError:
        return ""
    return re.sub(r"\s*\n\s*", " ", text).strip()


def qgis_locale() -> str:
    return QgsApplication.locale() or ""


class LandslidesAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set ``name()``, ``displayName()``, parameters and ``processAlgorithm``.

    Layer parameters are looked up in ``prepareAlgorithm`` (the main thread, see
    :mod:`.prepared_layers`); ``processAlgorithm`` starts with ``parameters = self.prepared(parameters)``
    and takes rasters and feature sources from :meth:`raster` and :meth:`feature_source`.
    """

    RASTER_KEYS: tuple[str, ...] = ()  # parameters read as RasterInput (a file is never loaded)
    CHECKED_TILE_SIZE: str | None = None  # key of a tile-size parameter checked before the run
    _layers = PreparedLayers()

    def prepareAlgorithm(
        self, parameters: dict[str, Any], context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> bool:
        self._layers = prepare_layers(self, parameters, context, self.RASTER_KEYS)
        return True

    def checkParameterValues(
        self, parameters: dict[str, Any], context: QgsProcessingContext
    ) -> tuple[bool, str]:
        key = self.CHECKED_TILE_SIZE
        problem = tile_size_problem(parameters, key, MAX_TILE) if key else ""
        if problem:
            return False, problem
        return super().checkParameterValues(parameters, context)

    def release_layers(self) -> None:
        self._layers = PreparedLayers()

    def prepared(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """``parameters`` with each value that names a loaded layer replaced by that layer."""
        return {**parameters, **self._layers.layers}

    def raster(self, key: str) -> RasterInput | None:
        """The raster input ``key`` as looked up in the main thread (None when not given)."""
        return self._layers.raster(key)

    def feature_source(
        self, parameters: dict[str, Any], key: str, context: QgsProcessingContext
    ) -> QgsProcessingFeatureSource | None:
        if key in self._layers.sources:
            return self._layers.sources[key]
        return self.parameterAsSource(parameters, key, context)

    def group(self) -> str:
        return self.tr("Landslides")

    def groupId(self) -> str:
        return "landslides"

    def tr(self, text: str) -> str:
        # pylupdate5 files a string under the class whose code holds it: look there too (the base).
        for cls in type(self).__mro__:
            translated = QCoreApplication.translate(cls.__name__, text)
            if translated != text or cls is LandslidesAlgorithm:
                return translated
        return text

    def createInstance(self) -> LandslidesAlgorithm:
        return type(self)()

    def shortHelpString(self) -> str:
        return help_html(self.name(), qgis_locale())

    def helpUrl(self) -> str:
        path = help_file(self.name(), qgis_locale())
        return QUrl.fromLocalFile(str(path)).toString() if path.exists() else ""

    def gdal_raster_source(self, layer: QgsMapLayer | None, value: object) -> str:
        """The GDAL data source of a raster layer parameter, or a helpful QgsProcessingException."""
        if layer is None or not layer.isValid():
            raise QgsProcessingException(
                self.tr(
                    "Could not open '{}' as a raster: choose a GeoTIFF or another raster file GDAL can read."
                ).format(value)
            )
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                self.tr(
                    "The raster '{}' comes from the '{}' data provider; this algorithm reads raster files "
                    "through GDAL. Save it as a GeoTIFF first (right-click the layer, Export, Save As) "
                    "and run again."
                ).format(layer.name(), layer.providerType())
            )
        return layer.source()
