# SPDX-License-Identifier: GPL-2.0-or-later
"""Where a tile's time goes, layer by layer: onnxruntime's profiler on the CPU, models side by side.

    .venv/bin/python -m bench.op_profile MODEL.onnx [MODEL.int8.onnx ...] [--tile 512] [--runs 5]

For every model: the total per operator type and the slowest convolutions with their channel
counts (input -> output), medians over ``--runs`` profiled runs after a warm-up, the CPU and its
flags on every line. This is how the width-12 network's int8 copy was found to lose on Intel AMX
CPUs: its 12- and 24-channel convolutions ran slower in int8 than in float32
(``tools/pad_channels.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .sysinfo import cpu_tag


def _conv_channels(model_path: str) -> dict[str, str]:
    """Node name -> "in->out" channels of every convolution (QDQ: the weight's dequantised shape)."""
    import onnx

    graph = onnx.load(model_path).graph
    shapes = {i.name: list(i.dims) for i in graph.initializer}
    producers = {out: n for n in graph.node for out in n.output}
    consumers: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    found = {}
    for node in graph.node:
        if node.op_type not in ("Conv", "QLinearConv"):
            continue
        weight = node.input[1] if node.op_type == "Conv" else node.input[3]
        if weight not in shapes and weight in producers:  # QDQ: DequantizeLinear(int8 weight)
            weight = producers[weight].input[0]
        dims = shapes.get(weight)
        if dims:
            # float32 kernels are named after the tensor they write (a fused ReLU's output)
            label = f"{dims[1]}->{dims[0]}"
            found[node.name] = found[node.output[0]] = label
            for reader in consumers.get(node.output[0], []):
                if reader.op_type in ("Relu", "Sigmoid"):
                    found[reader.output[0]] = label
    return found


def profile(model_path: str, tile: int, runs: int, threads: int) -> dict[str, Any]:
    """Median microseconds per node over ``runs`` profiled runs of one random tile."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="op-profile-") as work:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as core.runtime
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(work, "profile")
        session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 3, tile, tile)).astype(np.float32)
        feed = {session.get_inputs()[0].name: x}
        session.run(None, feed)  # warm-up
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[str, list[float]] = defaultdict(list)
    op_type: dict[str, str] = {}
    totals: list[float] = []
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            # fused nodes carry the graph node's name plus a suffix ("<name>_token_38")
            name = re.sub(r"(_token_\d+|_nchwc)$", "", event["name"][: -len("_kernel_time")])
            kind = event["args"].get("op_name", "?")
            if op_type.setdefault(name, kind) != kind:
                name = f"{name} ({kind})"  # a helper node (reorder, transpose) named after it
                op_type[name] = kind
            per_node[name].append(float(event["dur"]))
        elif event.get("cat") == "Session" and event["name"] == "model_run":
            totals.append(float(event["dur"]))
    # The first recorded run is the warm-up: keep the last ``runs`` of every node.
    median = {name: float(np.median(times[-runs:])) for name, times in per_node.items()}
    return {"run_us": float(np.median(totals[-runs:])), "nodes": median, "op_type": op_type}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.op_profile", description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=8, help="slowest convolutions listed per model [8]")
    args = p.parse_args(argv)
    tag = cpu_tag()
    for path in args.models:
        result = profile(path, args.tile, args.runs, args.threads)
        channels = _conv_channels(path)
        by_type: dict[str, float] = defaultdict(float)
        for name, us in result["nodes"].items():
            by_type[result["op_type"][name]] += us
        print(
            f"[{tag}] {path}: {result['run_us'] / 1e3:.1f} ms per {args.tile}² tile, {args.threads} threads"
        )
        for kind, us in sorted(by_type.items(), key=lambda kv: -kv[1]):
            if us >= 0.01 * result["run_us"]:
                print(f"[{tag}]   {kind:<22} {us / 1e3:7.2f} ms  {us / result['run_us']:5.1%}")
        convs = [n for n in result["nodes"] if n in channels or result["op_type"][n].endswith("Conv")]
        for name in sorted(convs, key=lambda n: -result["nodes"][n])[: args.top]:
            ms = result["nodes"][name] / 1e3
            print(f"[{tag}]   slow conv {channels.get(name, '?'):>9} {ms:6.2f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
