"""2D tracks without 3D: `lfm build-dataset tracks` on files as users bring them, and what uses such data."""

import json

import numpy as np
import pytest

from lfmcli.data.dataset import SampleBank
from lfmcli.data.format import DatasetFile
from lfmcli.errors import LfmError


def write_track(path, points, fps=25, rig="h36m_17"):
    path.write_text(json.dumps({"keypoints": np.asarray(points).tolist(), "rig": rig, "fps": fps}))
    return path


def moving(rng, T=12, J=17):
    return 200 + 50 * rng.normal(size=(1, J, 2)) + np.arange(T)[:, None, None] * [3.0, 0.5]


def test_openpose_people_become_2d_only_sequences(cli, real_files, tmp_path):
    out = tmp_path / "raga.h5"
    r = cli("build-dataset", "tracks", real_files / "openpose" / "raga_example_3people", "-o", out, "--fps", 25)
    assert r.exit_code == 0, r.output
    assert cli("dataset", "validate", out).exit_code == 0
    with DatasetFile(out) as f:
        assert f.num_sequences == 3 and f.attrs["builder"] == "tracks"
        seq = f.sequence(0)
        assert not seq.has_3d and seq.fps == 25 and seq.category == "human"
        (view,) = seq.views
        assert view.kind == "real" and view.visible.any()
        assert np.array_equal(np.isfinite(view.points2d).all(-1), view.visible)
    # supervised training has nothing to learn from here, and says so
    with pytest.raises(LfmError, match="with 3D"):
        SampleBank([out], None)
    r = cli("train", "--data", out, "-o", tmp_path / "run", "--preset", "tiny", "--epochs", 1)
    assert r.exit_code == 1 and "with 3D" in r.output


def test_2d_only_sequences_sit_beside_sequences_with_3d(tmp_path, rng, cli):
    from lfmcli.data.build import random_views
    from lfmcli.data.format import DatasetWriter
    from lfmcli.rigs import get_rig
    from lfmcli.sequence import Sequence, View
    from lfmcli.sources.tracks import nominal_camera

    rig = get_rig("h36m_17")
    path = tmp_path / "mixed.h5"
    with DatasetWriter(path) as w:
        full = Sequence("full", "human", rig, rng.normal(size=(5, 17, 3)).astype(np.float32), fps=30.0)
        full.views = random_views(full, 1, seed=0)
        w.add(full)
        uv = moving(rng, 5).astype(np.float32)
        flat = Sequence("flat", "human", rig, np.full((5, 17, 3), np.nan, np.float32), fps=30.0)
        flat.views = [View(nominal_camera(uv, (640, 480)), uv, np.ones((5, 17), bool), kind="real")]
        w.add(flat)
        # synthetic 2D is a projection of 3D: without 3D it cannot be visible
        ghost = Sequence("ghost", "human", rig, np.full((5, 17, 3), np.nan, np.float32), fps=30.0)
        ghost.views = [View(nominal_camera(uv, (640, 480)), uv, np.ones((5, 17), bool), kind="synthetic")]
        with pytest.raises(LfmError, match="visible without finite"):
            w.add(ghost)
    with DatasetFile(path) as f:
        assert f.validate() == []
    assert SampleBank([path], None).view_names == ["full#0"]  # supervised: the 3D sequence only
    assert SampleBank([path], None, read_3d=False).view_names == ["full#0", "flat#0"]


@pytest.mark.parametrize(
    "points, problem",
    [
        (np.full((1, 17, 2), 100.0), "at least 2"),
        (np.full((4, 17, 2), np.nan), "every point is missing"),
        (np.full((4, 17, 2), 100.0), "same place"),
        (np.tile(np.arange(34.0).reshape(1, 17, 2), (4, 1, 1)), "no point moves"),
    ],
)
def test_tracks_that_are_no_motion_are_one_error(cli, tmp_path, points, problem):
    src = write_track(tmp_path / "bad.json", points)
    out = tmp_path / "bad.h5"
    r = cli("build-dataset", "tracks", src, "-o", out)
    assert r.exit_code == 1 and problem in r.output and "bad.json" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists()


def test_tracks_need_a_frame_rate_and_a_category(cli, tmp_path, rng):
    src = tmp_path / "t.json"
    src.write_text(json.dumps({"keypoints": moving(rng, J=3).tolist()}))
    r = cli("build-dataset", "tracks", src, "-o", tmp_path / "o.h5")
    assert r.exit_code == 1 and "--fps" in r.output
    r = cli("build-dataset", "tracks", src, "-o", tmp_path / "o.h5", "--fps", 30)
    assert r.exit_code == 1 and "--category" in r.output
    r = cli("build-dataset", "tracks", src, "-o", tmp_path / "o.h5", "--fps", 30, "--category", "worm")
    assert r.exit_code == 0, r.output
    assert "no graph edges" in r.output  # the guess is said aloud
    with DatasetFile(tmp_path / "o.h5") as f:
        (rig,) = f.rigs.values()
        assert rig.num_joints == 3 and rig.edges == () and set(f.sequences["category"]) == {"worm"}


def test_skip_bad_keeps_the_good_tracks(cli, tmp_path, rng):
    good = write_track(tmp_path / "good.json", moving(rng))
    bad = write_track(tmp_path / "bad.json", np.full((1, 17, 2), 1.0))
    r = cli("build-dataset", "tracks", good, bad, "-o", tmp_path / "o.h5", "--skip-bad")
    assert r.exit_code == 0, r.output
    assert "skipped" in r.output and "bad.json" in r.output
    with DatasetFile(tmp_path / "o.h5") as f:
        assert list(f.sequences["name"]) == ["good"]
