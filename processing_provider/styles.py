# SPDX-License-Identifier: GPL-2.0-or-later
"""How results look on the map, the same from the dock and from the Processing toolbox.

* Landslide polygons: graded by ``mean_prob`` in three confidence classes between the threshold
  used and 1, yellow to dark red, semi-transparent so the scar stays visible underneath.
* Probability raster: transparent at 0, through yellow and orange (the threshold) to dark red at 1,
  never opaque (the imagery stays readable under it).

Toolbox and model runs get these styles through Processing's layer post-processors, which QGIS
calls in the main thread for every output it loads into the project.
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsColorRampShader,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRendererRange,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QColor

CONFIDENCE_FIELD = "mean_prob"
# Fill (with alpha) and outline of the three confidence classes, lowest first (ColorBrewer YlOrRd).
CLASS_COLOURS = (
    ("254,217,118,110", "204,140,0,255"),
    ("253,141,60,125", "190,70,0,255"),
    ("227,26,28,140", "120,0,0,255"),
)


def confidence_bounds(threshold: float) -> list[float]:
    """Class limits: three equal steps from the threshold to 1 (``mean_prob`` is never below it)."""
    low = min(max(float(threshold), 0.0), 0.99)
    step = (1.0 - low) / 3.0
    return [low, low + step, low + 2 * step, 1.0]


def class_labels(bounds: list[float]) -> list[str]:
    words = (
        QCoreApplication.translate("LandslideStyles", "less sure"),
        QCoreApplication.translate("LandslideStyles", "fairly sure"),
        QCoreApplication.translate("LandslideStyles", "most sure"),
    )
    return [f"{bounds[i]:.2f}–{bounds[i + 1]:.2f} ({words[i]})" for i in range(3)]


def landslide_renderer(threshold: float) -> QgsGraduatedSymbolRenderer:
    """Polygons graded by ``mean_prob``; the lowest class also takes anything below the threshold."""
    bounds = confidence_bounds(threshold)
    labels = class_labels(bounds)
    ranges = []
    for i, (fill, outline) in enumerate(CLASS_COLOURS):
        symbol = QgsFillSymbol.createSimple(
            {"color": fill, "outline_color": outline, "outline_width": "0.5", "outline_width_unit": "MM"}
        )
        lower = 0.0 if i == 0 else bounds[i]
        ranges.append(QgsRendererRange(lower, bounds[i + 1], symbol, labels[i]))
    return QgsGraduatedSymbolRenderer(CONFIDENCE_FIELD, ranges)


def style_landslides(layer: QgsVectorLayer, threshold: float) -> bool:
    """Grade ``layer`` when it has ``mean_prob`` (a result layer); returns whether it did."""
    if not isinstance(layer, QgsVectorLayer) or layer.fields().indexOf(CONFIDENCE_FIELD) < 0:
        return False
    layer.setRenderer(landslide_renderer(threshold))
    layer.triggerRepaint()
    return True


def probability_shader(threshold: float) -> QgsColorRampShader:
    threshold = min(max(float(threshold), 0.02), 0.98)
    shader = QgsColorRampShader(0.0, 1.0)
    shader.setColorRampType(QgsColorRampShader.Interpolated)
    shader.setColorRampItemList(
        [
            QgsColorRampShader.ColorRampItem(0.0, QColor(255, 255, 178, 0), "0"),
            QgsColorRampShader.ColorRampItem(threshold / 2, QColor(254, 204, 92, 50), f"{threshold / 2:.2f}"),
            QgsColorRampShader.ColorRampItem(
                threshold,
                QColor(253, 141, 60, 110),
                QCoreApplication.translate("LandslideStyles", "{:.2f} (threshold)").format(threshold),
            ),
            QgsColorRampShader.ColorRampItem(1.0, QColor(189, 0, 38, 160), "1"),
        ]
    )
    return shader


def style_probability(layer: QgsRasterLayer, threshold: float) -> bool:
    """Colour ``layer``'s band 1 from transparent (0) through the threshold (orange) to red (1)."""
    if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
        return False
    shader = QgsRasterShader(0.0, 1.0)
    shader.setRasterShaderFunction(probability_shader(threshold))
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(1.0)
    layer.setRenderer(renderer)
    layer.triggerRepaint()
    return True


# Python post-processors must outlive the algorithm that created them until QGIS has used them
# (QGIS owns the C++ side; a collected Python side would be called after it is gone).
_ALIVE: list[QgsProcessingLayerPostProcessorInterface] = []


class ResultStyler(QgsProcessingLayerPostProcessorInterface):
    """Styles one output of ``landslides:detect`` when the toolbox loads it into the project."""

    def __init__(self, kind: str, threshold: float) -> None:
        super().__init__()
        self.kind = kind  # "polygons" or "probability"
        self.threshold = threshold

    def postProcessLayer(
        self, layer: QgsMapLayer, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> None:
        if self.kind == "polygons":
            style_landslides(layer, self.threshold)
        else:
            style_probability(layer, self.threshold)

    @classmethod
    def create(cls, kind: str, threshold: float) -> ResultStyler:
        styler = cls(kind, threshold)
        _ALIVE.append(styler)
        del _ALIVE[:-64]
        return styler


def attach_stylers(context: QgsProcessingContext, outputs: dict[str, Any], threshold: float) -> None:
    """Give the outputs QGIS will load (``{"polygons": id, "probability": path}``) their style."""
    for kind, layer_id in outputs.items():
        if layer_id and context.willLoadLayerOnCompletion(layer_id):
            details = context.layerToLoadOnCompletionDetails(layer_id)
            details.setPostProcessor(ResultStyler.create(kind, threshold))
