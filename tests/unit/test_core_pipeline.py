# SPDX-License-Identifier: GPL-2.0-or-later
"""The engine's helper threads (core.pipeline) step aside for onnxruntime's threads."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from core import pipeline


class _Recorder(pipeline.Worker):
    def __init__(self) -> None:
        super().__init__("test-recorder", 2)
        self.niceness: list[int] = []

    def handle(self, item: object) -> None:
        self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_helper_threads_run_at_lower_priority_and_the_caller_does_not():
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = _Recorder()
    worker.start()
    worker.queue.put("item")
    worker.close()
    assert worker.niceness == [min(before + pipeline.HELPER_NICE, 19)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # inference thread
