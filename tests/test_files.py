import subprocess
import sys

import pytest

from lfmcli.errors import LfmError
from lfmcli.files import atomic_path, check_not_input


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
