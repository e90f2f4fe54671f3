# SPDX-License-Identifier: GPL-2.0-or-later
"""PRECISION auto measured on this CPU (core.precision_probe): real sessions, a real cache file."""

from __future__ import annotations

import json

import onnx
import pytest

from core import precision_probe
from core.precision import read_cpu_flags
from core.runtime import create_session
from tests.fixtures import int8_models

pytestmark = pytest.mark.skipif(
    not ({"avx512_vnni", "amx_int8"} & read_cpu_flags()),
    reason="auto takes an int8 copy only on CPUs with VNNI or AMX: nothing to measure here",
)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return int8_models.int8_pair(tmp_path_factory.mktemp("probe"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSLIDES_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / precision_probe.CACHE_FILE


def test_first_auto_run_measures_and_caches_the_verdict(pair, cache):
    model, copy = pair
    _session, report = create_session(str(model), "cpu", 1, "auto")
    assert report.precision in ("int8", "float32") and "measured" in report.precision_reason
    record = next(iter(json.loads(cache.read_text()).values()))
    assert record["precision"] == report.precision and record["float32_s"] > 0 and record["int8_s"] > 0
    ran = copy if report.precision == "int8" else model
    assert report.model_file == str(ran)
    # The second run reads the verdict instead of measuring again.
    _session, again = create_session(str(model), "cpu", 1, "auto")
    assert again.precision == report.precision and "measured earlier" in again.precision_reason


def test_int8_is_kept_only_where_it_pays(pair, cache):
    model, copy = pair
    int8_session, _ = create_session(str(model), "cpu", 1, "int8")
    opened = []

    def open_float32():
        opened.append(object())
        return opened[-1]

    def timer(session, bands):  # float32 1.0 s, int8 0.95 s: not worth the accuracy it may cost
        return 1.0 if session in opened else 0.95

    verdict = precision_probe.measured_precision(
        str(model), str(copy), int8_session, open_float32, 1, 3, timer
    )
    assert (verdict.precision, verdict.cached) == ("float32", False)
    assert verdict.speedup == pytest.approx(1.0 / 0.95)
    assert "only 1.05x" in verdict.reason("AMX") and "float32 runs" in verdict.reason("AMX")
    # A cached float32 verdict makes create_session run the float32 file.
    _session, report = create_session(str(model), "cpu", 1, "auto")
    assert (report.precision, report.model_file) == ("float32", str(model))
    assert "measured earlier only 1.05x" in report.precision_reason


def _measure(model, copy, int8_session, threads=1):
    return precision_probe.measured_precision(
        str(model), str(copy), int8_session, lambda: None, threads, 3, lambda s, b: 2.0 if s is None else 1.0
    )


def test_verdicts_are_per_model_file_and_threads(pair, cache):
    model, copy = pair
    int8_session, _ = create_session(str(model), "cpu", 1, "int8")
    for threads in (1, 2):
        _measure(model, copy, int8_session, threads)
    keys = list(json.loads(cache.read_text()))
    assert len(keys) == 2 and {k.rsplit("=", 1)[1] for k in keys} == {"1", "2"}
    assert all(k.startswith(precision_probe.file_sha256(str(model))[:16]) for k in keys)


def test_an_int8_copy_made_again_is_measured_again(pair, cache, tmp_path):
    # The float32 file stays; only its int8 copy changes (re-quantised, e.g. padded): the verdict of
    # the old copy must not be read for the new one.
    model, copy = pair
    int8_session, _ = create_session(str(model), "cpu", 1, "int8")
    assert not _measure(model, copy, int8_session).cached
    assert _measure(model, copy, int8_session).cached
    remade = onnx.load(str(copy))
    onnx.helper.set_model_props(remade, {"made": "again"})
    other = tmp_path / "conv.int8.onnx"
    onnx.save(remade, str(other))
    assert not _measure(model, other, int8_session).cached
    assert len(json.loads(cache.read_text())) == 2


def test_an_unwritable_cache_only_means_measuring_again(pair, tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("LANDSLIDES_CACHE_DIR", str(blocked / "cache"))
    model, _copy = pair
    _session, report = create_session(str(model), "cpu", 1, "auto")
    assert "measured" in report.precision_reason and "earlier" not in report.precision_reason
