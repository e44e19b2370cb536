import numpy as np
import pytest

from lfmcli.data.build import random_views
from lfmcli.data.format import DatasetWriter
from lfmcli.rigs import get_rig
from lfmcli.sequence import Sequence


def walking(rng, name, rig, frames=40):
    """A 3D motion of a rig: a random pose swaying and walking along x."""
    J = rig.num_joints
    base = rng.normal(scale=0.3, size=(1, J, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, J, 3))
    t = np.arange(frames)[:, None, None] / 30.0
    walk = np.concatenate([0.5 * t, 0 * t, 0 * t], -1)
    points = (base + 0.05 * np.sin(4 * t + phase) + walk + [0, 1.0, 0]).astype(np.float32)
    return Sequence(name=name, category="human", rig=rig, points3d=points, fps=30.0)


def tiny(paths, **sets):
    """An MVLift config of tiny models and steps on dataset files ``paths``."""
    from lfmcli.mvlift.config import MVLiftConfig

    words = ["model.dim=16", "model.heads=2", "model.layers=1", "data.window=8", "prior.batch_size=4"]
    words += ["prior.val_clips=8", "prior.eval_every=3", "prior.steps=6", "prior.warmup_steps=1"]
    words += [f"{k}={v}" for k, v in sets.items()]
    return MVLiftConfig.resolve(paths=paths, overrides=words, device="cpu")


@pytest.fixture
def tiny_config():
    return tiny


@pytest.fixture
def motion_maker():
    return walking


@pytest.fixture
def motion_h5(tmp_path, rng):
    """A dataset with 3D of a few walking motions, two random cameras each."""
    rig = get_rig("h36m_17")
    path = tmp_path / "motion.h5"
    with DatasetWriter(path) as w:
        for k in range(6):
            seq = walking(rng, f"walk{k}", rig)
            seq.split = "val" if k == 5 else "train"
            seq.views = random_views(seq, 2, seed=k)
            w.add(seq)
    return path
