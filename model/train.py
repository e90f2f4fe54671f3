# SPDX-License-Identifier: GPL-2.0-or-later
"""Train a DA-U-Net (or an ablation variant) on tile folders and/or orthophoto + inventory.

Example (from scratch; ``model/reproduce.sh`` has the shipped model's runs)::

    python -m model.train --tiles DATA/sichuan --tiles DATA/hokkaido --tiles DATA/bijie \\
        --ortho DATA/amu/scene_A_rgb.tif DATA/amu/scene_A_label.tif \\
        --ortho DATA/amu/scene_B_rgb.tif DATA/amu/scene_B_label.tif \\
        --variant DA-U-Net --width 12 --batch 8 --minutes 40 --out runs/daunet

Each "epoch" is ``--steps-per-epoch`` random crops batches followed by a validation over the held-out
tiles and blocks; ``best.pt`` keeps the checkpoint with the best validation score (``--select``:
pooled IoU at the best threshold by default), ``last.pt`` the latest. ``--init`` starts from a
model's weights (continued training, fine-tuning), ``--resume`` continues an interrupted run.
With ``--minutes`` the run stops itself so that the last validation still fits in the budget.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from model.data import BALANCES, NODATA_FILL, CropSampler, DataError, Scene, Split, normalised
from model.init_weights import InitError, calibrate_batchnorm, load_initial, with_more_inputs
from model.loader import batches
from model.metrics import Confusion
from model.network import VARIANTS, DAUNet, build_model, count_parameters

METRIC_KEYS = ("iou", "precision", "recall", "f1", "iou_mean_sources", "iou_best", "best_threshold")
VAL_THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
MAX_BAD_STEPS = 20  # consecutive steps with a non-finite loss or gradient before the run gives up


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.split("\n\n")[0])
    d = p.add_argument_group("data")
    d.add_argument(
        "--tiles",
        action="append",
        default=[],
        metavar="DIR",
        help="tile folder with images/ and masks/ (PNG or GeoTIFF; label = not black); repeatable",
    )
    d.add_argument(
        "--ortho",
        action="append",
        nargs=2,
        default=[],
        metavar=("IMAGE", "INVENTORY"),
        help="orthophoto and its inventory (label raster on the same grid, or any OGR polygon "
        "layer); repeatable",
    )
    d.add_argument(
        "--val-ortho",
        action="append",
        nargs=2,
        default=[],
        metavar=("IMAGE", "INVENTORY"),
        help="orthophoto + inventory used whole for validation only; repeatable",
    )
    d.add_argument(
        "--terrain",
        type=_channel_names,
        default=[],
        metavar="NAMES",
        help="RGB + DSM: also learn these elevation channels (comma-separated: slope, relative_height), "
        "computed from each --ortho/--val-ortho image's DSM exactly as the plugin computes them; "
        "orthophotos only (tile folders have no DSM)",
    )
    d.add_argument(
        "--dsm",
        action="append",
        nargs=2,
        default=[],
        metavar=("IMAGE", "DSM"),
        help="the elevation raster of IMAGE (any resolution and CRS) for --terrain; default: beside it, "
        "scene_A_rgb.tif -> scene_A_dsm.tif; repeatable",
    )
    d.add_argument(
        "--packed",
        metavar="NPZ",
        help="training and validation scenes packed by python -m model.packed (no GDAL needed), "
        "instead of --tiles/--ortho",
    )
    d.add_argument(
        "--val-every",
        type=int,
        default=6,
        help="hold out every N-th tile of each tile folder for validation (0: none) [6]",
    )
    d.add_argument(
        "--ortho-holdout",
        type=float,
        default=0.35,
        help="hold out this eastern fraction of every --ortho scene for validation [0.35]",
    )
    d.add_argument(
        "--holdout-gap", type=int, default=64, help="unused columns between train and val block [64]"
    )
    m = p.add_argument_group("network")
    m.add_argument("--variant", choices=list(VARIANTS), default="DA-U-Net")
    m.add_argument("--width", type=int, default=12, help="channels of the first stage [12]")
    m.add_argument("--depth", type=int, default=4, help="number of max-pools (size divisor 2**depth) [4]")
    t = p.add_argument_group("training")
    t.add_argument("--crop", type=int, default=256, help="crop size in pixels [256]")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--epochs", type=int, default=1000, help="maximum number of epochs [1000]")
    t.add_argument("--steps-per-epoch", type=int, default=100)
    t.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget; 0 = no limit")
    t.add_argument(
        "--optimizer",
        choices=["adamw", "sgd"],
        default="adamw",
        help="adamw (default) or sgd (the paper: momentum 0.9, lr 1e-3, weight decay 5e-4)",
    )
    t.add_argument("--lr", type=float, default=None, help="learning rate [adamw 2e-3, sgd 1e-3]")
    t.add_argument("--weight-decay", type=float, default=None, help="[adamw 1e-4, sgd 5e-4]")
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--loss", choices=["bce", "bce+dice"], default="bce", help="[bce]")
    t.add_argument(
        "--balance",
        choices=list(BALANCES),
        default="pixels",
        help="draw each source equally often, by its share of labelled pixels, or by the square root of "
        "that share [pixels]",
    )
    t.add_argument(
        "--source-share",
        action="append",
        type=_share,
        default=[],
        metavar="NAME=FRACTION",
        help="draw this source with a fixed probability (e.g. bijie_negatives=0.2); the others share "
        "the rest by --balance; repeatable",
    )
    t.add_argument(
        "--centre-weights",
        type=_three_floats,
        default=(4.0, 2.0, 2.0),
        metavar="L,H,B",
        help="extra crop-centre weight of landslide, hard background (bare, bright ground: the paper's "
        "hard mining) and no-imagery border blocks [4,2,2]",
    )
    t.add_argument(
        "--augment",
        choices=["mild", "strong"],
        default="mild",
        help="crop variation beyond rotation and flips: mild (scale 0.75-1.33, gain and offset) or strong "
        "(scale 0.5-2, wider gain, gamma, saturation, blur) [mild]",
    )
    t.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="also validate an exponential moving average of the weights (e.g. 0.998) and keep it "
        "where it scores better; 0 = off",
    )
    t.add_argument(
        "--freeze-bn",
        action="store_true",
        help="keep every BatchNorm's running statistics fixed and normalise with them while training, "
        "so the network trains as it runs (fine-tuning a trained model with small batches)",
    )
    t.add_argument(
        "--select",
        choices=["iou", "iou_mean_sources", "iou_best"],
        default="iou_best",
        help="validation score that picks best.pt: pooled IoU at 0.5, IoU averaged over sources at "
        "0.5, or pooled IoU at the best threshold (model.calibrate sets the threshold afterwards)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    t.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that prepare crops beside training (0: inline); default: none on 2 cores or "
        "fewer, where a worker was measured to slow training down, else a quarter of the cores (<= 6)",
    )
    t.add_argument(
        "--bf16",
        choices=["auto", "on", "off"],
        default="auto",
        help="bfloat16 autocast for training steps; auto: on a GPU with bfloat16 and a CPU with AMX-BF16 "
        "tile units (3.2x the float32 steps there), off elsewhere (AVX512-BF16 alone paid 1.5-1.9x and "
        "lost accuracy, model/README.md) [auto]",
    )
    t.add_argument(
        "--no-channels-last", action="store_true", help="keep NCHW memory layout (channels_last is faster)"
    )
    t.add_argument("--val-tile", type=int, default=512, help="tile size for validation inference [512]")
    t.add_argument(
        "--score-sources",
        type=_names,
        default=[],
        metavar="NAMES",
        help="pool the validation scores (and so --select) over these sources only, comma-separated, "
        "e.g. the split a model is compared on; per-source scores are logged for all [all]",
    )
    t.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue an interrupted run from its last.pt; --minutes is the whole run's budget, "
        "the minutes before the interruption included",
    )
    t.add_argument(
        "--init",
        metavar="MODEL",
        help="start from these weights (an exported .onnx, e.g. the shipped model, or a .pt checkpoint) "
        "with a fresh optimiser and schedule: continued training and fine-tuning; the network "
        "(variant, width, depth) is the model's",
    )
    t.add_argument("--out", required=True, help="output folder for checkpoints and logs")
    t.add_argument(
        "--snapshots",
        action="store_true",
        help="also keep each epoch's trained weights in OUT/snapshots/ (about 5 MB each), for "
        "python -m model.average (weight averaging over epochs)",
    )
    t.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    args = p.parse_args(argv)
    if args.workers is None:
        cores = os.cpu_count() or 1
        args.workers = 0 if cores <= 2 else min(6, max(1, cores // 4))
    if args.init and args.resume:
        p.error("--init starts a new run from a model, --resume continues a run: give one of them")
    if args.lr is None:
        args.lr = 2e-3 if args.optimizer == "adamw" else 1e-3
    if args.weight_decay is None:
        args.weight_decay = 1e-4 if args.optimizer == "adamw" else 5e-4
    if args.crop % 2**args.depth:
        p.error(f"--crop {args.crop} must be a multiple of 2**depth = {2**args.depth}")
    if args.val_tile % 2**args.depth:
        p.error(f"--val-tile {args.val_tile} must be a multiple of 2**depth = {2**args.depth}")
    return args


def _channel_names(text: str) -> list[str]:
    from core.terrain import CHANNELS

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CHANNELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give channel names from {', '.join(CHANNELS)}")
    return names


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r}: give source names separated by commas")
    return names


def _share(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not name.strip() or not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=FRACTION, e.g. bijie_negatives=0.2")
    return name.strip(), share


def _three_floats(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give three non-negative numbers, e.g. 4,2,2")
    return values  # type: ignore[return-value]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def masked_loss(logits: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor, kind: str) -> torch.Tensor:
    """BCE (+ soft Dice) over the pixels that are not ignored."""
    keep = (~ignore).float()
    n = keep.sum().clamp(min=1.0)
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * keep).sum() / n
    if kind == "bce":
        return bce
    prob = torch.sigmoid(logits) * keep
    inter = (prob * target).sum()
    dice = 1.0 - (2.0 * inter + 1.0) / (prob.sum() + (target * keep).sum() + 1.0)
    return bce + dice


@torch.no_grad()
def predict_scene(net: DAUNet, scene: Scene, tile: int, device: torch.device) -> np.ndarray:
    """Probability for a whole scene, tile by tile (edges padded with the no-imagery fill)."""
    net.eval()
    c, h, w = scene.image.shape
    div = net.size_divisor
    ph, pw = -(-h // div) * div, -(-w // div) * div
    padded = np.full((c, ph, pw), NODATA_FILL, dtype=np.float32)
    padded[:, :h, :w] = normalised(scene.image)
    out = np.zeros((ph, pw), dtype=np.float32)
    for y in range(0, ph, tile):
        for x in range(0, pw, tile):
            patch = torch.from_numpy(padded[None, :, y : y + tile, x : x + tile]).to(device)
            patch = patch.contiguous(memory_format=torch.channels_last)
            out[y : y + tile, x : x + tile] = torch.sigmoid(net(patch))[0, 0].cpu().numpy()
    return out[:h, :w]


def validate_thresholds(
    net: DAUNet,
    scenes: list[Scene],
    tile: int,
    device: torch.device,
    thresholds: list[float],
    score_sources: list[str] | None = None,
) -> dict[float, dict[str, Any]]:
    """Validation scores at each threshold, predicting every scene once: pooled over the scenes of
    ``score_sources`` (None: all), and per source for every source."""
    total = {t: Confusion() for t in thresholds}
    per_source: dict[float, dict[str, Confusion]] = {t: {} for t in thresholds}
    for scene in scenes:
        prob = predict_scene(net, scene, tile, device)
        for t in thresholds:
            conf = Confusion()
            conf.add(prob >= t, scene.label == 1, scene.ignore)
            if not score_sources or scene.source in score_sources:
                total[t] += conf
            per_source[t].setdefault(scene.source, Confusion())
            per_source[t][scene.source] += conf
    results = {}
    for t in thresholds:
        by_source = {k: v.scores() for k, v in per_source[t].items()}
        # Pooled IoU is dominated by the source with the most validation pixels; the mean over sources
        # weighs every domain (aerial, satellite, UAV orthophoto) equally. Sources without landslides
        # (hard negatives) have no IoU: their score is the false-positive rate.
        scored = [
            by_source[k]["iou"]
            for k, c in per_source[t].items()
            if c.tp + c.fn > 0 and (not score_sources or k in score_sources)
        ]
        mean_iou = float(np.mean(scored)) if scored else 0.0
        results[t] = {**total[t].scores(), "iou_mean_sources": mean_iou, "per_source": by_source}
    return results


def validate(net: DAUNet, scenes: list[Scene], tile: int, device: torch.device) -> dict[str, Any]:
    return validate_thresholds(net, scenes, tile, device, [0.5])[0.5]


def make_optimizer(net: torch.nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    if args.optimizer == "sgd":
        return torch.optim.SGD(
            net.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
        )
    return torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)


def lr_factor(progress: float, warmup: float = 0.03) -> float:
    """Linear warm-up then cosine decay over the run (progress 0..1, by steps or by the time budget)."""
    if progress < warmup:
        return max(progress / warmup, 0.05)
    return 0.5 * (1.0 + math.cos(math.pi * min((progress - warmup) / (1.0 - warmup), 1.0))) * 0.98 + 0.02


def _scene_info(scenes: list[Scene]) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "source": s.source, "labelled": s.labelled_pixels, "landslide": s.landslide_pixels}
        for s in scenes
    ]


def load_data(args: dict[str, Any]) -> Split:
    """The training/validation split a run's arguments describe (files via GDAL, or a packed file)."""
    if args.get("packed"):
        from model.packed import load_packed  # needs no GDAL: the GPU machine has none

        if args.get("tiles") or args.get("ortho") or args.get("val_ortho") or args.get("terrain"):
            raise DataError("give either --packed or --tiles/--ortho/--val-ortho/--terrain, not both")
        train, val, sources = load_packed(args["packed"])
        return Split(train, val, sources)
    from model.sources import load_split

    return load_split(
        args["tiles"],
        [tuple(pair) for pair in args["ortho"]],
        [tuple(pair) for pair in args["val_ortho"]],
        args["val_every"],
        args["ortho_holdout"],
        args["holdout_gap"],
        args.get("terrain") or [],
        {image: dsm for image, dsm in args.get("dsm") or []},
    )


