# SPDX-License-Identifier: GPL-2.0-or-later
"""Layer parameters looked up in the main thread, before a background run starts.

Why: in QGIS 3.22 every look-up of a layer by id, name or source (``QgsProcessingUtils.mapLayerFromString``,
behind every ``parameterAs*Layer``/``parameterAsSource``) calls the non-const
``QgsProject::layerStore()``, which discards the project's cached expression scope. Called from the
worker thread of a background run (the toolbox's or the dock's), it can discard the scope while the
map canvas is rebuilding it in the main thread, and QGIS crashes (a null scope in
``QgsProject::createExpressionContextScope``). QGIS calls ``prepareAlgorithm`` in the main thread, so the
algorithms look their layers up there, and the worker only uses what was found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterRasterLayer,
)

from .raster_input import RasterInput, loaded_layer, raster_input, unloaded_raster_path


@dataclass
class PreparedLayers:
    """What ``prepareAlgorithm`` found for each layer parameter, by parameter name."""

    rasters: dict[str, RasterInput | QgsProcessingException] = field(default_factory=dict)
    layers: dict[str, QgsMapLayer] = field(default_factory=dict)  # replace a layer id, name or source
    sources: dict[str, QgsProcessingFeatureSource | None] = field(default_factory=dict)

    def raster(self, key: str) -> RasterInput | None:
        """The raster of parameter ``key``; its look-up error is raised here, in the run."""
        found = self.rasters.get(key)
        if isinstance(found, QgsProcessingException):
            raise found
        return found


def prepare_layers(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict[str, Any],
    context: QgsProcessingContext,
    raster_keys: tuple[str, ...] = (),
) -> PreparedLayers:
    """Look up, in the main thread, the layers of ``algorithm``'s parameters: ``raster_keys`` as
    :class:`RasterInput` (a file stays a file), feature sources opened (selected features only
    included), other layer values (ids, names, files) replaced by their layers, and an extent that
    names a loaded layer replaced by that layer."""
    prepared = PreparedLayers()
    for definition in algorithm.parameterDefinitions():
        key = definition.name()
        value = parameters.get(key)
        if value is None or value == "":
            continue
        if key in raster_keys or (
            isinstance(definition, QgsProcessingParameterMapLayer) and unloaded_raster_path(value, context)
        ):
            try:
                prepared.rasters[key] = raster_input(algorithm, parameters, key, context)
            except QgsProcessingException as error:  # reported by the run, as every other input error
                prepared.rasters[key] = error
        elif isinstance(definition, QgsProcessingParameterFeatureSource):
            prepared.sources[key] = algorithm.parameterAsSource(parameters, key, context)
        elif isinstance(value, str) and isinstance(
            definition, (QgsProcessingParameterRasterLayer, QgsProcessingParameterMapLayer)
        ):
            layer = algorithm.parameterAsLayer(parameters, key, context)  # a file is loaded here
            if layer is not None:
                prepared.layers[key] = layer
        elif isinstance(value, str) and isinstance(definition, QgsProcessingParameterExtent):
            layer = loaded_layer(value, context)  # an extent may name a layer
            if layer is not None:
                prepared.layers[key] = layer
    return prepared
