import numpy as np
import torch
from scipy.spatial.transform import Rotation

from lfmcli.config import LossConfig
from lfmcli.losses import lifting_loss


def _similar(target: torch.Tensor, rng) -> torch.Tensor:
    R = torch.tensor(Rotation.random(random_state=rng.integers(1 << 31)).as_matrix(), dtype=target.dtype)
    return 2.5 * target @ R.T + torch.tensor([1.0, -2.0, 0.5], dtype=target.dtype)


def test_the_aligned_loss_ignores_rotation_scale_and_translation_of_frames_and_clips(rng):
    frames = torch.tensor(rng.normal(size=(6, 9, 3)))
    clips = torch.tensor(rng.normal(size=(2, 5, 9, 3)))
    for target in (frames, clips):
        mask = torch.ones(target.shape[:-1], dtype=torch.bool)
        loss = lifting_loss(_similar(target, rng), target, mask, LossConfig())
        assert float(loss) < 1e-10
        plain = lifting_loss(_similar(target, rng), target, mask, LossConfig(align=False))
        assert float(plain) > 0.1  # the plain-loss ablation sees the rotation


def test_the_velocity_term_counts_for_clips_only(rng):
    clips = torch.tensor(rng.normal(size=(2, 5, 9, 3)))
    pred = clips + 0.1 * torch.tensor(rng.normal(size=clips.shape))
    mask = torch.ones(clips.shape[:-1], dtype=torch.bool)
    with_velocity = lifting_loss(pred, clips, mask, LossConfig(velocity_weight=1.0))
    without = lifting_loss(pred, clips, mask, LossConfig(velocity_weight=0.0))
    assert float(with_velocity) > float(without) > 0
    frames, fmask = clips.reshape(-1, 9, 3), mask.reshape(-1, 9)
    flat = pred.reshape(-1, 9, 3)
    assert np.isclose(float(lifting_loss(flat, frames, fmask, LossConfig())), float(without))
