import json

import numpy as np
import pytest
import torch

from lfmcli.checkpoint import load_checkpoint, save_checkpoint
from lfmcli.config import ModelConfig
from lfmcli.data.format import DatasetWriter
from lfmcli.geometry.cameras import Camera, intrinsics
from lfmcli.models import build_model
from lfmcli.rigs import Rig
from lfmcli.sequence import Sequence, View

SQUARE = np.array([[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]])
SQUARE_RIG = Rig.from_dict({"name": "square", "joints": list("abcd"), "edges": [["a", "b"], ["b", "c"], ["c", "d"]]})


@pytest.fixture
def fixture(tmp_path):
    """A square facing the camera, growing from side 2 to 10 while sliding 1 unit per frame along x (5 frames),
    plus a static chair."""
    cam = Camera(intrinsics(100, (640, 480)), np.eye(3), np.array([0, 0, 10.0]), (640, 480))
    moving = np.stack([SQUARE * (k + 1) + [k, 0, 0] for k in range(5)]).astype(np.float32)
    path = tmp_path / "square.h5"
    with DatasetWriter(path) as w:
        for name, points, fps, category in (
            ("slide", moving, 30.0, "square"),
            ("chair/0", moving[:1] * [1, 2, 1], 0.0, "chair"),
        ):
            seq = Sequence(name=name, category=category, rig=SQUARE_RIG, points3d=points, fps=fps, split="test")
            seq.views = [View(cam, cam.project(points).astype(np.float32), np.ones(points.shape[:2], bool))]
            w.add(seq)
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, heads=4, layers=1)
    ckpt = tmp_path / "model.safetensors"
    save_checkpoint(ckpt, build_model(cfg), cfg, {"window": 5})
    return path, ckpt, moving, cam


def numpy_pa_mpjpe(pred, target):
    """Independent similarity Procrustes (Umeyama) for the test."""
    p, g = pred - pred.mean(0), target - target.mean(0)
    u, s, vt = np.linalg.svd(g.T @ p)
    d = np.diag([1, 1, np.sign(np.linalg.det(u @ vt))])
    R = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / (p**2).sum()
    return np.linalg.norm(scale * p @ R.T - g, axis=1).mean()


