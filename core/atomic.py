# SPDX-License-Identifier: GPL-2.0-or-later
"""Write outputs under a temporary sibling name and rename them only when everything succeeded.

A canceled or failed run therefore never leaves a partial GeoTIFF or GeoPackage behind, and an
existing file of the same name is only replaced by a complete one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

# Files GDAL/SQLite may create next to an output (statistics, overviews, masks, journals).
SIDECAR_SUFFIXES = (".aux.xml", ".ovr", ".msk", "-journal", "-wal", "-shm")


def sidecars(path: str | os.PathLike[str]) -> list[str]:
    """``path`` plus the side-car files GDAL or SQLite may have written next to it."""
    path = str(path)
    return [path] + [path + suffix for suffix in SIDECAR_SUFFIXES]


def remove_with_sidecars(path: str | os.PathLike[str]) -> None:
    """Best effort: a file still open elsewhere (Windows) must not hide the error being handled."""
    for name in sidecars(path):
        with contextlib.suppress(OSError):
            os.remove(name)


def temporary_sibling(path: str | os.PathLike[str]) -> str:
    """A hidden name in the same folder with the same extension (GDAL picks drivers by extension)."""
    target = Path(path)
    return str(target.with_name(f".{target.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{target.suffix}"))


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise DetectionError early (before any inference) when ``path`` cannot be written."""
    from .errors import DetectionError

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise DetectionError(
            f"The output '{target}' is a folder. Give a file name, e.g. '{target / 'out.tif'}'."
        )
    if not folder.is_dir():
        raise DetectionError(
            f"The folder of the output '{target}' does not exist. Create '{folder}' or choose another folder."
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise DetectionError(
            f"The output '{target}' cannot be written (no permission). Choose a folder you can write to."
        )


class AtomicOutputs:
    """Several outputs committed together: ``temp_for(final)`` gives the name to write, ``commit()``
    renames them all; leaving the ``with`` block without a commit deletes every temporary file."""

    def __init__(self) -> None:
        self._pending: dict[str, str] = {}  # final -> temporary
        self.committed = False

    def temp_for(self, final_path: str | os.PathLike[str]) -> str:
        final = str(final_path)
        if final not in self._pending:
            self._pending[final] = temporary_sibling(final)
        return self._pending[final]

    def commit(self) -> None:
        for final, temp in self._pending.items():
            if not os.path.exists(temp):
                continue
            remove_with_sidecars(final)
            try:
                os.replace(temp, final)
            except OSError as exc:
                from .errors import DetectionError

                raise DetectionError(
                    f"The output '{final}' cannot be replaced ({exc.strerror}). It may be open in QGIS or "
                    "another program: remove that layer or choose another file name."
                ) from exc
            # Side-cars (e.g. .aux.xml statistics) follow their file; journals are stale once closed.
            for suffix in (".aux.xml", ".ovr", ".msk"):
                if os.path.exists(temp + suffix):
                    os.replace(temp + suffix, final + suffix)
            for suffix in ("-journal", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(temp + suffix)
        self.committed = True

    def discard(self) -> None:
        for temp in self._pending.values():
            remove_with_sidecars(temp)
        self._pending.clear()

    def __enter__(self) -> AtomicOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.committed:
            self.discard()


@contextlib.contextmanager
def atomic_output(final_path: str | os.PathLike[str]) -> Iterator[str]:
    """``with atomic_output('out.tif') as tmp:`` write ``tmp``; it becomes ``out.tif`` on success."""
    with AtomicOutputs() as outputs:
        temp = outputs.temp_for(final_path)
        yield temp
        outputs.commit()
