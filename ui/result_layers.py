# SPDX-License-Identifier: GPL-2.0-or-later
"""Result layers: loaded from the run's GeoPackage into the "Landslides" group, styled, described.

The run's numbers are stored as layer custom properties, so they are saved with the project and the
results list can be rebuilt when the project is opened again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsFillSymbol,
    QgsLayerTreeGroup,
    QgsProject,
    QgsSingleSymbolRenderer,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

GROUP_NAME = "Landslides"
PROPERTY = "landslide_detector/run"


@dataclass
class RunSummary:
    """The numbers one entry of the results list shows."""

    polygon_count: int = 0
    total_area_m2: float = 0.0
    provider: str = ""
    provider_reason: str = ""
    elapsed_s: float = 0.0
    raster: str = ""
    model: str = ""
    finished_at: str = ""

    @classmethod
    def from_results(cls, results: dict[str, Any], **extra: str) -> RunSummary:
        def number(key: str) -> float:
            try:
                return float(results.get(key) or 0.0)
            except (TypeError, ValueError):
                return 0.0

        return cls(
            polygon_count=int(number("POLYGON_COUNT")),
            total_area_m2=number("TOTAL_AREA_M2"),
            provider=str(results.get("EXECUTION_PROVIDER") or ""),
            provider_reason=str(results.get("PROVIDER_REASON") or ""),
            elapsed_s=number("ELAPSED_S"),
            **extra,
        )

    def describe(self) -> str:
        """One line for the results list, e.g. ``12 polygons · 3.4 ha · CPU · 8.1 s``."""
        noun = "polygon" if self.polygon_count == 1 else "polygons"
        area = format_area(self.total_area_m2)
        return f"{self.polygon_count} {noun} · {area} · {self.provider or '?'} · {self.elapsed_s:.1f} s"


def format_area(m2: float) -> str:
    if m2 >= 1_000_000:
        return f"{m2 / 1_000_000:.2f} km²"
    if m2 >= 10_000:
        return f"{m2 / 10_000:.2f} ha"
    return f"{m2:,.0f} m²"


def landslide_renderer() -> QgsSingleSymbolRenderer:
    """Semi-transparent red fill with a darker outline: the scars stay readable over the image."""
    symbol = QgsFillSymbol.createSimple(
        {
            "color": "230,30,30,110",
            "outline_color": "130,0,0,255",
            "outline_width": "0.5",
            "outline_width_unit": "MM",
        }
    )
    return QgsSingleSymbolRenderer(symbol)


def add_result_layer(path: Path, name: str, summary: RunSummary) -> QgsVectorLayer:
    """Load ``path`` into the project's "Landslides" group; raises ``ValueError`` if it will not open."""
    layer = QgsVectorLayer(str(path), name, "ogr")
    if not layer.isValid():
        raise ValueError(f"The result {path} could not be opened as a vector layer.")
    layer.setRenderer(landslide_renderer())
    layer.setCustomProperty(PROPERTY, json.dumps(asdict(summary)))
    project = QgsProject.instance()
    project.addMapLayer(layer, False)
    root = project.layerTreeRoot()
    group = root.findGroup(GROUP_NAME)
    if group is None:
        # Filled before it enters the tree, so the Layers panel shows it expanded with its layer.
        group = QgsLayerTreeGroup(GROUP_NAME)
        group.insertLayer(0, layer)
        root.insertChildNode(0, group)
    else:
        group.insertLayer(0, layer)
    return layer


def summary_of(layer: QgsVectorLayer) -> RunSummary | None:
    """The stored numbers of a result layer, or None for any other layer."""
    raw = layer.customProperty(PROPERTY)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    known = {key: value for key, value in data.items() if key in RunSummary.__dataclass_fields__}
    return RunSummary(**known)


def save_as_geopackage(layer: QgsVectorLayer, path: str | Path) -> None:
    """Write ``layer`` to a new GeoPackage at ``path``; raises ``OSError`` naming the problem."""
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.fileEncoding = "UTF-8"
    options.layerName = Path(path).stem
    error, message, _new_file, _new_layer = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, str(path), QgsProject.instance().transformContext(), options
    )
    if error != QgsVectorFileWriter.NoError:
        raise OSError(f"Could not save {layer.name()} to {path}: {message or error}")
