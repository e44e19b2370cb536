import h5py
import numpy as np
import pytest

from lfmcli.data import format as fmt
from lfmcli.data.build import random_views
from lfmcli.data.format import DatasetError, DatasetFile, DatasetWriter
from lfmcli.rigs import get_rig
from lfmcli.sequence import Sequence


def make_sequence(name, rig_name, frames, rng, category="thing", views=1, fps=30.0):
    rig = get_rig(rig_name)
    seq = Sequence(
        name=name,
        category=category,
        rig=rig,
        fps=fps,
        points3d=rng.normal(size=(frames, rig.num_joints, 3)).astype(np.float32),
    )
    seq.points3d[0, 0] = np.nan  # one absent joint
    seq.views = random_views(seq, views, seed=1)
    return seq


def test_roundtrip_several_rigs_sequences_and_static_samples(tmp_path, rng):
    seqs = [
        make_sequence("a", "h36m_17", 50, rng, "human", views=2),
        make_sequence("b", "dog_27", 7, rng, "dog"),
        make_sequence("c/0", "chair_21", 1, rng, "chair", fps=0.0),
        make_sequence("d", "h36m_17", 20, rng, "human"),
    ]
    seqs[1].split = "val"
    path = tmp_path / "d.h5"
    with DatasetWriter(path) as w:
        for s in seqs:
            w.add(s)
    with DatasetFile(path) as f:
        assert f.validate() == []
        info = f.info()
        assert info["sequences"] == 4 and info["frames"] == 78 and info["samples"] == 50 * 2 + 7 + 1 + 20
        assert info["categories"] == {"chair": 1, "dog": 7, "human": 70}
        assert info["rigs"] == {"chair_21": 21, "dog_27": 27, "h36m_17": 17}
        assert info["splits"] == {"train": 71, "val": 7}
        for i, s in enumerate(seqs):
            back = f.sequence(i)
            assert back.name == s.name and back.rig == s.rig and back.fps == s.fps and back.split == s.split
            np.testing.assert_array_equal(back.points3d, s.points3d)
            assert len(back.views) == len(s.views)
            for v, w in zip(back.views, s.views, strict=True):
                np.testing.assert_array_equal(v.visible, w.visible)
                np.testing.assert_allclose(v.points2d[v.visible], w.points2d[w.visible])
                assert np.isnan(v.points2d[~v.visible]).all()
                np.testing.assert_allclose(v.camera.K, w.camera.K)
                np.testing.assert_allclose(v.camera.R, w.camera.R)
        # sample k: frames of view 0 of "a", then view 1 of "a", then "b", ...
        s = f.sample(50 + 3)
        assert (s["sequence"], s["view"], s["frame"]) == (0, 1, 3)
        np.testing.assert_array_equal(s["points3d"], seqs[0].points3d[3])
        cam = seqs[0].views[1].camera
        np.testing.assert_allclose(s["points3d_camera"], cam.to_camera(seqs[0].points3d[3]), rtol=1e-5, atol=1e-5)
        s = f.sample(f.num_samples - 1)
        assert (s["sequence"], s["frame"]) == (3, 19) and s["rig"] == "h36m_17"


def test_streaming_writes_in_blocks(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(fmt, "FLUSH_FRAMES", 16)
    path = tmp_path / "d.h5"
    seqs = [make_sequence(f"s{i}", "coco_17", 11, rng) for i in range(9)]
    with DatasetWriter(path) as w:
        for s in seqs:
            w.add(s)
    with DatasetFile(path) as f:
        assert f.validate(block=7) == []
        np.testing.assert_array_equal(f.sequence(8).points3d, seqs[8].points3d)
    with h5py.File(path) as h:
        assert h["points/coco_17/points3d"].chunks[0] == fmt.CHUNK_FRAMES


def test_interrupted_write_leaves_nothing(tmp_path, rng):
    path = tmp_path / "d.h5"
    with pytest.raises(RuntimeError):
        with DatasetWriter(path) as w:
            w.add(make_sequence("a", "coco_17", 5, rng))
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_bad_sequences(tmp_path, rng):
    seq = make_sequence("a", "coco_17", 5, rng)
    with pytest.raises(DatasetError, match="shape"):
        with DatasetWriter(tmp_path / "d.h5") as w:
            w.add(Sequence(name="x", category="c", rig=seq.rig, points3d=np.zeros((5, 3, 3))))
    with pytest.raises(DatasetError, match="named 'a'"):
        with DatasetWriter(tmp_path / "d.h5") as w:
            w.add(seq)
            w.add(seq)
    seq.views[0].visible[:] = True
    seq.views[0].points2d[0, 0] = np.nan
    with pytest.raises(DatasetError, match="visible"):
        with DatasetWriter(tmp_path / "d.h5") as w:
            w.add(seq)
    assert list(tmp_path.iterdir()) == []


def test_validate_finds_tampering(tmp_path, rng):
    path = tmp_path / "d.h5"
    with DatasetWriter(path) as w:
        w.add(make_sequence("a", "coco_17", 5, rng))
    with h5py.File(path, "a") as h:
        vis = h["points/coco_17/visible"]
        uv = h["points/coco_17/points2d"]
        uv[1, 2] = np.nan
        vis[1, 2] = True
        h["views/R"][0] = np.eye(3) * 2
    with DatasetFile(path) as f:
        problems = f.validate()
    assert any("R is not a rotation" in p for p in problems)
    with h5py.File(path, "a") as h:
        h["views/R"][0] = np.eye(3)
    with DatasetFile(path) as f:
        problems = f.validate()
    assert any("visible" in p for p in problems), problems


def test_reading_a_file_that_is_not_a_dataset(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(DatasetError, match=r"junk\.h5: not an HDF5 file"):
        DatasetFile(junk)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h:
        h["x"] = 1
    with pytest.raises(DatasetError, match="not an lfm dataset"):
        DatasetFile(other)
    with pytest.raises(DatasetError, match="no such file"):
        DatasetFile(tmp_path / "missing.h5")
