# SPDX-License-Identifier: GPL-2.0-or-later
"""Rebuild the public part of the training set from fetched git snapshots, byte for byte.

    python -m model.data build MIRRORS OUT [--exclude DIR ...] [--sources a,b] [--force]
    python -m model.data sources            # what is built from where, and the fetch list

For every :data:`model.public_data.SOURCES` entry the files are read out of the bare git directory
``MIRRORS/owner+name/repo`` (what the search tool's ``fetch`` brings) at the pinned commit, so the
result does not depend on what the mirror holds later. Each source becomes a tile folder
``OUT/<name>/{images,masks}`` that ``model.train --tiles`` reads: RGB PNG images and single-band PNG
labels coded 0 background, 1 landslide, 255 unknown (no imagery). ``OUT/<name>/split.json`` fixes
which tiles are validation (every N-th by name; all of a ``holdout`` source).

Leakage is checked, not assumed away: every scene is compared with every image of the ``--exclude``
tile folders (by default the project's data folder ``../shared/data/landslides``, whose tiles
include the current validation split) and with every validation scene of the build, under all 8
rotations and flips, by the normalised correlation of 32 x 32 grey thumbnails; a training scene at
or above :data:`DUPLICATE_CORRELATION` is dropped and listed in the manifest.

``OUT/manifest.json`` records per source the repository, commit, licence, GSD, the scenes, pixels
and landslide pixels written, the dropped duplicates and the SHA-256 of every file; ``OUT/README.md``
holds the licence table ``model.sources.licence_of`` reads. It is written in a staging folder and
moved into place only when complete. No timestamps: two builds from the same snapshots are identical.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from osgeo import gdal

from model.data import IMAGE_SUFFIXES, DataError
from model.public_data import FORBIDDEN_PATH_PART, FORBIDDEN_REPOS, SOURCES, PublicSource

gdal.UseExceptions()

FORMAT = 1
THUMB = 32
DUPLICATE_CORRELATION = 0.95
IGNORE = 255
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXCLUDE = ROOT.parent / "shared" / "data" / "landslides"


# --- reading a snapshot --------------------------------------------------------------------------


class Mirror:
    """Files of one repository at one commit, read from a bare git directory."""

    def __init__(self, mirrors: Path, repo: str, commit: str) -> None:
        if repo in FORBIDDEN_REPOS:
            raise DataError(f"{repo} holds the independent evaluation set: it is never a training source")
        base = mirrors / repo.replace("/", "+")
        candidates = [base / "repo", base]
        self.git_dir = next(
            (c for c in candidates if (c / "HEAD").is_file() and (c / "objects").is_dir()), None
        )
        if self.git_dir is None:
            raise DataError(
                f"no snapshot of {repo} under {mirrors} (looked for {base}/repo): fetch github:{repo} "
                "with the search tool, or pass the folder that holds the snapshots"
            )
        self.repo, self.commit = repo, commit
        probe = self._git("cat-file", "-t", commit, check=False)
        if probe.returncode != 0 or probe.stdout.strip() != b"commit":
            raise DataError(
                f"the snapshot of {repo} at {self.git_dir} lacks commit {commit}: fetch github:{repo} "
                "again (the recipe is pinned to that commit)"
            )
        self._reader: subprocess.Popen[bytes] | None = None

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        run = subprocess.run(["git", "--git-dir", str(self.git_dir), *args], capture_output=True)
        if check and run.returncode != 0:
            raise DataError(f"git {' '.join(args)} failed in {self.git_dir}: {run.stderr.decode().strip()}")
        return run

    def files(self, folder: str, pattern: str) -> list[tuple[str, str]]:
        """(path relative to ``folder``, blob id) of the files matching ``pattern``, sorted by path."""
        spec = [f"{folder.rstrip('/')}/"] if folder else []
        listing = self._git("ls-tree", "-r", "-z", self.commit, "--", *spec).stdout.decode("utf-8")
        found = []
        for entry in filter(None, listing.split("\0")):
            meta, path = entry.split("\t", 1)
            _mode, kind, blob = meta.split()
            rel = path[len(folder) :].lstrip("/") if folder else path
            if kind == "blob" and fnmatch.fnmatchcase(rel, pattern):
                if FORBIDDEN_PATH_PART in Path(path).parts:
                    raise DataError(
                        f"{self.repo}:{path} is in a {FORBIDDEN_PATH_PART} folder (evaluation data)"
                    )
                found.append((rel, blob))
        return sorted(found)

    def read(self, blob: str) -> bytes:
        if self._reader is None:
            self._reader = subprocess.Popen(
                ["git", "--git-dir", str(self.git_dir), "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        assert self._reader.stdin is not None and self._reader.stdout is not None
        self._reader.stdin.write(blob.encode() + b"\n")
        self._reader.stdin.flush()
        header = self._reader.stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise DataError(
                f"{self.repo}: object {blob} is missing from the snapshot ({b' '.join(header).decode()}); "
                "snapshots leave out files of 4 MiB and more"
            )
        data = self._reader.stdout.read(int(header[2]))
        self._reader.stdout.read(1)  # the newline after the content
        return data

    def close(self) -> None:
        if self._reader is not None:
            self._reader.communicate()
            self._reader = None


def decode(data: bytes, what: str) -> np.ndarray:
    """Bands x rows x columns uint8 of an image file's bytes (PNG, GeoTIFF, JPEG)."""
    path = f"/vsimem/landslides-build-{uuid.uuid4().hex}"
    gdal.FileFromMemBuffer(path, data)
    try:
        ds = gdal.Open(path)
        array = ds.ReadAsArray()
        dtype = ds.GetRasterBand(1).DataType
    except RuntimeError as exc:
        raise DataError(f"{what}: GDAL cannot decode it ({exc})") from exc
    finally:
        gdal.Unlink(path)
    if dtype != gdal.GDT_Byte:
        raise DataError(f"{what}: {gdal.GetDataTypeName(dtype)} pixels; the builder takes 8-bit images")
    return array[None] if array.ndim == 2 else array


