# SPDX-License-Identifier: GPL-2.0-or-later
"""GeoPackage hand-over between the QGIS-free core and Processing sinks and sources.

OGR is used directly (not a QgsVectorLayer) so every file is closed before its temporary
folder is removed, which Windows requires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from osgeo import ogr, osr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsRectangle,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QVariant

_FIELD_TYPES = {
    ogr.OFTInteger: QVariant.Int,
    ogr.OFTInteger64: QVariant.LongLong,
    ogr.OFTReal: QVariant.Double,
}


def _tr(text: str) -> str:
    return QCoreApplication.translate("landslides", text)


def _open_layer(path: str, layer_name: str) -> tuple[ogr.DataSource, ogr.Layer]:
    dataset = ogr.Open(path)
    if dataset is None:
        raise QgsProcessingException(_tr("Could not read the detection result {}.").format(path))
    layer = dataset.GetLayerByName(layer_name) or dataset.GetLayer(0)
    return dataset, layer


def gpkg_schema(path: str, layer_name: str = "landslides") -> tuple[QgsFields, QgsWkbTypes.Type]:
    """Fields (without the GeoPackage ``fid``) and polygon type of a core result layer."""
    dataset, layer = _open_layer(path, layer_name)
    try:
        definition = layer.GetLayerDefn()
        fields = QgsFields()
        for i in range(definition.GetFieldCount()):
            field = definition.GetFieldDefn(i)
            fields.append(QgsField(field.GetName(), _FIELD_TYPES.get(field.GetType(), QVariant.String)))
        geometry_type = ogr.GT_Flatten(layer.GetGeomType())
        wkb_type = QgsWkbTypes.Polygon if geometry_type == ogr.wkbPolygon else QgsWkbTypes.MultiPolygon
        return fields, wkb_type
    finally:
        del layer, dataset


def gpkg_features(
    path: str, fields: QgsFields, wkb_type: QgsWkbTypes.Type, layer_name: str = "landslides"
) -> Iterator[QgsFeature]:
    """The features of a core result layer as QgsFeatures with ``fields``."""
    dataset, layer = _open_layer(path, layer_name)
    names = fields.names()
    try:
        for ogr_feature in layer:
            feature = QgsFeature(fields)
            feature.setAttributes([ogr_feature.GetField(name) for name in names])
            ogr_geometry = ogr_feature.GetGeometryRef()
            if ogr_geometry is not None:
                geometry = QgsGeometry()
                geometry.fromWkb(bytes(ogr_geometry.ExportToIsoWkb()))
                if wkb_type == QgsWkbTypes.MultiPolygon:
                    geometry.convertToMultiType()
                feature.setGeometry(geometry)
            yield feature
    finally:
        del layer, dataset


def write_polygons_gpkg(
    path: str,
    features: Iterable[QgsFeature],
    crs: QgsCoordinateReferenceSystem,
    extent: QgsRectangle | None = None,
) -> int:
    """Write the geometries of ``features`` (already in ``crs``) as a GeoPackage; returns how many.

    ``extent``, when given, is grown to cover every geometry written.
    """
    srs = None
    if crs.isValid():
        srs = osr.SpatialReference()
        srs.ImportFromWkt(crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL))
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    if dataset is None:
        raise QgsProcessingException(_tr("Could not write the temporary mask {}.").format(path))
    count = 0
    try:
        layer = dataset.CreateLayer("polygons", srs, ogr.wkbMultiPolygon)
        definition = layer.GetLayerDefn()
        for feature in features:
            geometry = feature.geometry()
            if geometry.isNull() or geometry.isEmpty():
                continue
            ogr_feature = ogr.Feature(definition)
            ogr_feature.SetGeometry(ogr.CreateGeometryFromWkb(bytes(geometry.asWkb())))
            if extent is not None:
                extent.combineExtentWith(geometry.boundingBox())
            layer.CreateFeature(ogr_feature)
            count += 1
    finally:
        layer = None
        dataset = None
    return count


def export_polygon_parameter(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict[str, Any],
    key: str,
    context: QgsProcessingContext,
    crs: QgsCoordinateReferenceSystem,
    path: str,
    not_polygons: Callable[[QgsProcessingFeatureSource], str],
    extent: QgsRectangle | None = None,
) -> int:
    """Write the polygons of the feature source parameter ``key`` to a GeoPackage at ``path`` for
    the core, reprojected by QGIS (with the project's datum transformations) into ``crs``; returns
    how many. A source that is not polygons is refused with ``not_polygons(source)``."""
    source = algorithm.feature_source(parameters, key, context)  # opened in the main thread
    if source is None:
        raise QgsProcessingException(algorithm.invalidSourceError(parameters, key))
    if QgsWkbTypes.geometryType(source.wkbType()) != QgsWkbTypes.PolygonGeometry:
        raise QgsProcessingException(not_polygons(source))
    request = QgsFeatureRequest().setNoAttributes()
    if crs.isValid() and source.sourceCrs().isValid():
        request.setDestinationCrs(crs, context.transformContext())
    return write_polygons_gpkg(path, source.getFeatures(request), crs, extent)
