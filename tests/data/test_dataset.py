from dataclasses import fields

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_augment import DEVICES, batch  # tests/data is on the path (pytest rootdir mode)

from lfmcli.config import DataConfig, LossConfig, ModelConfig, RunConfig
from lfmcli.data.dataset import DeviceBank, SampleBank
from lfmcli.data.draws import Draws
from lfmcli.errors import LfmError
from lfmcli.losses import lifting_loss
from lfmcli.models import build_model
from lfmcli.train import Trainer


def mixed_batch(rng):
    """Ten items of a 7-joint rig, eight of them cut to a 3-joint rig (the rest padding), shuffled."""
    b = batch(rng, B=10)
    small = torch.from_numpy(rng.permutation(10)[:8])
    b.exists[small, 3:] = False
    b.visible[small, 3:] = False
    b.has_3d[small, 3:] = False
    b.target[small, 3:] = float("nan")
    b.points2d[small, 3:] = float("nan")
    b.adjacency[small] &= b.exists[small, :, None] & b.exists[small, None, :]
    return b


def test_a_batch_of_mixed_rigs_splits_into_pieces_of_less_padding(rng):
    b = mixed_batch(rng)
    small, large = b.by_size()
    assert (len(small), small.exists.shape[1]) == (8, 3) and (len(large), large.exists.shape[1]) == (2, 7)
    assert small.exists.all() and small.adjacency.shape == (8, 3, 3)

    # the pieces hold every item once
    def firsts(p):
        return sorted(map(tuple, p.target[:, 0].tolist()))

    assert sorted(firsts(small) + firsts(large)) == firsts(b)


def test_pieces_give_the_loss_and_the_outputs_of_the_whole_batch(rng):
    torch.manual_seed(0)
    model = build_model(ModelConfig(dim=32, heads=4, layers=2, output="shape")).eval()
    cfg = LossConfig(scale_free=True)  # a mean over frames, so the weighted pieces sum to it exactly
    b = mixed_batch(rng)
    whole = lifting_loss(model(*b.model_inputs()), b.target, b.has_3d, cfg)
    pieces = b.by_size()
    parts = sum(lifting_loss(model(*p.model_inputs()), p.target, p.has_3d, cfg) * len(p) / len(b) for p in pieces)
    torch.testing.assert_close(parts, whole)


def test_a_batch_of_one_rig_stays_whole(rng):
    b = batch(rng, B=5)
    (only,) = b.by_size()
    assert len(only) == 5 and only.exists.shape[1] == 7
    np.testing.assert_array_equal(np.sort(only.target[:, 0, 0].numpy()), np.sort(b.target[:, 0, 0].numpy()))


def test_category_weights_scale_a_categorys_share_of_balanced_batches(tmp_path, rng, write_interchange):
    from lfmcli.data.build import write_dataset
    from lfmcli.data.dataset import SampleBank
    from lfmcli.sources import npz

    write_interchange(tmp_path / "a.npz", rng.normal(size=(30, 3, 3)), ["a", "b", "c"], [-1, 0, 1], category="cat")
    write_interchange(tmp_path / "b.npz", rng.normal(size=(10, 3, 3)), ["a", "b", "c"], [-1, 0, 1], category="dog")
    write_dataset(tmp_path / "o.h5", npz.plan([tmp_path]), ratios=(1.0, 0.0, 0.0))
    bank = SampleBank([tmp_path / "o.h5"], None)
    dog = np.array(bank.categories)[bank.view_category[bank.sample_view]] == "dog"
    assert bank.sample_weights(True)[dog].sum() == pytest.approx(0.5)
    assert bank.sample_weights(True, {"dog": 3.0})[dog].sum() == pytest.approx(0.75)
    assert bank.sample_weights(False)[dog].sum() == pytest.approx(0.25)
    views = np.arange(len(bank.view_length))
    assert bank.view_weights(views, True, {"dog": 3.0})[
        np.array(bank.categories)[bank.view_category] == "dog"
    ].sum() == pytest.approx(0.75)


# ----- batches made where the model runs (DeviceBank)

BODY = [-1, 0, 1, 0, 3]  # a root with a spine and a leg: 5 joints
STICK = [-1, 0, 1]


