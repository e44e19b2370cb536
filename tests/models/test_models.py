import pytest
import torch

from lfmcli.config import MODEL_PRESETS, ModelConfig
from lfmcli.errors import LfmError
from lfmcli.geometry.procrustes import procrustes_loss
from lfmcli.models import build_model, flat_lift
from lfmcli.rigs import get_rig


def built(cfg: ModelConfig):
    """The model of ``cfg`` with a random last decoder layer (a residual model starts at zero: the flat lift, which
    would pass any equivariance test trivially)."""
    model = build_model(cfg)
    torch.nn.init.normal_(model.decode[-1].weight, std=0.3)
    return model.eval()


def inputs(B=3, J=17, T=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (B, J) if T is None else (B, T, J)
    pts = torch.rand(*shape, 2, generator=g) * 500
    visible = torch.rand(*shape, generator=g) > 0.2
    exists = torch.ones(B, J, dtype=torch.bool)
    adj = torch.as_tensor(get_rig("h36m_17").adjacency()).expand(B, J, J).clone()
    return pts, visible, exists, adj


def flat_of(points2d, visible):
    """The flat lift of model inputs, frames (B, J, 2) or clips (B, T, J, 2), in the models' output shape."""
    clips = points2d.dim() == 4
    flat = flat_lift(points2d if clips else points2d[:, None], visible if clips else visible[:, None])
    return flat.reshape(*points2d.shape[:-1], 3)


@pytest.mark.parametrize("kind", ["lfm", "spacetime"])
@pytest.mark.parametrize("attention", ["hybrid", "local", "global"])
@pytest.mark.parametrize("output", ["residual", "depth", "shape"])
def test_permuting_joints_permutes_the_output(kind, attention, output):
    torch.manual_seed(0)
    cfg = ModelConfig(kind=kind, dim=32, heads=4, layers=2, motion_layers=1, attention=attention, output=output)
    model = built(cfg)
    pts, vis, exists, adj = inputs(T=None if kind == "lfm" else 6)
    perm = torch.randperm(17)
    out = model(pts, vis, exists, adj)
    permuted = model(pts[..., perm, :], vis[..., perm], exists[:, perm], adj[:, perm][:, :, perm])
    torch.testing.assert_close(permuted, out[..., perm, :], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["lfm", "spacetime"])
def test_padding_and_hidden_points_do_not_influence_visible_joints(kind):
    torch.manual_seed(0)
    model = built(ModelConfig(kind=kind, dim=32, heads=4, layers=2, motion_layers=1))
    T = None if kind == "lfm" else 5
    pts, vis, exists, adj = inputs(T=T)
    out = model(pts, vis, exists, adj)
    # pad to 24 joints with garbage coordinates, marked absent
    pad = 7
    g = torch.Generator().manual_seed(1)
    extra = torch.rand(*pts.shape[:-2], pad, 2, generator=g) * 1e4
    pts2 = torch.cat([pts, extra], -2)
    vis2 = torch.cat([vis, torch.ones(*vis.shape[:-1], pad, dtype=torch.bool)], -1)
    exists2 = torch.cat([exists, torch.zeros(3, pad, dtype=torch.bool)], -1)
    adj2 = torch.zeros(3, 24, 24, dtype=torch.bool)
    adj2[:, :17, :17] = adj
    adj2[:, 17:, :] = True  # even wired to everything, absent joints must not matter
    adj2[:, :, 17:] = True
    out2 = model(pts2, vis2, exists2, adj2)
    torch.testing.assert_close(out2[..., :17, :], out, atol=1e-5, rtol=1e-4)
    # moving a hidden point's 2D changes nothing either
    hidden = ~vis
    pts3 = torch.where(hidden[..., None], pts + 1e3, pts)
    torch.testing.assert_close(model(pts3, vis, exists, adj), out, atol=1e-5, rtol=1e-4)


def test_translation_and_scale_of_2d_do_not_matter():
    model = built(ModelConfig(dim=32, heads=4, layers=2))
    pts, vis, exists, adj = inputs()
    torch.testing.assert_close(
        model(pts * 3 + 100, vis, exists, adj), model(pts, vis, exists, adj), atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("output", ["residual", "depth"])
@pytest.mark.parametrize("kind", ["lfm", "spacetime"])
def test_an_untrained_residual_or_depth_model_is_the_flat_lift(kind, output):
    model = build_model(ModelConfig(kind=kind, dim=32, heads=4, layers=2, motion_layers=1, output=output)).eval()
    pts, vis, exists, adj = inputs(T=None if kind == "lfm" else 4)
    flat = flat_of(pts, vis)
    torch.testing.assert_close(model(pts, vis, exists, adj), flat)
    shape = build_model(ModelConfig(kind=kind, dim=32, heads=4, layers=2, motion_layers=1, output="shape"))
    assert not torch.allclose(shape.eval()(pts, vis, exists, adj), flat, atol=1e-2)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"heads": 3}, "model.heads.*must divide"),
        ({"output": "points"}, "model.output.*residual, depth, shape"),
        ({"attention": "both"}, "model.attention"),
        ({"dim": 0}, "model.dim.*at least 1"),
        ({"motion_layers": -1}, "model.motion_layers"),
    ],
)
def test_model_settings_are_checked_when_read(settings, message):
    with pytest.raises(LfmError, match=message):
        ModelConfig.from_dict(settings)


