# SPDX-License-Identifier: GPL-2.0-or-later
"""Choose a checkpoint's probability threshold on its own validation split.

    python -m model.calibrate runs/daunet/best.pt

Rebuilds the validation split recorded in the checkpoint (same sources, same hold-out rule),
predicts every validation scene once and scores thresholds 0.30..0.90. The threshold with the best
IoU averaged over sources (the rule that also selects ``best.pt``) is stored in the checkpoint
with its scores; ``model.export`` writes both into the ONNX metadata. Only the validation split is
used: the data owners' held-back evaluation part is never seen.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.export import load_checkpoint
from model.sources import load_split
from model.train import validate_thresholds

THRESHOLDS = [round(float(t), 2) for t in np.arange(0.30, 0.91, 0.05)]
SELECT_BY = "iou_mean_sources"


def calibrate(checkpoint: str | Path, threads: int = 0) -> dict[str, Any]:
    if threads > 0:
        torch.set_num_threads(threads)
    net, ckpt = load_checkpoint(checkpoint)
    args = ckpt["meta"]["args"]
    split = load_split(
        args["tiles"],
        [tuple(pair) for pair in args["ortho"]],
        [tuple(pair) for pair in args["val_ortho"]],
        args["val_every"],
        args["ortho_holdout"],
        args["holdout_gap"],
    )
    scores = validate_thresholds(net, split.val, args["val_tile"], torch.device("cpu"), THRESHOLDS)
    best = max(THRESHOLDS, key=lambda t: scores[t][SELECT_BY])
    ckpt["threshold"] = best
    ckpt["threshold_scores"] = {
        str(t): {k: v for k, v in s.items() if k != "per_source"} for t, s in scores.items()
    }
    ckpt["metrics"] = {k: v for k, v in scores[best].items() if k != "per_source"}
    ckpt["metrics_per_source"] = scores[best]["per_source"]
    torch.save(ckpt, checkpoint)
    return {"threshold": best, "scores": ckpt["threshold_scores"], "per_source": scores[best]["per_source"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", help="best.pt or last.pt written by model.train (updated in place)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    print(json.dumps(calibrate(args.checkpoint, args.threads), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
