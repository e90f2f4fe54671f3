# SPDX-License-Identifier: GPL-2.0-or-later
"""The plugin version, read from metadata.txt (its one source)."""

from __future__ import annotations

import configparser
from functools import lru_cache
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
METADATA_PATH = PLUGIN_DIR / "metadata.txt"


@lru_cache(maxsize=1)
def plugin_metadata() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(METADATA_PATH, encoding="utf-8")
    return dict(parser["general"])


def plugin_version() -> str:
    return plugin_metadata()["version"]
