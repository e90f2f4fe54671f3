# SPDX-License-Identifier: GPL-2.0-or-later
"""The public labelled landslide data the training set is rebuilt from, pinned to git commits.

Each :class:`PublicSource` names a public GitHub repository and the commit its files are read at (a
git commit id fixes every byte below it, so a rebuilt set is the same whatever the mirror holds later),
how image and label files pair up, how labels are coded, the licence its authors state, and what the
source is for: ``train`` sources get a fixed per-source validation part, a ``holdout`` source is
validation only (a whole source the model never trains on, for the generalisation score).

No image data lives in this repository: ``python -m model.data build MIRRORS OUT`` reads the files
out of the fetched snapshots (``MIRRORS/owner+name/repo``, bare git directories) and writes the
tile folders ``model.train --tiles`` reads.

Repositories never to take data from, because they hold the independent evaluation set: see
:data:`FORBIDDEN_REPOS` (the builder refuses them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FORBIDDEN_REPOS = (
    "virylon/AMU-Net",
    "WenwenQi/Deep-Residual-U-Net-for-extracting-landslides",
    "saedrna/DA-U-Net",
)
# ... and every `mini_test` folder of the atlan-antillia TensorFlow-FlexUNet landslide repositories.
FORBIDDEN_PATH_PART = "mini_test"
NOT_STATED = "not stated"


@dataclass(frozen=True)
class PublicSource:
    name: str  # the tile folder written, and the source name in training logs and the model card
    repo: str  # owner/name on GitHub
    commit: str  # 40 hex digits
    folder: str  # data folder inside the repository
    images: str  # glob of image files, relative to `folder`
    labels: str  # label file of an image: `{stem}` / `{name}` filled in; "" = all background
    label_coding: str  # "nonzero" (any non-zero value is landslide) or "none" (negatives)
    licence: str
    what: str
    gsd_m: float  # ground sampling distance of the images as published (approximate where unknown)
    scale: float = 1.0  # resampling factor written out (2: twice the pixels per side)
    role: str = "train"  # "train" (fixed split, see val_every) or "holdout" (validation only)
    val_every: int = 6  # train sources: every N-th image (sorted by name) is validation
    grid: tuple[int, int] = (0, 0)  # (columns, rows): tiles are a row-major mosaic of one scene
    grid_crop: int = 0  # tiles at the mosaic's last column and row dropped (resized by the author)
    citation: str = ""
    notes: list[str] = field(default_factory=list)


SOURCES: tuple[PublicSource, ...] = (
    PublicSource(
        name="bijie_full",
        repo="Atharva1601/landslide-detection-deeplabv3",
        commit="d04e0bb8d91023b92ab6090e816a732be5a1473e",
        folder="data/processed",
        images="images/ls_*.png",
        labels="masks/{name}",
        label_coding="nonzero",
        licence=f"{NOT_STATED} (Bijie landslide dataset: academic use with citation)",
        what="Bijie landslide dataset (Guizhou, China), all 770 landslide images, TripleSat RGB",
        gsd_m=0.8,
        scale=2.0,
        citation="Ji, S., Yu, D., Shen, C., Li, W., Xu, Q. (2020). Landslide detection from an open "
        "satellite imagery and digital elevation model dataset using attention boosted convolutional "
        "neural networks. Landslides 17, 1337-1352.",
        notes=[
            "resampled 2x (0.8 m to about 0.4 m), as the project's 24 Bijie tiles were (their shorter "
            "side to 512 px): bilinear image, nearest label",
        ],
    ),
    PublicSource(
        name="bijie_negatives",
        repo="Atharva1601/landslide-detection-deeplabv3",
        commit="d04e0bb8d91023b92ab6090e816a732be5a1473e",
        folder="data/processed",
        images="images/nls_*.png",
        labels="",
        label_coding="none",
        licence=f"{NOT_STATED} (Bijie landslide dataset: academic use with citation)",
        what="Bijie landslide dataset, all 2,003 non-landslide images (terraces, bare fields, villages, "
        "roads, rivers, forest): hard negatives",
        gsd_m=0.8,
        scale=2.0,
        val_every=40,
        citation="Ji et al. (2020), as bijie_full",
    ),
    PublicSource(
        name="iburi_xiaoao",
        repo="XiaoAo2019/Coseismic-landslide-detection",
        commit="45106a74392c47f8e1b26ab8894bd0f06cf8db5a",
        folder="landsldie_detection_code/data/train",
        images="1_挑选的样本/*.tif",
        labels="3_标签图像mask/{stem}.png",
        label_coding="nonzero",
        licence=NOT_STATED,
        what="coseismic landslides (2018 Hokkaido Eastern Iburi earthquake by look and UTM zone), 20 "
        "hand-labelled 256 px RGB tiles",
        gsd_m=1.0,
        notes=["the repository's augmented copies are not used"],
    ),
    PublicSource(
        name="uav_highway",
        repo="Overlord-876/Pixel-UAV-Landslide-Segment",
        commit="b274a2aa8f0b20214724114e6345d9e89b1d31f9",
        folder="",
        images="train_images/image_*.png",
        labels="train_masks/{name}",
        label_coding="nonzero",
        licence=NOT_STATED,
        what="one UAV orthophoto of debris slides across a mountain highway and river bank, rebuilt "
        "from its 2,880 published 128 px tiles",
        gsd_m=0.04,
        scale=0.125,
        role="holdout",
        grid=(48, 60),
        grid_crop=1,
        notes=[
            "tiles are row-major, 48 columns x 60 rows; the last column and row were resized by the "
            "author's slicing and are dropped",
            "downsampled 8x by area averaging (about 4 cm to about 0.3 m); label = majority of each "
            "8 x 8 block; black (no-imagery) pixels ignored",
            "the repository's augmented masks are corrupt (brightness jitter applied to labels): not used",
        ],
    ),
)
