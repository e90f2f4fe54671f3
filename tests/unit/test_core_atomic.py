# SPDX-License-Identifier: GPL-2.0-or-later
"""core.atomic: outputs committed together or not at all, locked output paths, stale clean-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.atomic import (
    STAGING_PREFIX,
    AtomicOutputs,
    OutputLock,
    host_tag,
    make_work_folder,
    process_alive,
    remove_stale,
)
from core.errors import DetectionError
from tests.fixtures.filesystems import snapshot


def dead_pid() -> int:
    """The id of a process that has ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive(child.pid)
    return child.pid


def test_commit_moves_every_output_and_its_sidecars(tmp_path: Path) -> None:
    (tmp_path / "p.tif").write_text("old raster")
    (tmp_path / "p.tif.aux.xml").write_text("old statistics")  # stale once the raster is replaced
    with AtomicOutputs() as outputs:
        raster, polygons = outputs.temp_for(tmp_path / "p.tif"), outputs.temp_for(tmp_path / "l.gpkg")
        assert Path(raster).name == "p.tif" and Path(raster).parent.name.startswith(STAGING_PREFIX)
        Path(raster).write_text("new raster")
        Path(polygons).write_text("new polygons")
        Path(polygons + "-journal").write_text("stale journal")
        outputs.commit()
    assert snapshot(tmp_path) == {"p.tif": b"new raster", "l.gpkg": b"new polygons"}


def test_a_failed_commit_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "b.txt").mkdir()  # the second output cannot be replaced: a folder of that name
    before = snapshot(tmp_path)
    with AtomicOutputs() as outputs:
        Path(outputs.temp_for(tmp_path / "a.txt")).write_text("new a")
        Path(outputs.temp_for(tmp_path / "b.txt")).write_text("new b")
        with pytest.raises(DetectionError, match="No output was changed"):
            outputs.commit()
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_shapefile_parts_are_one_output(tmp_path: Path) -> None:
    for ext in (".shp", ".shx", ".dbf", ".prj"):
        (tmp_path / f"l{ext}").write_text("old")
    with AtomicOutputs() as outputs:
        staged = Path(outputs.temp_for(tmp_path / "l.shp"))
        for ext in (".shp", ".shx", ".dbf", ".cpg"):
            staged.with_suffix(ext).write_text("new")
        outputs.commit()
    assert snapshot(tmp_path) == {f"l{ext}": b"new" for ext in (".cpg", ".dbf", ".shp", ".shx")}


def test_a_second_run_on_the_same_output_fails_at_once(tmp_path: Path) -> None:
    with AtomicOutputs() as first:
        Path(first.temp_for(tmp_path / "l.gpkg")).write_text("first")
        busy = rf"Another run \(process {os.getpid()}\).*l\.gpkg"
        with pytest.raises(DetectionError, match=busy), AtomicOutputs() as second:
            second.temp_for(tmp_path / "l.gpkg")
        first.commit()
    assert snapshot(tmp_path) == {"l.gpkg": b"first"}  # the lock file went with the run


def test_the_lock_is_held_across_processes(tmp_path: Path) -> None:
    lock = OutputLock(tmp_path / "l.gpkg")
    lock.acquire()
    try:
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); from core.atomic import OutputLock;"
            "from core.errors import DetectionError\n"
            "try:\n OutputLock(sys.argv[2]).acquire()\nexcept DetectionError as e:\n print(e)"
        )
        root = str(Path(__file__).resolve().parents[2])
        out = subprocess.run(
            [sys.executable, "-c", code, root, str(tmp_path / "l.gpkg")], capture_output=True, text=True
        )
        assert "Another run" in out.stdout, out.stdout + out.stderr
    finally:
        lock.release()
    assert not (tmp_path / ".l.gpkg.lock").exists()


def test_leftovers_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = dead_pid()
    stale = tmp_path / f"{STAGING_PREFIX}{host_tag()}-{dead}-0123abcd"
    stale.mkdir()
    (stale / "l.gpkg").write_text("half written")
    (tmp_path / f".p.tmp-{dead}-89abcdef.tif").write_text("earlier version's temporary file")
    (tmp_path / ".l.gpkg.lock").write_text(f"{dead}\n")
    live = tmp_path / f"{STAGING_PREFIX}{host_tag()}-{os.getpid()}-0123abcd"  # a run still going
    live.mkdir()
    other_host = tmp_path / f"{STAGING_PREFIX}ffffff-{dead}-0123abcd"  # another machine's run
    other_host.mkdir()
    (tmp_path / "user.txt").write_text("the user's file")
    (tmp_path / ".other.lock").write_text("not ours")
    with AtomicOutputs() as outputs:
        outputs.temp_for(tmp_path / "new.gpkg")  # the next run writing in that folder cleans up
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([live.name, other_host.name, "user.txt", ".other.lock"])


def test_work_folders_of_dead_processes_are_removed(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / f"landslides-detect-{host_tag()}-{dead_pid()}-abc123"
    stale.mkdir()
    (stale / "mask.gpkg").write_text("x")
    mine = make_work_folder("detect")
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == [Path(mine).name]
        assert remove_stale(tmp_path) == []  # this process's own folder stays
    finally:
        os.rmdir(mine)
