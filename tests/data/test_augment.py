import numpy as np
import pytest
import torch

from lfmcli.config import AugmentConfig
from lfmcli.data.augment import (
    _bridged,
    _Clips,
    _subtrees,
    add_virtual_joints,
    augment,
    detector_noise,
    drop_joints,
    limbs,
    morph,
    reproject,
)
from lfmcli.data.dataset import Batch
from lfmcli.errors import LfmError
from lfmcli.rigs import Rig

# a little body: a root with a spine (1-2) and a left (3-4) and right (5-6) leg, the legs mirrored
PARENTS = np.array([-1, 0, 1, 0, 3, 0, 5])
RIG = Rig.from_parents("body", [f"j{k}" for k in range(7)], PARENTS)
MIRROR = np.array([0, 1, 2, 5, 6, 3, 4])


def batch(rng, B=6, T=None, parents=PARENTS) -> Batch:
    lead = (B,) if T is None else (B, T)
    xyz = rng.normal(size=(*lead, 7, 3)) + np.array([0, 0, 6.0])
    uv = 1000 * xyz[..., :2] / xyz[..., 2:]
    exists = np.ones((B, 7), bool)
    return Batch(
        points2d=torch.tensor(uv, dtype=torch.float32),
        visible=torch.ones(*lead, 7, dtype=torch.bool),
        exists=torch.from_numpy(exists),
        adjacency=torch.from_numpy(np.broadcast_to(RIG.adjacency(), (B, 7, 7)).copy()),
        target=torch.tensor(xyz, dtype=torch.float32),
        has_3d=torch.ones(*lead, 7, dtype=torch.bool),
        category=torch.zeros(B, dtype=torch.int64),
        parents=torch.from_numpy(np.broadcast_to(parents, (B, 7)).copy()),
        mirror=torch.from_numpy(np.broadcast_to(MIRROR, (B, 7)).copy()),
    )


def bones(xyz, parents=PARENTS):
    child = np.flatnonzero(parents >= 0)
    return np.linalg.norm(xyz[..., child, :] - xyz[..., parents[child], :], axis=-1)


def test_limbs_are_unbranched_chains_and_mirrored_chains_share_one():
    limb = limbs(PARENTS, MIRROR)
    assert limb[1] == limb[2] and limb[3] == limb[4] == limb[5] == limb[6] and limb[1] != limb[3]


def test_morph_scales_each_limb_and_its_mirror_alike_keeping_directions(rng):
    c = _Clips.of(batch(rng, T=4))
    before = c.xyz.copy()
    changed = morph(c, np.ones(6, bool), (0.5, 2.0), rng)
    assert changed.all()
    ratio = bones(c.xyz) / bones(before)  # (B, T, 6): one factor per bone, constant over time
    assert np.allclose(ratio, ratio[:, :1]) and ((ratio > 0.5 - 1e-6) & (ratio < 2 + 1e-6)).all()
    left, right = ratio[..., 2:4], ratio[..., 4:6]  # bones into joints 3, 4 and 5, 6
    assert np.allclose(left, right) and np.allclose(ratio[..., 0], ratio[..., 1])
    d0 = (before[..., 4, :] - before[..., 3, :]) / bones(before)[..., 3:4]
    d1 = (c.xyz[..., 4, :] - c.xyz[..., 3, :]) / bones(c.xyz)[..., 3:4]
    assert np.allclose(d0, d1, atol=1e-5)  # only lengths change
    flat = _Clips.of(batch(rng, parents=np.full(7, -1)))
    assert not morph(flat, np.ones(6, bool), (0.5, 2.0), rng).any()  # no tree (a chair): nothing to scale


def test_reprojection_is_a_rigid_move_seen_through_a_pinhole(rng):
    c = _Clips.of(batch(rng, T=3))
    before = c.xyz.copy()
    reproject(c, np.ones(6, bool), AugmentConfig(weak_projection=0.0), rng)
    d = lambda x: np.linalg.norm(x[..., :, None, :] - x[..., None, :, :], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(c.xyz), d(before), atol=1e-4)
    np.testing.assert_allclose(c.uv, 1000 * c.xyz[..., :2] / c.xyz[..., 2:] + 500, rtol=1e-5, atol=1e-3)
    assert (c.xyz[..., 2] > 0).all() and c.visible.all()


