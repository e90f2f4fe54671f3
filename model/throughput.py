# SPDX-License-Identifier: GPL-2.0-or-later
"""Training throughput: steps and crops per second of the training step on real crops, per setting.

    python -m model.throughput --tiles DATA/sichuan --ortho IMG LABEL ... [--steps 20] [--json out.json]

Each setting runs warm-up steps and then ``--steps`` timed steps of the same network, batch and crop
size; the settings are interleaved over ``--rounds`` so that a machine whose speed drifts treats them
alike. Validation is not included (it is inference, measured by the benchmarks in ``bench/``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from model.data import CropSampler
from model.loader import batches
from model.network import build_model
from model.sources import load_split
from model.train import bf16_wanted, masked_loss

SETTINGS = {
    "before: NCHW, float32, crops inline": dict(channels_last=False, bf16=False, workers=0),
    "+ crop worker process": dict(channels_last=False, bf16=False, workers=1),
    "+ channels_last": dict(channels_last=True, bf16=False, workers=1),
    "+ bfloat16 autocast": dict(channels_last=True, bf16=True, workers=1),
    "channels_last + bfloat16, crops inline": dict(channels_last=True, bf16=True, workers=0),
}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_setting(
    sampler: CropSampler, args: argparse.Namespace, channels_last: bool, bf16: bool, workers: int
) -> float:
    """Seconds per training step for one setting (median over the timed steps)."""
    torch.manual_seed(0)
    net = build_model("DA-U-Net", 3, args.width, 4)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    stream = batches(sampler, args.batch, workers, seed=0)
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        x, y, ignore = next(stream)
        x = x.contiguous(memory_format=fmt)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(x)
        loss = masked_loss(logits.float(), y, ignore, "bce+dice")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--tiles", action="append", default=[], metavar="DIR")
    p.add_argument("--ortho", action="append", nargs=2, default=[], metavar=("IMAGE", "INVENTORY"))
    p.add_argument("--width", type=int, default=12)
    p.add_argument("--crop", type=int, default=192)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    split = load_split(args.tiles, [tuple(o) for o in args.ortho], [], 6, 0.35, 64)
    sampler = CropSampler(split.train, args.crop, 0)
    native_bf16 = bf16_wanted("auto", torch.device("cpu"))
    results: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, setting in SETTINGS.items():
            results[name].append(time_setting(sampler, args, **setting))
    report: dict[str, Any] = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "native_bf16": native_bf16,
        "width": args.width,
        "crop": args.crop,
        "batch": args.batch,
        "settings": {},
    }
    base = statistics.median(results[next(iter(SETTINGS))])
    print(f"{report['cpu']}, {report['threads']} threads, native bfloat16: {native_bf16}")
    print(f"width {args.width}, crop {args.crop}, batch {args.batch}")
    print("| setting | s/step | steps/s | crops/s | speed-up |")
    print("|---|---|---|---|---|")
    for name, values in results.items():
        t = statistics.median(values)
        report["settings"][name] = {"s_per_step": t, "runs": values}
        print(f"| {name} | {t:.3f} | {1 / t:.2f} | {args.batch / t:.1f} | {base / t:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
