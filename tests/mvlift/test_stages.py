"""Stages 2 to 4 and the CLI on tiny models and data: shapes, determinism, consistency, the files they write."""

import json

import h5py
import numpy as np
import pytest
import torch

from lfmcli.checkpoint import load_checkpoint
from lfmcli.data.format import DatasetFile
from lfmcli.geometry.kinematics import bone_offsets
from lfmcli.mvlift.diffusion import MotionDenoiser
from lfmcli.mvlift.prior import ClipSource
from lfmcli.mvlift.views import constant_bones, epipolar_loss, optimise_views, view_weights

ANGLES = [0.0, 60.0, 120.0, 180.0]
TINY = [
    "--set", "model.dim=16", "--set", "model.heads=2", "--set", "model.layers=1", "--set", "data.window=8",
    "--set", "prior.batch_size=4", "--set", "prior.val_clips=4", "--set", "prior.eval_every=2",
]  # fmt: skip


@pytest.fixture
def clips(motion_h5, tiny_config):
    return ClipSource(tiny_config([motion_h5]), "train").clips(np.array([0, 1, 2]), np.array([0, 5, 10]))


def test_views_without_the_prior_stay_the_consistent_flat_start(clips):
    prior = MotionDenoiser(dim=16, heads=2, layers=1)
    views = optimise_views(prior, clips, ANGLES, 4.0, steps=3, sds_weight=0.0)
    assert views.shape == (3, 4, 8, 17, 2)
    assert torch.equal(views[:, 0], clips.x0[:, 0])
    # only float32 rounding noise moves them (Adam scales even tiny gradients up to its step size)
    assert float(epipolar_loss(views, view_weights(clips, 4), ANGLES, 4.0)) < 1e-4


def test_epipolar_consistency_holds_the_views_to_one_motion(clips):
    torch.manual_seed(0)
    prior = MotionDenoiser(dim=16, heads=2, layers=1)
    torch.nn.init.normal_(prior.out[1].weight, std=1.0)  # a prior that pulls hard in arbitrary directions

    def run(epipolar_weight):
        g = torch.Generator().manual_seed(3)
        views = optimise_views(
            prior, clips, ANGLES, 4.0, steps=15, lr=0.05, epipolar_weight=epipolar_weight, generator=g
        )
        return views, float(epipolar_loss(views, view_weights(clips, 4), ANGLES, 4.0))

    free, free_error = run(0.0)
    held, held_error = run(100.0)
    again, _ = run(100.0)
    assert torch.equal(held, again)  # seeded
    assert torch.isfinite(held).all()
    assert held_error < 0.2 * free_error


def test_constant_bones_keeps_bone_lengths_and_a_rigid_motion(rng):
    from lfmcli.rigs import get_rig

    rig = get_rig("h36m_17")
    rest = rng.normal(scale=0.3, size=(rig.num_joints, 3))
    motion = np.stack([rest + [0.05 * t, 0, 0] for t in range(10)])  # a rigid walk: already constant bones
    noisy = motion + rng.normal(scale=0.01, size=motion.shape)
    fitted = constant_bones(noisy, rig.parents, steps=150)
    lengths = np.linalg.norm(bone_offsets(fitted, rig.parents), axis=-1)
    assert np.ptp(lengths, axis=0).max() < 1e-4
    assert np.abs(fitted - motion).mean() < np.abs(noisy - motion).mean() * 1.5


