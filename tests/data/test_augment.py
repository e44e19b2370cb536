import math

import numpy as np
import pytest
import torch

from lfmcli.config import AugmentConfig
from lfmcli.data.augment import (
    FOCAL,
    _bridged,
    _Clips,
    _subtrees,
    add_virtual_joints,
    augment,
    camera_rotation,
    detector_noise,
    drop_joints,
    limbs,
    morph,
    reproject,
    view_through,
)
from lfmcli.data.dataset import Batch, occlude, rotate_scale_2d, turn_2d
from lfmcli.data.draws import Draws
from lfmcli.errors import LfmError
from lfmcli.geometry.cameras import Camera, intrinsics
from lfmcli.rigs import Rig

# a little body: a root with a spine (1-2) and a left (3-4) and right (5-6) leg, the legs mirrored
PARENTS = np.array([-1, 0, 1, 0, 3, 0, 5])
RIG = Rig.from_parents("body", [f"j{k}" for k in range(7)], PARENTS)
MIRROR = np.array([0, 1, 2, 5, 6, 3, 4])
# where the tensor code runs in these tests: the CPU, and a GPU where there is one
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
ALL = torch.ones(6, dtype=torch.bool)


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
    before = c.xyz.numpy().copy()
    changed = morph(c, ALL, (0.5, 2.0), Draws(rng))
    assert changed.all()
    after = c.xyz.numpy()
    ratio = bones(after) / bones(before)  # (B, T, 6): one factor per bone, constant over time
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-5) and ((ratio > 0.5 - 1e-5) & (ratio < 2 + 1e-5)).all()
    left, right = ratio[..., 2:4], ratio[..., 4:6]  # bones into joints 3, 4 and 5, 6
    assert np.allclose(left, right, rtol=1e-5) and np.allclose(ratio[..., 0], ratio[..., 1], rtol=1e-5)
    d0 = (before[..., 4, :] - before[..., 3, :]) / bones(before)[..., 3:4]
    d1 = (after[..., 4, :] - after[..., 3, :]) / bones(after)[..., 3:4]
    assert np.allclose(d0, d1, atol=1e-5)  # only lengths change
    np.testing.assert_array_equal(after[..., 0, :], before[..., 0, :])  # the root stays
    flat = _Clips.of(batch(rng, parents=np.full(7, -1)))
    assert not morph(flat, ALL, (0.5, 2.0), Draws(rng)).any()  # no tree (a chair): nothing to scale


def test_morph_loses_the_joints_below_a_joint_without_3d(rng):
    c = _Clips.of(batch(rng))
    c.xyz[0, 0, 3] = torch.nan  # the left hip of item 0: its knee (4) has nothing to hang from
    morph(c, ALL, (0.5, 2.0), Draws(rng))
    lost = torch.isnan(c.xyz[0, 0]).any(-1)
    assert lost.tolist() == [False, False, False, True, True, False, False]
    assert torch.isfinite(c.xyz[1:]).all()


def test_reprojection_is_a_rigid_move_seen_through_a_pinhole(rng):
    c = _Clips.of(batch(rng, T=3))
    before = c.xyz.numpy().copy()
    reproject(c, ALL, AugmentConfig(weak_projection=0.0), Draws(rng))
    xyz, uv = c.xyz.numpy(), c.uv.numpy()
    d = lambda x: np.linalg.norm(x[..., :, None, :] - x[..., None, :, :], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(xyz), d(before), atol=1e-4)
    np.testing.assert_allclose(uv, 1000 * xyz[..., :2] / xyz[..., 2:] + 500, rtol=1e-5, atol=1e-3)
    assert (xyz[..., 2] > 0).all() and c.visible.all()