@pytest.fixture
def tiny(tmp_path, write_interchange):
    """A dataset of two rigs (5 and 3 joints) and two categories, sequences of 7 to 30 frames, two views each: rigid
    shapes turning about the vertical, so that their depth can be learned from their 2D."""
    from lfmcli.data.build import write_dataset
    from lfmcli.sources import npz

    shapes = np.random.default_rng(7)
    for name, parents, category, frames in (
        ("body_a", BODY, "cat", 30),
        ("body_b", BODY, "cat", 12),
        ("stick", STICK, "dog", 7),
        ("stick_b", STICK, "dog", 20),
    ):
        shape = shapes.normal(size=(len(parents), 3))
        turn = np.linspace(0, 2 * np.pi, frames)
        c, s = np.cos(turn)[:, None], np.sin(turn)[:, None]
        x, y, z = shape.T
        points = np.stack([c * x + s * z, np.broadcast_to(y, (frames, len(y))), -s * x + c * z], -1)
        joints = [f"{name[:4]}{k}" for k in range(len(parents))]
        write_interchange(tmp_path / f"{name}.npz", points, joints, parents, category=category)
    out = tmp_path / "tiny.h5"
    write_dataset(out, npz.plan([tmp_path]), views=2, ratios=(1.0, 0.0, 0.0))
    return out


def same_batch(a, b):
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype and x.shape == y.shape, f.name
        torch.testing.assert_close(x.cpu(), y.cpu(), rtol=0, atol=0, equal_nan=True, msg=f.name)


@pytest.mark.parametrize("device", DEVICES)
def test_a_device_bank_gathers_the_batches_a_sample_bank_makes(tiny, rng, device):
    bank = SampleBank([tiny], None)
    held = DeviceBank(bank, device)
    assert {g.rig.num_joints for g in bank.groups.values()} == {3, 5} and bank.max_joints == 5
    on = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    for samples in (rng.integers(0, bank.num_samples, 50), np.flatnonzero(bank.view_group[bank.sample_view] == 0)):
        same_batch(bank.frames(samples), held.frames(on(samples)))  # mixed rigs padded, or one rig alone
    views = rng.integers(0, len(bank.view_length), 40)
    starts = rng.integers(0, bank.view_length[views])  # windows that run past the end of their views, too
    same_batch(bank.windows(views, starts, 10), held.windows(on(views), on(starts), 10))


def test_device_banks_draw_frames_and_windows_as_the_cpu_path_does(tiny):
    from lfmcli.train import make_train_batch

    bank = SampleBank([tiny], None)
    held = DeviceBank(bank, "cpu")
    d = DataConfig(category_weights={"dog": 3.0}, occlusion=0.0, window=8)
    dog = bank.categories.index("dog")
    shares = []
    for made in (
        make_train_batch(bank, d, 4000, False, np.random.default_rng(0)),
        held.batch(4000, d, False, Draws(torch.Generator().manual_seed(0))),
    ):
        shares.append((made.category == dog).float().mean().item())
    assert shares == pytest.approx([0.75, 0.75], abs=0.03)  # balanced, the dogs weighted 3 to 1
    firsts = []
    for made in (
        make_train_batch(bank, d, 4000, True, np.random.default_rng(0)),
        held.batch(4000, d, True, Draws(torch.Generator().manual_seed(0))),
    ):
        assert made.visible.shape[:2] == (4000, 8) and (made.category == dog).float().mean() == pytest.approx(
            0.75, abs=0.03
        )
        firsts.append(made.visible[:, 0].any(-1).float().mean().item())  # every window starts inside its view
        # windows of 8 fit the views of 12 to 30 frames, never the dogs' 7-frame one (7 of their 27 frames)
        full = made.visible.any(-1).all(-1).float().mean().item()
        assert full == pytest.approx(1 - 0.75 * 7 / 27, abs=0.03)
    assert firsts == [1.0, 1.0]


AUGMENTED = [
    "data.occlusion=0.2",
    "data.rotate_2d=20",
    "data.scale_2d=0.1",
    *(f"data.augment.{k}=0.5" for k in ("reproject", "morph", "drop_joints", "virtual_joints", "outliers_2d")),
    "data.augment.noise_2d=0.02",
]