def test_the_whole_pipeline_from_the_cli(motion_h5, tmp_path, cli):
    run = tmp_path / "run"
    r = cli("mvlift", "prior", "--data", motion_h5, "-o", run, "--steps", 4, "--device", "cpu", *TINY)
    assert r.exit_code == 0, r.output
    r = cli("mvlift", "views", run, "--set", "views.steps=3", "--set", "views.bone_steps=5")
    assert r.exit_code == 0, r.output
    with DatasetFile(run / "views.h5") as f:
        assert f.validate() == [] and f.attrs["builder"] == "mvlift"
        assert set(f.sequences["split"]) == {"train", "val"}  # each clip keeps its sequence's split
        assert len(f.views["sequence"]) == 4 * f.num_sequences  # four consistent views per clip
        assert set(f.sequences["units"]) == {"object"}
    sets = ["multiview.eval_every=2", "multiview.val_clips=2", "multiview.sample_steps=2", "multiview.batch_size=2"]
    r = cli("mvlift", "multiview", run, "--steps", 4, *(w for s in sets for w in ("--set", s)))
    assert r.exit_code == 0, r.output
    ckpt = load_checkpoint(run / "multiview.safetensors")
    assert ckpt.kind == "mvlift" and ckpt.window == 8
    assert ckpt.info["categories"] == ["human"] and ckpt.info["rigs"] == {"h36m_17": 17}  # what `lift` notes from
    # it lifts as any checkpoint does, keeping the path
    metrics = ("--metric", "t-root", "--metric", "j2d", "--metric", "j2d-centred")
    r = cli("eval", run / "multiview.safetensors", motion_h5, "--split", "val", *metrics, "--json")
    assert r.exit_code == 0, r.output
    assert all(np.isfinite(v) for v in json.loads(r.stdout)["overall"].values())
    r = cli("mvlift", "prior", "--data", motion_h5, "-o", run, "--steps", 4, *TINY)
    assert r.exit_code == 1 and "already holds" in r.output
    r = cli("mvlift", "views", tmp_path / "nowhere")
    assert r.exit_code == 1 and "not an MVLift run folder" in r.output


def test_an_mvlift_checkpoint_lifts_a_file_with_its_path(motion_h5, tmp_path, cli):

    run = tmp_path / "run"
    assert cli("mvlift", "prior", "--data", motion_h5, "-o", run, "--steps", 2, *TINY).exit_code == 0
    assert cli("mvlift", "views", run, "--set", "views.steps=2", "--set", "views.bone_steps=0").exit_code == 0
    steps = ["--steps", 2, "--set", "multiview.val_clips=2", "--set", "multiview.sample_steps=2"]
    assert cli("mvlift", "multiview", run, *steps).exit_code == 0
    T, J = 20, 17
    t = np.arange(T)[:, None]
    points = 300 + 40 * np.random.default_rng(0).normal(size=(1, J, 2)) + np.concatenate([5 * t, 0 * t], -1)[:, None]
    doc = {"keypoints": points.tolist(), "rig": "h36m_17", "fps": 30}
    (tmp_path / "walk.json").write_text(json.dumps(doc))
    out = tmp_path / "walk.h5"
    r = cli("lift", tmp_path / "walk.json", "-o", out, "--checkpoint", run / "multiview.safetensors")
    assert r.exit_code == 0, r.output
    assert "never" not in r.stderr  # the rig it trained on
    with h5py.File(out) as f:
        assert f["position"].shape == (T, 1, J, 3)
        assert np.isfinite(f["position"][()]).all()
        assert f["root_position"].shape == (T, 1, 3)
        assert "camera frame" in f.attrs["frame"]
        depth = f["position"][()][..., 2]
    assert (depth > 0).all()  # in front of the camera


def test_the_prior_is_not_a_multiview_checkpoint(motion_h5, tmp_path, cli):
    run = tmp_path / "run"
    assert cli("mvlift", "prior", "--data", motion_h5, "-o", run, "--steps", 2, *TINY).exit_code == 0
    r = cli("lift", tmp_path / "x.json", "-o", tmp_path / "x.h5", "--checkpoint", run / "prior.safetensors")
    assert r.exit_code == 1
    with pytest.raises(Exception, match="not the multiview model"):
        load_checkpoint(run / "prior.safetensors")


def test_a_run_folder_where_nothing_can_be_written_is_one_error(tmp_path):
    from lfmcli.errors import LfmError
    from lfmcli.mvlift.config import MVLiftConfig
    from lfmcli.mvlift.runs import RunFolder

    (tmp_path / "file").write_text("kept")
    for run, problem in ((tmp_path / "file", "is a file"), (tmp_path / "file" / "run", "cannot write in folder")):
        with pytest.raises(LfmError, match=problem):
            RunFolder(run, MVLiftConfig(), "prior.safetensors", resume=False)
    assert (tmp_path / "file").read_text() == "kept"