# --- one scene -----------------------------------------------------------------------------------


@dataclass
class BuiltScene:
    name: str
    image: np.ndarray  # 3 x H x W uint8, 0 where no imagery
    label: np.ndarray  # H x W uint8: 0, 1, IGNORE


def rgb_and_valid(bands: np.ndarray, what: str, black_is_nodata: bool) -> tuple[np.ndarray, np.ndarray]:
    if bands.shape[0] not in (3, 4):
        raise DataError(f"{what}: {bands.shape[0]} band(s); the builder takes RGB or RGBA images")
    rgb = bands[:3]
    valid = bands[3] > 0 if bands.shape[0] == 4 else np.ones(rgb.shape[1:], dtype=bool)
    if black_is_nodata:
        valid &= rgb.max(axis=0) > 0
    return rgb, valid


def decode_label(bands: np.ndarray | None, shape: tuple[int, int], coding: str, what: str) -> np.ndarray:
    if coding == "none":
        return np.zeros(shape, dtype=np.uint8)
    if bands is None or bands.shape[1:] != shape:
        got = "none" if bands is None else f"{bands.shape[2]}x{bands.shape[1]}"
        raise DataError(f"{what}: label is {got} px, the image {shape[1]}x{shape[0]} px")
    if coding != "nonzero":
        raise DataError(f"{what}: unknown label coding {coding!r}")
    colour = bands[:3] if bands.shape[0] == 4 else bands  # an alpha band is not a class
    return (colour.max(axis=0) > 0).astype(np.uint8)


