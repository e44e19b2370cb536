import numpy as np
import torch
from scipy.spatial.transform import Rotation

from lfmcli.geometry.procrustes import procrustes_loss, sequence_align, similarity_align, similarity_transform


def rand_similarity(rng, n):
    R = torch.tensor(Rotation.random(n, random_state=int(rng.integers(1e6))).as_matrix())
    s = torch.tensor(rng.uniform(0.3, 3, n))
    t = torch.tensor(rng.normal(size=(n, 3)))
    return s, R, t


def test_recovers_a_known_similarity_and_ignores_masked_points(rng):
    target = torch.tensor(rng.normal(size=(8, 12, 3)))
    s, R, t = rand_similarity(rng, 8)
    # pred = inverse similarity of target, so aligning pred gives target back exactly
    pred = torch.einsum("bia,bki->bka", R, (target - t[:, None]) / s[:, None, None])
    mask = torch.ones(8, 12, dtype=torch.bool)
    mask[:, -3:] = False
    pred[:, -3:] = 1e3 * torch.randn(8, 3, 3, dtype=torch.float64)  # garbage where masked out
    aligned = similarity_align(pred, target, mask)
    torch.testing.assert_close(aligned[:, :-3], target[:, :-3])
    s2, R2, _ = similarity_transform(pred, target, mask)
    torch.testing.assert_close(s2, s)
    torch.testing.assert_close(R2, R)


def test_loss_is_invariant_to_similarity_of_the_prediction(rng):
    target = torch.tensor(rng.normal(size=(4, 10, 3)))
    pred = target + 0.1 * torch.tensor(rng.normal(size=(4, 10, 3)))
    mask = torch.ones(4, 10, dtype=torch.bool)
    s, R, t = rand_similarity(rng, 4)
    moved = s[:, None, None] * torch.einsum("bij,bkj->bki", R, pred) + t[:, None]
    torch.testing.assert_close(procrustes_loss(pred, target, mask), procrustes_loss(moved, target, mask))


def test_no_reflection_by_default():
    target = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]], dtype=torch.float64)
    mirrored = target * torch.tensor([-1.0, 1, 1], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    _, R, _ = similarity_transform(mirrored, target, mask)
    assert torch.det(R).item() > 0
    assert procrustes_loss(mirrored, target, mask) > 1e-3
    assert procrustes_loss(mirrored, target, mask, reflections=True) < 1e-12


def test_gradient_matches_finite_differences(rng):
    target = torch.tensor(rng.normal(size=(2, 6, 3)))
    pred = torch.tensor(rng.normal(size=(2, 6, 3)), requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 0, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.autograd.gradcheck(lambda p: procrustes_loss(p, target, mask), (pred,), eps=1e-6, atol=1e-5)


def test_degenerate_inputs_give_finite_loss_and_gradient():
    target = torch.randn(5, 7, 3)
    cases = [
        torch.zeros(5, 7, 3),
        torch.randn(5, 7, 3) * torch.tensor([1.0, 1.0, 0.0]),  # collapsed, planar
        torch.randn(5, 7, 3),
    ]
    masks = [
        torch.ones(5, 7, dtype=torch.bool),
        torch.ones(5, 7, dtype=torch.bool),
        torch.zeros(5, 7, dtype=torch.bool),
    ]
    masks[2][:, 0] = True  # a single visible joint
    for pred, mask in zip(cases, masks, strict=True):
        pred = pred.clone().requires_grad_(True)
        loss = procrustes_loss(pred, target, mask)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    nan_target = target.clone()
    nan_target[:, 3] = float("nan")
    pred = torch.randn(5, 7, 3, requires_grad=True)
    loss = procrustes_loss(pred, nan_target, torch.ones(5, 7, dtype=torch.bool))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_sequence_alignment_uses_one_transform_for_all_frames(rng):
    target = torch.tensor(rng.normal(size=(2, 5, 4, 3)))
    s, R, t = rand_similarity(rng, 2)
    pred = torch.einsum("bij,btkj->btki", R, target) * s[:, None, None, None] + t[:, None, None]
    mask = torch.ones(2, 5, 4, dtype=torch.bool)
    torch.testing.assert_close(sequence_align(pred, target, mask), target)
    # a different rotation per frame cannot be undone by one alignment
    wobble = pred.clone()
    wobble[:, 2] = wobble[:, 2] @ torch.tensor(Rotation.from_euler("z", 40, degrees=True).as_matrix())
    assert (sequence_align(wobble, target, mask) - target).abs().max() > 1e-2
    assert np.isfinite(sequence_align(wobble, target, mask).numpy()).all()


def test_scale_free_loss_weighs_every_object_size_alike(rng):
    target = torch.tensor(rng.normal(size=(2, 9, 3)))
    pred = target + 0.2 * torch.tensor(rng.normal(size=(2, 9, 3)))
    mask = torch.ones(2, 9, dtype=torch.bool)
    base = procrustes_loss(pred, target, mask, scale_free=True)
    torch.testing.assert_close(procrustes_loss(pred * 0.01, target * 0.01, mask, scale_free=True), base)
    assert procrustes_loss(pred * 0.01, target * 0.01, mask) < 1e-3 * procrustes_loss(pred, target, mask)
