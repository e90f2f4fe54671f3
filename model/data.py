# SPDX-License-Identifier: GPL-2.0-or-later
"""Training data in memory, sampled into crops (no GDAL here: :mod:`model.readers` reads files).

Every source becomes one or more :class:`Scene` objects holding

* ``image``: C x H x W float16, normalised to [-0.5, 0.5] by the raster's value range, with
  no-imagery pixels set to ``NODATA_FILL`` (-0.5, i.e. raw 0 / black), exactly as the inference core
  fills them (``ModelInfo.nodata_fill``); or, for 8-bit bands (value range 0..255), the raw uint8
  values with 0 where there is no imagery, which normalise to exactly the same numbers in half the
  memory (:func:`normalised`);
* ``label``: H x W uint8, 1 = landslide, 0 = background;
* ``ignore``: H x W bool, pixels excluded from the loss and from the metrics (no imagery, label
  nodata, label value 255 in single-band inventories).

Crops are drawn by :class:`CropSampler`: crop centres are weighted towards landslides, towards
"confusing" background (bright or unvegetated ground, roads, rivers: the paper's hard mining) and
towards no-imagery borders, so that the model learns that an image edge is not a landslide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

NODATA_FILL = -0.5  # normalised value of no-imagery pixels (ModelInfo.nodata_fill)
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
CELL = 16  # crop centres are drawn per CELL x CELL block of pixels


@dataclass(frozen=True)
class Augment:
    """How far training crops are varied beyond rotation and flips."""

    scale: tuple[float, float]  # crop scale factors (resolution)
    gain: float  # per-band gain 1 +- gain
    offset: float  # brightness offset +- offset (normalised units)
    gamma: tuple[float, float] = (1.0, 1.0)
    saturation: tuple[float, float] = (1.0, 1.0)  # blend with the grey of the bands
    blur: float = 0.0  # probability of a 3x3 binomial blur (coarser sensors)


AUGMENT = {
    # mild: sources differ in sensor and season. strong: a small data set must not be learnt by heart;
    # its sources span UAV, aerial and satellite resolutions and colour balances.
    "mild": Augment(scale=(0.75, 1.33), gain=0.15, offset=0.05),
    "strong": Augment(
        scale=(0.5, 2.0), gain=0.25, offset=0.08, gamma=(0.7, 1.4), saturation=(0.6, 1.3), blur=0.25
    ),
}


def normalised(image: np.ndarray) -> np.ndarray:
    """float32 network input of a scene's image (or a window of it), whichever way it is stored."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1.0 / 255.0) - np.float32(0.5)
    return image.astype(np.float32)


class DataError(ValueError):
    """A training source cannot be used; the message names the file and the fix."""


@dataclass
class Scene:
    name: str
    source: str
    image: np.ndarray
    label: np.ndarray
    ignore: np.ndarray
    value_min: list[float] = field(default_factory=list)
    value_max: list[float] = field(default_factory=list)
    gsd_m: float = 0.0

    @property
    def labelled_pixels(self) -> int:
        return int((~self.ignore).sum())

    @property
    def landslide_pixels(self) -> int:
        return int(((self.label == 1) & ~self.ignore).sum())

    def columns(self, start: int, stop: int, suffix: str) -> Scene:
        """A spatial block of this scene (columns ``start:stop``), for by-area validation splits."""
        return Scene(
            f"{self.name}{suffix}",
            self.source,
            self.image[:, :, start:stop],
            self.label[:, start:stop],
            self.ignore[:, start:stop],
            self.value_min,
            self.value_max,
            self.gsd_m,
        )


@dataclass
class Split:
    train: list[Scene] = field(default_factory=list)
    val: list[Scene] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)  # {"name", "licence", "path"}


# --- sampling ------------------------------------------------------------------------------------


