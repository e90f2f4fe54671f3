# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``landslides`` Processing provider: registered by the plugin, also loaded by qgis_process."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..core.version import plugin_version
from .detect_algorithm import DetectLandslidesAlgorithm
from .evaluate_algorithm import EvaluateAlgorithm
from .export_tiles_algorithm import ExportTilesAlgorithm
from .paths import ICON_PATH


class LandslidesProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "landslides"

    def name(self) -> str:
        return self.tr("Landslide detection")

    def longName(self) -> str:
        return self.tr("Landslide detection {}").format(self.versionInfo())

    def versionInfo(self) -> str:
        try:
            return plugin_version()
        except (OSError, KeyError):  # metadata.txt missing or damaged: still usable
            return ""

    def icon(self) -> QIcon:
        if ICON_PATH.exists():
            return QIcon(str(ICON_PATH))
        return super().icon()

    def svgIconPath(self) -> str:
        return str(ICON_PATH) if ICON_PATH.exists() else super().svgIconPath()

    def supportedOutputRasterLayerExtensions(self) -> list[str]:
        # The core writes GeoTIFF only; offering other formats would fail after a long run.
        return ["tif"]

    def loadAlgorithms(self) -> None:
        for algorithm in (DetectLandslidesAlgorithm(), EvaluateAlgorithm(), ExportTilesAlgorithm()):
            self.addAlgorithm(algorithm)
