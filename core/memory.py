# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory a run will need, checked against what the machine has before anything is allocated.

A tile size far beyond the raster or the machine (``TILE_SIZE=100000``) used to allocate until the
system killed the process. The estimates here are deliberately simple: they are there to refuse a
run that cannot fit, with a message saying what to change, not to predict the peak exactly (the
bench measures that: bench/README.md, bench/wide_memory.py).
"""

from __future__ import annotations

import os
import sys

from .errors import DetectionError

MAX_TILE = 8192  # pixels per tile side, whatever the memory: beyond this a tile is never useful
# Network activations per tile pixel on the CPU (float32): measured 520-600 bytes for the shipped
# DA-U-Net (width 12) and its width-16 variant with onnxruntime's memory pattern off.
ACTIVATION_BYTES_PER_WIDTH = 45
DEFAULT_ACTIVATION_BYTES = 600  # a model whose width is not recorded
GB = 1024**3


def _cgroup_headroom() -> int | None:
    """Bytes left under a cgroup v2 memory limit (containers), None without a limit."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            limit = handle.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as handle:
            current = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - current)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable, or less under a container's
    memory limit), None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    headroom = _cgroup_headroom()
                    return available if headroom is None else min(available, headroom)
    except (OSError, ValueError, IndexError):
        pass
    if sys.platform == "win32":
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [
                ("dwLength", ctypes.c_ulong),
                ("dwMemoryLoad", ctypes.c_ulong),
                ("ullTotalPhys", ctypes.c_ulonglong),
                ("ullAvailPhys", ctypes.c_ulonglong),
                ("ullTotalPageFile", ctypes.c_ulonglong),
                ("ullAvailPageFile", ctypes.c_ulonglong),
                ("ullTotalVirtual", ctypes.c_ulonglong),
                ("ullAvailVirtual", ctypes.c_ulonglong),
                ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
            ]

        status = MemoryStatus()
        status.dwLength = ctypes.sizeof(MemoryStatus)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.ullAvailPhys)
        return None
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_tile_size(tile: int, what: str = "TILE_SIZE") -> None:
    if tile > MAX_TILE:
        raise DetectionError(
            f"The tile size {tile} is larger than {MAX_TILE} pixels. Use a smaller {what} (the model's "
            "own, e.g. 512 or 1024, is usually best), or leave it empty for the automatic choice."
        )


def check_fits(needed: int, what: str, fix: str, available: int | None = None) -> None:
    """Raise DetectionError when ``needed`` bytes exceed the memory available now."""
    available = available_memory() if available is None else available
    if available is not None and needed > available:
        raise DetectionError(
            f"{what} need about {needed / GB:.1f} GB of memory, but only {available / GB:.1f} GB are "
            f"available. {fix}"
        )


def detection_bytes(
    tile_hw: tuple[int, int],
    batch: int,
    channels: int,
    width: int,
    queue_batches: int,
    on_cpu: bool,
    model_width: int = 0,
    read_span: int | None = None,
    vector_piece_pixels: int = 0,
) -> int:
    """Rough peak of a detection: the network's activations (CPU only), the batches in flight, the
    blending strip (tile rows + one block row, over the raster's width: 5 bytes a pixel), the reader's
    strip and the vectoriser's pieces."""
    th, tw = tile_hw
    tile_pixels = th * tw
    per_pixel = ACTIVATION_BYTES_PER_WIDTH * model_width if model_width > 0 else DEFAULT_ACTIVATION_BYTES
    activations = batch * tile_pixels * per_pixel if on_cpu else 0
    batches = (queue_batches + 2) * batch * tile_pixels * (channels + 1) * 4
    strip = (th + 256) * width * 5
    reader = th * min(width, read_span or width) * (channels * 8 + 2)
    vectoriser = 4 * vector_piece_pixels * 4
    return int(activations + batches + strip + reader + vectoriser)
