# SPDX-License-Identifier: GPL-2.0-or-later
"""ModelInfo of an ONNX model file, completed from its graph (input band count, fixed tile sizes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import DetectionError
from .model_metadata import ModelInfo, parse_metadata
from .runtime import check_model_io


@dataclass
class InputSpec:
    """The graph's input: name and each dimension, ``None`` where it is dynamic."""

    name: str
    batch: int | None
    channels: int | None
    height: int | None
    width: int | None


def _fixed(dim: Any) -> int | None:
    return int(dim) if isinstance(dim, int) and dim > 0 else None


def input_spec(session: Any) -> InputSpec:
    inp = session.get_inputs()[0]
    n, c, h, w = (_fixed(d) for d in inp.shape)
    return InputSpec(inp.name, n, c, h, w)


def info_from_session(session: Any, model_path: str = "") -> ModelInfo:
    """ModelInfo from the metadata, with bands/scaling made consistent with the graph's channel count."""
    check_model_io(session, model_path)
    try:
        props = dict(session.get_modelmeta().custom_metadata_map)
        info = parse_metadata(props)
    except (ValueError, TypeError, KeyError) as exc:
        raise DetectionError(
            f"The metadata of the model '{model_path}' cannot be read ({exc}). Export the model again with "
            "model/export.py, which writes the 'landslide_detector' metadata."
        ) from exc
    spec = input_spec(session)
    listed = len(info.bands) + len(info.extra_channels)
    if spec.channels is not None and spec.channels != listed:
        if info.network != "foreign":
            raise DetectionError(
                f"The model '{model_path}' metadata lists {len(info.bands)} bands and "
                f"{len(info.extra_channels)} elevation channels but its input has {spec.channels} channels. "
                "Export the model again so that both agree."
            )
        # A foreign model (no landslide_detector metadata): take the first C raster bands.
        info.bands = list(range(1, spec.channels + 1))
        info.band_names = [f"band {b}" for b in info.bands]
        if info.standardization_std:  # Deepness's: one convention for every band
            info.value_min, info.value_max = [0.0] * spec.channels, [255.0] * spec.channels
        else:
            info.value_min, info.value_max = [], []
    if spec.height is not None and spec.width is not None and spec.height == spec.width:
        info.tile_size = spec.height
        info.overlap = min(info.overlap, info.tile_size // 2)
    return info


def load_model_info(model_path: str) -> ModelInfo:
    """ModelInfo of ``model_path`` (opens a CPU session without graph optimisation: cheap)."""
    import os

    from .runtime import _import_ort, _open_model_error

    model_path = str(model_path)
    if not os.path.isfile(model_path):
        raise DetectionError(f"The model file '{model_path}' does not exist. Choose an existing .onnx model.")
    ort = _import_ort()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise _open_model_error(model_path, exc) from exc
    return info_from_session(session, model_path)
