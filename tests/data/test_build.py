from pathlib import Path

import numpy as np
import pytest

from lfmcli.data.build import assign_splits, parse_ratios, write_dataset
from lfmcli.data.format import DatasetFile
from lfmcli.errors import LfmError
from lfmcli.geometry.cameras import intrinsics, look_at
from lfmcli.rigs import get_rig
from lfmcli.sources import npz


def test_splits_are_per_sequence_per_category_and_order_free():
    names = [f"s{i}" for i in range(40)] + [f"m{i}" for i in range(5)]
    cats = ["big"] * 40 + ["small"] * 5
    splits = assign_splits(names, cats, (0.8, 0.1, 0.1))
    assert [splits[:40].count(s) for s in ("train", "val", "test")] == [32, 4, 4]
    assert [splits[40:].count(s) for s in ("train", "val", "test")] == [3, 1, 1]
    order = np.random.default_rng(0).permutation(45)
    shuffled = assign_splits([names[i] for i in order], [cats[i] for i in order], (0.8, 0.1, 0.1))
    assert {names[i]: s for i, s in zip(order, shuffled, strict=True)} == dict(zip(names, splits, strict=True))
    assert parse_ratios("8,1,1") == pytest.approx((0.8, 0.1, 0.1))
    for bad in ("0.8,0.2", "nan,nan,nan", "inf,0,0", "0.8,-0.1,0.3"):
        with pytest.raises(LfmError):
            parse_ratios(bad)


def test_views_are_bounded(tmp_path, rng, write_interchange):
    path = write_interchange(tmp_path / "x.npz", rng.normal(size=(5, 3, 3)), ["a", "b", "c"], [-1, 0, 1])
    for views in (0, 10**20):
        with pytest.raises(LfmError, match="--views"):
            write_dataset(tmp_path / "o.h5", npz.plan([path]), views=views)
    assert not (tmp_path / "o.h5").exists()


def test_npz_import_with_random_and_real_views(tmp_path, rng, write_interchange):
    rig = get_rig("mouse_22")
    parents = [-1 if p < 0 else p for p in rig.parents]
    pts = rng.normal(size=(12, 22, 3)).astype(np.float32) * 0.05
    write_interchange(tmp_path / "seq.npz", pts, rig.joints, parents, category="mouse", up_axis="z")
    # a static file with two real cameras
    K = np.stack([intrinsics(800, (640, 480))] * 2)
    Rs, ts = zip(
        *(look_at(np.array(eye, float), np.zeros(3), np.array([0, 0, 1.0])) for eye in ([2, 0, 1], [0, 2, 1])),
        strict=True,
    )
    R, t = np.stack(Rs), np.stack(ts)
    uv = np.stack([(pts @ R[v].T + t[v]) for v in range(2)])
    uv = uv[..., :2] / uv[..., 2:] @ K[0, :2, :2].T + K[0, :2, 2]
    uv[0, 3, 5] = np.nan  # an unlabelled point
    sub = tmp_path / "static"
    sub.mkdir()
    write_interchange(
        sub / "cams.npz",
        pts,
        rig.joints,
        parents,
        fps=0.0,
        category="mouse",
        up_axis="z",
        points2d=uv.astype(np.float32),
        K=K,
        R=R,
        t=t,
        image_size=np.array([[640, 480]] * 2),
    )
    out = tmp_path / "out.h5"
    info = write_dataset(out, npz.plan([tmp_path]), views=3, seed=5)
    assert info["sequences"] == 1 + 12 and info["frames"] == 24 and info["rigs"] == {"mouse_22": 22}
    assert info["samples"] == 12 * 3 + 12 * 2
    with DatasetFile(out) as f:
        assert f.validate() == []
        names = list(f.sequences["name"])
        assert names[0] == "seq" and names[1] == "static/cams/00"
        real = f.sequence(1 + 3)
        assert [v.kind for v in real.views] == ["real", "real"]
        np.testing.assert_allclose(
            real.views[0].points2d[0][real.views[0].visible[0]], uv[0, 3][np.isfinite(uv[0, 3]).all(-1)], rtol=1e-5
        )
        assert not real.views[0].visible[0, 5]
        seq = f.sequence(0)
        assert len(seq.views) == 3 and all(v.visible.all() for v in seq.views)


