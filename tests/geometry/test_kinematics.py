import numpy as np
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from lfmcli.geometry.kinematics import forward_kinematics, rodrigues

angles = st.floats(-np.pi, np.pi)


def test_rodrigues_matches_scipy_and_is_a_rotation(rng):
    aa = rng.normal(size=(100, 3)) * 2
    aa[0] = 0
    R = rodrigues(aa)
    assert np.allclose(R, Rotation.from_rotvec(aa).as_matrix(), atol=1e-10)
    assert np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3), atol=1e-10)
    assert np.allclose(np.linalg.det(R), 1)


def test_forward_kinematics_keeps_bone_lengths_and_matches_a_hand_case(rng):
    parents = [-1, 0, 1, 1]
    offsets = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3.0]])
    rot = rng.normal(size=(20, 4, 3))
    root = rng.normal(size=(20, 3))
    pos = forward_kinematics(rot, offsets, parents, root)
    for j, p in enumerate(parents):
        if p >= 0:
            assert np.allclose(np.linalg.norm(pos[:, j] - pos[:, p], axis=-1), np.linalg.norm(offsets[j]))
    # a quarter turn about z at the root swings the first bone from +x to +y
    rot = np.zeros((1, 4, 3))
    rot[0, 0, 2] = np.pi / 2
    pos = forward_kinematics(rot, offsets, parents, np.zeros((1, 3)))
    assert np.allclose(pos[0, 1], [0, 1, 0])
    assert np.allclose(pos[0, 2], [-2, 1, 0])


def test_rodrigues_torch_matches_numpy_and_has_finite_gradient_at_zero(rng):
    import torch

    from lfmcli.geometry.kinematics import rodrigues_torch

    aa = rng.normal(size=(50, 3))
    aa[0] = 0
    np.testing.assert_allclose(rodrigues_torch(torch.tensor(aa)).numpy(), rodrigues(aa), atol=1e-10)
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    rodrigues_torch(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_ik_makes_bones_constant_and_fits_the_markers(rng):
    from lfmcli.geometry.kinematics import bone_offsets, initial_rotations, refine_bone_lengths

    parents = [-1, 0, 1, 2, 1, 4, 0, 6]
    offsets = np.array(
        [[0, 0, 0], [0, 1, 0], [0.5, 0.8, 0], [0, 0.6, 0], [-0.5, 0.8, 0], [0, 0.6, 0], [0, -1, 0], [0, -0.9, 0.1]]
    )
    t = np.linspace(0, 2 * np.pi, 40)
    rot = np.zeros((40, 8, 3))
    rot[:, :, 2] = 0.5 * np.sin(t)[:, None]
    rot[:, 0, 1] = t
    clean = np.concatenate(
        [
            forward_kinematics(rot, offsets, parents, np.zeros((40, 3))),
            forward_kinematics(-rot, offsets * 1.3, parents, np.ones((40, 3))),
        ]
    )
    # the analytic start already reproduces clean data exactly
    rest = np.concatenate(
        [np.repeat(bone_offsets(clean[:1], parents), 40, 0), np.repeat(bone_offsets(clean[40:41], parents), 40, 0)]
    )
    start = initial_rotations(clean, rest, parents)
    fk = np.concatenate(
        [
            forward_kinematics(start[:40], rest[0], parents, clean[:40, 0]),
            forward_kinematics(start[40:], rest[40], parents, clean[40:, 0]),
        ]
    )
    np.testing.assert_allclose(fk, clean, atol=1e-6)
    # markers whose bones stretch and jitter: refinement makes bones rigid and stays close
    markers = clean * (1 + 0.05 * np.sin(3 * np.arange(80)))[:, None, None] + rng.normal(size=clean.shape) * 0.01
    out, report = refine_bone_lengths(markers, parents, [0, 40], steps=150, smooth_weight=0.05)
    for a, b in ((0, 40), (40, 80)):
        lengths = np.linalg.norm(bone_offsets(out[a:b], parents), axis=-1)[:, 1:]
        assert (lengths.std(0) / lengths.mean(0)).max() < 1e-3
    assert (report["rms_after"] < report["rms_before"]).all()
    assert np.sqrt(((out - clean) ** 2).sum(-1).mean()) < np.sqrt(((markers - clean) ** 2).sum(-1).mean()) * 1.5
