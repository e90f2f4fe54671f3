# SPDX-License-Identifier: GPL-2.0-or-later
"""Outputs written under temporary names and committed together, or not at all.

* Every output is written into a hidden **staging folder** next to it,
  ``DIR/.landslides.tmp-<host>-<pid>-<random>/NAME``: the same file system (so moving it into place
  is one rename) and the final file name (so GDAL, SQLite and Shapefile writers name their side-cars
  and layers as they would for the real file).
* :meth:`AtomicOutputs.commit` moves the previous files (and their side-cars) aside, moves the new
  ones into place and only then deletes the old ones; if any step fails, everything is moved back.
  A failed, canceled or killed run therefore never changes an existing file.
* Each output path is **locked** (an advisory lock on ``DIR/.NAME.lock``) from the moment its
  temporary name is asked for until the commit or clean-up: a second run writing the same file fails
  at once, saying so, instead of both runs replacing each other's files. The operating system
  releases the lock when a process dies, however it dies.
* Staging folders, temporary files and work folders of processes that no longer run on this machine
  (killed, crashed) are removed the next time an output is written in that folder
  (:func:`remove_stale`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import DetectionError

# Files GDAL/SQLite may create next to an output (statistics, overviews, masks, journals).
SIDECAR_SUFFIXES = (".aux.xml", ".ovr", ".msk", "-journal", "-wal", "-shm")
# Journals are stale once the file is closed: never moved into place.
JOURNAL_SUFFIXES = ("-journal", "-wal", "-shm")
# A Shapefile is several files with the same stem.
SHAPEFILE_EXTENSIONS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd", ".shp.xml")

STAGING_PREFIX = ".landslides.tmp-"
WORK_PREFIX = "landslides-"  # work folders in the system's temporary folder
PREVIOUS = ".previous"  # inside a staging folder: the files a commit replaces, until it succeeded
_STAGING = re.compile(r"^\.landslides\.tmp-(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{8}$")
_WORK = re.compile(r"^landslides-[a-z]+-(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-")
# Temporary siblings written by earlier versions: ".NAME.tmp-<pid>-<8 hex>.ext" (and side-cars).
_OLD_TEMP = re.compile(r"^\..+\.tmp-(?P<pid>\d+)-[0-9a-f]{8}(\.|$)")


def host_tag() -> str:
    """Six hex digits naming this machine: a folder shared over the network may hold the temporary
    files of runs on other machines, whose process ids mean nothing here."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (True when that cannot be told)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name == "nt":
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.GetLastError() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but belongs to someone else
    return True


def remove_stale(folder: str | os.PathLike[str]) -> list[str]:
    """Remove what runs killed on this machine left in ``folder``: staging folders, temporary files
    and work folders whose process no longer runs. Returns the names removed (best effort)."""
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    host = host_tag()
    for name in names:
        if name.startswith(".") and name.endswith(".lock"):
            if _remove_stale_lock(os.path.join(folder, name)):
                removed.append(name)
            continue
        match = _STAGING.match(name) or _WORK.match(name)
        if match is not None:
            if match.group("host") != host or process_alive(int(match.group("pid"))):
                continue
        else:
            match = _OLD_TEMP.match(name)
            if match is None or process_alive(int(match.group("pid"))):
                continue
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(name)
        except OSError:
            continue
    return removed


def make_work_folder(kind: str) -> str:
    """A new private folder in the system's temporary folder (the caller deletes it). Its name
    carries this process's id, so the next run removes it if this process is killed."""
    base = tempfile.gettempdir()
    remove_stale(base)
    return tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{kind}-{host_tag()}-{os.getpid()}-", dir=base)


def _remove_stale_lock(path: str) -> bool:
    """Remove an :class:`OutputLock` file left by a killed process: it holds a dead process's id
    and nobody holds the lock."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        holder = _read_holder(fd)
        if not holder.isdigit() or process_alive(int(holder)) or not _try_lock(fd):
            return False
        os.remove(path)  # while locked: a process that opened it meanwhile starts again
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def work_folder(kind: str) -> Iterator[str]:
    """:func:`make_work_folder`, deleted when the block ends."""
    path = make_work_folder(kind)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sidecar_paths(path: str | os.PathLike[str]) -> list[str]:
    """``path`` and the files that belong to it: GDAL/SQLite side-cars, or a Shapefile's parts."""
    path = str(path)
    if path.lower().endswith(".shp"):
        stem = path[:-4]
        return [stem + ext for ext in SHAPEFILE_EXTENSIONS]
    return [path] + [path + suffix for suffix in SIDECAR_SUFFIXES]


# Kept for callers of earlier versions.
sidecars = sidecar_paths


