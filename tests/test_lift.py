import json

import numpy as np
import pytest
import torch

from lfmcli.errors import LfmError
from lfmcli.io.readers import read_keypoints
from lfmcli.rigs import get_rig


def test_lift_cli_writes_xarray_readable_output(cli, ckpt, tmp_path, rng):
    xr = pytest.importorskip("xarray")
    pts = rng.uniform(100, 600, (12, 17, 2)).tolist()
    pts[4] = [None] * 17
    (tmp_path / "walk.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17", "fps": 25}))
    for model in ckpt:
        out = tmp_path / f"{model.stem}.h5"
        r = cli("lift", tmp_path / "walk.json", "-o", out, "--checkpoint", model, "--also", "npz", "--device", "cpu")
        assert r.exit_code == 0, r.output
        assert "1 frame(s) had no usable 2D point" in r.stderr
        ds = xr.open_dataset(out, engine="h5netcdf")
        assert ds.position.dims == ("time", "individual", "keypoint", "space")
        assert list(ds.keypoint.values) == list(get_rig("h36m_17").joints)
        assert np.isnan(ds.position.isel(time=4).values).all() and np.isfinite(ds.position.isel(time=0).values).all()
        assert ds.time.values[1] == pytest.approx(0.04) and ds.attrs["rig"] == "h36m_17"
        assert "lfm lift" in ds.attrs["command"] and len(ds.attrs["checkpoint_sha256"]) == 16
        assert ds.edges.shape == (16, 2)
        np.testing.assert_allclose(np.load(out.with_suffix(".npz"))["position"], ds.position.values)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ('{"points": []}', "unknown input format"),
        ('{"keypoints": [[[1, 2], [3]]]}', "frame 0 joint 1"),
        ('{"keypoints": [[[1, 2], [NaN, 2]]]}', "finite"),
        ('{"keypoints": [[[1, 2], [Infinity, 2]]]}', "finite"),
        ('{"keypoints": [[[1, 2], [3, 4]], [[1, 2]]]}', "frame 1"),
        ('{"keypoints": [[[1, 2], [3, 4]]], "rig": "h36m_17"}', "rig 'h36m_17' has 17"),
        ('{"keypoints": [[[1, 2], [3, 4]]], "fps": "abc"}', '"fps" must be a positive number'),
        ('{"keypoints": [[[1, 2], [3, 4]]], "fps": -5}', '"fps" must be a positive number'),
        ('{"keypoints": [[[1, 2], [3, 4]]], "fps": NaN}', '"fps" must be a positive number'),
        ('{"keypoints": [[[1, 2], [3, 4]]], "rig": 3}', '"rig" must be a rig name'),
        ('{"keypoints": [[[1, 2], [3, 4]]], "image_size": 640}', '"image_size" must be'),
        ('{"keypoints": [[]]}', "0 joints"),
        ('{"keypoints": [[[true, false], [3, 4]]]}', "frame 0 joint 0"),
        ('{"keypoints": [[[3e38, 1], [3, 4]]]}', "not image coordinates"),
        ('{"keypoints": [[[1, 2, -1], [3, 4]]]}', "negative confidence"),
        ('{"keypoints": [[[1, 2, 2], [3, 4]]]}', "above 1"),
        ('{"annotations": [{"image_id": 1, "keypoints": ["1", "2", "2"]}]}', "list of numbers"),
    ],
)
def test_bad_lfm_json_is_one_line_and_writes_nothing(cli, ckpt, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "out.h5"
    r = cli("lift", bad, "-o", out, "--checkpoint", ckpt[0], "--device", "cpu")
    assert r.exit_code == 1 and message in r.stderr and "bad.json" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_lift_refuses_unknown_formats_and_overwriting_its_input(cli, ckpt, tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    r = cli("lift", tmp_path / "x.txt", "-o", tmp_path / "o.h5", "--checkpoint", ckpt[0])
    assert r.exit_code == 1 and "unknown input format" in r.stderr
    (tmp_path / "k.json").write_text('{"keypoints": [[[1, 2], [3, 4], [5, 6]]]}')
    r = cli("lift", tmp_path / "k.json", "-o", tmp_path / "k.h5", "--also", "json", "--checkpoint", ckpt[0])
    assert r.exit_code == 1 and "overwrite the input" in r.stderr
    with pytest.raises(LfmError, match="no such file"):
        read_keypoints(tmp_path / "missing.json")


def test_render_gif_from_a_lift_and_png_from_a_dataset(cli, ckpt, tmp_path, rng):
    from lfmcli.data.build import random_views
    from lfmcli.data.format import DatasetWriter
    from lfmcli.sequence import Sequence

    pts = rng.uniform(100, 600, (6, 17, 2)).tolist()
    (tmp_path / "k.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17"}))
    assert cli("lift", tmp_path / "k.json", "-o", tmp_path / "k.h5", "--checkpoint", ckpt[0]).exit_code == 0
    r = cli("render", tmp_path / "k.h5", "-o", tmp_path / "k.gif")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "k.gif").read_bytes()[:6] == b"GIF89a"
    import imageio.v2 as imageio

    assert len(imageio.mimread(tmp_path / "k.gif")) == 6
    seq = Sequence(
        name="walk",
        category="human",
        rig=get_rig("h36m_17"),
        fps=30.0,
        points3d=rng.normal(size=(5, 17, 3)).astype(np.float32),
    )
    seq.views = random_views(seq, 1, 0)
    with DatasetWriter(tmp_path / "d.h5") as w:
        w.add(seq)
    r = cli("render", tmp_path / "d.h5", "--sequence", "walk", "--checkpoint", ckpt[1], "-o", tmp_path / "cmp.png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"
    r = cli("render", tmp_path / "d.h5", "--sequence", "walk", "-o", tmp_path / "packaged.png")
    assert r.exit_code == 0 and (tmp_path / "packaged.png").exists()  # without a checkpoint: the packaged model
    r = cli("render", tmp_path / "d.h5", "-o", tmp_path / "x.gif")
    assert r.exit_code == 1 and "--sequence" in r.stderr
    r = cli("render", tmp_path / "k.h5", "-o", tmp_path / "k.bmp")
    assert r.exit_code == 1 and ".gif" in r.stderr and not (tmp_path / "k.bmp").exists()


def test_min_confidence_hides_points(tmp_path, ckpt):
    from lfmcli.checkpoint import load_checkpoint
    from lfmcli.lift import lift_keypoints

    pts = [[[100.0 + 10 * j, 200.0 + 5 * j, 0.9 if j else 0.1] for j in range(17)] for _ in range(3)]
    (tmp_path / "c.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17"}))
    kp = read_keypoints(tmp_path / "c.json")
    lifted = lift_keypoints(kp, load_checkpoint(ckpt[0]), min_confidence=0.5)
    assert not lifted.visible[:, 0, 0].any() and lifted.visible[:, 0, 1:].all()
    assert np.isnan(lifted.position[:, 0, 0]).all() and np.isfinite(lifted.position[:, 0, 1:]).all()


