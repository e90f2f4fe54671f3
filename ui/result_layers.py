# SPDX-License-Identifier: GPL-2.0-or-later
"""Result layers: loaded from the run's GeoPackage into the "Landslides" group, styled, described.

Each run's layer is named by what can differ between runs (threshold, minimum area, model, searched
area, test-time augmentation), so repeated runs can be told apart and compared in the Layers panel.
The run's numbers are stored as layer custom properties, so they are saved with the project and the
results list can be rebuilt when the project is opened again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsLayerTreeGroup,
    QgsProject,
    QgsRasterLayer,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from ..processing_provider.detect_io import DetectReport
from ..processing_provider.styles import style_landslides, style_probability
from .i18n import tr

GROUP_NAME = "Landslides"  # not translated: the dock finds its group by this name in saved projects
PROPERTY = "landslide_detector/run"


@dataclass
class RunSummary:
    """The numbers one entry of the results list shows."""

    polygon_count: int = 0
    total_area_m2: float = 0.0
    provider: str = ""
    provider_reason: str = ""
    precision: str = ""  # float32 or int8: which copy of the model ran
    precision_reason: str = ""
    elapsed_s: float = 0.0
    raster: str = ""
    model: str = ""
    finished_at: str = ""
    threshold: float = 0.0
    min_area_m2: float = 0.0
    settings: str = ""  # threshold, minimum area, model and what else differs, for the name

    @classmethod
    def from_report(cls, report: DetectReport, **extra: Any) -> RunSummary:
        """The report's numbers under the same field names, plus ``extra`` (raster, model, ...)."""
        shared = {f.name: getattr(report, f.name) for f in fields(cls) if hasattr(report, f.name)}
        return cls(**{**shared, **extra})

    @classmethod
    def from_results(cls, results: dict[str, Any], **extra: Any) -> RunSummary:
        """From the algorithm's results as Processing returns them."""
        return cls.from_report(DetectReport.from_results(results), **extra)

    def describe(self) -> str:
        """One line for the results list, e.g. ``12 polygons · 3.4 ha · CPU int8 · 8.1 s``."""
        count = tr("1 polygon") if self.polygon_count == 1 else tr("{} polygons").format(self.polygon_count)
        area = format_area(self.total_area_m2)
        ran = " ".join(part for part in (self.provider or "?", self.precision) if part)
        return f"{count} · {area} · {ran} · {self.elapsed_s:.1f} s"


def format_area(m2: float) -> str:
    if m2 >= 1_000_000:
        return f"{m2 / 1_000_000:.2f} km²"
    if m2 >= 10_000:
        return f"{m2 / 10_000:.2f} ha"
    return f"{m2:,.0f} m²"


def run_settings(threshold: float, min_area_m2: float, model: str, extras: list[str] | None = None) -> str:
    """What can differ between runs, e.g. ``threshold 0.60, min. 25 m², landslide_daunet, TTA``."""
    parts = [
        tr("threshold {:.2f}").format(threshold),
        tr("min. {}").format(format_area(min_area_m2)),
        Path(model).stem if model else "?",
        *(extras or []),
    ]
    return ", ".join(parts)


def run_layer_name(raster: str, settings: str) -> str:
    """E.g. ``ortho — threshold 0.60, min. 25 m², landslide_daunet, map extent``."""
    return f"{raster} — {settings}" if settings else raster


def unique_layer_name(name: str, project: QgsProject | None = None) -> str:
    """``name``, or ``name (2)``, ``(3)``… when an identical run is already in the project."""
    project = project or QgsProject.instance()
    taken = {layer.name() for layer in project.mapLayers().values()}
    candidate, index = name, 2
    while candidate in taken:
        candidate = f"{name} ({index})"
        index += 1
    return candidate


def _results_group(project: QgsProject) -> tuple[QgsLayerTreeGroup, bool]:
    root = project.layerTreeRoot()
    group = root.findGroup(GROUP_NAME)
    return (group, False) if group is not None else (QgsLayerTreeGroup(GROUP_NAME), True)


def add_result_layer(
    path: Path, name: str, summary: RunSummary, probability_path: Path | None = None
) -> tuple[QgsVectorLayer, QgsRasterLayer | None]:
    """Load the polygons (and the probability raster) into the project's "Landslides" group, styled.

    Raises ``ValueError`` if the polygons will not open; a probability raster that will not open is
    left out (None) rather than losing the polygons.
    """
    layer = QgsVectorLayer(str(path), name, "ogr")
    if not layer.isValid():
        raise ValueError(tr("The result {} could not be opened as a vector layer.").format(path))
    style_landslides(layer, summary.threshold)
    layer.setCustomProperty(PROPERTY, json.dumps(asdict(summary)))
    probability = None
    if probability_path is not None:
        probability = QgsRasterLayer(str(probability_path), tr("{} (probability)").format(name))
        if probability.isValid():
            style_probability(probability, summary.threshold)
        else:
            probability = None
    project = QgsProject.instance()
    project.addMapLayer(layer, False)
    group, new_group = _results_group(project)
    # Polygons on top, their probability right below them.
    if probability is not None:
        project.addMapLayer(probability, False)
        group.insertLayer(0, probability)
    group.insertLayer(0, layer)
    if new_group:
        # Filled before it enters the tree, so the Layers panel shows it expanded with its layers.
        project.layerTreeRoot().insertChildNode(0, group)
    return layer, probability


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
        raise OSError(tr("Could not save {} to {}: {}").format(layer.name(), path, message or error))
