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


def test_the_python_api_refuses_such_an_output_before_any_work(tmp_path):
    import raymix
    from raymix.workflows.inputs import check_output_path

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    # predict looks at its output before its (here absent) fit and candidates
    with pytest.raises(raymix.UserError, match="pipe.csv' is a FIFO") as refused:
        raymix.predict(None, tmp_path / "no.csv", output=fifo)
    assert refused.value.field == "output"
    with pytest.raises(raymix.UserError, match="cannot write in '/proc'"):
        check_output_path("/proc/raymix.json")
    check_output_path(tmp_path / "new" / "p.json")  # a folder to be made: fine
    check_output_path(None)
