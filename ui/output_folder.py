# SPDX-License-Identifier: GPL-2.0-or-later
"""Where results go by default: next to the saved project, or a temporary folder (and say which)."""

from __future__ import annotations

import re
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from qgis.core import QgsProject

from .i18n import tr

SUBFOLDER = "landslides"
_TEMP_DIR: Path | None = None


@dataclass(frozen=True)
class DefaultFolder:
    path: Path
    project_relative: bool

    def explanation(self) -> str:
        if self.project_relative:
            return tr("Next to your project, in its 'landslides' folder.")
        return tr(
            "Temporary folder: the project is not saved yet. Save the project or choose a folder "
            "to keep the results after QGIS closes."
        )


def session_temp_dir() -> Path:
    """One temporary folder per QGIS session, so all unsaved-project results sit together.

    Only named here (a random name); the first run creates it, so opening the panel leaves nothing.
    """
    global _TEMP_DIR
    if _TEMP_DIR is None:
        _TEMP_DIR = Path(tempfile.gettempdir()) / f"landslides-{uuid.uuid4().hex[:12]}"
    return _TEMP_DIR


def default_output_folder(project: QgsProject | None = None) -> DefaultFolder:
    project = project or QgsProject.instance()
    home = project.absolutePath()
    if project.fileName() and home:
        return DefaultFolder(Path(home) / SUBFOLDER, True)
    return DefaultFolder(session_temp_dir(), False)


def safe_name(text: str) -> str:
    """A file-name-safe version of a layer name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return cleaned[:60] or "raster"


def result_path(folder: Path, raster_name: str, when: datetime | None = None) -> Path:
    """A new GeoPackage name in ``folder`` that does not overwrite an earlier run."""
    stamp = (when or datetime.now()).strftime("%Y%m%d_%H%M%S")
    base = f"{safe_name(raster_name)}_landslides_{stamp}"
    candidate = folder / f"{base}.gpkg"
    index = 2
    while candidate.exists():
        candidate = folder / f"{base}_{index}.gpkg"
        index += 1
    return candidate
