# SPDX-License-Identifier: GPL-2.0-or-later
"""`make package` builds a zip that QGIS's "Install from ZIP" accepts."""

from __future__ import annotations

import ast
import configparser
import zipfile

from core.version import plugin_version
from tools.package import PLUGIN_NAME, build_zip

REQUIRED_METADATA = [
    "name",
    "qgisMinimumVersion",
    "description",
    "about",
    "version",
    "author",
    "email",
    "repository",
]


def test_zip_holds_one_plugin_folder_with_valid_metadata(tmp_path):
    path = build_zip(tmp_path / "plugin.zip")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unzipped")

    assert {name.split("/")[0] for name in names} == {PLUGIN_NAME}
    folder = tmp_path / "unzipped" / PLUGIN_NAME

    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep QGIS's camelCase keys
    parser.read(folder / "metadata.txt", encoding="utf-8")
    general = parser["general"]
    for key in REQUIRED_METADATA:
        assert general.get(key), f"metadata.txt lacks {key}"
    assert general["version"] == plugin_version()
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["hasProcessingProvider"] == "yes"
    assert (folder / general["icon"]).is_file()

    tree = ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))
    factories = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "classFactory"]
    assert factories and [a.arg for a in factories[0].args.args] == ["iface"]


def test_zip_leaves_out_developer_files(tmp_path):
    with zipfile.ZipFile(build_zip(tmp_path / "plugin.zip")) as archive:
        tops = {name.split("/")[1] for name in archive.namelist()}
    assert not tops & {".venv", ".build", "tests", "model", "tools", "bench", ".git", "Makefile"}
    assert not [n for n in archive.namelist() if "__pycache__" in n or n.endswith(".pyc")]
    assert {"core", "processing_provider", "ui", "resources", "plugin.py", "LICENSE"} <= tops
