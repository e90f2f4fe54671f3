# SPDX-License-Identifier: GPL-2.0-or-later
"""Execution providers and model checks with real onnxruntime sessions."""

from __future__ import annotations

import sys

import onnxruntime as ort
import pytest

from core.errors import DetectionError
from core.model_info import load_model_info
from core.runtime import create_session, cuda_problem, describe_provider
from tests.fixtures import tiny_models

CUDA_ACTIVE = describe_provider("auto").used == "CUDA"


@pytest.fixture
def model(tmp_path):
    return str(tiny_models.brightness_model(tmp_path / "m.onnx"))


def test_cpu_is_forced(model):
    session, report = create_session(model, "cpu", threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert (report.requested, report.used) == ("cpu", "CPU")
    assert session.get_session_options().intra_op_num_threads == 1
    assert not session.get_session_options().enable_mem_pattern  # less memory, same speed on CPU
    # Threads sleep between operators: the helper threads get the cycles (bench/README.md).
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.skipif(CUDA_ACTIVE, reason="CUDA works on this machine")
def test_auto_falls_back_to_cpu_with_a_reason(model):
    session, report = create_session(model, "auto")
    assert session.get_providers()[0] == "CPUExecutionProvider"
    assert report.used == "CPU"
    assert report.reason.startswith("CUDA unavailable: ")
    assert len(report.reason) > len("CUDA unavailable: ") + 5
    assert describe_provider("auto").used == "CPU"


@pytest.mark.skipif(CUDA_ACTIVE, reason="CUDA works on this machine")
def test_cuda_request_fails_clearly(model):
    with pytest.raises(DetectionError) as err:
        create_session(model, "cuda")
    message = str(err.value)
    assert "CUDA is not usable" in message
    assert "cuDNN 9" in message and "'cpu'" in message  # the fixes


@pytest.mark.skipif(not CUDA_ACTIVE, reason="needs a working CUDA")
def test_cuda_is_really_used(model):
    session, report = create_session(model, "cuda")
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    assert report.used == "CUDA"


def test_bad_device_name(model):
    with pytest.raises(DetectionError, match="Unknown device"):
        create_session(model, "tpu")


def test_corrupt_model(tmp_path):
    path = tiny_models.corrupt_model(tmp_path / "broken.onnx")
    with pytest.raises(DetectionError, match="cannot be read as an ONNX model"):
        create_session(str(path), "cpu")
    with pytest.raises(DetectionError, match="cannot be read as an ONNX model"):
        load_model_info(str(path))


def test_wrong_rank_model(tmp_path):
    path = tiny_models.wrong_rank_model(tmp_path / "flat.onnx")
    with pytest.raises(DetectionError, match="rank 2"):
        create_session(str(path), "auto")


def test_missing_model(tmp_path):
    with pytest.raises(DetectionError, match="does not exist"):
        create_session(str(tmp_path / "nope.onnx"))


def test_load_model_info(tmp_path):
    info = tiny_models.default_info(4, tile_size=128, gsd_m=0.3)
    path = tiny_models.brightness_model(tmp_path / "m.onnx", bands=4, info=info)
    loaded = load_model_info(str(path))
    assert loaded.bands == [1, 2, 3, 4]
    assert (loaded.tile_size, loaded.gsd_m, loaded.network) == (128, 0.3, "test")


def _driver_loads() -> bool:
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


GPU_BUILD = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.skipif(
    sys.platform != "linux" or _driver_loads() or not GPU_BUILD,
    reason="needs onnxruntime-gpu on a Linux machine without an NVIDIA driver",
)
def test_no_driver_is_the_reason_and_nothing_else_is_loaded(monkeypatch):
    # Without the driver CUDA cannot run: the CUDA libraries are not preloaded (hundreds of MB).
    import core.runtime

    preloaded = []
    monkeypatch.setattr(core.runtime, "_preload_cuda_dlls", lambda ort: preloaded.append(ort))
    assert cuda_problem() == "no NVIDIA driver (libcuda.so.1 not found)"
    assert preloaded == []