def test_npz_bad_inputs_name_the_file(tmp_path, rng, write_interchange):
    bad = tmp_path / "bad.npz"
    np.savez(bad, points3d=np.zeros((2, 3, 3)))
    with pytest.raises(LfmError, match=r"bad\.npz: missing key"):
        npz.plan([bad])
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(LfmError, match=r"bad\.npz: not a readable"):
        npz.plan([bad])
    shape = tmp_path / "shape.npz"
    write_interchange(shape, np.zeros((4, 3, 2)), ["a", "b", "c"], [-1, 0, 1])
    with pytest.raises(LfmError, match=r"shape\.npz: points3d has shape"):
        write_dataset(tmp_path / "o.h5", npz.plan([shape]))
    with pytest.raises(LfmError, match="no such file"):
        npz.plan([tmp_path / "nowhere"])
    assert not (tmp_path / "o.h5").exists()


def test_unknown_joint_names_build_a_rig_from_the_tree(tmp_path, rng, write_interchange):
    path = write_interchange(
        tmp_path / "x.npz", rng.normal(size=(5, 4, 3)), ["a", "b", "c", "d"], [-1, 0, 1, 1], category="robot"
    )
    info = write_dataset(tmp_path / "o.h5", npz.plan([path]))
    assert len(info["rigs"]) == 1 and next(iter(info["rigs"])).startswith("robot_4_")


def test_two_skeletons_of_one_kind_and_joint_count_get_two_rigs(tmp_path, rng, write_interchange):
    # two 4-joint humans, one named differently and one with another tree: neither build collides
    points = rng.normal(size=(5, 4, 3))
    write_interchange(tmp_path / "a.npz", points, ["a", "b", "c", "d"], [-1, 0, 1, 1], category="human")
    write_interchange(tmp_path / "b.npz", points, ["a", "b", "c", "d"], [-1, 0, 1, 2], category="human")
    write_interchange(tmp_path / "c.npz", points, ["p", "q", "r", "s"], [-1, 0, 1, 1], category="human")
    write_interchange(tmp_path / "d.npz", points, ["a", "b", "c", "d"], [-1, 0, 1, 1], category="human")
    info = write_dataset(tmp_path / "o.h5", npz.plan([tmp_path]))
    assert len(info["rigs"]) == 3 and all(name.startswith("human_4_") for name in info["rigs"])


def test_a_treeless_file_matching_no_rig_gets_an_edgeless_rig_said_aloud(tmp_path, rng, write_interchange):
    path = write_interchange(tmp_path / "x.npz", rng.normal(size=(30, 3, 3)), ["a", "b", "c"], [-1, -1, -1], fps=0)
    notes = []
    info = write_dataset(tmp_path / "o.h5", npz.plan([path], notes=notes))
    assert len(info["rigs"]) == 1
    assert any("no edges" in n and "x.npz" in n for n in notes)
    with DatasetFile(tmp_path / "o.h5") as f:
        assert f.sequence(0).rig.edges == ()


def test_category_names_are_normalised_and_few_samples_said_aloud(tmp_path, rng, write_interchange):
    path = write_interchange(
        tmp_path / "x.npz", rng.normal(size=(3, 3, 3)), ["a", "b", "c"], [-1, 0, 1], fps=0, category="Golden Retriever"
    )
    notes = []
    info = write_dataset(tmp_path / "o.h5", npz.plan([path], notes=notes))
    assert info["category_sequences"] == {"golden_retriever": 3}
    assert any("'golden_retriever'" in n and "stored as" in n for n in notes)
    assert any("only 3 independent sample(s)" in n for n in notes)


def test_joint_names_of_a_rig_in_another_order_are_reordered(tmp_path, rng, write_interchange):
    rig = get_rig("pascal3d_chair")
    names = list(rig.layouts["pascal3d"])
    points = rng.normal(size=(2, len(names), 3))
    shuffled = rng.permutation(len(names))
    path = write_interchange(
        tmp_path / "c.npz",
        points[:, shuffled],
        [names[i] for i in shuffled],
        [-1] * len(names),
        fps=0,
        category="chair",
    )
    notes = []
    write_dataset(tmp_path / "o.h5", npz.plan([path], notes=notes))
    assert any("reordered" in n for n in notes)
    with DatasetFile(tmp_path / "o.h5") as f:
        seq = f.sequence(0)
        assert seq.rig.name == "pascal3d_chair"
        np.testing.assert_allclose(seq.points3d[0], points[int(seq.name[-1])], atol=1e-6)


