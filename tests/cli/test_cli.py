import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from lfmcli import __version__


def test_version_and_help(cli):
    r = cli("--version")
    assert r.exit_code == 0 and __version__ in r.stdout
    for cmd in (
        ["--help"],
        ["build-dataset", "npz", "--help"],
        ["dataset", "info", "--help"],
        ["rigs", "import", "--help"],
    ):
        r = cli(*cmd)
        assert r.exit_code == 0, cmd
    assert "Example" in cli("build-dataset", "npz", "--help").stdout


def test_synthetic_build_info_validate(cli, tmp_path):
    out = tmp_path / "zoo.h5"
    r = cli("build-dataset", "synthetic", "-o", out, "--creatures", 8, "--frames", 16, "--views", 2)
    assert r.exit_code == 0, r.output
    r = cli("dataset", "info", out, "--json")
    assert r.exit_code == 0
    info = json.loads(r.stdout)
    assert info["sequences"] == 16 and info["frames"] == 16 * 16 and info["samples"] == 2 * 16 * 16
    assert len(info["categories"]) == 4 and len(info["rigs"]) >= 4 and len(set(info["rigs"].values())) >= 3
    assert sum(info["splits"].values()) == info["frames"]
    assert cli("dataset", "validate", out).exit_code == 0
    assert "categor" in cli("dataset", "info", out).stdout  # a table of results: stdout


def test_bad_input_is_one_line_exit_1_and_leaves_nothing(cli, tmp_path, monkeypatch):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    out = tmp_path / "out.h5"
    r = cli("build-dataset", "npz", bad, "-o", out)
    assert r.exit_code == 1
    assert "broken.npz" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.npz"]
    r = cli("dataset", "info", bad)
    assert r.exit_code == 1 and "broken.npz: not an HDF5 file" in r.stderr
    r = cli("build-dataset", "npz", bad, "-o", out, "--rig", "no_such_rig")
    assert r.exit_code == 1 and "unknown rig 'no_such_rig'" in r.stderr
    r = cli("build-dataset", "synthetic", "-o", out, "--split", "1,2")
    assert r.exit_code == 2 and "--split" in r.output  # a usage error
    monkeypatch.setenv("LFM_DEBUG", "0")
    assert cli("dataset", "info", bad).exit_code == 1  # 0 is off
    monkeypatch.setenv("LFM_DEBUG", "1")
    r = cli("dataset", "info", bad)
    assert r.exit_code != 0 and r.exception is not None  # the traceback is kept


def test_rigs_import_cli(cli, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "Task": "fly",
                "bodyparts": ["head", "thorax", "abdomen"],
                "skeleton": [["head", "thorax"], ["thorax", "abdomen"]],
            }
        )
    )
    out = tmp_path / "fly.yaml"
    r = cli("rigs", "import", cfg, "-o", out)
    assert r.exit_code == 0, r.output
    assert cli("rigs", "validate", out).exit_code == 0
    assert yaml.safe_load(out.read_text())["joints"] == ["head", "thorax", "abdomen"]


def test_real_data_builds_with_every_category(cli, tmp_path, shared_data):
    out = tmp_path / "real.h5"
    r = cli("build-dataset", "npz", shared_data, "-o", out, "--views", 1)
    assert r.exit_code == 0, r.output
    info = json.loads(cli("dataset", "info", out, "--json").stdout)
    assert {"human", "dog", "mouse", "chair", "fly", "hand", "face"} <= set(info["categories"])
    # one rig per skeleton, however many files share it (the Bandai humans' tree is built from their files)
    shipped = {"chair_21": 21, "cmu_28": 28, "dog_27": 27, "mouse_22": 22}
    built = [name for name in info["rigs"] if name.startswith("human_22_")]  # named by its joints and tree
    assert shipped.items() <= info["rigs"].items() and len(built) == 1 and info["rigs"][built[0]] == 22
    assert info["categories"]["chair"] == 800 and info["categories"]["mouse"] == 81
    for split in ("train", "val", "test"):
        assert info["splits"][split] > 0
    assert cli("dataset", "validate", out).exit_code == 0
    from lfmcli.data.format import DatasetFile

    with DatasetFile(out) as f:
        mouse = [i for i in range(f.num_sequences) if f.sequences["category"][i] == "mouse"]
        assert all(len(f.sequence(i).views) == 6 for i in mouse[:3])  # its real cameras, kept
        human = f.sequence(int(np.flatnonzero(f.sequences["rig"] == "cmu_28")[0]))
        assert human.units == "m" and human.up_axis == "z"
        bone = np.linalg.norm(human.points3d[:, 2] - human.points3d[:, 1], axis=-1)  # a femur: tens of cm
        assert 0.2 < np.median(bone) < 0.7


@pytest.mark.parametrize("args", [["rigs", "show", "nope"], ["dataset", "validate", "missing.h5"]])
def test_missing_things_exit_1(cli, args):
    r = cli(*args)
    assert r.exit_code == 1 and "error:" in r.stderr


