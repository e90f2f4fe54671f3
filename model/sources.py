# SPDX-License-Identifier: GPL-2.0-or-later
"""Training sources: load tile folders and orthophotos, split them for validation, find licences.

Validation is split by tile or by area, never by overlapping crops of one scene:

* tile folders: every ``val_every``-th tile (in sorted name order) of each folder is held out whole,
  or, where the folder has a ``split.json`` (written by ``python -m model.data build``), the tiles it
  lists under ``validation`` (all of them for a source held out whole);
* orthophotos: the eastern ``holdout`` fraction of each scene is held out, with a ``gap`` of unused
  columns between the training and the validation block, or a whole scene via ``--val-ortho``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from model.data import DataError, Split
from model.readers import load_orthophoto, load_tile, tile_pairs

NOT_STATED = "not stated"


def licence_of(path: Path) -> str:
    """The licence stated for a data folder in the README.md table of its parent folder.

    The data README has rows like ``| `sichuan/` | ... | CC BY 4.0 |``; the last cell is the licence.
    """
    path = path.resolve()
    folder = path if path.is_dir() else path.parent
    readme = folder.parent / "README.md"
    if not readme.exists():
        return NOT_STATED
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 1 and re.fullmatch(rf"`?{re.escape(folder.name)}/?`?", cells[0]):
            return cells[-1] or NOT_STATED
    return NOT_STATED


def fixed_validation(folder: Path) -> set[str] | None:
    """The validation tile names a folder's ``split.json`` fixes, or None (no such file)."""
    path = folder / "split.json"
    if not path.is_file():
        return None
    try:
        names = json.loads(path.read_text(encoding="utf-8"))["validation"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path}: not a split file ({exc}); rebuild it with python -m model.data build"
        ) from exc
    return {str(n) for n in names}


def _source_name(path: Path) -> str:
    path = path.resolve()
    return path.name if path.is_dir() else path.parent.name


def _add_source(split: Split, path: Path) -> str:
    name = _source_name(path)
    if not any(s["name"] == name for s in split.sources):
        split.sources.append({"name": name, "licence": licence_of(path), "path": str(path.resolve())})
    return name


def load_split(
    tiles: list[str],
    orthos: list[tuple[str, str]],
    val_orthos: list[tuple[str, str]],
    val_every: int = 6,
    holdout: float = 0.35,
    gap: int = 64,
    terrain: tuple[str, ...] | list[str] = (),
    dsms: dict[str, str] | None = None,
) -> Split:
    """``terrain``: elevation channels to add (core.terrain names) from each orthophoto's DSM,
    ``dsms[image]`` or the one beside it (model.readers.dsm_beside)."""
    split = Split()
    dsms = dsms or {}
    if terrain and tiles:
        raise DataError(
            "--terrain needs an elevation raster beside every image, and tile folders have none: "
            "train an RGB + DSM model from --ortho scenes only"
        )
    for folder in tiles:
        source = _add_source(split, Path(folder))
        fixed = fixed_validation(Path(folder))
        for i, (img, lab) in enumerate(tile_pairs(folder)):
            scene = load_tile(img, lab, source)
            if fixed is not None:
                is_val = img.stem in fixed
            else:
                is_val = val_every > 0 and i % val_every == val_every // 2
            (split.val if is_val else split.train).append(scene)
    for image, inventory in orthos:
        source = _add_source(split, Path(image))
        scene = load_orthophoto(image, inventory, source, dsms.get(image), terrain)
        width = scene.label.shape[1]
        cut = round(width * (1.0 - holdout)) if holdout > 0 else width
        if holdout > 0 and (cut - gap < 16 or width - cut < 16):
            raise DataError(
                f"{image}: too narrow ({width} px) to hold out {holdout:.0%} of it; lower --ortho-holdout"
            )
        split.train.append(scene.columns(0, cut - gap if holdout > 0 else width, ":west"))
        if holdout > 0:
            split.val.append(scene.columns(cut, width, ":east"))
    for image, inventory in val_orthos:
        source = _add_source(split, Path(image))
        split.val.append(load_orthophoto(image, inventory, source, dsms.get(image), terrain))
    if not split.train:
        raise DataError("no training data: give --tiles DIR and/or --ortho IMAGE INVENTORY")
    return split