def make_sampler(
    scenes: list[Scene], args: dict[str, Any], seed: int, weights: tuple[float, float, float] | None = None
) -> CropSampler:
    """Training crops as a run's arguments (``vars(args)`` or a checkpoint's ``args``) describe them;
    ``weights`` replaces the run's crop-centre weights."""
    return CropSampler(
        scenes,
        args["crop"],
        seed,
        balance=args["balance"],
        weights=tuple(args.get("centre_weights", (4.0, 2.0, 2.0)) if weights is None else weights),
        augment=args.get("augment", "mild"),  # checkpoints from before --augment: mild
        shares=dict(args.get("source_share") or []),
    )


def all_finite(loss: torch.Tensor, net: torch.nn.Module) -> bool:
    if not torch.isfinite(loss):
        return False
    return all(bool(torch.isfinite(p.grad).all()) for p in net.parameters() if p.grad is not None)


def bf16_wanted(mode: str, device: torch.device) -> bool:
    """bfloat16 autocast where it pays: GPUs with bfloat16, CPUs with AMX-BF16 (oneDNN's tile kernels;
    the AVX512-BF16 dot products alone were measured not worth their accuracy cost)."""
    if mode != "auto":
        return mode == "on"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    from core.precision import read_cpu_flags

    return "amx_bf16" in read_cpu_flags() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def build_network(
    args: argparse.Namespace, bands: int, device: torch.device
) -> tuple[DAUNet, dict[str, Any]]:
    """A fresh network, or the ``--init`` model's (its variant, width and depth override the arguments)."""
    if not args.init:
        return build_model(args.variant, bands, args.width, args.depth).to(device), {}
    net, init = load_initial(args.init)
    if args.terrain and init["bands"] + len(args.terrain) == bands:
        net = with_more_inputs(net, bands)  # an RGB model starts an RGB + DSM one, as it was
        init["bands"] = bands
    if init["bands"] != bands:
        raise DataError(f"{args.init} takes {init['bands']} bands but the training data have {bands}")
    args.variant, args.width, args.depth = init["variant"], init["width"], init["depth"]
    return net.to(device), init