@pytest.mark.parametrize("temporal", [False, True])
def test_device_batches_match_cpu_batches_in_shape_masks_and_statistics(tiny, temporal):
    from lfmcli.train import epoch_generator, make_device_batch, make_train_batch

    cfg = RunConfig.resolve("spacetime" if temporal else "lfm", "tiny", None, AUGMENTED + ["data.window=6"], [tiny])
    bank = SampleBank([tiny], None)
    held = DeviceBank(bank, "cpu")
    rand = Draws(epoch_generator("cpu", [0, 0, 0]))
    rng = np.random.default_rng(0)
    size = 256 if temporal else 512
    stats = {"cpu": [], "device": []}
    for _ in range(6):
        for where, b in (
            ("cpu", make_train_batch(bank, cfg.data, size, temporal, rng)),
            ("device", make_device_batch(held, cfg.data, size, temporal, rand)),
        ):
            lead = (size, 6) if temporal else (size,)
            J = b.exists.shape[1]
            assert J == 5 + 3  # the largest rig and room for virtual joints
            shapes = {"points2d": (*lead, J, 2), "visible": (*lead, J), "target": (*lead, J, 3), "has_3d": (*lead, J)}
            for name, shape in shapes.items():
                assert getattr(b, name).shape == shape, (where, name)
            assert b.points2d.dtype == b.target.dtype == torch.float32 and b.visible.dtype == torch.bool
            assert b.adjacency.shape == (size, J, J) and b.parents.shape == b.mirror.shape == (size, J)
            exists = b.exists if not temporal else b.exists[:, None]
            assert not (b.visible & ~exists).any() and not (b.has_3d & ~exists).any()
            assert torch.isfinite(b.points2d[b.visible]).all() and torch.isfinite(b.target[b.has_3d]).all()
            assert (b.adjacency == b.adjacency.transpose(1, 2)).all()
            stats[where].append(
                [
                    (b.visible.sum() / (exists.expand_as(b.visible)).sum()).item(),  # after occlusion and reprojection
                    b.exists.sum(1).float().mean().item(),  # joints left after drops and virtual joints
                    b.exists[:, 5:].any(1).float().mean().item(),  # items with virtual joints
                    b.has_3d.float().mean().item(),
                ]
            )
    cpu, device = np.mean(stats["cpu"], 0), np.mean(stats["device"], 0)
    np.testing.assert_allclose(device, cpu, rtol=0.1)  # 3 standard errors of the share with virtual joints


def test_training_on_device_batches_learns_and_resumes_exactly(tiny, tmp_path):
    fast = ["training.device=cpu", "training.batches=device", "training.batch_size=32", "training.val_samples=64"]
    fast += ["training.steps_per_epoch=10", "training.lr=3e-3", "data.occlusion=0", "data.val_split=train"]
    cfg = RunConfig.resolve("lfm", "tiny", None, fast + ["training.epochs=3"], [tiny])
    reports = Trainer(cfg, tmp_path / "straight").fit()
    assert reports[-1].train_loss < 0.8 * reports[0].train_loss
    assert reports[-1].val_pa_mpjpe < 0.85 * reports[0].val_pa_mpjpe
    half = RunConfig.resolve("lfm", "tiny", None, fast + ["training.epochs=1"], [tiny])
    Trainer(half, tmp_path / "halves").fit()
    half.training.epochs = 3
    Trainer(half, tmp_path / "halves", resume=True).fit()  # each epoch's batches come from that epoch's stream
    a, b = (load_file(tmp_path / name / "last.safetensors") for name in ("straight", "halves"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_the_place_batches_are_made_is_checked():
    with pytest.raises(LfmError, match="'training.batches' is cpu or device"):
        RunConfig.resolve("lfm", "tiny", None, ["training.batches=gpu"], ["x.h5"])
    with pytest.raises(LfmError, match="set it to 0 with training.batches=device"):
        RunConfig.resolve("lfm", "tiny", None, ["training.batches=device", "training.workers=2"], ["x.h5"])