def remove_with_sidecars(path: str | os.PathLike[str]) -> None:
    """Best effort: a file still open elsewhere (Windows) must not hide the error being handled."""
    for name in sidecar_paths(path):
        with contextlib.suppress(OSError):
            os.remove(name)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise DetectionError early (before any inference) when ``path`` cannot be written."""
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
            f"The output '{target}' cannot be written (no permission or a read-only disk). Choose a folder "
            "you can write to."
        )


class OutputLock:
    """An exclusive, non-blocking advisory lock on ``DIR/.NAME.lock`` for the output ``DIR/NAME``.

    The lock file is removed on release; a process that opened it just before checks after locking
    that the path still names the file it locked, and starts again if not.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        target = Path(path)
        self.target = str(target)
        self.path = str(target.with_name(f".{target.name}.lock"))
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise DetectionError(
                    f"The output '{self.target}' cannot be written ({exc.strerror}). Choose a folder you can "
                    "write to."
                ) from exc
            if not _try_lock(fd):
                holder = _read_holder(fd)
                os.close(fd)
                who = f" (process {holder})" if holder else ""
                raise DetectionError(
                    f"Another run{who} is writing '{self.target}' right now. Wait until it has finished, or "
                    "choose another output file name."
                )
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if not same:  # removed or replaced by the holder that just released it
                os.close(fd)
                continue
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            self._fd = fd
            return

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.remove(self.path)  # while still locked (fails on Windows while open: harmless)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None
        if os.name == "nt":
            with contextlib.suppress(OSError):
                os.remove(self.path)


def _try_lock(fd: int) -> bool:
    if os.name == "nt":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() if hasattr(os, "pread") else ""
    except OSError:
        return ""


class AtomicOutputs:
    """Several outputs committed together: ``temp_for(final)`` gives the name to write (and locks
    ``final``), ``commit()`` moves them all into place; leaving the ``with`` block without a commit
    deletes every temporary file. See the module docstring."""

    def __init__(self) -> None:
        self._pending: dict[str, str] = {}  # final -> temporary
        self._staging: dict[str, str] = {}  # folder -> its staging folder
        self._locks: list[OutputLock] = []
        self.committed = False

    def lock(self, final_path: str | os.PathLike[str]) -> None:
        """Lock ``final_path`` until the end of the ``with`` block (see :class:`OutputLock`)."""
        lock = OutputLock(final_path)
        lock.acquire()
        self._locks.append(lock)

    def staging_folder(self, folder: str | os.PathLike[str]) -> str:
        folder = os.path.abspath(str(folder))
        if folder not in self._staging:
            remove_stale(folder)
            name = f"{STAGING_PREFIX}{host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            path = os.path.join(folder, name)
            try:
                os.mkdir(path)
            except OSError as exc:
                raise DetectionError(
                    f"No temporary file can be made in '{folder}' ({exc.strerror}). Choose a folder you can "
                    "write to, on a disk with free space."
                ) from exc
            self._staging[folder] = path
        return self._staging[folder]

    def temp_for(self, final_path: str | os.PathLike[str], lock: bool = True) -> str:
        final = os.path.abspath(str(final_path))
        if final not in self._pending:
            if lock:
                self.lock(final)
            stage = self.staging_folder(os.path.dirname(final))
            self._pending[final] = os.path.join(stage, os.path.basename(final))
        return self._pending[final]

    def commit(self) -> None:
        """Move every written output into place, or none (the previous files stay)."""
        moves: list[tuple[str, str]] = []  # (source, destination) done so far, to undo
        try:
            for final, temp in self._pending.items():
                if not os.path.exists(temp):
                    continue  # not written (an optional output)
                backup = os.path.join(os.path.dirname(temp), PREVIOUS)
                os.makedirs(backup, exist_ok=True)
                # The previous file and its side-cars go aside (stale statistics must not follow).
                for old in sidecar_paths(final):
                    if os.path.isdir(old) and not os.path.islink(old):
                        raise IsADirectoryError(errno.EISDIR, "a folder has that name", old)
                    if os.path.lexists(old):
                        kept = os.path.join(backup, os.path.basename(old))
                        os.replace(old, kept)
                        moves.append((old, kept))
                for new, target in zip(sidecar_paths(temp), sidecar_paths(final)):
                    if os.path.exists(new) and not new.endswith(JOURNAL_SUFFIXES):
                        os.replace(new, target)
                        moves.append((new, target))
        except OSError as exc:
            for source, destination in reversed(moves):
                with contextlib.suppress(OSError):
                    os.replace(destination, source)
            raise DetectionError(
                f"The output '{exc.filename or ''}' cannot be replaced ({exc.strerror}). It may be open in "
                "QGIS or another program: remove that layer or choose another file name. No output was "
                "changed."
            ) from exc
        self.committed = True
        self._cleanup()

    def discard(self) -> None:
        self._pending.clear()
        self._cleanup()

    def _cleanup(self) -> None:
        for stage in self._staging.values():
            shutil.rmtree(stage, ignore_errors=True)
        self._staging.clear()
        for lock in self._locks:
            lock.release()
        self._locks.clear()

    def __enter__(self) -> AtomicOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.committed:
            self.discard()
        else:
            self._cleanup()


@contextlib.contextmanager
def atomic_output(final_path: str | os.PathLike[str]) -> Iterator[str]:
    """``with atomic_output('out.tif') as tmp:`` write ``tmp``; it becomes ``out.tif`` on success."""
    with AtomicOutputs() as outputs:
        temp = outputs.temp_for(final_path)
        yield temp
        outputs.commit()
