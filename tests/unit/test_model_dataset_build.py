# SPDX-License-Identifier: GPL-2.0-or-later
"""The public-data builder on a tiny fake snapshot: a real git repository of generated PNG files."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from model.data import DataError
from model.dataset_build import DUPLICATE_CORRELATION, IGNORE, build, dihedral_thumbnails, encode_png, main
from model.public_data import PublicSource
from model.readers import tile_pairs
from model.sources import licence_of, load_split

gdal.UseExceptions()
REPO = "someone/landslide-tiles"


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(array))


def _scene(seed: int, h: int = 40, w: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random texture (so that thumbnails differ) with a bright 'landslide' rectangle."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 200, size=(3, 5, 6)).astype(np.float64)
    image = np.kron(coarse, np.ones((8, 8)))[:, :h, :w]
    mask = np.zeros((h, w), np.uint8)
    y, x = 8 + seed % 10, 10 + seed % 12
    mask[y : y + 12, x : x + 14] = 255
    image[:, mask > 0] = 230
    return image.astype(np.uint8), mask


def _git(cwd: Path, *args: str) -> str:
    run = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return run.stdout.strip()


@pytest.fixture()
def snapshot(tmp_path: Path) -> tuple[Path, str]:
    """MIRRORS/someone+landslide-tiles/repo, a bare git directory as the search tool's fetch leaves it."""
    work = tmp_path / "work"
    for i in range(7):
        image, mask = _scene(i)
        _png(work / "data" / "images" / f"ls_{i}.png", image)
        _png(work / "data" / "masks" / f"ls_{i}.png", mask)
    for i in range(3):
        _png(work / "data" / "images" / f"nls_{i}.png", _scene(100 + i)[0])
    for k in range(6):  # a 3 x 2 mosaic of 16 px tiles, the last column and row resized by its author
        image, mask = _scene(200 + k, 16, 16)
        _png(work / "grid" / "img" / f"image_{k}.png", image)
        _png(work / "grid" / "lab" / f"image_{k}.png", (mask > 0).astype(np.uint8))
    _git(work, "init", "-q")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "data")
    commit = _git(work, "rev-parse", "HEAD")
    mirrors = tmp_path / "mirrors"
    (mirrors / REPO.replace("/", "+")).mkdir(parents=True)
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(mirrors / REPO.replace("/", "+") / "repo"))
    return mirrors, commit


def _sources(commit: str) -> list[PublicSource]:
    common = dict(repo=REPO, commit=commit, licence="CC BY 4.0", what="fake", gsd_m=1.0)
    return [
        PublicSource(
            name="slides", folder="data", images="images/ls_*.png", labels="masks/{name}",
            label_coding="nonzero", scale=2.0, val_every=3, **common,
        ),
        PublicSource(
            name="negatives", folder="data", images="images/nls_*.png", labels="",
            label_coding="none", val_every=3, **common,
        ),
        PublicSource(
            name="mosaic", folder="grid", images="img/image_*.png", labels="lab/{name}",
            label_coding="nonzero", role="holdout", grid=(3, 2), grid_crop=1, scale=0.5, **common,
        ),
    ]  # fmt: skip