def test_lift_file_is_what_the_command_does(tmp_path, ckpt, rng):
    from lfmcli.io.results import read_result
    from lfmcli.lift import lift_file

    pts = rng.uniform(100, 600, (20, 17, 2)).tolist()
    (tmp_path / "in.json").write_text(json.dumps({"keypoints": pts, "rig": "h36m_17", "fps": 30}))
    done = lift_file(tmp_path / "in.json", tmp_path / "out.h5", checkpoint=ckpt[1], also=["npz"], device="cpu")
    assert done.checkpoint.kind == "spacetime" and done.written == [tmp_path / "out.h5", tmp_path / "out.npz"]
    kp, lifted, attrs = read_result(tmp_path / "out.h5")
    np.testing.assert_array_equal(lifted.position, done.lifted.position)
    assert attrs["checkpoint_sha256"] == done.checkpoint.sha256 and "--also npz" in attrs["command"]
    with pytest.raises(LfmError, match="--also 'h5'"):
        lift_file(tmp_path / "in.json", tmp_path / "o.h5", checkpoint=ckpt[0], also=["h5"])


def test_one_lifter_for_both_kinds(ckpt, rng):
    """A single-frame model lifts clips frame by frame; the space-time model lifts overlapping windows that cover
    every frame; the window comes from the checkpoint (or the one default)."""
    from lfmcli.checkpoint import load_checkpoint
    from lfmcli.config import DEFAULT_WINDOW
    from lfmcli.keypoints import Keypoints2D
    from lfmcli.lift import lift_keypoints

    frame, st = load_checkpoint(ckpt[0]), load_checkpoint(ckpt[1])
    assert (frame.window, st.window) == (8, 8) and not frame.model.temporal and st.model.temporal
    frame.info.pop("window")
    assert frame.window == DEFAULT_WINDOW
    rig = get_rig("h36m_17")
    pts = rng.uniform(100, 600, (19, 2, 17, 2)).astype(np.float32)
    kp = Keypoints2D(pts, np.ones(pts.shape[:3], np.float32), list(rig.joints), rig, ["0", "1"], fps=30.0)
    adjacency = torch.as_tensor(rig.adjacency())[None]
    with torch.no_grad():
        for i in range(2):
            x = torch.as_tensor(pts[:, i])
            alone = frame.model(
                x,
                torch.ones(19, 17, dtype=torch.bool),
                torch.ones(19, 17, dtype=torch.bool),
                adjacency.expand(19, 17, 17),
            )
            np.testing.assert_allclose(lift_keypoints(kp, frame).position[:, i], alone.numpy(), atol=1e-5)
    # batching the windows does not change the space-time result
    whole = lift_keypoints(kp, st).position
    np.testing.assert_allclose(lift_keypoints(kp, st, batch_frames=8).position, whole, atol=1e-5)
    assert np.isfinite(whole).all()


