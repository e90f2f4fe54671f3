# SPDX-License-Identifier: GPL-2.0-or-later
"""Model-only throughput: onnxruntime on full tiles, nothing else (the ceiling for end-to-end).

Sessions come from :func:`core.runtime.create_session`, the engine's own constructor, so the
options (graph optimisation level, threads, provider choice and fallback, the model file of each
precision) are exactly the ones a detection uses; TensorRT sessions (GPU machines, bench only) come
from :func:`tensorrt_session`. Input is random data in the normalised range [-0.5, 0.5].
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.runtime import create_session, describe_provider

from .flops import count_macs
from .models import TMP


@dataclass
class ModelOnly:
    device: str
    provider: str
    precision: str  # float32 | int8 (the model file that ran)
    threads: int
    tile: int
    batch: int
    runs: int
    s_per_batch: float  # median
    s_per_batch_min: float
    tiles_per_s: float
    mpix_per_s: float
    gmacs_per_tile: float
    gflops_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tensorrt_problem() -> str | None:
    """Why onnxruntime's TensorRT provider cannot run here (None: a TensorRT session really starts)."""
    import onnxruntime as ort

    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime build has no TensorRT provider"
    cuda = describe_provider("cuda")
    if cuda.used != "CUDA":
        return f"CUDA is not usable ({cuda.reason})"
    from core.runtime import _PROBE_MODEL

    try:
        session = ort.InferenceSession(
            _PROBE_MODEL, providers=["TensorrtExecutionProvider", "CUDAExecutionProvider"]
        )
    except Exception as exc:  # libnvinfer missing, or a version mismatch
        return f"the TensorRT session failed: {str(exc).strip().splitlines()[0]}"
    if session.get_providers()[0] != "TensorrtExecutionProvider":
        return "onnxruntime fell back from TensorRT (libnvinfer not found?)"
    return None


def tensorrt_session(model_path: Path, threads: int) -> Any:
    """A TensorRT session (float32 engines cached under bench/tmp/trt-cache: built once per shape)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads > 0:
        options.intra_op_num_threads = threads
    cache = TMP / "trt-cache"
    cache.mkdir(parents=True, exist_ok=True)
    trt = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache), "trt_fp16_enable": False}
    session = ort.InferenceSession(
        str(model_path),
        options,
        providers=[("TensorrtExecutionProvider", trt), "CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    if session.get_providers()[0] != "TensorrtExecutionProvider":
        raise RuntimeError("onnxruntime did not start the TensorRT provider")
    return session


def devices_to_measure(requested: str) -> list[str]:
    """'cpu' always; 'cuda' too when a CUDA session really starts here (``auto``) or was asked for."""
    if requested == "cpu":
        return ["cpu"]
    cuda = describe_provider("cuda")
    if cuda.used == "CUDA":
        return ["cpu", "cuda"] if requested == "auto" else ["cuda"]
    if requested == "cuda":
        raise SystemExit(f"--device cuda: {cuda.reason}")
    return ["cpu"]


class Sessions:
    """One session per (device, threads, precision), reused across tile and batch sizes (dynamic N/H/W).

    ``device`` 'tensorrt' is onnxruntime's TensorRT provider (bench only, see :func:`tensorrt_session`).
    """

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._cache: dict[tuple[str, int, str], tuple[Any, str, str]] = {}
        self._macs: dict[tuple[int, int, int], float] = {}

    def get(self, device: str, threads: int, precision: str = "float32") -> tuple[Any, str, str]:
        """(session, provider used, precision that runs)."""
        key = (device, threads, precision)
        if key not in self._cache:
            if device == "tensorrt":
                session = tensorrt_session(self.model_path, threads)
                self._cache[key] = (session, "TensorRT", "float32")
            else:
                session, report = create_session(str(self.model_path), device, threads, precision)
                self._cache[key] = (session, report.used, report.precision)
        return self._cache[key]

    def gmacs(self, bands: int, tile_h: int, tile_w: int) -> float:
        key = (bands, tile_h, tile_w)
        if key not in self._macs:
            self._macs[key] = count_macs(self.model_path, (1, bands, tile_h, tile_w))["total"] / 1e9
        return self._macs[key]


def measure(
    sessions: Sessions,
    device: str,
    threads: int,
    tile: int | tuple[int, int],
    batch: int,
    min_time: float = 3.0,
    min_runs: int = 3,
    max_runs: int = 50,
    precision: str = "float32",
) -> ModelOnly:
    """Median seconds per batch of ``batch`` tiles after one warm-up run."""
    session, provider, ran = sessions.get(device, threads, precision)
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    inp = session.get_inputs()[0]
    bands = inp.shape[1] if isinstance(inp.shape[1], int) else 3
    rng = np.random.default_rng(0)
    data = rng.random((batch, bands, th, tw), dtype=np.float32) - np.float32(0.5)
    feed = {inp.name: data}
    session.run(None, feed)  # warm-up: arena growth, kernel selection
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    gmacs = sessions.gmacs(bands, th, tw)
    return ModelOnly(
        device=device,
        provider=provider,
        precision=ran,
        threads=threads,
        tile=th if th == tw else f"{th}x{tw}",  # type: ignore[arg-type]
        batch=batch,
        runs=len(times),
        s_per_batch=round(median, 4),
        s_per_batch_min=round(min(times), 4),
        tiles_per_s=round(batch / median, 4),
        mpix_per_s=round(batch * th * tw / median / 1e6, 4),
        gmacs_per_tile=round(gmacs, 3),
        gflops_per_s=round(2 * gmacs * batch / median, 2),
    )