def test_dropped_joints_leave_a_connected_sub_skeleton(rng):
    for _ in range(20):
        c = _Clips.of(batch(rng))
        drop_joints(c, np.ones(6, bool), 0.5, rng)
        for b in range(6):
            kept = np.flatnonzero(c.exists[b])
            assert 3 <= len(kept) <= 7 and np.isnan(c.xyz[b][:, ~c.exists[b]]).all()
            adj = c.adjacency[b][np.ix_(kept, kept)]
            reach = adj.copy()
            for _ in range(7):
                reach = reach | ((reach.astype(int) @ adj.astype(int)) > 0)
            assert reach.all()  # still one graph: edges bridge the joints that went
    dropped = np.zeros(7, bool)
    dropped[1] = True  # the spine's middle joint gone: its ends are joined directly, and it joins nothing
    bridged = _bridged(RIG.adjacency(), dropped)
    assert bridged[0, 2] and bridged[2, 0] and not bridged[1].any() and not bridged[0, 4]


def test_virtual_joints_sit_on_bones(rng):
    c = _Clips.of(batch(rng, T=2))
    assert add_virtual_joints(c, np.ones(6, bool), 2, rng).all()
    assert c.xyz.shape[2] == 9 and c.adjacency.shape[1:] == (9, 9)
    for b in range(6):
        for v in np.flatnonzero(c.exists[b, 7:]) + 7:
            a, e = [j for j in np.flatnonzero(c.adjacency[b, v]) if j != v]
            along = np.cross(c.xyz[b, :, v] - c.xyz[b, :, a], c.xyz[b, :, e] - c.xyz[b, :, a])
            assert np.allclose(along, 0, atol=1e-4)  # on the segment's line


@pytest.mark.parametrize("T", [None, 5])
def test_augment_keeps_the_batch_contract(rng, T):
    cfg = AugmentConfig(reproject=0.5, morph=0.5, drop_joints=0.5, virtual_joints=0.5, noise_2d=0.02, outliers_2d=0.1)
    out = augment(batch(rng, T=T), cfg, rng)
    lead = (6,) if T is None else (6, T)
    J = out.exists.shape[1]
    assert out.points2d.shape == (*lead, J, 2) and out.target.shape == (*lead, J, 3) and J == 7 + cfg.virtual_max
    assert torch.isfinite(out.points2d[out.visible]).all() and torch.isfinite(out.target[out.has_3d]).all()
    assert not (out.visible & ~(out.exists if T is None else out.exists[:, None])).any()
    assert augment(b := batch(rng, T=T), AugmentConfig(), rng) is b  # nothing asked: nothing done


def test_augment_settings_are_checked():
    with pytest.raises(LfmError, match="share between 0 and 1"):
        AugmentConfig(morph=1.5)
    with pytest.raises(LfmError, match="low, high"):
        AugmentConfig(distance=[20.0, 1.5])


def test_subtrees_hold_each_joint_and_its_descendants():
    parents = (-1, 0, 1, 0, 3, 4, -1, 6, 9, 8)  # two roots, and 8 and 9 each other's parent: a cycle
    inside = _subtrees(parents)

    def ancestors(j):
        seen = []
        while j >= 0 and j not in seen:
            seen.append(j)
            j = parents[j]
        return seen if j < 0 else [seen[0]]  # a joint on or under a cycle is only its own subtree

    expected = np.zeros_like(inside)
    for j in range(len(parents)):
        expected[ancestors(j), j] = True
    np.testing.assert_array_equal(inside, expected)


def test_detector_noise_scales_with_the_object_and_throws_outliers_into_its_box(rng):
    clips = _Clips.of(batch(rng, B=4, T=50))
    clips.visible[3] = False
    clips.visible[3, 0, 0] = True  # one point: no box, left alone
    before = clips.uv.copy()
    size = np.linalg.norm(before.max((1, 2)) - before.min((1, 2)), axis=-1)
    detector_noise(clips, 0.05, 0.0, rng)
    moved = np.abs(clips.uv - before).reshape(4, -1).std(1) / size
    assert np.all(moved[:3] <= 0.05) and np.all(moved[:3] > 0) and moved[3] == 0
    clips.uv = before.copy()
    detector_noise(clips, 0.0, 1.0, rng)  # every seen point thrown
    lo, hi = before[:3].min((1, 2)), before[:3].max((1, 2))
    margin = 0.2 * (hi - lo)
    uv = clips.uv[:3]
    assert np.all(uv >= (lo - margin)[:, None, None]) and np.all(uv <= (hi + margin)[:, None, None])
    assert not np.allclose(uv, before[:3]) and np.array_equal(clips.uv[3], before[3])