def test_files_of_one_name_in_two_folders_are_named_by_their_folders(tmp_path, rng, write_interchange):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write_interchange(tmp_path / folder / "x.npz", rng.normal(size=(5, 3, 3)), ["a", "b", "c"], [-1, 0, 1])
    planned = npz.plan([tmp_path / "a" / "x.npz", tmp_path / "b"])
    assert [p.name for p in planned] == ["a/x", "b/x"]


def test_a_joint_fixed_in_the_world_while_the_body_moves_is_stored_absent(tmp_path, rng, write_interchange):
    body = rng.normal(size=(1, 4, 3)) * 0.3 + np.zeros((20, 1, 1))
    walking = body + np.linspace(0, 4, 20)[:, None, None] * np.array([1.0, 0, 0])  # walks 4 m away
    walking[:, 0] = 0  # its root stays at the origin, as in BVH files whose hips carry the motion
    static = body.copy()
    static[:, 0] = 0  # nothing moves: a fixed root is no evidence of anything
    names, parents = ["root", "hips", "knee", "foot"], [-1, 0, 1, 2]
    write_interchange(tmp_path / "walk.npz", walking, names, parents, category="robot")
    write_interchange(tmp_path / "still.npz", static, names, parents, category="robot")
    info = write_dataset(tmp_path / "o.h5", npz.plan([tmp_path]), views=2, seed=0)
    assert len(info["notes"]) == 1 and "'root'" in info["notes"][0] and "1 sequence(s)" in info["notes"][0]
    with DatasetFile(tmp_path / "o.h5") as f:
        by_name = {f.sequences["name"][i]: f.sequence(i) for i in range(f.num_sequences)}
    walk, still = by_name["walk"], by_name["still"]
    assert np.isnan(walk.points3d[:, 0]).all() and np.isfinite(walk.points3d[:, 1:]).all()
    assert not any(v.visible[:, 0].any() for v in walk.views) and all(v.visible[:, 1:].all() for v in walk.views)
    assert np.isfinite(still.points3d).all() and all(v.visible.all() for v in still.views)


def test_a_still_joint_whose_bones_hold_their_length_is_kept(tmp_path, write_interchange):
    # a 4-joint arm fixed to the world: base and shoulder still, elbow and tip swinging on bones of constant length
    t = np.linspace(0, 2 * np.pi, 30)
    base, shoulder = np.zeros((30, 3)), np.tile([0.0, 0.0, 0.5], (30, 1))
    elbow = shoulder + 0.4 * np.stack([np.cos(t), np.sin(t), 0 * t], -1)
    tip = elbow + 0.3 * np.stack([np.cos(2 * t), 0 * t, np.sin(2 * t)], -1)
    arm = np.stack([base, shoulder, elbow, tip], 1)
    write_interchange(tmp_path / "arm.npz", arm, ["base", "shoulder", "elbow", "tip"], [-1, 0, 1, 2], category="robot")
    info = write_dataset(tmp_path / "o.h5", npz.plan([tmp_path]), views=1, seed=0)
    assert info["notes"] == []
    with DatasetFile(tmp_path / "o.h5") as f:
        assert np.isfinite(f.sequence(0).points3d).all()


def test_a_file_name_that_is_not_utf8_is_stored_printable(tmp_path, rng, write_interchange):
    import os

    path = Path(os.fsdecode(bytes(tmp_path) + b"/walk\xff.npz"))
    write_interchange(path, rng.normal(size=(5, 3, 3)), ["a", "b", "c"], [-1, 0, 1])
    write_dataset(tmp_path / "o.h5", npz.plan([tmp_path]))
    with DatasetFile(tmp_path / "o.h5") as f:
        assert list(f.sequences["name"]) == ["walk\\xff"]
