# SPDX-License-Identifier: GPL-2.0-or-later
"""From a model's output to the probability of the class searched for: what the engine blends.

The engine never looks at a model's output layout: a :class:`ModelAdapter`, made from the model's
metadata and output shape, turns every output batch (N x C x H x W) into the probability of the
chosen class (N x H x W):

* one channel: the landslide probability (sigmoid in the graph: a view, no copy), or its logit;
* K channels, one per class (``ModelInfo.class_names``, as Deepness's segmentation models have
  them): the chosen class's softmax probability (a view), or the softmax of K logits.

The class is chosen by name or by channel number (``CLASS=landslide``, ``CLASS=1``); by default it
is "landslide" when the model has a class of that name, the second of two classes otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DetectionError
from .model_metadata import ModelInfo

DEFAULT_CLASS = "landslide"
OUTPUT_FIX = (
    "Use a segmentation model with one float32 output: N x 1 x H x W holding the landslide probability "
    "(export it with model/export.py), or N x K x H x W holding the probability of each of K classes."
)


@dataclass
class ModelAdapter:
    """The chosen class's channel of the model output, and how to make it a probability."""

    channels: int  # channels of the model's output
    index: int = 0  # the chosen class's channel
    class_name: str = DEFAULT_CLASS
    activation: str = "none"  # 'none': probabilities already; 'sigmoid' or 'softmax' of logits

    def probability(self, out: np.ndarray) -> np.ndarray:
        """(N, C, H, W) model output -> (N, H, W) float32 probability of the chosen class."""
        if out.shape[1] != self.channels:
            raise DetectionError(
                f"The model gave {out.shape[1]} output channels where its metadata and graph promise "
                f"{self.channels}. {OUTPUT_FIX}"
            )
        if self.activation == "none":
            return out[:, self.index]
        if self.activation == "sigmoid":
            return (1.0 / (1.0 + np.exp(-out[:, self.index]))).astype(np.float32, copy=False)
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        return (shifted[:, self.index] / shifted.sum(axis=1)).astype(np.float32, copy=False)

    def describe(self) -> str:
        of = f" of {self.channels}" if self.channels > 1 else ""
        how = {"none": "", "sigmoid": ", sigmoid of its logit", "softmax": ", softmax of the logits"}
        return f"class '{self.class_name}' (output channel {self.index}{of}{how[self.activation]})"


def model_adapter(
    info: ModelInfo, output_shape: list[object], model_path: str = "", requested: str | None = None
) -> ModelAdapter:
    """The adapter for a model whose first output has ``output_shape`` (N, C, H, W; dynamic dims
    are not ints), mapping class ``requested`` (a name or a channel number; None: the default).
    Raises DetectionError for an output or a class the model does not have."""
    channels = output_shape[1] if len(output_shape) == 4 and isinstance(output_shape[1], int) else None
    if channels is None:  # a dynamic channel count: as many as the metadata names, else one
        channels = len(info.class_names) if info.network == "foreign" and len(info.class_names) > 2 else 1
    if channels < 1:
        raise DetectionError(f"The model '{model_path}' output has no channel. {OUTPUT_FIX}")
    if info.output not in ("probability", "logits"):
        raise DetectionError(
            f"The model '{model_path}' metadata says its output is '{info.output}'. Export it again with "
            "output 'probability' or 'logits'."
        )
    logits = info.output == "logits"
    if channels == 1:
        name = str(info.class_names[-1]) if info.class_names else DEFAULT_CLASS
        _check_single_class(name, requested, model_path)
        return ModelAdapter(1, 0, name, "sigmoid" if logits else "none")
    names = [str(n) for n in info.class_names]
    if len(names) != channels:
        names = [f"class {k}" for k in range(channels)]
    index = _class_index(names, requested, model_path)
    return ModelAdapter(channels, index, names[index], "softmax" if logits else "none")


def _check_single_class(name: str, requested: str | None, model_path: str) -> None:
    text = "" if requested is None else str(requested).strip()
    if text.lower() in ("", name.lower(), "0", "1"):
        return
    raise DetectionError(
        f"The model '{model_path}' maps one class, '{name}' (one output channel), so class "
        f"'{requested}' cannot be chosen. Leave the class empty."
    )


def _class_index(names: list[str], requested: str | None, model_path: str) -> int:
    """The channel of class ``requested`` (a name, any case, or a channel number) among ``names``."""
    choices = ", ".join(f"{k} = {name}" for k, name in enumerate(names))
    text = "" if requested is None else str(requested).strip()
    if not text:
        lowered = [n.lower() for n in names]
        if DEFAULT_CLASS in lowered:
            return lowered.index(DEFAULT_CLASS)
        if len(names) == 2:
            return 1  # background and the class mapped
        raise DetectionError(
            f"The model '{model_path}' has {len(names)} classes ({choices}) and none is called "
            f"'{DEFAULT_CLASS}'. Choose the class to map (its name or number)."
        )
    if text.isdigit() and int(text) < len(names):
        return int(text)
    for k, name in enumerate(names):
        if name.lower() == text.lower():
            return k
    raise DetectionError(
        f"The model '{model_path}' has no class '{text}'. Choose one of its classes: {choices}."
    )