def test_skip_bad_keeps_the_good_files(cli, tmp_path, write_interchange, rng):
    write_interchange(tmp_path / "good.npz", rng.normal(size=(6, 3, 3)), ["a", "b", "c"], [-1, 0, 1])
    (tmp_path / "bad.npz").write_bytes(b"junk")
    out = tmp_path / "out.h5"
    assert cli("build-dataset", "npz", tmp_path, "-o", out).exit_code == 1 and not out.exists()
    r = cli("build-dataset", "npz", tmp_path, "-o", out, "--skip-bad")
    assert r.exit_code == 0, r.output
    assert "skipped bad" in r.stderr and "bad.npz" in r.stderr
    assert json.loads(cli("dataset", "info", out, "--json").stdout)["sequences"] == 1


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    """A dataset with train and val sequences, quick to build."""
    from typer.testing import CliRunner

    from lfmcli.cli.main import app

    out = tmp_path_factory.mktemp("zoo") / "zoo.h5"
    args = ["--creatures", "4", "--kinds", "biped", "--frames", "4", "--motions", "1", "--ik-steps", "2"]
    r = CliRunner().invoke(app, ["build-dataset", "synthetic", "-o", str(out), *args, "--split", "0.5,0.5,0"])
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("command", ["build-dataset", "lift", "train", "render"])
def test_an_output_that_cannot_be_written_is_one_line(cli, ckpt, tmp_path, tiny_zoo, command):
    (tmp_path / "file").write_text("kept")
    (tmp_path / "in.json").write_text(json.dumps({"keypoints": [[[1, 2], [3, 5], [6, 4]]] * 2}))
    run = {
        "build-dataset": lambda out: ("build-dataset", "synthetic", "--creatures", 1, "--frames", 2, "--motions", 1,
                                      "--ik-steps", 1, "-o", out.with_suffix(".h5")),
        "lift": lambda out: ("lift", tmp_path / "in.json", "--checkpoint", ckpt[0], "-o", out.with_suffix(".h5")),
        "train": lambda out: ("train", "--data", tiny_zoo, "--preset", "tiny", "--set", "training.epochs=1", "-o", out),
        "render": lambda out: ("render", tiny_zoo, "--sequence", 0, "--checkpoint", ckpt[0], "--max-frames", 1,
                               "-o", out.with_suffix(".png")),
    }[command]  # fmt: skip
    places = [tmp_path / "file" / "out"] + [Path("/proc/out")] * Path("/proc/self").exists()
    for out in places:
        r = cli(*run(out))
        assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
        assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.output
        assert "out" in r.stderr and "cannot write in folder" in r.stderr, r.output
    if command == "train":  # a run is a folder: a file of that name stays as it was
        r = cli(*run(tmp_path / "file"))
        assert r.exit_code == 1 and "file: is a file, expected a folder" in r.stderr, r.output
    assert (tmp_path / "file").read_text() == "kept"


def test_keep_meshes_refuses_a_folder_that_holds_meshes(cli, tmp_path):
    args = ["build-dataset", "synthetic", "--creatures", 1, "--frames", 2, "--motions", 1, "--ik-steps", 1]
    meshes = tmp_path / "meshes"
    assert cli(*args, "-o", tmp_path / "a.h5", "--keep-meshes", meshes).exit_code == 0
    before = sorted(meshes.rglob("*"))
    r = cli(*args, "-o", tmp_path / "b.h5", "--keep-meshes", meshes, "--seed", 1)  # would mix two zoos
    assert r.exit_code == 1 and "meshes: already holds meshes" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sorted(meshes.rglob("*")) == before and not (tmp_path / "b.h5").exists()
    (tmp_path / "file").write_text("kept")
    r = cli(*args, "-o", tmp_path / "b.h5", "--keep-meshes", tmp_path / "file")
    assert r.exit_code == 1 and "is a file" in r.stderr


def test_a_dataset_damaged_inside_is_a_problem_not_a_traceback(cli, tmp_path, tiny_zoo):
    raw = tiny_zoo.read_bytes()
    damaged = tmp_path / "damaged.h5"
    # the HDF5 structures every read goes through: group trees, their nodes and name heaps
    found = [m.start() for m in re.finditer(b"TREE|SNOD|HEAP", raw)]
    assert len(found) > 10
    for start in found:
        damaged.write_bytes(raw[:start] + b"\xff" * 64 + raw[start + 64 :])
        for command in (("dataset", "validate"), ("dataset", "info")):
            r = cli(*command, damaged)
            assert r.exception is None or isinstance(r.exception, SystemExit), f"{command} at {start}: {r.exception!r}"
            assert r.exit_code == 0 or (r.exit_code == 1 and "damaged.h5" in r.stderr), r.output


@pytest.mark.parametrize("option", [["--kinds", ","], ["--seed", -1], ["--fps", 1e-300], ["--smooth", 1e300]])
def test_synthetic_options_out_of_range_are_one_line(cli, tmp_path, option):
    args = ["--creatures", 1, "--frames", 3, "--motions", 1, "--ik-steps", 2, *option]
    r = cli("build-dataset", "synthetic", "-o", tmp_path / "out.h5", *args)
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1 and option[0] in r.stderr, r.output
    assert list(tmp_path.iterdir()) == []
