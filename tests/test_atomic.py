"""core.atomic: a file is written whole or not at all, and no temp file is ever left behind."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from core.atomic import write_atomic, write_bytes, write_text


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _perms(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_writes_text_bytes_and_through_a_callback(tmp_path: Path) -> None:
    write_text(tmp_path / "a.txt", "héllo\r\nworld\n")
    assert (tmp_path / "a.txt").read_bytes() == "héllo\r\nworld\n".encode()  # UTF-8, newlines as given
    write_bytes(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    write_atomic(str(tmp_path / "c.json"), lambda fh: json.dump({"x": [1, 2]}, fh))
    assert json.loads((tmp_path / "c.json").read_text()) == {"x": [1, 2]}
    write_text(tmp_path / "a.txt", "new")  # replaces
    assert (tmp_path / "a.txt").read_text() == "new"
    assert _names(tmp_path) == ["a.txt", "b.bin", "c.json"]


@pytest.mark.parametrize("exc", [ValueError("half-way"), KeyboardInterrupt()])
def test_a_failing_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path, exc: BaseException) -> None:
    target = tmp_path / "out.json"
    target.write_text("old content")
    seen = []

    def half(fh):
        fh.write("new, but only the first ha")
        fh.flush()
        seen.extend(p.name for p in tmp_path.iterdir() if p.name != "out.json")  # the temp file exists now
        raise exc

    with pytest.raises(type(exc)):
        write_atomic(target, half)
    assert len(seen) == 1 and seen[0].startswith(".out.json.")  # it was beside the target...
    assert target.read_text() == "old content"
    assert _names(tmp_path) == ["out.json"]  # ...and is gone


def test_a_failing_first_write_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "new.csv", lambda fh: (_ for _ in ()).throw(RuntimeError("no")))
    assert _names(tmp_path) == []


def test_a_folder_in_the_way_is_an_error_and_leaves_no_temp(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        write_text(tmp_path / "d", "x")
    assert _names(tmp_path) == ["d"] and _names(tmp_path / "d") == []


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "nope" / "x.txt", "x")
    assert _names(tmp_path) == []


def test_bad_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        write_atomic(tmp_path / "x", lambda fh: None, "a")
    assert _names(tmp_path) == []


def test_permissions_like_open_keep_existing_or_as_asked(tmp_path: Path) -> None:
    umask = os.umask(0o027)  # a known umask for this test; restored below
    try:
        write_text(tmp_path / "new.txt", "x")
        assert _perms(tmp_path / "new.txt") == 0o640  # 0o666 less the umask, like open(..., "w")
        (tmp_path / "old.txt").write_text("x")
        os.chmod(tmp_path / "old.txt", 0o604)
        write_text(tmp_path / "old.txt", "y")
        assert _perms(tmp_path / "old.txt") == 0o604  # an existing file keeps its bits
        write_bytes(tmp_path / "private", b"x", perms=0o600)
        assert _perms(tmp_path / "private") == 0o600
        write_bytes(tmp_path / "wide", b"x", perms=0o644)
        assert _perms(tmp_path / "wide") == 0o644  # exactly as asked, not less the umask
    finally:
        os.umask(umask)


def test_a_symlink_is_followed_not_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert _names(tmp_path) == ["link.json", "real.json"]
