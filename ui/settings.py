# SPDX-License-Identifier: GPL-2.0-or-later
"""What the dock remembers across QGIS sessions (QgsSettings, in the user's profile).

Threshold and minimum area are remembered only as the analyst's *own* values: while
``use_model_values`` is on (the default), every model chosen brings its calibrated values, so a new
model is never run with numbers calibrated for another one.
"""

from __future__ import annotations

from typing import Any

from qgis.core import QgsSettings

GROUP = "landslide_detector/dock"

# key: default (its type is the stored value's type)
DEFAULTS: dict[str, Any] = {
    "model": "",  # "" = the shipped model
    "use_model_values": True,
    "threshold": 0.5,
    "min_area": 0.0,
    "output_folder": "",  # "" = next to the project, or a temporary folder
    "area": "layer",  # "layer" | "extent" | "selection"
    "probability": False,
    "device": "auto",
    "tile_size": 0,  # 0 = fitted to the raster
    "overlap": -1,  # -1 = the model's
    "batch_size": 0,  # 0 = automatic
    "tta": False,
    "run_at_once": False,
}


class DockSettings:
    def __init__(self, settings: QgsSettings | None = None) -> None:
        self.settings = settings or QgsSettings()

    def get(self, key: str) -> Any:
        default = DEFAULTS[key]
        value = self.settings.value(f"{GROUP}/{key}", default)
        try:
            if isinstance(default, bool):
                return value if isinstance(value, bool) else str(value).lower() in ("true", "1")
            return type(default)(value)
        except (TypeError, ValueError):
            return default

    def has(self, key: str) -> bool:
        return self.settings.contains(f"{GROUP}/{key}")

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self.settings.setValue(f"{GROUP}/{key}", value)

    def clear(self) -> None:
        self.settings.remove(GROUP)
