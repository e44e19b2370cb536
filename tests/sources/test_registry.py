import numpy as np
import pytest

from lfmcli.cli.build_dataset import app as build_app
from lfmcli.data.format import DatasetFile
from lfmcli.errors import LfmError
from lfmcli.sources import SOURCES, build_dataset
from lfmcli.sources.animalsyn3d import MeshOptions
from lfmcli.sources.bvh import BvhOptions


def test_every_build_command_is_a_registered_source():
    commands = {c.name or c.callback.__name__ for c in build_app.registered_commands}
    assert commands == set(SOURCES)
    assert all(s.summary and s.options for s in SOURCES.values())


def test_options_check_themselves():
    with pytest.raises(LfmError, match="--scale 0"):
        BvhOptions(scale=0.0)
    with pytest.raises(LfmError, match="--fps nan"):
        BvhOptions(fps=float("nan"))
    with pytest.raises(LfmError, match="--projection 'fisheye'"):
        MeshOptions(projection="fisheye")
    with pytest.raises(LfmError, match="must not be negative"):
        MeshOptions(ik_steps=-1)


def test_build_dataset_in_python_matches_the_command(tmp_path, cli):
    stages = []
    options = {"creatures": 4, "frames": 12, "ik_steps": 3, "device": "cpu"}
    summary = build_dataset(
        "synthetic", [], tmp_path / "lib.h5", options, seed=2, progress=lambda *a: stages.append(a[0])
    )
    assert {"reading meshes", "writing"} <= set(stages) and len(summary["refinement"]) == summary["sequences"]
    args = ["--creatures", 4, "--frames", 12, "--ik-steps", 3, "--device", "cpu", "--seed", 2]
    assert cli("build-dataset", "synthetic", "-o", tmp_path / "cli.h5", *args).exit_code == 0
    with DatasetFile(tmp_path / "lib.h5") as a, DatasetFile(tmp_path / "cli.h5") as b:
        info = a.info()
        assert {**info, "path": ""} == {**b.info(), "path": ""}
        for rig in info["rigs"]:
            np.testing.assert_array_equal(a.points(rig, "points2d")[()], b.points(rig, "points2d")[()])
    with pytest.raises(LfmError, match="unknown source 'obj'"):
        build_dataset("obj", [], tmp_path / "x.h5")
    with pytest.raises(LfmError, match="would overwrite the input"):
        build_dataset("npz", [tmp_path / "lib.h5"], tmp_path / "lib.h5")


def test_a_build_never_writes_over_a_file_it_reads(tmp_path):
    folder = tmp_path / "bvh"
    folder.mkdir()
    (folder / "a.bvh").write_text("HIERARCHY\n")
    for output in (folder / "a.bvh", folder):
        with pytest.raises(LfmError, match="would overwrite the input"):
            build_dataset("bvh", [folder], output)
    assert (folder / "a.bvh").read_text() == "HIERARCHY\n"
