"""The one writer: all or nothing, never over a symlink, device, FIFO or folder, umask modes."""

import os
import stat

import pytest

from raymix.files import UnsafeTarget, atomic_write_bytes, atomic_write_text, unsafe_target


def test_a_write_replaces_a_regular_file_whole(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_a_write_never_replaces_what_is_not_a_regular_file(tmp_path, kind):
    kept = tmp_path / "kept.json"
    kept.write_text("kept")
    path = tmp_path / "out.json"
    if kind == "symlink":
        path.symlink_to(kept)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    with pytest.raises(UnsafeTarget, match="out.json is a"):
        atomic_write_bytes(path, b"new")
    assert kept.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "out.json"]
    assert not stat.S_ISREG(path.lstat().st_mode)  # the link, FIFO or folder is still there


def test_devices_are_recognised_without_touching_them():
    assert unsafe_target("/dev/null") == "a device"
    with pytest.raises(UnsafeTarget, match="/dev/null is a device"):
        atomic_write_bytes("/dev/null", b"x")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_new_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640
    assert os.umask(old) == old  # the umask is back as it was
