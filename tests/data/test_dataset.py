import numpy as np
import pytest
import torch
from test_augment import batch  # tests/data is on the path (pytest rootdir mode)

from lfmcli.config import LossConfig, ModelConfig
from lfmcli.losses import lifting_loss
from lfmcli.models import build_model


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
