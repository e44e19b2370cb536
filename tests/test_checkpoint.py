import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from lfmcli.checkpoint import load_checkpoint, save_checkpoint
from lfmcli.config import ModelConfig
from lfmcli.errors import LfmError
from lfmcli.models import build_model


def rewrite_metadata(src, dst, edit):
    from safetensors import safe_open

    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
    model = json.loads(meta["model"])
    edit(model)
    meta["model"] = json.dumps(model)
    save_file(load_file(str(src)), str(dst), metadata=meta)


def test_a_checkpoint_from_before_model_output_decodes_shapes(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, heads=4, layers=1, output="shape")
    model = build_model(cfg).eval()
    save_checkpoint(tmp_path / "new.safetensors", model, cfg, {})
    rewrite_metadata(tmp_path / "new.safetensors", tmp_path / "old.safetensors", lambda m: m.pop("output"))
    old = load_checkpoint(tmp_path / "old.safetensors")
    assert old.config.output == "shape"
    pts, vis = torch.rand(2, 5, 2) * 100, torch.ones(2, 5, dtype=torch.bool)
    adj = torch.eye(5, dtype=torch.bool).expand(2, 5, 5)
    torch.testing.assert_close(old.model(pts, vis, vis, adj), model(pts, vis, vis, adj))


@pytest.mark.parametrize(
    "edit", [lambda m: m.update(dim="wide"), lambda m: m.update(heads=5), lambda m: m.update(output="points")]
)
def test_edited_checkpoint_metadata_is_one_error(tmp_path, edit):
    cfg = ModelConfig(dim=32, heads=4, layers=1)
    save_checkpoint(tmp_path / "a.safetensors", build_model(cfg), cfg, {})
    rewrite_metadata(tmp_path / "a.safetensors", tmp_path / "b.safetensors", edit)
    with pytest.raises(LfmError, match="b.safetensors.*not an lfm checkpoint"):
        load_checkpoint(tmp_path / "b.safetensors")


def test_edited_metadata_is_one_error(ckpt, tmp_path):
    """A checkpoint whose metadata was edited by hand (a list for the model, a string for a size) is refused."""
    tensors = load_file(str(ckpt[0]))
    for model in ("[1, 2]", json.dumps({"kind": "lfm", "dim": "abc"}), "{not json"):
        bad = tmp_path / "edited.safetensors"
        save_file(tensors, str(bad), metadata={"model": model, "info": "{}"})
        with pytest.raises(LfmError, match="not an lfm checkpoint"):
            load_checkpoint(bad, "cpu")


def test_half_precision_checkpoints_are_half_the_size_and_load_as_float32(tmp_path):
    cfg = ModelConfig(kind="lfm", dim=32, heads=4, layers=2)
    model = build_model(cfg).eval()
    torch.nn.init.normal_(model.decode[-1].weight, std=0.3)
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    save_checkpoint(full, model, cfg, {})
    save_checkpoint(half, model, cfg, {}, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    stored = load_file(half)
    assert stored["encode.W"].dtype == torch.float32  # the fixed Fourier frequencies stay exact
    loaded = load_checkpoint(half).model
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    pts, vis = torch.rand(2, 10, 2) * 100, torch.ones(2, 10, dtype=torch.bool)
    adj = torch.eye(10, dtype=torch.bool).expand(2, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pts, vis, vis, adj), model(pts, vis, vis, adj), atol=2e-3, rtol=1e-2)


@pytest.mark.parametrize("window", ["eight", [8], 8.5, True, 0, None])
def test_a_stored_window_that_is_not_a_number_of_frames_is_one_error(tmp_path, window):
    cfg = ModelConfig(kind="spacetime", dim=32, heads=4, layers=1)
    save_checkpoint(tmp_path / "bad.safetensors", build_model(cfg), cfg, {"window": window})
    with pytest.raises(LfmError, match=r"bad.safetensors: .*window") as e:
        load_checkpoint(tmp_path / "bad.safetensors").window  # noqa: B018  (where the lifters read it)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("module", ["lfmcli.lift", "lfmcli.eval"])
def test_the_lift_and_eval_paths_load_an_mvlift_checkpoint(tmp_path, module):
    """MVLift's lifter registers its loader where it is defined; what lifts and evaluates imports it."""
    from lfmcli.mvlift.config import MVLiftConfig
    from lfmcli.mvlift.diffusion import MotionDenoiser
    from lfmcli.mvlift.runs import save_denoiser

    cfg = MVLiftConfig.from_dict({"model": {"dim": 16, "heads": 2, "layers": 1}})
    path = tmp_path / "multiview.safetensors"
    save_denoiser(path, MotionDenoiser(16, 2, 1, views=4), cfg, "multiview", {"views": 4, "window": 8})
    code = f"import {module}; from lfmcli.checkpoint import load_checkpoint as f; print(f({str(path)!r}).kind)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "mvlift", done.stderr
