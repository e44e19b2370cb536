"""The packaged default models and the example inputs."""

import json
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WEIGHTS = Path(__file__).resolve().parent.parent / "lfmcli" / "weights"
pytestmark = pytest.mark.skipif(
    not (WEIGHTS / "default_spacetime.safetensors").exists(),
    reason="the default models are not built (make default-model)",
)


def test_packaged_models_are_listed_and_small(cli):
    r = cli("models", "list", "--json")
    assert r.exit_code == 0
    models = json.loads(r.stdout)
    assert {"default_lfm", "default_spacetime"} <= set(models)
    assert sum(m["megabytes"] for m in models.values()) <= 25
    for m in models.values():
        assert m["categories"] and m["hardware"] and m["recipe_minutes"] >= 0
    assert "packaged models" in cli("models", "list").stdout


@pytest.mark.parametrize("kind", ["lfm", "spacetime"])
def test_lift_the_examples_without_a_checkpoint(cli, tmp_path, kind):
    xr = pytest.importorskip("xarray")
    for example in ("biped_walk.json", "quadruped_trot.json"):
        out = tmp_path / f"{example}.{kind}.h5"
        r = cli("lift", EXAMPLES / example, "-o", out, "--model", kind, "--device", "cpu")
        assert r.exit_code == 0, r.output
        ds = xr.open_dataset(out, engine="h5netcdf")
        pos = ds.position.values[:, 0]
        missing = np.isnan(ds.position_2d.values[:, 0]).any(-1)
        assert np.isnan(pos[missing]).all() and np.isfinite(pos[~missing]).all()
        assert "default_" + kind in ds.attrs["checkpoint"]