def _cell_mean(mask: np.ndarray) -> np.ndarray:
    """Fraction of True per CELL x CELL block (partial blocks at the edges included)."""
    h, w = mask.shape
    gh, gw = -(-h // CELL), -(-w // CELL)
    padded = np.zeros((gh * CELL, gw * CELL), dtype=np.float32)
    padded[:h, :w] = mask
    return padded.reshape(gh, CELL, gw, CELL).mean(axis=(1, 3))


def hard_background(scene: Scene) -> np.ndarray:
    """Background that looks like a landslide: bright or unvegetated ground, roads, rivers."""
    img = normalised(scene.image) + 0.5
    brightness = img.mean(axis=0)
    hard = brightness > 0.6
    if img.shape[0] >= 3:
        r, g, b = img[0], img[1], img[2]
        hard |= (2 * g - r - b) < 0.02  # excess-green index: little vegetation
    return hard & (scene.label == 0) & ~scene.ignore


def centre_weights(
    scene: Scene, w_landslide: float = 4.0, w_hard: float = 2.0, w_border: float = 2.0
) -> np.ndarray:
    """Weight of each CELL block as a crop centre; 0 where nothing in the block is labelled."""
    labelled = _cell_mean(~scene.ignore)
    landslide = _cell_mean((scene.label == 1) & ~scene.ignore)
    hard = _cell_mean(hard_background(scene))
    invalid = _cell_mean(scene.ignore) > 0
    border = invalid.copy()  # blocks with or next to ignored pixels
    border[1:] |= invalid[:-1]
    border[:-1] |= invalid[1:]
    border[:, 1:] |= invalid[:, :-1]
    border[:, :-1] |= invalid[:, 1:]
    weights = 1.0 + w_landslide * landslide + w_hard * hard + w_border * border
    return np.where(labelled > 0, weights, 0.0)


BALANCES = ("equal", "pixels", "sqrt")


def source_shares(
    sources: list[str], pixels: dict[str, float], balance: str, shares: dict[str, float]
) -> np.ndarray:
    """Probability of drawing each source: ``shares`` where given, the rest split by ``balance``."""
    unknown = sorted(set(shares) - set(sources))
    if unknown:
        raise DataError(
            f"--source-share names {', '.join(unknown)}, not a training source ({', '.join(sources)})"
        )
    fixed = sum(shares.values())
    if any(v < 0 for v in shares.values()) or fixed > 1 or (fixed == 1 and len(shares) < len(sources)):
        raise DataError("--source-share values must be >= 0 and leave a share for the other sources")
    free = [s for s in sources if s not in shares]
    weight = {"equal": lambda n: 1.0, "pixels": lambda n: n, "sqrt": math.sqrt}[balance]
    raw = {s: weight(float(pixels[s])) for s in free}
    total = sum(raw.values()) or 1.0
    return np.array([shares[s] if s in shares else (1.0 - fixed) * raw[s] / total for s in sources])


class CropSampler:
    """Random training crops: weighted centre, random scale, 90-degree rotation, flips, radiometry jitter.

    Sources (sichuan, hokkaido, AMU, ...) are drawn with equal probability (``balance="equal"``) so
    that a large source does not drown a small one, by their share of labelled pixels (``"pixels"``)
    or of its square root (``"sqrt"``, between the two); ``shares`` fixes the probability of named
    sources (e.g. a large set of hard negatives), the others share the rest. Within a source a scene
    is drawn by its number of labelled pixels.
    ``weights`` are the extra crop-centre weights of landslide, hard-background and border blocks;
    ``augment`` names an :data:`AUGMENT` preset (``scale_range``, when given, overrides its scales).
    """

    def __init__(
        self,
        scenes: list[Scene],
        crop: int,
        seed: int,
        scale_range: tuple[float, float] | None = None,
        jitter: bool = True,
        balance: str = "equal",
        weights: tuple[float, float, float] = (4.0, 2.0, 2.0),
        augment: str = "mild",
        shares: dict[str, float] | None = None,
    ) -> None:
        if balance not in BALANCES:
            raise ValueError(f"balance must be one of {', '.join(BALANCES)}, not {balance!r}")
        if augment not in AUGMENT:
            raise ValueError(f"augment must be one of {', '.join(AUGMENT)}, not {augment!r}")
        if not scenes:
            raise DataError("no training scenes; give at least one --tiles or --ortho source")
        self.aug = AUGMENT[augment]
        self.scale_range = scale_range or self.aug.scale
        self.scenes, self.crop, self.jitter = scenes, crop, jitter
        self.rng = np.random.default_rng(seed)
        self.sources = sorted({s.source for s in scenes})
        self.by_source = {src: [i for i, s in enumerate(scenes) if s.source == src] for src in self.sources}
        self.scene_p = {}
        pixels = {}
        for src, idx in self.by_source.items():
            n = np.array([scenes[i].labelled_pixels for i in idx], dtype=np.float64)
            self.scene_p[src] = n / n.sum()
            pixels[src] = n.sum()
        self.source_p = source_shares(self.sources, pixels, balance, shares or {})
        self.cell_p = []
        for s in scenes:
            w = centre_weights(s, *weights).ravel()
            self.cell_p.append(w / w.sum())

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        src = self.sources[rng.choice(len(self.sources), p=self.source_p)]
        si = self.by_source[src][rng.choice(len(self.by_source[src]), p=self.scene_p[src])]
        scene = self.scenes[si]
        gw = -(-scene.label.shape[1] // CELL)
        cell = rng.choice(len(self.cell_p[si]), p=self.cell_p[si])
        cy = (cell // gw) * CELL + rng.integers(CELL)
        cx = (cell % gw) * CELL + rng.integers(CELL)
        size = round(self.crop * math.exp(rng.uniform(*np.log(self.scale_range))))
        # The centre cell lands anywhere in the inner half of the crop, not always in the middle.
        y0 = cy - size // 2 + rng.integers(-size // 4, size // 4 + 1)
        x0 = cx - size // 2 + rng.integers(-size // 4, size // 4 + 1)
        image, label, ignore = window(scene, y0, x0, size)
        if size != self.crop:
            image, label, ignore = resize_crop(image, label, ignore, self.crop)
        k = int(rng.integers(4))
        image, label, ignore = (np.rot90(a, k, axes=(-2, -1)) for a in (image, label, ignore))
        if rng.random() < 0.5:
            image, label, ignore = image[..., ::-1], label[..., ::-1], ignore[..., ::-1]
        image = np.ascontiguousarray(image, dtype=np.float32)
        if self.jitter:
            image = self._radiometry(image)
        return image, np.ascontiguousarray(label), np.ascontiguousarray(ignore)

    def _radiometry(self, image: np.ndarray) -> np.ndarray:
        rng, aug = self.rng, self.aug
        nodata = image == NODATA_FILL
        gain = rng.uniform(1 - aug.gain, 1 + aug.gain, size=(image.shape[0], 1, 1)).astype(np.float32)
        shifted = (image + 0.5) * gain + np.float32(rng.uniform(-aug.offset, aug.offset))
        # Draws beyond gain and offset only where the preset asks, so "mild" crops stay reproducible.
        if aug.saturation != (1.0, 1.0):
            grey = shifted.mean(axis=0, keepdims=True)
            shifted = grey + np.float32(rng.uniform(*aug.saturation)) * (shifted - grey)
        if aug.gamma != (1.0, 1.0):
            gamma = math.exp(rng.uniform(*np.log(aug.gamma)))
            shifted = np.clip(shifted, 0.0, 1.0) ** np.float32(gamma)
        if aug.blur and rng.random() < aug.blur:
            shifted = _binomial_blur(shifted)
        # Valid pixels stay just above the fill value so that jitter never fakes "no imagery".
        image = np.clip(shifted - 0.5, NODATA_FILL + 1.0 / 512.0, 0.5).astype(np.float32)
        image[nodata] = NODATA_FILL
        return image

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        items = [self.sample() for _ in range(n)]
        x = torch.from_numpy(np.stack([i[0] for i in items]))
        y = torch.from_numpy(np.stack([i[1] for i in items])[:, None].astype(np.float32))
        ignore = torch.from_numpy(np.stack([i[2] for i in items])[:, None])
        return x, y, ignore


def _binomial_blur(image: np.ndarray) -> np.ndarray:
    """3x3 binomial blur of a C x H x W array (edges repeated)."""
    a = np.pad(image, ((0, 0), (1, 1), (1, 1)), mode="edge")
    a = 0.25 * a[:, :-2] + 0.5 * a[:, 1:-1] + 0.25 * a[:, 2:]
    return 0.25 * a[:, :, :-2] + 0.5 * a[:, :, 1:-1] + 0.25 * a[:, :, 2:]


def window(scene: Scene, y0: int, x0: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A size x size window; the part outside the scene is no imagery (fill value, ignored)."""
    c, h, w = scene.image.shape
    image = np.full((c, size, size), NODATA_FILL, dtype=np.float32)
    label = np.zeros((size, size), dtype=np.uint8)
    ignore = np.ones((size, size), dtype=bool)
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + size, h), min(x0 + size, w)
    if ye > ys and xe > xs:
        dst = (slice(ys - y0, ye - y0), slice(xs - x0, xe - x0))
        image[(slice(None), *dst)] = normalised(scene.image[:, ys:ye, xs:xe])
        label[dst] = scene.label[ys:ye, xs:xe]
        ignore[dst] = scene.ignore[ys:ye, xs:xe]
    return image, label, ignore


def resize_crop(
    image: np.ndarray, label: np.ndarray, ignore: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale augmentation: bilinear for the image, nearest for label and ignore mask."""
    img = F.interpolate(
        torch.from_numpy(image)[None], size=(size, size), mode="bilinear", align_corners=False
    )
    # Fill pixels must stay exactly NODATA_FILL, not a blend with imagery: take them from the nearest mask.
    lab = torch.from_numpy(np.stack([label, ignore]).astype(np.float32))[None]
    lab = F.interpolate(lab, size=(size, size), mode="nearest-exact")[0].numpy()
    nodata = torch.from_numpy((image == NODATA_FILL).all(axis=0).astype(np.float32))[None, None]
    nodata = F.interpolate(nodata, size=(size, size), mode="nearest-exact")[0, 0].numpy() > 0.5
    out = img[0].numpy()
    out[:, nodata] = NODATA_FILL
    return out, lab[0].astype(np.uint8), lab[1] > 0.5


if __name__ == "__main__":  # python -m model.data build MIRRORS OUT: the public training data
    from model.dataset_build import main

    raise SystemExit(main())
