# SPDX-License-Identifier: GPL-2.0-or-later
"""Peak memory and speed of one onnxruntime CPU session per option set, in fresh processes.

    python -m bench.session_memory [--model shipped] [--tiles 512,896,1024] [--rounds 2]

Each (tile, option set) runs in its own child: 1 + 6 runs of a 1 x 3 x tile x tile input, the
median seconds per tile after the first, and the child's peak resident memory (VmHWM). The rounds
alternate the option sets (A/B/A/B) because this VM's speed drifts within minutes. Option sets:
``engine`` = ``core.runtime``'s CPU session (memory pattern off), ``mem-pattern`` = the same with
onnxruntime's memory pattern on (its default).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPTION_SETS = ("engine", "mem-pattern")


def _child(model: str, tile: int, option_set: str, threads: int) -> dict[str, float]:
    import numpy as np
    import onnxruntime as ort

    import core.runtime

    options = core.runtime._session_options(ort, threads, cpu_only=True)
    options.enable_mem_pattern = option_set == "mem-pattern"
    session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    feed = {
        session.get_inputs()[0].name: np.random.default_rng(0).random((1, 3, tile, tile), np.float32) - 0.5
    }
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t0)
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    return {"first_s": times[0], "s_per_tile": float(np.median(times[1:])), "peak_mb": peak_kb / 1024}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.session_memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="shipped", help="shipped, daunet16 or a path (see bench.models)")
    p.add_argument("--tiles", default="512,896,1024")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", nargs=2, metavar=("TILE", "OPTIONS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bench.models import resolve_model

    model = str(resolve_model(args.model)[0])
    if args.child:
        print(json.dumps(_child(model, int(args.child[0]), args.child[1], args.threads)))
        return
    for tile in (int(t) for t in args.tiles.split(",")):
        for round_ in range(args.rounds):
            for option_set in OPTION_SETS:
                cmd = [sys.executable, "-m", "bench.session_memory", "--model", args.model]
                cmd += ["--threads", str(args.threads), "--child", str(tile), option_set]
                out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(
                    f"{args.model} tile {tile} round {round_ + 1} {option_set:11s}: "
                    f"peak {r['peak_mb']:6.0f} MB, "
                    f"{r['s_per_tile']:.3f} s/tile ({tile * tile / 1e6 / r['s_per_tile']:.3f} MPix/s), "
                    f"first run {r['first_s']:.2f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
