import os

import numpy as np
import pytest
import torch

from lfmcli.data.format import DatasetFile
from lfmcli.errors import LfmError
from lfmcli.mvlift.diffusion import Conditions, MotionDenoiser, add_noise, denoising_loss, sample
from lfmcli.mvlift.prior import PRIOR, ClipSource, train_prior
from lfmcli.mvlift.runs import load_denoiser, save_denoiser


def conditions(B, T, J, lines=True, rng=None):
    rng = rng or np.random.default_rng(0)
    adj = torch.eye(J, dtype=torch.bool) | torch.diag(torch.ones(J - 1, dtype=torch.bool), 1)
    adj = (adj | adj.T).expand(B, J, J)
    cond = Conditions(torch.ones(B, J, dtype=torch.bool), adj, torch.ones(B, T, dtype=torch.bool))
    if lines:
        n = torch.as_tensor(rng.normal(size=(B, 1, T, J, 2)), dtype=torch.float32)
        n = n / n.norm(dim=-1, keepdim=True)
        cond.lines = torch.cat([n, torch.as_tensor(rng.normal(size=(B, 1, T, J, 1)), dtype=torch.float32)], -1)
        cond.has_line = torch.ones(B, 1, T, J, dtype=torch.bool)
    return cond


def test_the_denoiser_is_equivariant_to_joint_order(rng):
    torch.manual_seed(0)
    model = MotionDenoiser(dim=16, heads=2, layers=2).eval()
    B, T, J = 2, 5, 6
    cond = conditions(B, T, J, rng=rng)
    x = torch.as_tensor(rng.normal(size=(B, 1, T, J, 2)), dtype=torch.float32)
    t = torch.tensor([0.3, 0.8])
    perm = torch.as_tensor(rng.permutation(J))
    permuted = Conditions(
        cond.exists[:, perm],
        cond.adjacency[:, perm][:, :, perm],
        cond.frames,
        cond.lines[..., perm, :],
        cond.has_line[..., perm],
    )
    with torch.no_grad():
        a = model(x, t, cond)
        b = model(x[..., perm, :], t, permuted)
    assert torch.allclose(a[..., perm, :], b, atol=1e-5)


def test_padding_never_changes_the_real_tokens(rng):
    torch.manual_seed(0)
    model = MotionDenoiser(dim=16, heads=2, layers=2).eval()
    B, T, J = 1, 5, 4
    cond = conditions(B, T, J, lines=False)
    x = torch.as_tensor(rng.normal(size=(B, 1, T, J, 2)), dtype=torch.float32)
    t = torch.tensor([0.5])
    padded = conditions(B, T + 3, J + 2, lines=False)
    padded.exists[:, J:] = False
    padded.frames[:, T:] = False
    padded.adjacency = padded.adjacency.clone()
    padded.adjacency[:, :J, :J] = cond.adjacency
    xp = torch.as_tensor(rng.normal(size=(B, 1, T + 3, J + 2, 2)), dtype=torch.float32) * 10
    xp[:, :, :T, :J] = x
    with torch.no_grad():
        assert torch.allclose(model(x, t, cond), model(xp, t, padded)[:, :, :T, :J], atol=1e-5)


def test_training_steps_lower_the_denoising_loss_of_a_batch(rng):
    torch.manual_seed(0)
    model = MotionDenoiser(dim=16, heads=2, layers=1)
    B, T, J = 4, 6, 5
    cond = conditions(B, T, J, rng=rng)
    x0 = torch.as_tensor(rng.normal(size=(B, 1, T, J, 2)), dtype=torch.float32)
    weight = torch.ones(B, 1, T, J)

    def fixed_loss():
        return denoising_loss(model, x0, weight, cond, generator=torch.Generator().manual_seed(7))

    before = float(fixed_loss().detach())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):
        opt.zero_grad()
        fixed_loss().backward()
        opt.step()
    assert float(fixed_loss().detach()) < 0.5 * before


