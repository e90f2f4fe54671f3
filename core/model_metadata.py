# SPDX-License-Identifier: GPL-2.0-or-later
"""The contract between the training export (model/export.py) and the inference core.

An exported model carries its description in the ONNX ``metadata_props``:

* ``landslide_detector``: one JSON object, the keys of :class:`ModelInfo` below.
* Deepness-compatible keys (``model_type``, ``class_names``, ``resolution`` in cm/px,
  ``tile_size``, ``tiles_overlap`` in percent, ``seg_thresh``, ``standardization_mean``,
  ``standardization_std``) so the same file also loads in the Deepness plugin.

Graph contract: one float32 input ``N x C x H x W`` holding normalised values in [-0.5, 0.5] (the
bands, then the ``extra_channels`` derived from an elevation raster, see :mod:`core.terrain`),
one float32 output, either ``N x 1 x H x W`` holding the landslide probability (sigmoid inside the
graph) or ``N x K x H x W`` holding the probability of each of K classes (softmax inside the graph,
channel k is ``class_names[k]``: what Deepness's segmentation models give). ``output: "logits"``
says the graph stops before the sigmoid or softmax (the core applies it). H and W must be multiples
of ``size_divisor``. Which class is mapped is chosen per run (:mod:`core.model_adapter`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

METADATA_KEY = "landslide_detector"
SCHEMA_VERSION = 1


@dataclass
class ModelInfo:
    """What the inference core needs to know about a model, with safe defaults for foreign models."""

    network: str = "unknown"  # e.g. "DA-U-Net"
    variant: str = ""  # "U-Net", "D-U-Net", "A-U-Net" or "DA-U-Net"
    width: int = 0  # channels of the first encoder stage
    bands: list[int] = field(default_factory=lambda: [1, 2, 3])  # 1-based raster bands, in model order
    band_names: list[str] = field(default_factory=lambda: ["red", "green", "blue"])
    # Raw value v of band i becomes (v - value_min[i]) / (value_max[i] - value_min[i]) - 0.5.
    # Empty lists mean "not recorded": the core then uses the data type's range or raster statistics.
    value_min: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    value_max: list[float] = field(default_factory=lambda: [255.0, 255.0, 255.0])
    # Channels after the bands, derived from an elevation raster (DSM/DEM) given with the orthophoto:
    # names from core.terrain ("slope", "relative_height"). Empty: the model needs the bands only.
    extra_channels: list[str] = field(default_factory=list)
    # Deepness's convention (the models of its zoo): once the value range is scaled onto 0..1, band i
    # becomes (x - mean[i]) / std[i], unclipped. Empty: this plugin's x - 0.5, clipped to [-0.5, 0.5].
    standardization_mean: list[float] = field(default_factory=list)
    standardization_std: list[float] = field(default_factory=list)
    # Normalised value given to nodata / no-imagery pixels before inference, as in training.
    nodata_fill: float = -0.5
    tile_size: int = 512
    overlap: int = 64  # pixels shared by neighbouring tiles
    size_divisor: int = 16  # H and W given to the network must be multiples of this
    threshold: float = 0.5
    # Polygons smaller than this are dropped unless the user sets a minimum area; calibrated with the
    # threshold on the validation split (model/calibrate.py). 0 = keep every polygon.
    min_area_m2: float = 0.0
    gsd_m: float = 0.0  # ground sampling distance of the training data (metres per pixel), 0 = unknown
    # One output channel: the probability of the last class. K channels: channel k is class k.
    class_names: list[str] = field(default_factory=lambda: ["background", "landslide"])
    output: str = "probability"  # or "logits": the sigmoid (1 channel) / softmax (K) is not in the graph
    training_data: list[dict[str, str]] = field(default_factory=list)  # {"name", "licence", "url"?}
    weights_licence: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # validation iou/precision/recall/f1
    # Cumulative training of these weights, across continued runs: steps, crops, hours.
    training: dict[str, float] = field(default_factory=dict)
    version: str = ""
    schema: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def deepness_metadata(info: ModelInfo) -> dict[str, str]:
    """The keys the Deepness plugin reads, derived from ``info`` (all values are strings in ONNX)."""
    # Deepness divides by 255 and then standardises: (x/255 - mean) / std == x/255 - 0.5 for Byte input.
    return {
        "model_type": json.dumps("Segmentor"),
        "class_names": json.dumps({str(i): name for i, name in enumerate(info.class_names)}),
        "resolution": json.dumps(round(info.gsd_m * 100.0, 3)),
        "tile_size": json.dumps(info.tile_size),
        "tiles_overlap": json.dumps(round(100.0 * info.overlap / info.tile_size)),
        "seg_thresh": json.dumps(info.threshold),
        "standardization_mean": json.dumps([0.5] * len(info.bands)),
        "standardization_std": json.dumps([1.0] * len(info.bands)),
    }


def metadata_props(info: ModelInfo) -> dict[str, str]:
    """All key/value pairs to store in an exported model's ``metadata_props``."""
    props = deepness_metadata(info)
    props[METADATA_KEY] = info.to_json()
    return props


def parse_metadata(props: dict[str, str]) -> ModelInfo:
    """ModelInfo from ``metadata_props``; a model without our key gets defaults plus Deepness keys."""
    if METADATA_KEY in props:
        return ModelInfo.from_dict(json.loads(props[METADATA_KEY]))
    info = ModelInfo(network="foreign", value_min=[], value_max=[])
    if "tile_size" in props:
        info.tile_size = int(json.loads(props["tile_size"]))
    if "tiles_overlap" in props:
        info.overlap = round(info.tile_size * float(json.loads(props["tiles_overlap"])) / 100.0)
    if "seg_thresh" in props:
        info.threshold = float(json.loads(props["seg_thresh"]))
    if "resolution" in props:
        info.gsd_m = float(json.loads(props["resolution"])) / 100.0
    if "class_names" in props:
        info.class_names = _class_names(json.loads(props["class_names"]))
    if "model_type" in props:  # a Deepness model: 8-bit input divided by 255, then standardised
        info.standardization_mean = [float(v) for v in json.loads(props.get("standardization_mean", "[0.0]"))]
        info.standardization_std = [float(v) for v in json.loads(props.get("standardization_std", "[1.0]"))]
        n = max(len(info.standardization_mean), len(info.standardization_std), len(info.bands))
        info.value_min, info.value_max = [0.0] * n, [255.0] * n
    return info


def _class_names(value: Any) -> list[str]:
    """Deepness writes ``{"0": "background", "1": "landslide"}`` (or a list): names in channel order."""
    if isinstance(value, dict):
        return [str(value[key]) for key in sorted(value, key=lambda k: int(k))]
    return [str(name) for name in value]
