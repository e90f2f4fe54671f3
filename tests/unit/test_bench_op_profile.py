# SPDX-License-Identifier: GPL-2.0-or-later
"""bench.op_profile: onnxruntime's profile of a real session, per node, with conv channel counts."""

from __future__ import annotations

import re

from bench.op_profile import _conv_channels, main, profile
from tests.fixtures import int8_models


def test_profile_times_every_convolution_of_float_and_int8_models(tmp_path, capsys) -> None:
    model, copy = int8_models.int8_pair(tmp_path)
    for path in (model, copy):
        result = profile(str(path), tile=32, runs=2, threads=1)
        channels = _conv_channels(str(path))
        assert {channels[n] for n in ("conv1", "conv2", "head")} == {"3->4", "4->4", "4->1"}
        assert result["run_us"] > 0
        timed = {channels[name] for name in result["nodes"] if name in channels}
        assert timed == {"3->4", "4->4", "4->1"}  # every convolution, whatever onnxruntime named it
        assert all(us >= 0 for us in result["nodes"].values())
    assert main([str(model), str(copy), "--tile", "32", "--runs", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("ms per 32² tile") == 2 and re.search(r"slow conv +3->4 +[\d.]+ ms", out)
