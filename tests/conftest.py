# SPDX-License-Identifier: GPL-2.0-or-later
"""Import paths shared by every test.

* The repo root is on ``sys.path``: unit tests import the QGIS-free code as ``core.*`` and the
  training code as ``model.*``.
* ``.build/plugins`` holds a link named ``landslide_detector`` to the repo root, the way QGIS
  sees the plugin: QGIS tests import ``landslide_detector.*`` (never ``core.*``, so exception
  classes and module state are the plugin's own).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAME = "landslide_detector"
PLUGINS_DIR = ROOT / ".build" / "plugins"

_link = PLUGINS_DIR / PLUGIN_NAME
if not _link.exists():
    PLUGINS_DIR.mkdir(parents=True, exist_ok=True)
    _link.symlink_to("../..", target_is_directory=True)

for _path in (str(ROOT), str(PLUGINS_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# core.precision_probe caches its measured int8/float32 verdicts per CPU: tests (and the qgis_process
# runs they start) keep theirs in a throw-away folder, never in the user's cache.
if "LANDSLIDES_CACHE_DIR" not in os.environ:
    os.environ["LANDSLIDES_CACHE_DIR"] = tempfile.mkdtemp(prefix="landslides-test-cache-")
