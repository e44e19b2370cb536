import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lfmcli.errors import LfmError
from lfmcli.files import atomic_path, check_not_input, check_writable_folder


def test_an_atomic_write_is_all_or_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_a_killed_write_leaves_a_part_file_that_the_next_write_removes(tmp_path):
    target = tmp_path / "data.h5"
    code = f"""
import os, signal
from lfmcli.files import atomic_path
with atomic_path({str(target)!r}) as tmp:
    tmp.write_text("half")
    os.kill(os.getpid(), signal.SIGKILL)
"""
    subprocess.run([sys.executable, "-c", code], check=False)
    assert len(list(tmp_path.glob(".data.h5.*.part"))) == 1  # what a killed build leaves
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.h5"]


def test_outputs_that_are_inputs_are_refused_by_path_and_by_inode(tmp_path):
    source = tmp_path / "in.npz"
    source.write_bytes(b"x")
    (tmp_path / "link.npz").hardlink_to(source)
    for output in (source, tmp_path / "link.npz", tmp_path / "." / "in.npz"):
        with pytest.raises(LfmError, match="would overwrite the input"):
            check_not_input(output, [source])
    check_not_input(tmp_path / "out.h5", [source])


def test_a_place_that_takes_no_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "file").write_text("kept")
    places = [tmp_path / "file" / "out.h5"] + [Path("/proc/out.h5")] * Path("/proc/self").exists()
    for target in places:
        with pytest.raises(LfmError, match=r"out\.h5: cannot write in folder"), atomic_path(target):
            pass
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(LfmError, match="not a regular file"), atomic_path(pipe):  # as /dev/null: kept as it is
        pass
    assert stat.S_ISFIFO(pipe.stat().st_mode) and (tmp_path / "file").read_text() == "kept"


def test_a_folder_to_write_in_is_checked_before_it_is_made(tmp_path):
    (tmp_path / "file").write_text("kept")
    with pytest.raises(LfmError, match="file: is a file, expected a folder"):
        check_writable_folder(tmp_path / "file")
    with pytest.raises(LfmError, match="cannot write in folder .*file.* \\(Not a directory\\)"):
        check_writable_folder(tmp_path / "file" / "run")
    if Path("/proc/self").exists():
        with pytest.raises(LfmError, match="cannot write in folder '/proc'"):
            check_writable_folder("/proc/run")
    check_writable_folder(tmp_path / "new" / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing made