def _read(path: Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


def test_build_writes_tile_folders_split_and_manifest(snapshot, tmp_path):
    mirrors, commit = snapshot
    out = tmp_path / "out"
    manifest = build(mirrors, out, _sources(commit), exclude=[], log=None)

    slides = manifest["sources"][0]
    assert (slides["scenes"], slides["training_scenes"], slides["validation_scenes"]) == (7, 5, 2)
    split = json.loads((out / "slides" / "split.json").read_text())
    assert split["validation"] == ["ls_1", "ls_4"]  # every 3rd by name, model.train's rule
    image, label = _read(out / "slides" / "images" / "ls_0.png"), _read(out / "slides" / "masks" / "ls_0.png")
    assert image.shape == (3, 80, 96) and label.shape == (80, 96)  # scale 2
    assert set(np.unique(label)) == {0, 1}  # 0/255 masks recoded to 0/1 (255 means unknown)
    assert label.sum() == 4 * 12 * 14
    negatives = manifest["sources"][1]
    assert negatives["landslide_pixels"] == 0 and negatives["scenes"] == 3
    assert not _read(out / "negatives" / "masks" / "nls_0.png").any()

    mosaic = manifest["sources"][2]
    assert mosaic["role"] == "holdout" and mosaic["validation_scenes"] == 1 and mosaic["training_scenes"] == 0
    # 3 x 2 tiles of 16 px, the last column and row dropped: 2 x 1 tiles = 32 x 16, halved
    assert _read(out / "mosaic" / "masks" / "mosaic.png").shape == (8, 16)

    for source in manifest["sources"]:
        assert source["commit"] == commit and source["licence"] == "CC BY 4.0"
        for rel, digest in source["files"].items():
            import hashlib

            assert hashlib.sha256((out / source["name"] / rel).read_bytes()).hexdigest() == digest
    assert manifest["totals"]["scenes"] == 11
    assert licence_of(out / "slides") == "CC BY 4.0"  # the README table model.train reads
    assert not list(tmp_path.glob(".out.partial-*"))


def test_two_builds_are_identical(snapshot, tmp_path):
    mirrors, commit = snapshot
    first = build(mirrors, tmp_path / "a", _sources(commit), exclude=[], log=None)
    second = build(mirrors, tmp_path / "b", _sources(commit), exclude=[], log=None)
    assert first == second
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()


def test_copies_of_reference_and_validation_tiles_are_dropped(snapshot, tmp_path):
    mirrors, commit = snapshot
    # The project's data folder holds ls_2 rotated, flipped and enlarged (as the shared tiles were).
    image, _ = _scene(2)
    copy = np.rot90(image, 1, axes=(1, 2))[:, :, ::-1].repeat(3, axis=1).repeat(3, axis=2)
    reference = tmp_path / "shared"
    _png(reference / "bijie" / "images" / "x.png", np.ascontiguousarray(copy))
    _png(reference / "bijie" / "masks" / "x.png", np.zeros(copy.shape[1:], np.uint8))
    sources = _sources(commit)[:1]
    manifest = build(mirrors, tmp_path / "out", sources, exclude=[reference], log=None)
    dropped = manifest["sources"][0]["dropped"]
    assert [d["scene"] for d in dropped] == ["ls_2"] and dropped[0]["matches"] == "bijie/images/x.png"
    assert manifest["excluded_references"][0]["images"] == 1

    # A training scene equal to a validation scene of the build goes too (here: the same source twice).
    twin = replace(sources[0], name="twin", val_every=0)
    manifest = build(mirrors, tmp_path / "out2", [sources[0], twin], exclude=[], log=None)
    kept = manifest["sources"][1]
    assert {d["scene"] for d in kept["dropped"]} == {"ls_1", "ls_4"}  # slides' validation tiles


def test_thumbnails_see_through_rotation_and_scale():
    image, _ = _scene(5)
    variants = dihedral_thumbnails(image)
    turned = np.rot90(image, 3, axes=(1, 2)).repeat(2, axis=1).repeat(2, axis=2)
    assert (variants @ dihedral_thumbnails(turned)[0]).max() >= DUPLICATE_CORRELATION
    other = dihedral_thumbnails(_scene(6)[0])[0]
    assert (variants @ other).max() < DUPLICATE_CORRELATION


def test_load_split_honours_split_json(snapshot, tmp_path):
    mirrors, commit = snapshot
    out = tmp_path / "out"
    build(mirrors, out, _sources(commit), exclude=[], log=None)
    split = load_split([str(out / "slides"), str(out / "mosaic")], [], [], val_every=6)
    names = sorted(s.name for s in split.val)
    assert names == ["mosaic/mosaic", "slides/ls_1", "slides/ls_4"]  # not every 6th: the file's split
    assert len(split.train) == 5
    mosaic = next(s for s in split.val if s.source == "mosaic")
    assert mosaic.ignore.sum() == (_read(out / "mosaic" / "masks" / "mosaic.png") == IGNORE).sum()
    assert len(tile_pairs(out / "negatives")) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(repo="other/repo"), "fetch github:other/repo"),
        (dict(commit="0" * 40), "lacks commit"),
        (dict(repo="saedrna/DA-U-Net"), "independent evaluation set"),
        (dict(labels="masks/missing_{name}"), "is not in the snapshot"),
        (dict(images="images/none_*.png"), "no file matches"),
    ],
)
def test_bad_recipes_fail_clearly_and_leave_nothing(snapshot, tmp_path, change, message):
    mirrors, commit = snapshot
    sources = [replace(_sources(commit)[0], **change)]
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message):
        build(mirrors, out, sources, exclude=[], log=None)
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_existing_output_is_kept_without_force(snapshot, tmp_path, capsys):
    mirrors, commit = snapshot
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="--force"):
        build(mirrors, out, _sources(commit), exclude=[], log=None)
    assert (out / "keep.txt").read_text() == "mine"
    build(mirrors, out, _sources(commit), exclude=[], force=True, log=None)
    assert not (out / "keep.txt").exists() and (out / "manifest.json").is_file()
    # The command line names the problem and exits 2.
    assert main(["build", str(tmp_path / "nowhere"), str(tmp_path / "o2"), "--no-exclude"]) == 2
    assert "fetch github:" in capsys.readouterr().err
