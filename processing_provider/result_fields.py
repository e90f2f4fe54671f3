# SPDX-License-Identifier: GPL-2.0-or-later
"""The attribute table analysts get: one identifier and numbers rounded to what they can support.

The core's GeoPackage keeps full precision and its own ``id``; the algorithm's output renames that
``id`` to ``fid``. A GeoPackage (and QGIS's writer) uses a field called ``fid`` as its feature id,
so the table shows one identifier instead of ``fid`` beside ``id``; other formats keep it as a field.

Rounding: areas and perimeters are counts of pixel faces and edges, so a centimetre (cm² for
areas) is finer than any orthophoto pixel and loses nothing real; probabilities come from a model
whose calibration is not better than a few thousandths.
"""

from __future__ import annotations

from typing import Any

from qgis.core import QgsFeature, QgsField, QgsFields
from qgis.PyQt.QtCore import QVariant

from ..core.vectorize import ATTRIBUTES, OPTIONAL_ATTRIBUTES

ID_FIELD = "fid"
CORE_ID_FIELD = "id"
# Per attribute, from its spec in the core (a new attribute brings its own rounding).
DECIMALS = {a.name: a.decimals for a in (*ATTRIBUTES, *OPTIONAL_ATTRIBUTES) if a.decimals is not None}


def output_fields(core_fields: QgsFields) -> QgsFields:
    """The output schema: the core's fields with ``id`` renamed to ``fid`` and decimals declared."""
    fields = QgsFields()
    for field in core_fields:
        name = field.name()
        if name == CORE_ID_FIELD:
            fields.append(QgsField(ID_FIELD, QVariant.Int))
        elif name in DECIMALS:
            fields.append(QgsField(name, QVariant.Double, "double", 20, DECIMALS[name]))
        else:
            fields.append(QgsField(field))
    return fields


def rounded(name: str, value: Any) -> Any:
    decimals = DECIMALS.get(name)
    if decimals is None or value is None or isinstance(value, bool):
        return value
    try:
        return round(float(value), decimals)
    except (TypeError, ValueError):
        return value


def output_feature(feature: QgsFeature, fields: QgsFields) -> QgsFeature:
    """``feature`` (core schema, same field order) with the output schema and rounded values."""
    out = QgsFeature(fields)
    out.setAttributes([rounded(fields.at(i).name(), value) for i, value in enumerate(feature.attributes())])
    out.setGeometry(feature.geometry())
    return out
