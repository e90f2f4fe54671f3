# SPDX-License-Identifier: GPL-2.0-or-later
"""Average the weights of several epochs of one run (stochastic weight averaging), then validate.

    python -m model.train ... --snapshots --out runs/long
    python -m model.average runs/long/snapshots/epoch_0{10..20}.pt --out runs/long/swa.pt
    python -m model.calibrate runs/long/swa.pt

Single epochs of a long run score a few points apart on the validation split, and picking the best
one picks partly noise. The mean of the weights of many epochs (Izmailov et al. 2018, "Averaging
weights leads to wider optima and better generalization") is one network that usually scores at
least as well as the typical epoch, and whose score is not a lucky draw. The snapshots must come
from one run (or runs continued from each other), so that their weights lie in the same basin.

BatchNorm statistics of averaged weights are not the average of the statistics: they are measured
again on training crops drawn as in training. The result is a checkpoint ``model.calibrate`` and
``model.export`` take like ``best.pt``; its validation scores are printed and stored in it. Given
one checkpoint, only its BatchNorm statistics are measured again ("precise BatchNorm"): the fair
baseline for an average, since the running statistics a checkpoint carries are those of the last
few training batches only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import update_bn

from model.export import load_checkpoint
from model.train import VAL_THRESHOLDS, load_data, make_sampler, summarise, validate_thresholds

ARCHITECTURE_KEYS = ("variant", "width", "depth", "bands")


class AverageError(ValueError):
    """The snapshots cannot be averaged; the message says why."""


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of floating-point tensors; counters (BatchNorm's batch count) from the last."""
    keys = set(states[0])
    if any(set(s) != keys for s in states[1:]):
        raise AverageError("the snapshots hold different layers: average snapshots of one network only")
    out = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            out[key] = torch.stack([s[key].float() for s in states]).mean(dim=0).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def average(
    paths: list[str | Path], out: str | Path, bn_batches: int = 32, seed: int = 0, bn_crops: str = "training"
) -> dict[str, Any]:
    if not paths:
        raise AverageError("give the snapshots to average")
    loaded = [load_checkpoint(p) for p in paths]
    metas = [ckpt["meta"] for _, ckpt in loaded]
    for path, meta in zip(paths[1:], metas[1:]):
        if any(meta[k] != metas[0][k] for k in ARCHITECTURE_KEYS):
            raise AverageError(
                f"{path} is a different network from {paths[0]} (variant, width, depth or bands)"
            )
    net = loaded[-1][0]
    net.load_state_dict(average_states([ckpt["model"] for _, ckpt in loaded]))

    args = metas[-1]["args"]
    split = load_data(args)
    if bn_batches > 0:
        uniform = (0.0, 0.0, 0.0) if bn_crops == "uniform" else None
        sampler = make_sampler(split.train, args, seed, weights=uniform)
        update_bn((sampler.batch(args["batch"])[0] for _ in range(bn_batches)), net)
    net.eval()
    scores = summarise(
        validate_thresholds(net, split.val, args["val_tile"], torch.device("cpu"), VAL_THRESHOLDS)
    )

    last = loaded[-1][1]
    meta = dict(metas[-1])
    meta["averaged_from"] = [
        {"path": str(p), "epoch": ckpt.get("epoch"), "step": ckpt.get("step")}
        for p, (_, ckpt) in zip(paths, loaded)
    ]
    ckpt = {
        "model": {k: v.contiguous() for k, v in net.state_dict().items()},
        "meta": meta,
        "epoch": last.get("epoch"),
        "step": last.get("step"),
        "training": last.get("training", {}),
        "metrics": {k: v for k, v in scores.items() if k not in ("per_source", "per_source_best")},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(out)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.average",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("snapshots", nargs="+", help="epoch checkpoints of one run (model.train --snapshots)")
    parser.add_argument("--out", required=True, help="the averaged checkpoint to write")
    parser.add_argument(
        "--bn-batches", type=int, default=32, help="training batches for BatchNorm statistics [32]"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the BatchNorm crops [0]")
    parser.add_argument(
        "--bn-crops",
        choices=["training", "uniform"],
        default="training",
        help="crops for the statistics: drawn as in training (weighted centres), or uniformly; "
        "uniform ones scored 3 points lower on the shipped model (model/README.md) [training]",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        scores = average(args.snapshots, args.out, args.bn_batches, args.seed, args.bn_crops)
    except AverageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(scores, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