@pytest.mark.parametrize("weak", [False, True])
def test_the_new_cameras_are_the_pinhole_cameras_of_the_geometry_module(rng, weak):
    """view_through (the re-projection's camera, on any device) against Camera.project (numpy), one camera each."""
    B, T = 4, 3
    xyz = torch.tensor(rng.normal(size=(B, T, 7, 3)), dtype=torch.float64)
    seen = torch.ones(B, T, 7, dtype=torch.bool)
    angles = [torch.tensor(rng.uniform(-np.pi, np.pi, B)) for _ in range(3)]
    R = camera_rotation(*angles)
    distance = torch.tensor(rng.uniform(3, 10, B))
    cam, uv, in_front, size = view_through(xyz, seen, R, distance, torch.full((B,), weak))
    for b in range(B):
        pts = xyz[b].numpy()
        centre = pts.reshape(-1, 3).mean(0)
        assert size[b] == pytest.approx(np.sqrt(((pts - centre) ** 2).sum(-1).mean()))
        Rb = R[b].numpy()
        t = -Rb @ centre + np.array([0.0, 0.0, float(distance[b] * size[b])])
        camera = Camera(K=intrinsics(FOCAL, (FOCAL, FOCAL)), R=Rb, t=t, image_size=(1000, 1000))
        np.testing.assert_allclose(cam[b].numpy(), camera.to_camera(pts), atol=1e-9)
        expected = camera.project(pts, "weak" if weak else "perspective")
        np.testing.assert_allclose(uv[b].numpy(), expected, rtol=1e-9, atol=1e-6)
    assert in_front.all()
    np.testing.assert_allclose((R @ R.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(3), (B, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(torch.linalg.det(R).numpy(), 1.0)


def test_the_camera_turns_about_the_vertical_then_tilts_then_rolls():
    quarter = torch.tensor([np.pi / 2])
    zero = torch.zeros(1)
    x, y, z = torch.eye(3, dtype=torch.float32)
    turn = camera_rotation(quarter, zero, zero)[0]
    torch.testing.assert_close(turn @ y, y)  # the vertical axis stays
    torch.testing.assert_close(turn @ x, -z)
    tilt = camera_rotation(zero, quarter, zero)[0]
    torch.testing.assert_close(tilt @ x, x)
    roll = camera_rotation(zero, zero, quarter)[0]
    torch.testing.assert_close(roll @ z, z)  # a roll keeps the optical axis


def test_points_behind_the_camera_are_hidden_and_items_without_3d_are_left_alone(rng):
    c = _Clips.of(batch(rng, B=3))
    c.xyz[1] = torch.nan  # no 3D: nothing to see it from
    c.xyz[2, 0, 2:] = torch.nan  # two points: enough
    before_uv = c.uv.clone()
    reproject(c, torch.ones(3, dtype=torch.bool), AugmentConfig(distance=[0.2, 0.2]), Draws(rng))
    torch.testing.assert_close(c.uv[1], before_uv[1])
    assert c.visible[2, 0, :2].any() and not c.visible[2, 0, 2:].any()
    # a camera 0.2 object sizes away has points behind it: hidden, with no 2D, but their 3D is kept
    behind = ~c.visible[0] & torch.isfinite(c.xyz[0]).all(-1)
    assert behind.any() and torch.isnan(c.uv[0][behind]).all()


def test_dropped_joints_leave_a_connected_sub_skeleton(rng):
    for _ in range(20):
        c = _Clips.of(batch(rng))
        drop_joints(c, ALL, 0.5, Draws(rng))
        exists, adjacency, xyz = c.exists.numpy(), c.adjacency.numpy(), c.xyz.numpy()
        for b in range(6):
            kept = np.flatnonzero(exists[b])
            assert 3 <= len(kept) <= 7 and np.isnan(xyz[b][:, ~exists[b]]).all()
            assert not adjacency[b][~exists[b]].any()  # a dropped joint is like padding
            adj = adjacency[b][np.ix_(kept, kept)]
            reach = adj.copy()
            for _ in range(7):
                reach = reach | ((reach.astype(int) @ adj.astype(int)) > 0)
            assert reach.all()  # still one graph: edges bridge the joints that went
    dropped = torch.zeros(1, 7, dtype=torch.bool)
    dropped[0, 1] = True  # the spine's middle joint gone: its ends are joined directly, and it joins nothing
    bridged = _bridged(torch.from_numpy(RIG.adjacency())[None], dropped)[0]
    assert bridged[0, 2] and bridged[2, 0] and not bridged[1].any() and not bridged[0, 4]
    chain = torch.from_numpy(Rig.from_parents("chain", list("abcdef"), [-1, 0, 1, 2, 3, 4]).adjacency())
    dropped = torch.tensor([[False, True, True, True, True, False]])  # a long run of dropped joints
    bridged = _bridged(chain[None], dropped)[0]
    assert bridged[0, 5] and bridged[5, 0] and bridged[0, 0] and not bridged[2].any()
    one = _bridged(chain.numpy(), dropped[0].numpy())  # one graph in numpy (benchmarks/rig_subsets.py)
    np.testing.assert_array_equal(one, bridged.numpy())


def test_joints_go_as_whole_limbs_or_one_by_one_up_to_the_share_asked(rng):
    gone = []
    for _ in range(30):
        c = _Clips.of(batch(rng, B=20))
        drop_joints(c, torch.ones(20, dtype=torch.bool), 0.5, Draws(rng))
        gone.append(~c.exists.numpy())
    gone = np.concatenate(gone)
    assert set(gone.sum(1)) == {0, 1, 2, 3}  # at most half of the 7 joints
    whole = gone[:, 3] & gone[:, 4]  # a leg, hip and knee together
    assert whole.sum() > (gone[:, 3] & ~gone[:, 4]).sum()  # more often than a hip alone: limbs go whole
    assert (gone[:, 4] & ~gone[:, 3]).any()  # a knee alone: single joints


def test_virtual_joints_sit_on_bones(rng):
    c = _Clips.of(batch(rng, T=2))
    assert add_virtual_joints(c, ALL, 2, Draws(rng)).all()
    assert c.xyz.shape[2] == 9 and c.adjacency.shape[1:] == (9, 9)
    xyz, adjacency, exists = c.xyz.numpy(), c.adjacency.numpy(), c.exists.numpy()
    assert exists[:, 7:].any(1).all() and (adjacency[:, 7:, 7:] == np.eye(2, dtype=bool)).all()
    for b in range(6):
        for v in np.flatnonzero(exists[b, 7:]) + 7:
            a, e = [j for j in np.flatnonzero(adjacency[b, v]) if j != v]
            assert adjacency[b, a, e] and adjacency[b, a, v] and adjacency[b, e, v]  # on one of the rig's bones
            along = np.cross(xyz[b, :, v] - xyz[b, :, a], xyz[b, :, e] - xyz[b, :, a])
            assert np.allclose(along, 0, atol=1e-4)  # on the segment's line
            t = np.linalg.norm(xyz[b, :, v] - xyz[b, :, a], axis=-1) / np.linalg.norm(
                xyz[b, :, e] - xyz[b, :, a], axis=-1
            )
            assert ((t >= 0.25 - 1e-5) & (t <= 0.75 + 1e-5)).all()
        for v in np.flatnonzero(~exists[b, 7:]) + 7:
            assert np.isnan(xyz[b, :, v]).all() and adjacency[b, v].sum() == 1


@pytest.mark.parametrize("T", [None, 5])
@pytest.mark.parametrize("device", DEVICES)
def test_augment_keeps_the_batch_contract(rng, T, device):
    cfg = AugmentConfig(reproject=0.5, morph=0.5, drop_joints=0.5, virtual_joints=0.5, noise_2d=0.02, outliers_2d=0.1)
    source = rng if device == "cpu" else torch.Generator(device).manual_seed(0)
    out = augment(batch(rng, T=T).to(device), cfg, source)
    lead = (6,) if T is None else (6, T)
    J = out.exists.shape[1]
    assert out.points2d.shape == (*lead, J, 2) and out.target.shape == (*lead, J, 3) and J == 7 + cfg.virtual_max
    assert out.points2d.dtype == out.target.dtype == torch.float32 and out.points2d.device.type == device
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
    before = clips.uv.numpy().copy()
    size = np.linalg.norm(before.max((1, 2)) - before.min((1, 2)), axis=-1)
    detector_noise(clips, 0.05, 0.0, Draws(rng))
    moved = np.abs(clips.uv.numpy() - before).reshape(4, -1).std(1) / size
    assert np.all(moved[:3] <= 0.05) and np.all(moved[:3] > 0) and moved[3] == 0
    clips.uv = torch.from_numpy(before.copy())
    detector_noise(clips, 0.0, 1.0, Draws(rng))  # every seen point thrown
    lo, hi = before[:3].min((1, 2)), before[:3].max((1, 2))
    margin = 0.2 * (hi - lo)
    uv = clips.uv.numpy()[:3]
    assert np.all(uv >= (lo - margin)[:, None, None]) and np.all(uv <= (hi + margin)[:, None, None])
    assert not np.allclose(uv, before[:3]) and np.array_equal(clips.uv.numpy()[3], before[3])


def test_rotation_of_the_2d_turns_each_item_about_its_visible_centroid(rng):
    b = batch(rng, B=5, T=3)
    b.visible[:, :, 5:] = False
    b.points2d[:, :, 6] = torch.nan
    angle, scale = torch.tensor(rng.uniform(-1, 1, 5)), torch.tensor(rng.uniform(0.8, 1.2, 5))
    out = turn_2d(b.points2d, b.visible, angle, scale).numpy()
    for i in range(5):  # the same rotation in numpy, one item at a time
        uv = b.points2d[i].numpy().reshape(-1, 2).astype(float)
        centre = uv[b.visible[i].numpy().reshape(-1)].mean(0)
        c, s = np.cos(float(angle[i])), np.sin(float(angle[i]))
        expected = (uv - centre) @ (float(scale[i]) * np.array([[c, -s], [s, c]])).T + centre
        np.testing.assert_allclose(out[i].reshape(-1, 2), expected, rtol=1e-5, atol=1e-2)
    assert np.isnan(out[:, :, 6]).all()


@pytest.mark.parametrize("device", DEVICES)
def test_random_occlusion_and_rotation_are_alike_from_either_generator(rng, device):
    b = batch(rng, B=400, T=4).to(device)
    numpy_made = occlude(b.to("cpu"), 0.3, rng)
    torch_made = occlude(b, 0.3, torch.Generator(device).manual_seed(1))
    # 7 points each kept with chance 0.7; a frame left with fewer than 3 keeps all 7
    kept = [math.comb(7, k) * 0.7**k * 0.3 ** (7 - k) for k in range(8)]
    expected = sum(p * (k if k >= 3 else 7) for k, p in enumerate(kept)) / 7
    for out in (numpy_made, torch_made):
        assert out.visible.float().mean().item() == pytest.approx(expected, abs=0.015)
        assert out.visible.sum(-1).min() >= 3  # never fewer than three points left in a frame
    spread = []
    for source, where in ((rng, "cpu"), (torch.Generator(device).manual_seed(2), device)):
        out = rotate_scale_2d(b.to(where), 30.0, 0.2, source)
        before, after = b.points2d.cpu().numpy(), out.points2d.cpu().numpy()
        ratio = np.linalg.norm(after[:, 0, 1] - after[:, 0, 0], axis=-1) / np.linalg.norm(
            before[:, 0, 1] - before[:, 0, 0], axis=-1
        )
        assert ((ratio > 0.8 - 1e-4) & (ratio < 1.2 + 1e-4)).all()
        spread.append(ratio.std())
    assert spread[0] == pytest.approx(spread[1], rel=0.2)  # uniform scales from either: std 0.4 / sqrt(12)
