# SPDX-License-Identifier: GPL-2.0-or-later
"""The zip from `make package`, unpacked into a plugins folder, is a plugin QGIS loads and runs."""

from __future__ import annotations

import zipfile

from osgeo import ogr

from tests.qgis.conftest import PLUGIN_NAME, run_qgis_process
from tools.package import build_zip


def test_unzipped_package_runs_detection(tmp_path, squares_raster, tiny_model_files):
    # QGIS_PLUGINPATH names only the unzipped folder and the profile is new: this is the zip's copy.
    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(build_zip(tmp_path / "plugin.zip")) as archive:
        archive.extractall(plugins)
    profile = tmp_path / "profile"

    def qgis_process(*args: str):
        result = run_qgis_process(list(args), profile, plugins_dir=plugins)
        assert result.returncode == 0, result.output
        return result

    qgis_process("plugins", "enable", PLUGIN_NAME)
    listed = qgis_process("list").stdout
    for algorithm in ("landslides:detect", "landslides:evaluate", "landslides:export_tiles"):
        assert algorithm in listed

    output = tmp_path / "landslides.gpkg"
    qgis_process(
        "run",
        "landslides:detect",
        "--",
        f"INPUT={squares_raster}",
        f"MODEL={tiny_model_files.brightness}",
        f"OUTPUT={output}",
    )
    dataset = ogr.Open(str(output))
    assert dataset.GetLayer(0).GetFeatureCount() == 2  # the raster's two bright rectangles