def train(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    budget_s = args.minutes * 60.0
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = torch.device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    split = load_data(vars(args))
    bands = split.train[0].image.shape[0]
    if any(s.image.shape[0] != bands for s in split.train + split.val):
        raise DataError("all sources must have the same number of bands")
    unknown = sorted(set(args.score_sources) - {s["name"] for s in split.sources})
    if unknown:
        raise DataError(
            f"--score-sources names {', '.join(unknown)}, not a source of this run "
            f"({', '.join(s['name'] for s in split.sources)})"
        )
    gsds = [s.gsd_m for s in split.train if s.gsd_m > 0]
    print(
        f"data: {len(split.train)} training scenes, {len(split.val)} validation scenes from "
        f"{', '.join(s['name'] for s in split.sources)} (loaded in {time.monotonic() - started:.0f} s)",
        flush=True,
    )

    ckpt = torch.load(args.resume, map_location=device, weights_only=False) if args.resume else None
    if ckpt is not None:  # the interrupted run's architecture, whatever this command line says
        run = ckpt["meta"]
        args.variant, args.width, args.depth = run["variant"], run["width"], run["depth"]
    net, init = build_network(args, bands, device)
    sampler = make_sampler(split.train, vars(args), args.seed)
    if init.get("folded"):
        # An .onnx has BatchNorm folded away: give it real statistics before batch-statistics training.
        calibrate_batchnorm(net, (sampler.batch(args.batch)[0].to(device) for _ in range(8)))
        print(f"initialised from {args.init} (BatchNorm statistics re-estimated on 64 crops)", flush=True)
    elif args.init:
        print(f"initialised from {args.init}", flush=True)
    memory_format = torch.contiguous_format if args.no_channels_last else torch.channels_last
    net = net.to(memory_format=memory_format)
    opt = make_optimizer(net, args)
    ema = (
        AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
        if args.ema
        else None
    )
    epoch, step, best_score, history = 0, 0, -1.0, []
    prior = dict(init.get("training", {}))
    if ckpt is not None:
        net.load_state_dict(ckpt.get("train_model", ckpt["model"]))
        opt.load_state_dict(ckpt["optimizer"])
        if ema is not None and "ema_model" in ckpt:
            ema.load_state_dict(ckpt["ema_model"])
        epoch, step, best_score, history = ckpt["epoch"], ckpt["step"], ckpt["best_iou"], ckpt["history"]
        prior = dict(ckpt["meta"].get("prior_training", {}))
        torch.manual_seed(args.seed + step)
        # --minutes is the whole run's budget: the learning-rate schedule and the stop go on from
        # where the interrupted run was instead of starting a new cosine cycle.
        started -= 60.0 * float(history[-1]["minutes"]) if history else 0.0
        print(f"resumed from {args.resume} at epoch {epoch}, step {step}", flush=True)
    use_bf16 = bf16_wanted(args.bf16, device)

    meta = {
        "variant": args.variant,
        "width": args.width,
        "depth": args.depth,
        "bands": bands,  # input channels: the image bands, then the elevation channels
        "terrain": list(args.terrain),  # elevation channels (core.terrain), after the image bands
        "value_min": split.train[0].value_min,
        "value_max": split.train[0].value_max,
        "gsd_m": float(np.median(gsds)) if gsds else 0.0,
        "sources": split.sources,
        "train_scenes": _scene_info(split.train),
        "val_scenes": _scene_info(split.val),
        "parameters": count_parameters(net),
        "args": {k: v for k, v in vars(args).items()},
        "command": " ".join(sys.argv),
        "prior_training": prior,
        "bf16": use_bf16,
    }
    (out / "run.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(
        f"{args.variant}: {meta['parameters']:,} parameters, width {args.width}, depth {args.depth}; "
        f"{'bfloat16 autocast' if use_bf16 else 'float32'}, "
        f"{'NCHW' if args.no_channels_last else 'channels_last'}, {torch.get_num_threads()} threads, "
        f"{args.workers} crop workers",
        flush=True,
    )

    stream = batches(sampler, args.batch, args.workers, args.seed, step)
    total_steps = args.epochs * args.steps_per_epoch
    val_seconds = 0.0
    train_seconds = float(history[-1].get("train_seconds", 0.0)) if history else 0.0
    stop = False
    bad_steps = 0
    while epoch < args.epochs and not stop:
        net.train()
        if args.freeze_bn:
            freeze_batchnorm(net)
        losses = []
        t_epoch = time.monotonic()
        bar = tqdm(
            range(args.steps_per_epoch), desc=f"epoch {epoch + 1}", disable=args.no_progress, file=sys.stdout
        )
        for _ in bar:
            elapsed = time.monotonic() - started
            progress = step / total_steps
            if budget_s:
                progress = max(progress, elapsed / budget_s)
                if elapsed + val_seconds * 1.2 + 30 > budget_s:  # keep room for the last validation
                    stop = True
                    break
            for group in opt.param_groups:
                group["lr"] = args.lr * lr_factor(progress)
            x, y, ignore = (t.to(device, non_blocking=True) for t in next(stream))
            x = x.contiguous(memory_format=memory_format)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = net(x)
            loss = masked_loss(logits.float(), y, ignore, args.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if not all_finite(loss, net):  # skip the step rather than poison the weights
                bad_steps += 1
                if bad_steps >= MAX_BAD_STEPS:
                    raise DataError(
                        f"loss or gradients not finite in {bad_steps} steps in a row (step {step}); "
                        "lower --lr" + (" or train with --bf16 off" if use_bf16 else "")
                    )
                continue
            bad_steps = 0
            opt.step()
            if ema is not None:
                ema.update_parameters(net)
            losses.append(loss.item())
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", lr=f"{opt.param_groups[0]['lr']:.1e}")
        bar.close()
        if not losses:
            break
        epoch += 1
        epoch_seconds = time.monotonic() - t_epoch
        train_seconds += epoch_seconds
        t0 = time.monotonic()
        # With --ema both the trained and the averaged weights are validated; the better one is kept.
        candidates = {"raw": net} if ema is None else {"raw": net, "ema": ema.module}
        validated = (
            {
                name: summarise(
                    validate_thresholds(
                        m, split.val, args.val_tile, device, VAL_THRESHOLDS, args.score_sources
                    )
                )
                for name, m in candidates.items()
            }
            if split.val
            else {name: {} for name in candidates}
        )
        chosen = max(validated, key=lambda name: validated[name].get(args.select, 0.0))
        evaluated, scores = candidates[chosen], validated[chosen]
        val_seconds = time.monotonic() - t0
        row = {
            "epoch": epoch,
            "step": step,
            "minutes": round((time.monotonic() - started) / 60.0, 2),
            "train_seconds": round(train_seconds, 1),
            "steps_per_s": round(len(losses) / epoch_seconds, 3),
            "crops_per_s": round(len(losses) * args.batch / epoch_seconds, 2),
            "loss": float(np.mean(losses)),
            "lr": opt.param_groups[0]["lr"],
            "weights": chosen,
            **{f"{args.select}_{name}": v.get(args.select, 0.0) for name, v in validated.items()},
            **scores,
        }
        history.append(row)
        _log(out, row)
        print(
            f"epoch {epoch} step {step} loss {row['loss']:.4f} val IoU {row.get('iou', 0):.4f} "
            f"(mean over sources {row.get('iou_mean_sources', 0):.4f}; best threshold "
            f"{row.get('best_threshold', 0):.2f}: {row.get('iou_best', 0):.4f}) "
            f"P {row.get('precision', 0):.4f} R {row.get('recall', 0):.4f} "
            f"[{chosen} weights] "
            f"({row['minutes']:.1f} min, {row['crops_per_s']:.1f} crops/s, validation {val_seconds:.0f} s)",
            flush=True,
        )
        training = {
            "steps": int(prior.get("steps", 0)) + step,
            "crops": int(prior.get("crops", 0)) + step * args.batch,
            "hours": round(float(prior.get("hours", 0.0)) + train_seconds / 3600.0, 3),
        }
        ckpt = {
            "model": _plain_state(evaluated),
            "train_model": _plain_state(net),
            "optimizer": opt.state_dict(),
            "epoch": epoch,
            "step": step,
            "best_iou": best_score,
            "history": history,
            "meta": meta,
            "training": training,
            "metrics": {k: row[k] for k in METRIC_KEYS if k in row},
        }
        if ema is not None:
            ckpt["ema_model"] = ema.state_dict()
        if row.get(args.select, 0.0) > best_score or not split.val:
            best_score = row.get(args.select, 0.0)
            ckpt["best_iou"] = best_score
            _save(ckpt, out / "best.pt")
        ckpt["best_iou"] = best_score
        _save(ckpt, out / "last.pt")
        if args.snapshots:
            (out / "snapshots").mkdir(exist_ok=True)
            raw = validated["raw"]
            snapshot = {
                "model": ckpt["train_model"],
                "epoch": epoch,
                "step": step,
                "meta": meta,
                "training": training,
                "metrics": {k: raw[k] for k in METRIC_KEYS if k in raw},
            }
            _save(snapshot, out / "snapshots" / f"epoch_{epoch:03d}.pt")
    summary = {
        "best_score": best_score,
        "select": args.select,
        "epochs": epoch,
        "steps": step,
        "minutes": (time.monotonic() - started) / 60,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"done: {summary}", flush=True)
    return summary


def freeze_batchnorm(net: torch.nn.Module) -> None:
    """BatchNorm layers in inference mode inside a training network: they normalise with their
    running statistics and do not update them; their scale and shift still learn.

    With batches of 8 crops the running statistics are those of the last ~10 batches, and the
    validation score moved by 1.5-2 points with them alone (model/README.md); fine-tuning with
    them fixed trains the function that will run."""
    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def summarise(scores: dict[float, dict[str, Any]]) -> dict[str, Any]:
    """The row logged per epoch: scores at 0.5 and at the threshold with the best pooled IoU."""
    if not scores:
        return {}
    best_t = max(scores, key=lambda t: scores[t]["iou"])
    at_half = scores[0.5]
    return {
        **{k: v for k, v in at_half.items() if k != "per_source"},
        "best_threshold": best_t,
        "iou_best": scores[best_t]["iou"],
        "precision_best": scores[best_t]["precision"],
        "recall_best": scores[best_t]["recall"],
        "iou_mean_sources_best": scores[best_t]["iou_mean_sources"],
        "per_source": at_half["per_source"],
        "per_source_best": scores[best_t]["per_source"],
    }


def _plain_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous (NCHW) tensors, so checkpoints load into any network regardless of memory format."""
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def _save(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _log(out: Path, row: dict[str, Any]) -> None:
    with open(out / "log.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    flat = {k: v for k, v in row.items() if k not in ("per_source", "per_source_best")}
    for src, sc in row.get("per_source", {}).items():
        flat.update({f"{src}_{k}": v for k, v in sc.items()})
    for src, sc in row.get("per_source_best", {}).items():
        flat.update({f"{src}_iou_best": sc["iou"], f"{src}_fp_rate_best": sc["fp_rate"]})
    path = out / "log.csv"
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(flat))
        if new:
            writer.writeheader()
        writer.writerow(flat)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except (DataError, InitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
