# SPDX-License-Identifier: GPL-2.0-or-later
"""The int8 copy (tools/quantize_int8.py) and the precision choice (PRECISION auto/float32/int8).

Real files and real onnxruntime sessions: a tiny convolutional model, its int8 copy made by the
script from generated training tiles, and the CPU's flags injected where a test needs a CPU with or
without VNNI.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from core.engine import DetectionOptions, run_detection
from core.errors import DetectionError
from core.precision import (
    INT8_KEY,
    choose_precision,
    file_sha256,
    int8_feature,
    int8_path,
    read_cpu_flags,
)
from core.runtime import create_session
from tests.fixtures import int8_models, rasters
from tools import quantize_int8

VNNI = {"fpu", "avx2", "avx512f", "avx512_vnni"}
AMX = {"avx2", "amx_tile", "amx_int8"}
NO_VNNI = {"fpu", "avx2", "fma"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(float32 model, its int8 copy), made once for the module."""
    return int8_models.int8_pair(tmp_path_factory.mktemp("int8"))


@pytest.fixture
def models(pair, tmp_path):
    """A private copy of the pair (tests that change or delete a file)."""
    model, copy = (tmp_path / p.name for p in pair)
    shutil.copy(pair[0], model)
    shutil.copy(pair[1], copy)
    return model, copy


# --- the script ------------------------------------------------------------------------------------


def test_int8_copy_is_qdq_per_channel_and_keeps_the_metadata(pair):
    model, copy = pair
    assert copy.name == "conv.int8.onnx" and copy.parent == model.parent
    source = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    quantized = onnx.load(str(copy))
    props = {p.key: p.value for p in quantized.metadata_props}
    assert {k: props[k] for k in source} == source  # every key of the model, unchanged
    record = json.loads(props[INT8_KEY])
    assert record["precision"] == "int8"
    assert record["source_sha256"] == file_sha256(str(model))
    assert record["calibration"]["tiles"] == 6
    ops = [n.op_type for n in quantized.graph.node]
    assert ops.count("QuantizeLinear") >= 2 and ops.count("DequantizeLinear") >= 4
    inits = {t.name: t for t in quantized.graph.initializer}
    convs = {n.name: n for n in quantized.graph.node if n.op_type == "Conv"}
    dequant = {n.output[0]: n for n in quantized.graph.node if n.op_type == "DequantizeLinear"}
    # conv1's weights: int8, one scale per output channel (per-channel quantisation)
    weight = dequant[convs["conv1"].input[1]]
    assert inits[weight.input[0]].data_type == onnx.TensorProto.INT8
    assert list(inits[weight.input[1]].dims) == [4]
    # the head stays float32: its weights are a float initializer, not a dequantised int8 one
    head_weight = inits.get(convs["head"].input[1])
    assert head_weight is not None and head_weight.data_type == onnx.TensorProto.FLOAT
    assert set(record["float_nodes"]) == {"head", "sigmoid"}
    # activations: uint8 (U8S8, onnxruntime's fast x86 int8 convolutions), recorded as such
    quantize_ops = [n for n in quantized.graph.node if n.op_type == "QuantizeLinear"]
    assert all(inits[n.input[2]].data_type == onnx.TensorProto.UINT8 for n in quantize_ops)
    assert "U8S8" in record["format"]


def test_int8_copy_computes_nearly_what_the_model_does(pair, tmp_path):
    model, copy = pair
    image, _ = int8_models._scene(np.random.default_rng(5), 64, 64, 4)
    x = (image.astype(np.float32) / 255.0 - 0.5)[None]
    p32, p8 = (
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        for p in (model, copy)
    )
    assert np.abs(p32 - p8).max() < 0.05
    assert np.mean((p32 >= 0.5) == (p8 >= 0.5)) > 0.99
    assert 0.0 < p32.min() < 0.5 < p32.max() < 1.0  # the check means something: both classes occur


