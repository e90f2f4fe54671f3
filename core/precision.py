# SPDX-License-Identifier: GPL-2.0-or-later
"""Which numeric precision a CPU detection runs in: the float32 model or its int8 copy.

An int8 copy (static, per-channel QDQ, made by ``tools/quantize_int8.py``) lies next to the model as
``<name>.int8.onnx``. It pays only on CPUs with 8-bit dot-product instructions: on an AMD EPYC with
AVX512-VNNI a 512² tile ran 1.54x faster than in float32, on a CPU without VNNI it was slower
(bench/README.md). So ``auto`` takes it only where the CPU has AVX512-VNNI or AMX, the copy exists
and the provider is the CPU; CUDA always runs the float32 model.

The copy records the SHA-256 of the float32 file it was made from: a copy left behind by an older
model is never used silently.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import DetectionError

PRECISIONS = ("auto", "float32", "int8")
INT8_SUFFIX = ".int8.onnx"
# metadata_props key of an int8 copy: JSON with "precision": "int8", "source_sha256", how it was made.
INT8_KEY = "landslide_detector_int8"
# /proc/cpuinfo flags of the 8-bit dot-product units int8 convolutions need to beat float32.
INT8_FEATURES = (("avx512_vnni", "AVX512-VNNI"), ("amx_int8", "AMX"))
QUANTIZE_HELP = "Make it with: python tools/quantize_int8.py MODEL.onnx --data FOLDER_OF_TRAINING_TILES"


@dataclass
class PrecisionChoice:
    precision: str  # 'float32' | 'int8'
    path: str  # the model file that runs
    reason: str


def int8_path(model_path: str) -> str:
    """``x/model.onnx`` -> ``x/model.int8.onnx`` (where the int8 copy of a model lies)."""
    root, ext = os.path.splitext(str(model_path))
    return root + INT8_SUFFIX if ext.lower() == ".onnx" else str(model_path) + INT8_SUFFIX


@functools.lru_cache(maxsize=1)
def read_cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where they cannot be read cheaply."""
    if not sys.platform.startswith("linux"):
        return frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def int8_feature(flags: Iterable[str]) -> str | None:
    """The name of the CPU feature that makes int8 pay ('AVX512-VNNI', 'AMX'), or None."""
    flags = set(flags)
    for flag, name in INT8_FEATURES:
        if flag in flags:
            return name
    return None


def choose_precision(
    requested: str, model_path: str, cpu_flags: Iterable[str] | None = None
) -> PrecisionChoice:
    """The precision and file a CPU session should use. ``cpu_flags``: None reads this CPU's."""
    requested = (requested or "auto").lower()
    check_precision(requested)
    model_path = str(model_path)
    sibling = int8_path(model_path)
    if requested == "float32":
        return PrecisionChoice("float32", model_path, "float32 requested")
    flags = read_cpu_flags() if cpu_flags is None else frozenset(cpu_flags)
    feature = int8_feature(flags)
    if requested == "int8":
        if not os.path.isfile(sibling):
            raise DetectionError(
                f"Precision 'int8' was requested but the model has no int8 copy: '{sibling}' does not "
                f"exist. {QUANTIZE_HELP}, or choose precision 'auto' or 'float32'."
            )
        note = "" if feature else " (this CPU has no AVX512-VNNI or AMX: int8 may be slower than float32)"
        return PrecisionChoice("int8", sibling, f"int8 requested{note}")
    if not flags:
        return PrecisionChoice("float32", model_path, "auto: the CPU's int8 support is unknown here")
    if feature is None:
        return PrecisionChoice(
            "float32", model_path, "auto: this CPU has no AVX512-VNNI or AMX, where int8 is slower"
        )
    if not os.path.isfile(sibling):
        return PrecisionChoice(
            "float32", model_path, f"auto: the CPU has {feature} but the model has no int8 copy"
        )
    return PrecisionChoice("int8", sibling, f"auto: the CPU has {feature} and the model has an int8 copy")


def check_precision(requested: str) -> None:
    if requested not in PRECISIONS:
        raise DetectionError(f"Unknown precision '{requested}'. Use 'auto', 'float32' or 'int8'.")


def int8_record(session: Any) -> dict[str, Any] | None:
    """The int8 record in a session's model metadata (None: a float model)."""
    try:
        text = session.get_modelmeta().custom_metadata_map.get(INT8_KEY)
        return json.loads(text) if text else None
    except (ValueError, TypeError, AttributeError):
        return None


@functools.lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    """SHA-256 of a file, cached while its size and modification time stay the same."""
    stat = os.stat(path)
    return _sha256(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def stale_int8_problem(record: dict[str, Any] | None, model_path: str) -> str | None:
    """Why the int8 copy cannot stand for ``model_path`` (made from another file), or None."""
    if not record or not record.get("source_sha256"):
        return None  # an int8 file without our record: the user's own, taken as it is
    if record["source_sha256"] != file_sha256(model_path):
        return (
            f"the int8 copy '{int8_path(model_path)}' was made from another version of "
            f"'{os.path.basename(model_path)}'"
        )
    return None
