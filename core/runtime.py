# SPDX-License-Identifier: GPL-2.0-or-later
"""onnxruntime sessions: execution provider choice (CUDA or CPU) with an honest reason, and model checks.

What a session *actually* runs on is read from ``session.get_providers()``: onnxruntime-gpu lists
``CUDAExecutionProvider`` as available even when the CUDA libraries are missing and silently falls
back to CPU. To explain *why*, the CUDA provider library is loaded with ``ctypes`` first: the
loader's message names the exact missing library (e.g. ``libcublasLt.so.13``). On the CPU the
session runs the model or its int8 copy (:mod:`core.precision`); the report says which and why.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import DetectionError
from .precision import (
    PrecisionChoice,
    check_precision,
    choose_precision,
    int8_feature,
    int8_record,
    read_cpu_flags,
    stale_int8_problem,
)
from .precision_probe import measured_precision

CUDA_HELP = (
    "Install the NVIDIA driver, CUDA 13 and cuDNN 9 (see onnxruntime.ai/docs/execution-providers/"
    "CUDA-ExecutionProvider.html), or pip-install the nvidia-* CUDA 13 wheels (e.g. nvidia-cublas, "
    "nvidia-cuda-runtime, nvidia-cudnn-cu13) into QGIS's Python, or choose device 'cpu'."
)
_DRIVER_LIBS = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1",)
# A 96-byte ONNX model (Relu on 1x1x1x1) used to ask onnxruntime which provider really starts.
_PROBE_MODEL = base64.b64decode(
    "CAcSBXByb2JlOk8KDAoBeBIBeSIEUmVsdRIFcHJvYmVaGwoBeBIWChQIARIQCgIIAQoCCAEKAggBCgIIAWIbCgF5EhYKFAgB"
    "EhAKAggBCgIIAQoCCAEKAggBQgQKABAN"
)


@dataclass
class ProviderReport:
    requested: str  # 'auto' | 'cuda' | 'cpu'
    used: str  # 'CUDA' | 'CPU'
    reason: str
    precision: str = "float32"  # 'float32' | 'int8': the model file that runs (core.precision)
    precision_reason: str = ""
    model_file: str = ""  # the file the session was made from (the int8 copy when precision is int8)

    def __str__(self) -> str:
        return f"{self.used} ({self.reason})"


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the user's installation
        raise DetectionError(
            f"onnxruntime is not installed in QGIS's Python ({exc}). Install it with "
            "'python -m pip install onnxruntime-gpu' (or 'onnxruntime' for CPU only) in the OSGeo4W "
            "shell / QGIS Python, then restart QGIS."
        ) from exc
    return onnxruntime


_preloaded = False
_preload_lock = threading.Lock()


def _preload_cuda_dlls(ort: Any) -> str:
    """Let onnxruntime load NVIDIA libraries from pip packages (torch's, nvidia-*); returns its chatter."""
    global _preloaded
    with _preload_lock:
        if _preloaded or not hasattr(ort, "preload_dlls"):
            return ""
        _preloaded = True
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            try:
                ort.preload_dlls()
            except Exception as exc:  # a failed preload only means "not from pip packages"
                buffer.write(str(exc))
        return buffer.getvalue()


def _short_loader_error(message: str) -> str:
    """'libcublasLt.so.13: cannot open shared object file: ...' -> 'libcublasLt.so.13 not found'."""
    text = message.strip()
    if ": cannot open shared object file" in text:
        return text.split(": cannot open shared object file")[0].split(": ")[-1].strip() + " not found"
    return text.splitlines()[0] if text else "unknown loader error"


def cuda_problem(ort: Any | None = None) -> str | None:
    """Why the CUDA provider cannot load here, or None when its libraries load (cheap, cached by the OS)."""
    ort = ort or _import_ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return (
            "this onnxruntime build has no CUDA provider (install the 'onnxruntime-gpu' package instead of "
            "'onnxruntime')"
        )
    # The driver first: without it CUDA cannot run whatever else loads, and preloading the CUDA
    # libraries (hundreds of MB from nvidia-* wheels) or the provider library would be wasted time.
    for name in _DRIVER_LIBS:
        try:
            ctypes.CDLL(name)
        except OSError:
            return f"no NVIDIA driver ({name} not found)"
    _preload_cuda_dlls(ort)
    problems = []
    capi = os.path.join(os.path.dirname(ort.__file__), "capi")
    provider = (
        "onnxruntime_providers_cuda.dll" if sys.platform == "win32" else "libonnxruntime_providers_cuda.so"
    )
    path = os.path.join(capi, provider)
    if os.path.exists(path):
        try:
            ctypes.CDLL(
                os.path.join(
                    capi,
                    "libonnxruntime_providers_shared.so"
                    if sys.platform != "win32"
                    else "onnxruntime_providers_shared.dll",
                )
            )
            ctypes.CDLL(path)
        except OSError as exc:
            problems.insert(0, _short_loader_error(str(exc)))
    return "; ".join(problems) if problems else None


def _session_options(ort: Any, threads: int, cpu_only: bool = False) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the fallback reason is reported by us, not on stderr
    if threads > 0:
        options.intra_op_num_threads = int(threads)
    if cpu_only:
        # The pre-planned activation block costs ~40 % more peak memory (1024 px tile: 933 vs
        # 549 MB) for no measurable speed on CPU (bench/README.md).
        options.enable_mem_pattern = False
        # Between operators the intra-op threads sleep instead of spin-waiting, so the reader,
        # writer and vectoriser threads get those cycles: 4096² end to end 12.4 -> 10.1 s on 2
        # cores, every round faster (bench/README.md, ablations 2026-12-01).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _new_session(ort: Any, model: str | bytes, providers: list[str], threads: int) -> Any:
    options = _session_options(ort, threads, cpu_only=providers == ["CPUExecutionProvider"])
    return ort.InferenceSession(model, sess_options=options, providers=providers)


def _open_model_error(model_path: str, exc: Exception) -> DetectionError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DetectionError(
        f"The model '{model_path}' cannot be read as an ONNX model ({detail}). The file is corrupt, "
        "truncated or not an ONNX model: download or export it again (model/export.py writes valid models)."
    )


def _dims(shape: Any) -> list[Any]:
    return list(shape) if shape is not None else []


def check_model_io(session: Any, model_path: str) -> None:
    """One float input N x C x H x W and a float N x C x H x W output, or DetectionError (which of
    the output's channels is used is :mod:`core.model_adapter`'s business)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    fix = (
        "Use a segmentation model with one float32 input N x C x H x W and one output N x 1 x H x W "
        "holding the landslide probability (export it with model/export.py)."
    )
    if len(inputs) != 1:
        raise DetectionError(f"The model '{model_path}' has {len(inputs)} inputs, expected 1. {fix}")
    shape = _dims(inputs[0].shape)
    if len(shape) != 4:
        raise DetectionError(
            f"The model '{model_path}' input '{inputs[0].name}' has shape {shape} (rank {len(shape)}), "
            f"not N x C x H x W. {fix}"
        )
    if inputs[0].type != "tensor(float)":
        raise DetectionError(f"The model '{model_path}' input is {inputs[0].type}, not tensor(float). {fix}")
    if not outputs:
        raise DetectionError(f"The model '{model_path}' has no output. {fix}")
    out = _dims(outputs[0].shape)
    if len(out) != 4 or outputs[0].type != "tensor(float)":
        raise DetectionError(
            f"The model '{model_path}' output '{outputs[0].name}' is {outputs[0].type} {out}, not a float "
            f"N x C x H x W segmentation map. {fix}"
        )


FELL_BACK = "onnxruntime fell back to CPU (no usable NVIDIA GPU, or a driver too old)"


def _cuda_session(ort: Any, model: str | bytes, threads: int) -> tuple[Any | None, str | None]:
    """A session of ``model`` (a path, or the probe's bytes) really running on CUDA, or (None, why not).

    The one CUDA probe: the libraries first (cheap, names the missing one), then a session, whose
    providers say whether onnxruntime quietly fell back to the CPU. A model file that cannot be
    read at all raises DetectionError (that is not a CUDA problem).
    """
    problem = cuda_problem(ort)
    if problem is not None:
        return None, problem
    try:
        session = _new_session(ort, model, ["CUDAExecutionProvider", "CPUExecutionProvider"], threads)
    except Exception as exc:
        if isinstance(model, str) and (
            not os.path.getsize(model) or "Protobuf" in str(exc) or "INVALID" in str(exc).upper()
        ):
            raise _open_model_error(model, exc) from exc
        return None, f"the CUDA session failed: {str(exc).strip().splitlines()[0]}"
    if session.get_providers()[0] != "CUDAExecutionProvider":
        # A CPU session of our own follows where one is wanted (CPU options, the CPU's precision).
        return None, FELL_BACK
    return session, None


def _cuda_report(device: str) -> ProviderReport:
    return ProviderReport(device, "CUDA", f"CUDA {'requested' if device == 'cuda' else 'found'} and active")


def _cpu_reason(device: str, problem: str) -> str:
    """Why the CPU runs although ``device`` ('auto' or 'cuda') allowed CUDA."""
    return f"CUDA requested but not usable: {problem}" if device == "cuda" else f"CUDA unavailable: {problem}"


def create_session(
    model_path: str,
    device: str = "auto",
    threads: int = 0,
    precision: str = "auto",
    cpu_flags: Iterable[str] | None = None,
) -> tuple[Any, ProviderReport]:
    """An onnxruntime session for ``model_path`` on ``device`` ('auto', 'cuda' or 'cpu').

    ``precision`` ('auto', 'float32' or 'int8', see :mod:`core.precision`) picks the model file on
    the CPU; ``cpu_flags`` stands for this CPU's flags (tests), None reads them.
    """
    device = (device or "auto").lower()
    if device not in ("auto", "cuda", "cpu"):
        raise DetectionError(f"Unknown device '{device}'. Use 'auto', 'cuda' or 'cpu'.")
    precision = (precision or "auto").lower()
    check_precision(precision)
    model_path = str(model_path)
    if not os.path.isfile(model_path):
        raise DetectionError(f"The model file '{model_path}' does not exist. Choose an existing .onnx model.")
    if precision == "int8" and device == "cuda":
        raise DetectionError(
            "Precision 'int8' runs on the CPU only, but device 'cuda' was requested. Choose precision "
            "'auto' or 'float32' for the GPU, or device 'cpu' (or 'auto') for int8."
        )
    ort = _import_ort()

    reason = "CPU requested"
    if precision == "int8" and device == "auto":
        reason = "precision 'int8' runs on the CPU"
    elif device in ("auto", "cuda"):
        session, problem = _cuda_session(ort, model_path, threads)
        if problem is not None:
            if device == "cuda":
                raise DetectionError(
                    f"Device 'cuda' was requested but CUDA is not usable: {problem}. {CUDA_HELP}"
                )
            reason = _cpu_reason(device, problem)
        else:
            check_model_io(session, model_path)
            report = _cuda_report(device)
            _report_precision(
                report,
                session,
                model_path,
                "float32 requested" if precision == "float32" else "CUDA runs the float32 model",
            )
            return session, report

    choice = choose_precision(precision, model_path, cpu_flags)
    session = _cpu_session(ort, choice.path, threads)
    if choice.precision == "int8":
        problem = stale_int8_problem(int8_record(session), model_path)
        if problem is not None:
            if precision == "int8":
                raise DetectionError(
                    f"Precision 'int8' was requested but {problem}. Make the int8 copy again "
                    "(python tools/quantize_int8.py), or choose precision 'auto' or 'float32'."
                )
            session = _cpu_session(ort, model_path, threads)
            choice = PrecisionChoice("float32", model_path, f"auto: {problem}; make it again")
        elif precision == "auto" and cpu_flags is None:  # this CPU: measure, don't assume
            session, choice = _measured_choice(ort, session, choice, model_path, threads)
    report = ProviderReport(device, "CPU", reason)
    _report_precision(report, session, choice.path, choice.reason, choice.precision)
    return session, report


def _measured_choice(
    ort: Any, int8_session: Any, choice: PrecisionChoice, model_path: str, threads: int
) -> tuple[Any, PrecisionChoice]:
    """Keep the int8 copy only where it measured faster than float32 here (core.precision_probe)."""
    opened: list[Any] = []

    def open_float32() -> Any:
        opened.append(_cpu_session(ort, model_path, threads))
        return opened[-1]

    bands = int8_session.get_inputs()[0].shape[1]
    bands = bands if isinstance(bands, int) else 3
    verdict = measured_precision(model_path, choice.path, int8_session, open_float32, threads, bands)
    feature = int8_feature(read_cpu_flags()) or "no 8-bit dot-product flags"
    if verdict.precision == "int8":
        return int8_session, PrecisionChoice("int8", choice.path, verdict.reason(feature))
    session = opened[-1] if opened else _cpu_session(ort, model_path, threads)
    return session, PrecisionChoice("float32", model_path, verdict.reason(feature))


def _cpu_session(ort: Any, path: str, threads: int) -> Any:
    try:
        session = _new_session(ort, path, ["CPUExecutionProvider"], threads)
    except Exception as exc:
        raise _open_model_error(path, exc) from exc
    check_model_io(session, path)
    return session


def _report_precision(
    report: ProviderReport, session: Any, path: str, reason: str, precision: str = "float32"
) -> None:
    """Fill the precision part of ``report``; a model file that is itself an int8 copy says so."""
    if precision != "int8" and int8_record(session) is not None:
        precision, reason = "int8", "the model file is an int8 model"
    report.precision, report.precision_reason, report.model_file = precision, reason, path


_describe_cache: dict[str, ProviderReport] = {}


def describe_provider(device: str = "auto") -> ProviderReport:
    """What ``create_session`` would use for ``device``; probes once with a tiny model, then cached."""
    device = (device or "auto").lower()
    if device in _describe_cache:
        return _describe_cache[device]
    ort = _import_ort()
    if device == "cpu":
        report = ProviderReport("cpu", "CPU", "CPU requested")
    else:
        _session, problem = _cuda_session(ort, _PROBE_MODEL, 1)
        cpu = ProviderReport(device, "CPU", _cpu_reason(device, problem)) if problem else None
        report = cpu or _cuda_report(device)
    _describe_cache[device] = report
    return report