def test_calibration_uses_training_tiles_only(tmp_path):
    data = int8_models.training_data(tmp_path / "data")
    found = quantize_int8.training_images(data)
    tiles = [p.name for p, _ in found["tiles"]]
    assert len(tiles) == 6 and "tile_03.tif" not in tiles  # every 6th tile (index 3) is validation
    [(scene, window)] = found["ortho"]
    x, y, w, h = window
    width = 4 * 64
    assert (x, y, h) == (0, 0, 3 * 64)
    assert w == round(width * (1 - quantize_int8.HOLDOUT)) - quantize_int8.GAP  # the east is never seen
    for _source, _path, (cx, _cy, cw, _ch) in quantize_int8.crops(found, 64, 50, seed=0):
        if _path == scene:
            assert cx + cw <= w


def test_split_constants_follow_model_train():
    from model.train import parse_args

    args = parse_args(["--tiles", "x", "--out", "y"])
    assert (args.val_every, args.ortho_holdout, args.holdout_gap) == (
        quantize_int8.VAL_EVERY,
        quantize_int8.HOLDOUT,
        quantize_int8.GAP,
    )


def test_calibration_tiles_are_normalised_like_the_engine(tmp_path):
    data = int8_models.training_data(tmp_path / "data")
    info = int8_models.default_info(3, value_min=[0.0, 0.0, 10.0], value_max=[255.0, 255.0, 110.0])
    scene = data / "ortho" / "scene_rgb.tif"
    tile, share = quantize_int8.read_normalised(scene, (0, 3 * 64 - 32, 32, 32), info, 48)
    from osgeo import gdal

    raw = gdal.Open(str(scene)).ReadAsArray(0, 3 * 64 - 32, 32, 32).astype(np.float32)
    expected_b3 = np.clip((raw[2] - 10.0) / 100.0 - 0.5, -0.5, 0.5)
    assert share == pytest.approx(24 / 32)  # the last 8 rows have no imagery
    np.testing.assert_allclose(tile[2, :24, :32], expected_b3[:24], atol=1e-6)
    assert (tile[:, 24:32, :32] == info.nodata_fill).all()  # no imagery -> nodata fill
    assert (tile[:, 32:, :] == info.nodata_fill).all() and (tile[:, :, 32:] == info.nodata_fill).all()


def test_quantising_an_int8_copy_is_refused(pair, tmp_path):
    with pytest.raises(SystemExit, match="already an int8 model"):
        quantize_int8.quantize(pair[1], tmp_path / "twice.onnx", tmp_path)


# --- the precision choice ----------------------------------------------------------------------------


def test_int8_path():
    assert int8_path("/m/landslide_daunet.onnx") == "/m/landslide_daunet.int8.onnx"
    assert int8_path("/m/Model.ONNX") == "/m/Model.int8.onnx"


def test_cpu_features():
    assert int8_feature(VNNI) == "AVX512-VNNI"
    assert int8_feature(AMX) == "AMX"
    assert int8_feature(NO_VNNI) is None
    assert int8_feature({"avx_vnni"}) is None  # 256-bit AVX-VNNI: not measured, not chosen
    flags = read_cpu_flags()
    assert isinstance(flags, frozenset)
    if "linux" in __import__("sys").platform:
        assert "fpu" in flags or not flags  # /proc/cpuinfo read (x86), or no flags line (other CPUs)


def test_auto_takes_int8_only_on_a_vnni_or_amx_cpu(models):
    model, copy = models
    assert choose_precision("auto", str(model), VNNI).path == str(copy)
    assert choose_precision("auto", str(model), AMX).precision == "int8"
    no = choose_precision("auto", str(model), NO_VNNI)
    assert (no.precision, no.path) == ("float32", str(model))
    assert "no AVX512-VNNI or AMX" in no.reason
    unknown = choose_precision("auto", str(model), set())
    assert unknown.precision == "float32" and "unknown" in unknown.reason
    copy.unlink()
    missing = choose_precision("auto", str(model), VNNI)
    assert missing.precision == "float32" and "no int8 copy" in missing.reason


def test_forced_precisions(models):
    model, copy = models
    assert choose_precision("float32", str(model), VNNI).path == str(model)
    forced = choose_precision("int8", str(model), NO_VNNI)
    assert forced.path == str(copy) and "may be slower" in forced.reason
    copy.unlink()
    with pytest.raises(DetectionError) as err:
        choose_precision("int8", str(model), VNNI)
    assert str(copy) in str(err.value) and "tools/quantize_int8.py" in str(err.value)
    with pytest.raises(DetectionError, match="Unknown precision 'fp8'"):
        choose_precision("fp8", str(model))


