# SPDX-License-Identifier: GPL-2.0-or-later
"""The batch command's INPUTS -> the list of rasters to map.

An input is a raster (any format GDAL opens, a VRT mosaic included), a folder (searched
recursively for raster files), or a text list (``.txt``/``.lst``: one input per line, ``#``
comments, paths relative to the list). Paths may be local or GDAL virtual paths (``/vsicurl/``,
``/vsis3/``, ``/vsigs/``, ``/vsiaz/``, ``/vsizip/``...); ``http(s)://``, ``s3://``, ``gs://`` and
``az://`` URLs are turned into the matching virtual path, so cloud-optimised GeoTIFFs are read
in place, block by block.

Nothing is opened here except folders and lists: a raster that cannot be read is reported
later, per raster, without stopping the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from osgeo import gdal

# Extensions of raster files picked up in folders (a folder may hold other files too).
RASTER_EXTENSIONS = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".ecw", ".sid", ".kea", ".gtiff")
LIST_EXTENSIONS = (".txt", ".lst")
URL_PREFIXES = {
    "http://": "/vsicurl/http://",
    "https://": "/vsicurl/https://",
    "s3://": "/vsis3/",
    "gs://": "/vsigs/",
    "az://": "/vsiaz/",
}


class InputError(ValueError):
    """An input that is neither a raster, a folder nor a list; the message says what to give."""


def to_gdal_path(text: str) -> str:
    """``s3://bucket/key`` -> ``/vsis3/bucket/key``; URLs -> ``/vsicurl/``; others unchanged."""
    text = text.strip()
    for prefix, replacement in URL_PREFIXES.items():
        if text.lower().startswith(prefix):
            return replacement + text[len(prefix) :]
    return text


def is_virtual(path: str) -> bool:
    return path.startswith("/vsi")


def _is_dir(path: str) -> bool:
    if not is_virtual(path):
        return os.path.isdir(path)
    stat = gdal.VSIStatL(path)
    return bool(stat is not None and stat.IsDirectory())


def _is_raster_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(RASTER_EXTENSIONS) and not lower.endswith((".aux.xml", ".ovr", ".msk"))


def _folder_rasters(folder: str) -> list[str]:
    if is_virtual(folder):
        names = gdal.ReadDirRecursive(folder) or []
        found = [f"{folder.rstrip('/')}/{n}" for n in names if _is_raster_name(n)]
    else:
        found = []
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [os.path.join(root, f) for f in files if _is_raster_name(f) and not f.startswith(".")]
    return sorted(found)


def _read_list(path: str) -> list[str]:
    if is_virtual(path):
        handle = gdal.VSIFOpenL(path, "rb")
        if handle is None:
            raise InputError(f"The list '{path}' cannot be read. Check the path.")
        try:
            size = gdal.VSIStatL(path).size
            text = gdal.VSIFReadL(1, size, handle).decode("utf-8")
        finally:
            gdal.VSIFCloseL(handle)
        base = path.rsplit("/", 1)[0]
    else:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        base = os.path.dirname(os.path.abspath(path))
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = to_gdal_path(line)
        if not is_virtual(entry) and not os.path.isabs(entry):
            entry = os.path.join(base, entry) if not is_virtual(base) else f"{base}/{entry}"
        entries.append(entry)
    return entries


def expand_inputs(inputs: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """The rasters named by ``inputs`` (files, folders, lists), in order, each once.

    ``exclude``: folders whose files are never inputs (the command's own outputs). Raises
    InputError for an input that does not exist or a folder without rasters.
    """
    skip = [os.path.abspath(p) + os.sep for p in exclude if p and not is_virtual(str(p))]
    out: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = path if is_virtual(path) else os.path.abspath(path)
        if key in seen or any(key.startswith(s) for s in skip):
            return
        seen.add(key)
        out.append(key)

    def visit(text: str, depth: int) -> None:
        path = to_gdal_path(str(text))
        if is_virtual(path) and _is_raster_name(path):
            add(path)  # no request to the object store per file: GDAL reads it when a unit runs
        elif _is_dir(path):
            rasters = _folder_rasters(path)
            if not rasters:
                raise InputError(
                    f"The folder '{path}' holds no raster files ({', '.join(RASTER_EXTENSIONS)}). "
                    "Give a folder of orthophotos, the rasters themselves or a text list of them."
                )
            for raster in rasters:
                add(raster)
        elif path.lower().endswith(LIST_EXTENSIONS):
            if depth > 4:
                raise InputError(f"The list '{path}' includes lists too deeply (a loop?).")
            if not is_virtual(path) and not os.path.isfile(path):
                raise InputError(f"The list '{path}' does not exist. Check the path.")
            for entry in _read_list(path):
                visit(entry, depth + 1)
        elif is_virtual(path) or os.path.exists(path):
            add(path)  # whether GDAL reads it is checked per raster, later
        else:
            raise InputError(
                f"The input '{text}' does not exist. Give rasters, folders of rasters, a text list "
                "(.txt, one path per line) or GDAL virtual paths (/vsicurl/, /vsis3/, ...)."
            )

    for item in inputs:
        visit(item, 0)
    if not out:
        raise InputError("No input raster was given. Name rasters, folders or a text list.")
    return out


def fingerprint(path: str) -> str:
    """Identity of a raster's content as far as cheaply known: path, size and modification time.

    A re-run skips the units of a raster only while this is unchanged (an edited or replaced file
    is mapped again).
    """
    stat = gdal.VSIStatL(path)
    if stat is None:
        return f"{path}|?|?"
    return f"{path}|{stat.size}|{int(stat.mtime)}"
