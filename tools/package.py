# SPDX-License-Identifier: GPL-2.0-or-later
"""Build the plugin zip that QGIS's "Install from ZIP" accepts (`make package`).

The zip holds one folder named after the plugin with what runs inside QGIS: no training code,
tests, developer tools or virtual environment. Translations are compiled here from ``i18n/*.ts``
with Qt's ``lrelease`` (the ``.qm`` files are build products, never committed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAME = "landslide_detector"
# What QGIS needs at run time; everything else in the repo is for developers.
INCLUDE = [
    "metadata.txt",
    "__init__.py",
    "plugin.py",
    "LICENSE",
    "README.md",
    "requirements.txt",
    "core",
    "processing_provider",
    "ui",
    "resources",
]
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".aux.xml"}
I18N = "i18n"


def compile_translations(root: Path, folder: Path) -> list[Path]:
    """``i18n/*.ts`` compiled into ``folder`` as ``.qm`` files (what QGIS loads)."""
    sources = sorted((root / I18N).glob(f"{PLUGIN_NAME}_*.ts"))
    if not sources:
        return []
    lrelease = shutil.which("lrelease")
    if lrelease is None:
        raise FileNotFoundError(
            "lrelease (Qt's translation compiler) is missing: "
            "sudo apt-get install qttools5-dev-tools, or run `make setup`"
        )
    compiled = []
    for source in sources:
        target = folder / source.with_suffix(".qm").name
        subprocess.run([lrelease, "-silent", str(source), "-qm", str(target)], check=True)
        compiled.append(target)
    return compiled


def plugin_files(root: Path = ROOT) -> Iterator[Path]:
    for name in INCLUDE:
        path = root / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(root)
                if (
                    file.is_file()
                    and not SKIP_PARTS.intersection(relative.parts)
                    and not any(file.name.endswith(s) for s in SKIP_SUFFIXES)
                ):
                    yield file
        else:
            raise FileNotFoundError(f"{path} is missing: the plugin zip needs it")


def build_zip(output: Path, root: Path = ROOT) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with tempfile.TemporaryDirectory() as work:
        translations = compile_translations(root, Path(work))
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in plugin_files(root):
                archive.write(file, f"{PLUGIN_NAME}/{file.relative_to(root).as_posix()}")
            for qm in translations:
                archive.write(qm, f"{PLUGIN_NAME}/{I18N}/{qm.name}")
    partial.replace(output)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, required=True, help="path of the zip to write")
    args = parser.parse_args()
    path = build_zip(args.output)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
