# SPDX-License-Identifier: GPL-2.0-or-later
"""Files shipped with the plugin, found relative to its folder (the one place that names them)."""

from __future__ import annotations

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
RESOURCES_DIR = PLUGIN_DIR / "resources"
SHIPPED_MODEL = RESOURCES_DIR / "model" / "landslide_daunet.onnx"
MODEL_CARD = RESOURCES_DIR / "model" / "MODEL_CARD.md"
ICON_PATH = RESOURCES_DIR / "icon.svg"
