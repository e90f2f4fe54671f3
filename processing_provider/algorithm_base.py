# SPDX-License-Identifier: GPL-2.0-or-later
"""What every ``landslides`` algorithm shares: group, translation, help text from ``help/*.html``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from qgis.core import QgsMapLayer, QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication, QUrl

HELP_DIR = Path(__file__).resolve().parent / "help"


@cache
def help_html(name: str) -> str:
    """The help page of algorithm ``name``; kept in files so translators and writers never touch code."""
    path = HELP_DIR / f"{name}.html"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


class LandslidesAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set ``name()``, ``displayName()``, parameters and ``processAlgorithm``."""

    def group(self) -> str:
        return self.tr("Landslides")

    def groupId(self) -> str:
        return "landslides"

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self) -> LandslidesAlgorithm:
        return type(self)()

    def shortHelpString(self) -> str:
        return help_html(self.name())

    def helpUrl(self) -> str:
        path = HELP_DIR / f"{self.name()}.html"
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