def test_eval_json_reproduces_hand_checked_values(cli, fixture):
    path, ckpt, moving, cam = fixture
    r = cli(
        "eval",
        ckpt,
        path,
        "--metric",
        "pa-mpjpe",
        "--metric",
        "sa-mpjpe",
        "--metric",
        "mpjpe",
        "--metric",
        "pa-mpjpe%",
        "--baseline",
        "flat",
        "--json",
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    base = out["baseline"]
    # the flat lift of a fronto-parallel square is that square: no error per frame after alignment...
    assert base["categories"]["square"]["pa-mpjpe"] == pytest.approx(0, abs=1e-6)
    # mpjpe aligns nothing: the flat lift keeps the first frame's size, off by k sqrt(2) in frame k (mean 2 sqrt(2))
    assert base["categories"]["square"]["mpjpe"] == pytest.approx(2 * np.sqrt(2), abs=1e-6)
    # ...but each frame is normalised to the same size, so against the growing truth (sizes 1..5 times the square)
    # the one alignment scales by 3 and leaves |k - 3| sqrt(2) per frame: 1.2 sqrt(2); sliding does not count
    assert base["categories"]["square"]["sa-mpjpe"] == pytest.approx(1.2 * np.sqrt(2), abs=1e-6)
    # the stretched chair is seen as a 1x2 rectangle: the flat lift is exact again
    assert base["categories"]["chair"]["pa-mpjpe"] == pytest.approx(0, abs=1e-6)
    assert "sa-mpjpe" not in out["categories"]["chair"] and out["categories"]["chair"]["frames"] == 1
    assert out["overall"]["frames"] == 6
    # the model's figures, recomputed here independently
    model = load_checkpoint(ckpt).model
    uv = torch.tensor(cam.project(moving), dtype=torch.float32)
    chain = np.eye(4, dtype=bool) | np.eye(4, k=1, dtype=bool) | np.eye(4, k=-1, dtype=bool)  # the rig a-b-c-d
    adjacency = torch.tensor(chain).expand(5, 4, 4)
    with torch.no_grad():
        pred = model(
            uv,
            torch.ones(5, 4, dtype=torch.bool),
            torch.ones(5, 4, dtype=torch.bool),
            adjacency,
        ).numpy()
    errors = np.array([numpy_pa_mpjpe(pred[k], moving[k]) for k in range(5)])
    assert out["categories"]["square"]["pa-mpjpe"] == pytest.approx(errors.mean(), rel=1e-4)
    radius = np.sqrt(((SQUARE - SQUARE.mean(0)) ** 2).sum(1).mean()) * np.arange(1, 6)
    assert out["categories"]["square"]["pa-mpjpe%"] == pytest.approx(np.mean(100 * errors / radius), rel=1e-4)


def test_eval_options_and_errors(cli, fixture):
    path, ckpt, *_ = fixture
    run = lambda *a: cli("eval", ckpt, path, "--json", "--device", "cpu", *a)  # noqa: E731
    only = json.loads(run("--categories", "chair").stdout)
    assert list(only["categories"]) == ["chair"] and only["overall"]["frames"] == 1
    without = json.loads(run("--exclude-categories", "chair").stdout)
    assert list(without["categories"]) == ["square"]
    for both in (["--categories", "chair,square"], ["--categories", "chair", "--categories", "square"]):
        assert sorted(json.loads(run(*both).stdout)["categories"]) == ["chair", "square"]
    a, b = (json.loads(run("--occlude", "0.5", "--seed", "3").stdout) for _ in range(2))
    assert a["overall"] == b["overall"]
    per = json.loads(run("--per-sequence").stdout)
    assert set(per["sequences"]) == {"slide#0", "chair/0#0"}
    assert run("--metric", "nope").exit_code == 1
    r = run("--split", "train")
    assert r.exit_code == 1 and "no sequences in split 'train'" in r.stderr
    r = cli("eval", path, path, "--device", "cpu")
    assert r.exit_code == 1 and "not an lfm checkpoint" in r.stderr


def test_split_all_evaluates_every_split(cli, fixture, tmp_path):
    path, ckpt, moving, cam = fixture
    trained = tmp_path / "trained.h5"
    with DatasetWriter(trained) as w:
        seq = Sequence(name="seen", category="square", rig=SQUARE_RIG, points3d=moving, fps=30.0, split="train")
        seq.views = [View(cam, cam.project(moving).astype(np.float32), np.ones(moving.shape[:2], bool))]
        w.add(seq)
    frames = lambda *a: json.loads(cli("eval", ckpt, path, trained, "--json", *a).stdout)["overall"]["frames"]  # noqa: E731
    assert (frames(), frames("--split", "train"), frames("--split", "all")) == (6, 5, 11)


def test_reprojection_error_needs_no_3d(cli, fixture, tmp_path):
    """j2d alone evaluates 2D-only data; the flat lift, normalised per frame, misses the square's slide and growth."""
    _, ckpt, moving, cam = fixture
    uv = cam.project(moving).astype(np.float32)
    path = tmp_path / "flat.h5"
    with DatasetWriter(path) as w:
        seq = Sequence("slide", "square", SQUARE_RIG, np.full(moving.shape, np.nan, np.float32), fps=30.0, split="test")
        seq.views = [View(cam, uv, np.ones(uv.shape[:2], bool), kind="real")]
        w.add(seq)
    r = cli("eval", ckpt, path, "--metric", "j2d", "--metric", "j2d-centred", "--baseline", "flat", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    # lfm's lifters give a shape up to rotation: nothing to compare with the input view, and a note says so
    assert out["overall"] == {"frames": 5} and any("up to rotation" in n for n in out["notes"])
    # the flat lift is the same unit square every frame: one scale (least squares) and one shift fit the 2D
    flat = np.stack([u - u.mean(0) for u in uv])
    flat /= np.abs(flat).max((1, 2), keepdims=True)
    for name, g in (("j2d", uv - uv.mean((0, 1))), ("j2d-centred", uv - uv.mean(1, keepdims=True))):
        p = flat if name == "j2d-centred" else flat - flat.mean((0, 1))
        s = (p * g).sum() / (p * p).sum()
        expected = np.linalg.norm(s * p - g, axis=-1).mean()
        assert out["baseline"]["overall"][name] == pytest.approx(expected, rel=1e-4)
    r = cli("eval", ckpt, path, "--metric", "j2d", "--metric", "mpjpe")
    assert r.exit_code == 1 and "with 3D" in r.stderr


def test_a_depth_model_is_seen_from_the_input_camera(cli, fixture, tmp_path):
    """A depth model keeps the 2D of every seen joint, so its reprojection error is the flat lift's, whatever it
    learned of depth."""
    path = fixture[0]
    cfg = ModelConfig(dim=32, heads=4, layers=1, output="depth")
    model = build_model(cfg)
    torch.nn.init.normal_(model.decode[-1].weight)  # a trained-looking model: depths and in-plane outputs not 0
    ckpt = tmp_path / "depth.safetensors"
    save_checkpoint(ckpt, model, cfg, {"window": 5})
    r = cli("eval", ckpt, path, "--metric", "j2d", "--metric", "pa-mpjpe", "--baseline", "flat", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["overall"]["j2d"] == pytest.approx(out["baseline"]["overall"]["j2d"], rel=1e-5)
    assert out["overall"]["pa-mpjpe"] != pytest.approx(out["baseline"]["overall"]["pa-mpjpe"], rel=1e-3)