def upsample(image: np.ndarray, label: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer up-sampling: bilinear image (pixel centres, edges repeated), nearest label."""

    def axis(a: np.ndarray, ax: int) -> np.ndarray:
        n = a.shape[ax]
        pos = (np.arange(n * factor) + 0.5) / factor - 0.5
        lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
        hi = np.clip(lo + 1, 0, n - 1)
        w = (pos - np.floor(pos)).astype(np.float32)
        shape = [1] * a.ndim
        shape[ax] = -1
        w = w.reshape(shape)
        return np.take(a, lo, axis=ax) * (1 - w) + np.take(a, hi, axis=ax) * w

    img = axis(axis(image.astype(np.float32), 1), 2)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    lab = np.repeat(np.repeat(label, factor, axis=0), factor, axis=1)
    # A pixel next to no imagery must not become a blend of imagery and black.
    lab_valid = lab != IGNORE
    img[:, ~lab_valid] = 0
    return img, lab


def downsample(image: np.ndarray, label: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer down-sampling by blocks: mean of the valid pixels; label = majority of the valid ones;
    a block with less than half of it imagery is no imagery."""
    c, h, w = image.shape
    h, w = h - h % factor, w - w % factor
    valid = (label[:h, :w] != IGNORE).reshape(h // factor, factor, w // factor, factor)
    n = valid.sum(axis=(1, 3))
    img = image[:, :h, :w].astype(np.float64).reshape(c, h // factor, factor, w // factor, factor)
    sums = (img * valid[None]).sum(axis=(2, 4))
    out = np.clip(np.rint(sums / np.maximum(n, 1)), 1, 255).astype(np.uint8)  # 0 is "no imagery"
    slide = ((label[:h, :w] == 1).reshape(valid.shape)).sum(axis=(1, 3))
    lab = (2 * slide >= np.maximum(n, 1)).astype(np.uint8)
    keep = 2 * n >= factor * factor
    lab[~keep] = IGNORE
    out[:, ~keep] = 0
    return out, lab


def resample(scene: BuiltScene, scale: float) -> BuiltScene:
    if scale == 1.0:
        return scene
    if scale > 1 and float(scale).is_integer():
        image, label = upsample(scene.image, scene.label, int(scale))
    elif scale < 1 and float(1 / scale).is_integer():
        image, label = downsample(scene.image, scene.label, round(1 / scale))
    else:
        raise DataError(f"{scene.name}: scale {scale} is not an integer factor or its inverse")
    return BuiltScene(scene.name, image, label)


def read_scenes(mirror: Mirror, src: PublicSource) -> Iterator[BuiltScene]:
    """The source's scenes as published (before resampling)."""
    images = mirror.files(src.folder, src.images)
    if not images:
        raise DataError(f"{src.repo}@{src.commit[:7]}: no file matches {src.folder}/{src.images}")
    labels = dict(mirror.files(src.folder, "*")) if src.labels else {}
    black_is_nodata = src.grid != (0, 0)

    def one(rel: str, blob: str) -> BuiltScene:
        what = f"{src.repo}:{src.folder}/{rel}"
        rgb, valid = rgb_and_valid(decode(mirror.read(blob), what), what, black_is_nodata)
        label_bands = None
        if src.labels:
            name = Path(rel).name
            label_rel = src.labels.format(name=name, stem=Path(rel).stem)
            if label_rel not in labels:
                raise DataError(f"{what}: its label {src.folder}/{label_rel} is not in the snapshot")
            label_bands = decode(mirror.read(labels[label_rel]), f"{src.repo}:{label_rel}")
        label = decode_label(label_bands, rgb.shape[1:], src.label_coding, what)
        label[~valid] = IGNORE
        rgb = rgb.copy()
        rgb[:, ~valid] = 0
        return BuiltScene(Path(rel).stem, rgb, label)

    if src.grid == (0, 0):
        for rel, blob in images:
            yield one(rel, blob)
        return
    yield mosaic(src, [one(rel, blob) for rel, blob in images])


def mosaic(src: PublicSource, tiles: list[BuiltScene]) -> BuiltScene:
    """One scene from row-major tiles numbered in their names (image_0, image_1, ...)."""
    cols, rows = src.grid
    numbered = sorted(tiles, key=lambda t: int(re.findall(r"\d+", t.name)[-1]))
    if len(numbered) != cols * rows:
        raise DataError(f"{src.name}: {len(numbered)} tiles, the recipe's grid is {cols} x {rows}")
    th, tw = numbered[0].label.shape
    keep_c, keep_r = cols - src.grid_crop, rows - src.grid_crop
    image = np.zeros((3, keep_r * th, keep_c * tw), dtype=np.uint8)
    label = np.full((keep_r * th, keep_c * tw), IGNORE, dtype=np.uint8)
    for k, tile in enumerate(numbered):
        r, c = divmod(k, cols)
        if r < keep_r and c < keep_c:
            image[:, r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile.image
            label[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile.label
    return BuiltScene(src.name, image, label)


# --- duplicates ----------------------------------------------------------------------------------


def thumbnail(grey: np.ndarray) -> np.ndarray:
    """A THUMB x THUMB block-mean thumbnail, zero mean and unit norm (for correlation by dot product)."""
    if min(grey.shape) < THUMB:  # a tiny scene: every bin needs a pixel
        k = -(-THUMB // min(grey.shape))
        grey = grey.repeat(k, axis=0).repeat(k, axis=1)
    h, w = grey.shape
    # Bin b holds the pixels i with i * THUMB // n == b (monotonic in i: sums over runs of rows/columns).
    row_starts = np.searchsorted(np.arange(h) * THUMB // h, np.arange(THUMB))
    col_starts = np.searchsorted(np.arange(w) * THUMB // w, np.arange(THUMB))
    sums = np.add.reduceat(np.add.reduceat(grey, row_starts, axis=0), col_starts, axis=1)
    counts = np.outer(np.diff(np.append(row_starts, h)), np.diff(np.append(col_starts, w)))
    t = sums / np.maximum(counts, 1)
    t = t - t.mean()
    norm = np.linalg.norm(t)
    return (t / norm if norm > 0 else t).ravel()


def dihedral_thumbnails(image: np.ndarray) -> np.ndarray:
    grey = image[:3].astype(np.float64).mean(axis=0)
    variants = []
    for flip in (False, True):
        g = grey[:, ::-1] if flip else grey
        for k in range(4):
            variants.append(thumbnail(np.rot90(g, k)))
    return np.stack(variants)


def reference_thumbnails(folders: list[Path]) -> tuple[np.ndarray, list[str], list[dict[str, object]]]:
    """8 thumbnails per image of every tile folder (a folder with images/) under ``folders``."""
    thumbs, names, records = [], [], []
    for root in folders:
        if not root.is_dir():
            raise DataError(f"--exclude {root}: not a folder")
        tile_dirs = sorted({p.parent for p in root.rglob("images") if p.is_dir()} | set())
        digest = hashlib.sha256()
        count = 0
        for tile_dir in tile_dirs:
            for path in sorted((tile_dir / "images").iterdir()):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                data = path.read_bytes()
                digest.update(hashlib.sha256(data).digest())
                thumbs.append(dihedral_thumbnails(decode(data, str(path))))
                names.append(str(path.relative_to(root)))
                count += 1
        records.append({"folder": str(root), "images": count, "sha256_of_images": digest.hexdigest()})
    stacked = np.concatenate(thumbs) if thumbs else np.zeros((0, THUMB * THUMB))
    return stacked, names, records


def best_match(thumb: np.ndarray, refs: np.ndarray, names: list[str]) -> tuple[float, str]:
    if not len(refs):
        return 0.0, ""
    corr = refs @ thumb
    i = int(np.argmax(corr))
    return float(corr[i]), names[i // 8]


# --- writing -------------------------------------------------------------------------------------


def encode_png(array: np.ndarray) -> bytes:
    bands = array[None] if array.ndim == 2 else array
    mem = gdal.GetDriverByName("MEM").Create(
        "", bands.shape[2], bands.shape[1], bands.shape[0], gdal.GDT_Byte
    )
    for i, band in enumerate(bands, start=1):
        mem.GetRasterBand(i).WriteArray(band)
    path = f"/vsimem/landslides-build-{uuid.uuid4().hex}.png"
    gdal.GetDriverByName("PNG").CreateCopy(path, mem, options=["ZLEVEL=6"])
    try:
        handle = gdal.VSIFOpenL(path, "rb")
        size = gdal.VSIStatL(path).size
        data = bytes(gdal.VSIFReadL(1, size, handle))
        gdal.VSIFCloseL(handle)
    finally:
        gdal.Unlink(path)
    return data


@dataclass
class SourceReport:
    name: str
    repo: str
    commit: str
    licence: str
    what: str
    role: str
    gsd_m_published: float
    gsd_m_written: float
    citation: str
    notes: list[str]
    files_read: int = 0
    scenes: int = 0
    training_scenes: int = 0
    validation_scenes: int = 0
    pixels: int = 0
    landslide_pixels: int = 0
    dropped: list[dict[str, object]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


def split_of(src: PublicSource, names: list[str]) -> set[str]:
    """Validation names: all of a holdout source, else every val_every-th by name (model.train's rule)."""
    if src.role == "holdout":
        return set(names)
    if src.role != "train":
        raise DataError(f"{src.name}: role must be 'train' or 'holdout', not {src.role!r}")
    ordered = sorted(names)
    return {n for i, n in enumerate(ordered) if src.val_every > 0 and i % src.val_every == src.val_every // 2}


def build(
    mirrors: Path,
    out: Path,
    sources: tuple[PublicSource, ...] | list[PublicSource] = SOURCES,
    exclude: list[Path] | None = None,
    force: bool = False,
    log: object = print,
) -> dict[str, object]:
    """Build every source into ``out``; returns the manifest. See the module docstring."""
    say = log if callable(log) else (lambda *_: None)
    if out.exists() and not force:
        raise DataError(
            f"{out} exists: pass --force to replace it (it is replaced only once the build is done)"
        )
    refs, ref_names, ref_records = reference_thumbnails(list(exclude or []))
    staging = out.parent / f".{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        manifest = _build_into(staging, mirrors, sources, refs, ref_names, ref_records, say)
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _build_into(
    staging: Path,
    mirrors: Path,
    sources: tuple[PublicSource, ...] | list[PublicSource],
    refs: np.ndarray,
    ref_names: list[str],
    ref_records: list[dict[str, object]],
    say: object,
) -> dict[str, object]:
    scenes: dict[str, list[BuiltScene]] = {}
    reports: dict[str, SourceReport] = {}
    for src in sources:
        mirror = Mirror(mirrors, src.repo, src.commit)
        try:
            raw = list(read_scenes(mirror, src))
        finally:
            mirror.close()
        report = SourceReport(
            src.name,
            src.repo,
            src.commit,
            src.licence,
            src.what,
            src.role,
            src.gsd_m,
            round(src.gsd_m / src.scale, 4),
            src.citation,
            list(src.notes),
        )
        report.files_read = len(raw) if src.grid == (0, 0) else src.grid[0] * src.grid[1]
        scenes[src.name] = [resample(s, src.scale) for s in raw]
        reports[src.name] = report
        say(f"{src.name}: {len(raw)} scene(s) read from {src.repo}@{src.commit[:7]}")
    # Validation sets first, then training scenes that duplicate a reference or a validation scene go.
    val_names = {src.name: split_of(src, [s.name for s in scenes[src.name]]) for src in sources}
    variants = {(n, s.name): dihedral_thumbnails(s.image) for n in scenes for s in scenes[n]}
    val_keys = [key for key in variants if key[1] in val_names[key[0]]]
    val_refs = np.concatenate([variants[key] for key in val_keys]) if val_keys else refs[:0]
    val_ref_names = [f"{n}/{m} (validation)" for n, m in val_keys]
    for src in sources:
        report = reports[src.name]
        kept: list[BuiltScene] = []
        for scene in scenes[src.name]:
            thumb = variants[(src.name, scene.name)][0]
            corr, match = best_match(thumb, refs, ref_names)
            is_val = scene.name in val_names[src.name]
            if not is_val:
                vcorr, vmatch = best_match(thumb, val_refs, val_ref_names)
                if vcorr > corr:
                    corr, match = vcorr, vmatch
            if corr >= DUPLICATE_CORRELATION:
                report.dropped.append({"scene": scene.name, "matches": match, "correlation": round(corr, 4)})
                continue
            kept.append(scene)
        _write_source(staging / src.name, src, kept, val_names[src.name], report)
        say(
            f"{src.name}: {report.scenes} scenes written ({report.training_scenes} training, "
            f"{report.validation_scenes} validation), {len(report.dropped)} duplicates dropped"
        )
    manifest = {
        "format": FORMAT,
        "builder": "python -m model.data build",
        "duplicate_rule": f"32x32 grey thumbnails, 8 rotations/flips, correlation >= {DUPLICATE_CORRELATION}",
        "excluded_references": ref_records,
        "sources": [asdict(reports[src.name]) for src in sources],
        "totals": {
            "scenes": sum(r.scenes for r in reports.values()),
            "training_scenes": sum(r.training_scenes for r in reports.values()),
            "validation_scenes": sum(r.validation_scenes for r in reports.values()),
            "pixels": sum(r.pixels for r in reports.values()),
            "landslide_pixels": sum(r.landslide_pixels for r in reports.values()),
        },
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", "utf-8")
    (staging / "README.md").write_text(readme(manifest), "utf-8")
    return manifest


def _write_source(
    folder: Path, src: PublicSource, scenes: list[BuiltScene], val: set[str], report: SourceReport
) -> None:
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    split = {"training": [], "validation": []}
    for scene in sorted(scenes, key=lambda s: s.name):
        for kind, array in (("images", scene.image), ("masks", scene.label)):
            data = encode_png(array)
            rel = f"{kind}/{scene.name}.png"
            (folder / rel).write_bytes(data)
            report.files[rel] = hashlib.sha256(data).hexdigest()
        split["validation" if scene.name in val else "training"].append(scene.name)
        report.pixels += int((scene.label != IGNORE).sum())
        report.landslide_pixels += int((scene.label == 1).sum())
    report.scenes = len(scenes)
    report.training_scenes = len(split["training"])
    report.validation_scenes = len(split["validation"])
    (folder / "split.json").write_text(json.dumps({"source": src.name, **split}, indent=1) + "\n", "utf-8")


def readme(manifest: dict[str, object]) -> str:
    lines = [
        "# Public landslide training data (built by `python -m model.data build`)",
        "",
        "Rebuilt from public git snapshots; see manifest.json for commits, files and hashes.",
        "",
        "| folder | what | repository @ commit | role | scenes (train / val) | GSD written | licence |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in manifest["sources"]:  # type: ignore[union-attr]
        lines.append(
            f"| `{s['name']}/` | {s['what']} | {s['repo']} @ {s['commit'][:7]} | {s['role']} | "
            f"{s['training_scenes']} / {s['validation_scenes']} | {s['gsd_m_written']} m | {s['licence']} |"
        )
    return "\n".join(lines) + "\n"


# --- command line --------------------------------------------------------------------------------


def describe_sources() -> str:
    lines = ["Public sources (model/public_data.py); fetch each with the search tool first:"]
    for src in SOURCES:
        lines.append(f"  {src.name:16s} github:{src.repo} @ {src.commit[:10]}  {src.role:8s} {src.licence}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.data", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="rebuild the public training data from fetched snapshots")
    b.add_argument("mirrors", type=Path, help="folder holding the snapshots (owner+name/repo)")
    b.add_argument("out", type=Path, help="output folder (tile folders, manifest.json, README.md)")
    b.add_argument(
        "--exclude",
        action="append",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"tile folders whose images must not reappear in the build [{DEFAULT_EXCLUDE}]",
    )
    b.add_argument("--no-exclude", action="store_true", help="no duplicate check against other data")
    b.add_argument("--sources", default="", help="comma-separated source names (default: all)")
    b.add_argument("--force", action="store_true", help="replace OUT once the new build is complete")
    sub.add_parser("sources", help="list the public sources and where they come from")
    args = p.parse_args(argv)
    if args.command == "sources":
        print(describe_sources())
        return 0
    chosen = list(SOURCES)
    if args.sources:
        wanted = [n.strip() for n in args.sources.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {s.name for s in SOURCES})
        if unknown:
            print(
                f"error: unknown source(s) {', '.join(unknown)}; see python -m model.data sources",
                file=sys.stderr,
            )
            return 2
        chosen = [s for s in SOURCES if s.name in wanted]
    exclude = [] if args.no_exclude else (args.exclude or [DEFAULT_EXCLUDE])
    try:
        manifest = build(args.mirrors, args.out, chosen, exclude, args.force)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    totals = manifest["totals"]
    print(
        f"wrote {args.out}: {totals['scenes']} scenes ({totals['training_scenes']} training, "  # type: ignore[index]
        f"{totals['validation_scenes']} validation), manifest {args.out / 'manifest.json'}"  # type: ignore[index]
    )
    return 0
