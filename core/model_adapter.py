# SPDX-License-Identifier: GPL-2.0-or-later
"""From a model's output to the probability of the class searched for: what the engine blends.

The engine never looks at a model's output layout: a :class:`ModelAdapter`, made from the model's
metadata and output shape, turns every output batch (N x C x H x W) into the probability of the
chosen class (N x H x W). A model giving that probability directly costs nothing (a view).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DetectionError
from .model_metadata import ModelInfo

OUTPUT_FIX = (
    "Use a segmentation model with one float32 output N x 1 x H x W holding the landslide probability "
    "(export it with model/export.py)."
)


@dataclass
class ModelAdapter:
    """The chosen class's channel of the model output, and how to make it a probability."""

    channels: int  # channels of the model's output
    index: int = 0  # the chosen class's channel
    class_name: str = "landslide"

    def probability(self, out: np.ndarray) -> np.ndarray:
        """(N, C, H, W) model output -> (N, H, W) float32 probability of the chosen class."""
        return out[:, self.index]

    def describe(self) -> str:
        return f"class '{self.class_name}' (output channel {self.index})"


def model_adapter(info: ModelInfo, output_shape: list[object], model_path: str = "") -> ModelAdapter:
    """The adapter for a model whose first output has ``output_shape`` (N, C, H, W; dynamic dims
    are not ints). Raises DetectionError for an output the engine cannot use."""
    channels = output_shape[1] if len(output_shape) == 4 else None
    if isinstance(channels, int) and channels != 1:
        raise DetectionError(
            f"The model '{model_path}' output has {channels} channels {list(output_shape)}, not a "
            f"N x 1 x H x W probability map. {OUTPUT_FIX}"
        )
    names = [str(name) for name in info.class_names]
    return ModelAdapter(1, 0, names[-1] if names else "landslide")