@pytest.mark.parametrize("kind", ["lfm", "spacetime"])
def test_a_depth_model_keeps_the_2d_of_seen_joints_and_places_hidden_ones(kind):
    torch.manual_seed(0)
    model = built(ModelConfig(kind=kind, dim=32, heads=4, layers=2, motion_layers=1, output="depth"))
    pts, vis, exists, adj = inputs(T=None if kind == "lfm" else 4)
    out = model(pts, vis, exists, adj)
    flat = flat_of(pts, vis)
    torch.testing.assert_close(out[vis][:, :2], flat[vis][:, :2])  # seen: the 2D as it is, with a depth
    assert out[vis][:, 2].abs().min() > 0
    assert (out[~vis][:, :2] - flat[~vis][:, :2]).abs().amin(-1).min() > 0  # hidden: placed by the model


def test_no_visible_points_gives_finite_output():
    model = build_model(ModelConfig(kind="spacetime", dim=32, heads=4, layers=1, motion_layers=1))
    pts, vis, exists, adj = inputs(T=4)
    out = model(pts, torch.zeros_like(vis), exists, adj)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("encoding", ["fourier", "mlp"])
def test_overfits_a_tiny_batch(encoding):
    torch.manual_seed(0)
    model = build_model(ModelConfig(dim=64, heads=4, layers=2, encoding=encoding))
    B, J = 4, 17
    target = torch.randn(B, J, 3)
    # a perspective-ish view of the target as input
    pts = target[..., :2] / (target[..., 2:] + 6) * 800
    vis = torch.ones(B, J, dtype=torch.bool)
    exists = torch.ones(B, J, dtype=torch.bool)
    adj = torch.as_tensor(get_rig("h36m_17").adjacency()).expand(B, J, J)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = procrustes_loss(model(pts, vis, exists, adj), target, vis).item()
    for _ in range(400):
        opt.zero_grad()
        loss = procrustes_loss(model(pts, vis, exists, adj), target, vis)
        loss.backward()
        opt.step()
    assert loss.item() < 0.02 * start


def test_presets_build():
    for kind, presets in MODEL_PRESETS.items():
        for name, preset in presets.items():
            if name in ("paper", "large"):
                continue
            assert build_model(ModelConfig(kind=kind, **preset)) is not None
    with pytest.raises(LfmError, match="unknown config key .model.dims."):
        ModelConfig.from_dict({"dims": 3})


def test_spacetime_overfits_a_tiny_batch():
    from lfmcli.geometry.procrustes import sequence_align, velocity_loss

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="spacetime", dim=64, heads=4, layers=2, motion_layers=1, window=2))
    B, T, J = 2, 6, 17
    base = torch.randn(B, 1, J, 3)
    target = base + 0.05 * torch.cumsum(torch.randn(B, T, J, 3), 1)
    pts = target[..., :2] / (target[..., 2:] + 6) * 800
    vis = torch.ones(B, T, J, dtype=torch.bool)
    exists = torch.ones(B, J, dtype=torch.bool)
    adj = torch.as_tensor(get_rig("h36m_17").adjacency()).expand(B, J, J)

    def loss_fn():
        pred = model(pts, vis, exists, adj)
        frame = procrustes_loss(pred.reshape(B * T, J, 3), target.reshape(B * T, J, 3), vis.reshape(B * T, J))
        return frame + velocity_loss(sequence_align(pred, target, vis), target, vis)

    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = loss_fn().item()
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * start


def test_spacetime_lifts_a_single_frame_as_its_single_frame_model():
    cfg = dict(dim=32, heads=4, layers=2, seed=3)
    still = built(ModelConfig(kind="lfm", **cfg))
    moving = build_model(ModelConfig(kind="spacetime", motion_layers=1, **cfg)).eval()
    theirs = still.state_dict()  # as training.init copies them: the Fourier rows of x and y are drawn alike
    ours = {k: theirs[k] if k in theirs and theirs[k].shape == v.shape else v for k, v in moving.state_dict().items()}
    moving.load_state_dict(ours)
    for p in moving.motion.parameters():  # trained temporal layers: no longer the identity
        torch.nn.init.normal_(p, std=0.3)
    pts, visible, exists, adj = inputs()
    with torch.no_grad():
        one = moving(pts[:, None], visible[:, None], exists, adj)[:, 0]
        clip = moving(pts[:, None].expand(-1, 4, -1, -1), visible[:, None].expand(-1, 4, -1), exists, adj)
        torch.testing.assert_close(one, still(pts, visible, exists, adj))
        assert not torch.allclose(clip[:, 0], one, atol=1e-3)  # a clip does go through them