def test_sampling_is_seeded_and_keeps_given_views(rng):
    torch.manual_seed(0)
    model = MotionDenoiser(dim=16, heads=2, layers=1, views=3).eval()
    B, T, J = 2, 4, 5
    cond = conditions(B, T, J, lines=False)
    cond.given = torch.tensor([[True, False, False]] * B)
    cond.clean = torch.as_tensor(rng.normal(size=(B, 3, T, J, 2)), dtype=torch.float32)
    shape = (B, 3, T, J, 2)
    a = sample(model, shape, cond, steps=5, generator=torch.Generator().manual_seed(1))
    b = sample(model, shape, cond, steps=5, generator=torch.Generator().manual_seed(1))
    c = sample(model, shape, cond, steps=5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a[:, 0], cond.clean[:, 0])
    assert torch.isfinite(a).all()


def test_noise_at_time_zero_is_the_signal_and_at_one_is_noise(rng):
    x0 = torch.ones(2, 1, 3, 4, 2)
    noise = torch.zeros_like(x0) + 5
    assert torch.allclose(add_noise(x0, torch.zeros(2), noise), x0, atol=1e-3)
    assert torch.allclose(add_noise(x0, torch.ones(2), noise), noise, atol=2e-2)


def test_the_prior_trains_from_2d_only_and_never_uses_3d(motion_h5, tmp_path, tiny_config):
    """Training on a copy whose 3D is replaced by other numbers gives the very same weights."""
    import shutil

    import h5py
    from safetensors.torch import load_file

    other = tmp_path / "other3d.h5"
    shutil.copy(motion_h5, other)
    with h5py.File(other, "r+") as f:
        p = f["points/h36m_17/points3d"]
        p[...] = p[...] * 3.0 + 1.0
    row = train_prior(tiny_config([motion_h5]), tmp_path / "run")
    train_prior(tiny_config([other]), tmp_path / "other")
    assert row["step"] == 6 and np.isfinite(row["val_loss"])
    a, b = (load_file(str(tmp_path / r / PRIOR)) for r in ("run", "other"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    model, cfg, info = load_denoiser(tmp_path / "run" / PRIOR, "prior")
    assert cfg.model.dim == 16 and info["step"] == 6
    assert len((tmp_path / "run" / "prior.jsonl").read_text().splitlines()) == 2


def test_clips_for_mvlift_never_read_3d(motion_h5, monkeypatch, tiny_config):
    from lfmcli.data import dataset

    original = DatasetFile.points

    def points(self, rig, name):
        assert name != "points3d", "the clips read 3D"
        return original(self, rig, name)

    dataset.require_valid(motion_h5)  # validation checks the 3D; the clips must not read it
    monkeypatch.setattr(DatasetFile, "points", points)
    ClipSource(tiny_config([motion_h5]), "train").draw(4, np.random.default_rng(0))


def test_the_prior_is_deterministic_under_its_seed_and_resumes_exactly(motion_h5, tmp_path, tiny_config):
    from safetensors.torch import load_file

    train_prior(tiny_config([motion_h5]), tmp_path / "a")
    train_prior(tiny_config([motion_h5]), tmp_path / "b")
    a, b = (load_file(str(tmp_path / r / PRIOR)) for r in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)

    def interrupt(step, total, loss):
        if step == 5:  # after the state of step 3 was saved
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_prior(tiny_config([motion_h5]), tmp_path / "c", on_step=interrupt)
    train_prior(tiny_config([motion_h5]), tmp_path / "c", resume=True)
    c = load_file(str(tmp_path / "c" / PRIOR))
    assert all(torch.allclose(a[k], c[k]) for k in a)
    with pytest.raises(LfmError, match="already holds"):
        train_prior(tiny_config([motion_h5]), tmp_path / "a")


class _Stopped(Exception):
    """The process dying at a chosen moment."""


def test_a_prior_stopped_between_its_weights_and_its_state_resumes_from_its_last_whole_save(
    motion_h5, tmp_path, tiny_config, monkeypatch
):
    from safetensors.torch import load_file

    from lfmcli.mvlift import runs

    train_prior(tiny_config([motion_h5]), tmp_path / "straight")

    def save_then_die(path, model, cfg, stage, info):  # step 6's weights are written, its state never is
        save_denoiser(path, model, cfg, stage, info)
        if info["step"] == 6:
            raise _Stopped

    monkeypatch.setattr(runs, "save_denoiser", save_then_die)
    with pytest.raises(_Stopped):
        train_prior(tiny_config([motion_h5]), tmp_path / "run")
    monkeypatch.undo()
    assert load_denoiser(tmp_path / "run" / PRIOR, "prior")[2]["step"] == 6
    train_prior(tiny_config([motion_h5]), tmp_path / "run", resume=True)  # steps 4 to 6 again, from step 3's save
    a, b = (load_file(str(tmp_path / r / PRIOR)) for r in ("straight", "run"))
    assert all(torch.allclose(a[k], b[k]) for k in a)
    assert len((tmp_path / "run" / "prior.jsonl").read_text().splitlines()) == 2


class _RunsCode:
    """An object whose unpickling creates a folder: what a planted state file could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.makedirs, (self.path,)


def test_resume_refuses_a_state_that_could_run_code_or_is_from_an_older_lfm(motion_h5, tmp_path, tiny_config):
    cfg, run = tiny_config([motion_h5]), tmp_path / "run"
    train_prior(cfg, run)
    state_file = run / "prior.state.pt"
    payload = torch.load(state_file, weights_only=True)
    ran = tmp_path / "ran"
    torch.save({**payload, "planted": _RunsCode(ran)}, state_file)
    with pytest.raises(LfmError) as e:
        train_prior(cfg, run, resume=True)
    assert not ran.exists()
    assert "cannot resume: prior.state.pt holds objects other than tensors and numbers" in str(e.value)
    assert "\n" not in str(e.value)
    torch.save({k: v for k, v in payload.items() if k != "model"}, state_file)  # as lfm saved it before
    with pytest.raises(LfmError, match="prior.state.pt is from an older lfm and cannot be resumed; delete it"):
        train_prior(cfg, run, resume=True)


@pytest.mark.parametrize("info", [[1, 2], "text", {"views": [2]}])
def test_a_checkpoint_whose_info_is_not_a_json_object_is_one_error_naming_it(tmp_path, tiny_config, info):
    path = tmp_path / PRIOR
    save_denoiser(path, MotionDenoiser(dim=16, heads=2, layers=1), tiny_config(["data.h5"]), "prior", info)
    with pytest.raises(LfmError, match="not an MVLift prior checkpoint") as e:
        load_denoiser(path, "prior")
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_clips_are_normalised_and_lines_pass_through_their_points(motion_h5, tiny_config):
    from lfmcli.mvlift.geometry import line_distance

    cfg = tiny_config([motion_h5])
    clips = ClipSource(cfg, "train").draw(6, np.random.default_rng(0), cfg.prior)
    x0, seen = clips.x0, clips.seen
    assert x0.shape[:2] == (6, 1) and seen.any()
    assert float(x0[seen].abs().max()) < 3
    d = line_distance(clips.cond.lines, x0)[clips.cond.has_line]
    assert float(d.abs().max()) < 1e-4


def test_motion_needs_two_frames(tmp_path, rng, motion_maker, tiny_config):
    from lfmcli.data.build import random_views
    from lfmcli.data.format import DatasetWriter
    from lfmcli.rigs import get_rig

    path = tmp_path / "still.h5"
    with DatasetWriter(path) as w:
        seq = motion_maker(rng, "one", get_rig("h36m_17"), frames=1)
        seq.views = random_views(seq, 1, seed=0)
        w.add(seq)
    with pytest.raises(LfmError, match="2 frames or more"):
        ClipSource(tiny_config([path]), "train")