def test_session_reports_which_precision_ran(models):
    model, copy = models
    session, report = create_session(str(model), "cpu", 1, "auto", cpu_flags=VNNI)
    assert (report.used, report.precision, report.model_file) == ("CPU", "int8", str(copy))
    assert "AVX512-VNNI" in report.precision_reason
    assert "QuantizeLinear" in _ops(session, copy)  # the session really holds the int8 graph
    session, report = create_session(str(model), "cpu", 1, "auto", cpu_flags=NO_VNNI)
    assert (report.precision, report.model_file) == ("float32", str(model))
    session, report = create_session(str(model), "cpu", 1, "float32", cpu_flags=VNNI)
    assert (report.precision, report.precision_reason) == ("float32", "float32 requested")
    session, report = create_session(str(model), "cpu", 1, "int8", cpu_flags=NO_VNNI)
    assert report.precision == "int8"


def test_the_int8_file_itself_says_int8(models):
    _model, copy = models
    _session, report = create_session(str(copy), "cpu", 1, "auto", cpu_flags=NO_VNNI)
    assert (report.precision, report.precision_reason) == ("int8", "the model file is an int8 model")


def test_int8_on_cuda_is_refused_and_auto_device_runs_it_on_the_cpu(models):
    model, _copy = models
    with pytest.raises(DetectionError, match="runs on the CPU only"):
        create_session(str(model), "cuda", 1, "int8")
    _session, report = create_session(str(model), "auto", 1, "int8", cpu_flags=VNNI)
    assert (report.used, report.precision) == ("CPU", "int8")


def test_a_copy_of_another_model_version_is_never_used(models):
    model, _copy = models
    int8_models.conv_model(model, seed=1)  # the model is retrained: its old int8 copy is stale
    _session, report = create_session(str(model), "cpu", 1, "auto", cpu_flags=VNNI)
    assert (report.precision, report.model_file) == ("float32", str(model))
    assert "another version" in report.precision_reason
    with pytest.raises(DetectionError, match="another version"):
        create_session(str(model), "cpu", 1, "int8", cpu_flags=VNNI)


def _ops(session, path) -> set[str]:
    """Op types of the file a session was made from (sessions do not list their nodes)."""
    assert session.get_modelmeta().custom_metadata_map.get(INT8_KEY)
    return {n.op_type for n in onnx.load(str(path)).graph.node}


# --- the engine -------------------------------------------------------------------------------------


def _squares(tmp_path):
    image = rasters.squares_image(96, 96, [(10, 10, 20, 20), (50, 60, 30, 25)])
    return rasters.write_raster(tmp_path / "squares.tif", image)


def test_detection_reports_the_precision(models, tmp_path):
    model, _copy = models
    raster = _squares(tmp_path)
    runs = {}
    for precision in ("float32", "int8"):
        lines: list[str] = []
        out = tmp_path / f"{precision}.gpkg"
        runs[precision] = run_detection(
            str(raster),
            str(model),
            str(out),
            options=DetectionOptions(device="cpu", threads=1, precision=precision),
            log=lines.append,
        )
        assert runs[precision].precision == precision
        assert any(line.startswith(f"Precision: {precision} (") for line in lines), lines
    assert runs["float32"].polygon_count == runs["int8"].polygon_count == 2


def test_detection_with_an_injected_vnni_cpu_runs_int8(models, tmp_path):
    model, copy = models
    raster = _squares(tmp_path)
    opened = create_session(str(model), "cpu", 1, "auto", cpu_flags=VNNI)
    result = run_detection(str(raster), str(model), str(tmp_path / "out.gpkg"), session=opened)
    assert (result.precision, result.provider.model_file) == ("int8", str(copy))


def test_missing_int8_copy_fails_before_writing_anything(models, tmp_path):
    model, copy = models
    copy.unlink()
    raster = _squares(tmp_path)
    out = tmp_path / "out" / "landslides.gpkg"
    out.parent.mkdir()
    with pytest.raises(DetectionError, match="has no int8 copy"):
        run_detection(str(raster), str(model), str(out), options=DetectionOptions(precision="int8"))
    assert list(out.parent.iterdir()) == []
