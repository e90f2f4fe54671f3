# SPDX-License-Identifier: GPL-2.0-or-later
"""Which part of the orthophoto a dock run searches: the whole layer, the visible map extent, or the
selected polygons of a polygon layer, as the ``extent`` or ``mask`` of a ``landslides:detect``
request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qgis.core import (
    QgsProcessingFeatureSourceDefinition,
    QgsReferencedRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.gui import QgsMapCanvas

from .i18n import tr

AREA_MODES = ("layer", "extent", "selection")  # the order of the dock's areaCombo


@dataclass
class AreaChoice:
    extent: Any = None  # a QgsReferencedRectangle (the algorithm reprojects it), or None
    mask: Any = None  # the selected polygons (a feature source definition), or None
    problem: str = ""  # why the run cannot start, in words naming the fix ("" when it can)
    short: str = ""  # for the result layer's name: what was searched ("" for the whole layer)


def is_polygon_layer(layer: Any) -> bool:
    return (
        isinstance(layer, QgsVectorLayer)
        and layer.isValid()
        and layer.geometryType() == QgsWkbTypes.PolygonGeometry
    )


def area_choice(mode: str, canvas: QgsMapCanvas | None, polygons: QgsVectorLayer | None) -> AreaChoice:
    if mode == "extent":
        if canvas is None or canvas.extent().isEmpty():
            return AreaChoice(problem=tr("The map shows nothing yet: zoom to the area to search first."))
        crs = canvas.mapSettings().destinationCrs()
        # A referenced rectangle: the algorithm reprojects it to the orthophoto's CRS.
        return AreaChoice(extent=QgsReferencedRectangle(canvas.extent(), crs), short=tr("map extent"))
    if mode == "selection":
        if not is_polygon_layer(polygons):
            return AreaChoice(problem=tr("Choose the polygon layer whose selected features to search in."))
        count = polygons.selectedFeatureCount()
        if count == 0:
            text = tr("Nothing is selected in {}: select the polygons to search in, or search everything.")
            return AreaChoice(problem=text.format(polygons.name()))
        source = QgsProcessingFeatureSourceDefinition(polygons.id(), True)
        return AreaChoice(mask=source, short=tr("{} selected").format(count))
    return AreaChoice()


def area_description(mode: str, polygons: QgsVectorLayer | None) -> str:
    """The line under the choice, saying what will be searched."""
    if mode == "extent":
        return tr("What the map shows when you press Detect landslides.")
    if mode == "selection":
        if not is_polygon_layer(polygons):
            return tr("Add a polygon layer and select the areas to search in.")
        count = polygons.selectedFeatureCount()
        if count == 0:
            return tr("Nothing selected in {} yet.").format(polygons.name())
        return tr("Selected in {}: {}").format(polygons.name(), count)
    return ""