def test_render_never_writes_over_its_input(cli, tmp_path):
    (tmp_path / "r.h5").write_bytes(b"keep")
    r = cli("render", tmp_path / "r.h5", "-o", tmp_path / "r.h5")
    assert r.exit_code == 1 and "overwrite the input" in r.stderr and (tmp_path / "r.h5").read_bytes() == b"keep"


def test_lift_says_when_the_model_never_saw_the_skeleton_or_the_kind(ckpt, tmp_path):
    """The checkpoint's record of what it trained on decides the note: silent on a trained rig, a note on a new
    skeleton of a trained kind, and another on a kind it never saw or cannot know."""
    from pathlib import Path

    from lfmcli.checkpoint import Checkpoint, load_checkpoint
    from lfmcli.lift import lift_keypoints
    from lfmcli.rigs import Rig

    known = Checkpoint(None, None, {"rigs": {"h36m_17": 17}, "categories": ["human", "dog"]}, Path("m"))
    assert known.familiarity_note(get_rig("h36m_17")) is None
    assert "never on the skeleton 'coco_17'" in known.familiarity_note(get_rig("coco_17"))
    cheetah = Rig.from_dict({"name": "cheetah_20", "category": "cheetah", "joints": ["a", "b"]})
    assert "never trained on 'cheetah' objects" in known.familiarity_note(cheetah)
    unnamed = Rig.from_dict({"name": "input", "joints": ["a", "b"]})
    for rig in (unnamed, None):
        assert "does not say what kind of object" in known.familiarity_note(rig)
    assert "flat (z = 0)" in known.familiarity_note(None)
    # a same-named rig with other joints is not the trained one; a checkpoint that keeps no record says nothing
    assert known.familiarity_note(Rig.from_dict({"name": "h36m_17", "category": "human", "joints": ["a"]}))
    assert Checkpoint(None, None, {}, Path("m")).familiarity_note(cheetah) is None

    pts = [[[100.0 + 10 * j, 200.0 + 5 * j] for j in range(2)]] * 3
    (tmp_path / "c.json").write_text(
        json.dumps({"keypoints": pts, "rig": {"category": "cheetah", "joints": ["a", "b"]}})
    )
    model = load_checkpoint(ckpt[0])
    model.info.update(rigs={"h36m_17": 17}, categories=["human"])
    assert any("'cheetah' objects" in n for n in lift_keypoints(read_keypoints(tmp_path / "c.json"), model).notes)


def test_also_never_writes_one_file_twice(cli, ckpt, tmp_path):
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"keypoints": [[[1, 2], [3, 5], [6, 4]]] * 2}))
    r = cli("lift", src, "-o", tmp_path / "res.json", "--also", "json", "--checkpoint", ckpt[0])
    assert r.exit_code == 1 and "res.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "res.json").exists()
    r = cli("lift", src, "-o", tmp_path / "res.h5", "--also", "json", "--also", "json", "--checkpoint", ckpt[0])
    assert r.exit_code == 0 and r.stderr.count("res.json") == 1, r.output


def test_an_output_named_for_another_format_is_refused(cli, ckpt, tmp_path):
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"keypoints": [[[1, 2], [3, 5], [6, 4]]] * 2}))
    for name in ("res.json", "res.npz", "res.c3d"):
        r = cli("lift", src, "-o", tmp_path / name, "--checkpoint", ckpt[0])
        assert r.exit_code == 1 and "name it .h5" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
        assert not (tmp_path / name).exists()
