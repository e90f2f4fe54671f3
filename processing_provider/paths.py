# SPDX-License-Identifier: GPL-2.0-or-later
"""Files the algorithms ship with, found relative to the plugin folder."""

from __future__ import annotations

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
RESOURCES_DIR = PLUGIN_DIR / "resources"
DEFAULT_MODEL_PATH = RESOURCES_DIR / "model" / "landslide_daunet.onnx"
ICON_PATH = RESOURCES_DIR / "icon.svg"
