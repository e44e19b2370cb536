from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lfmcli.cli.main import app

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
REAL_FILES = SHARED_DATA.parent / "fixtures" / "real"  # files as other projects published them (MANIFEST.md)


@pytest.fixture
def rng():
    return np.random.default_rng(42)


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the project in CI)")
    return SHARED_DATA


@pytest.fixture
def real_files():
    if not REAL_FILES.is_dir():
        pytest.skip(f"real files folder {REAL_FILES} is absent (it sits beside the project in CI)")
    return REAL_FILES


@pytest.fixture
def cli():
    runner = CliRunner()

    def run(*args, **kwargs):
        return runner.invoke(app, [str(a) for a in args], **kwargs)

    return run


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory):
    """A tiny single-frame and a tiny space-time checkpoint with random weights."""
    import torch

    from lfmcli.checkpoint import save_checkpoint
    from lfmcli.config import ModelConfig
    from lfmcli.models import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    cfg = ModelConfig(dim=32, heads=4, layers=1)
    save_checkpoint(path, build_model(cfg), cfg, {"window": 8})
    st = tmp_path_factory.mktemp("ckpt") / "st.safetensors"
    cfg = ModelConfig(kind="spacetime", dim=32, heads=4, layers=1, motion_layers=1)
    save_checkpoint(st, build_model(cfg), cfg, {"window": 8})
    return path, st


@pytest.fixture
def write_interchange():
    return _write_interchange


def _write_interchange(path: Path, points3d, joint_names, parents, *, fps=30.0, category="thing", up_axis="y", **extra):
    """An interchange .npz in the layout of ../shared/data/README.md."""
    np.savez_compressed(
        path,
        points3d=np.asarray(points3d, np.float32),
        joint_names=np.array(joint_names),
        parents=np.asarray(parents, np.int64),
        fps=np.float64(fps),
        category=np.str_(category),
        up_axis=np.str_(up_axis),
        source=np.str_("test fixture"),
        license=np.str_("test"),
        **extra,
    )
    return path
