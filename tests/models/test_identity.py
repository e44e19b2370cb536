import pytest
import torch

from lfmcli.checkpoint import load_checkpoint, save_checkpoint
from lfmcli.config import ModelConfig
from lfmcli.errors import LfmError
from lfmcli.models import build_model
from lfmcli.rigs import Rig

RIG = Rig.from_parents("block_8", [f"p{i}" for i in range(8)], [-1, 0, 1, 2, 0, 4, 0, 6], category="block")


def inputs(kind: str, order: torch.Tensor):
    torch.manual_seed(1)
    lead = (2,) if kind == "lfm" else (2, 3)
    points = torch.randn(*lead, 8, 2)[..., order, :]
    adjacency = torch.as_tensor(RIG.adjacency())[order][:, order].expand(2, 8, 8)
    return points, torch.ones(*lead, 8, dtype=torch.bool), torch.ones(2, 8, dtype=torch.bool), adjacency


@pytest.mark.parametrize("kind", ["lfm", "spacetime"])
def test_a_known_rig_gets_its_joints_identity_and_an_unknown_one_none(kind, tmp_path):
    torch.manual_seed(0)
    size = {"dim": 32, "heads": 4, "layers": 1, "motion_layers": int(kind == "spacetime"), "output": "shape"}
    plain = build_model(ModelConfig(kind=kind, **size))
    model = build_model(ModelConfig(kind=kind, **size, identity={"block_8": 8}))
    model.load_state_dict(plain.state_dict(), strict=False)
    model.know_rigs({"block_8": RIG.adjacency()})
    known, unknown = inputs(kind, torch.arange(8)), inputs(kind, torch.tensor([1, 0, 2, 3, 4, 5, 6, 7]))
    with torch.no_grad():
        assert torch.allclose(model(*known), plain(*known))  # a fresh identity is zero: the model as it was
        model.identity.normal_()
        assert not torch.allclose(model(*known), plain(*known), atol=1e-4)
        assert torch.allclose(model(*unknown), plain(*unknown), atol=1e-6)  # another graph: no identity
    save_checkpoint(tmp_path / "id.safetensors", model, model.cfg, {})
    again = load_checkpoint(tmp_path / "id.safetensors").model
    with torch.no_grad():
        assert torch.allclose(again(*known), model(*known), atol=1e-6)


def test_identity_names_a_number_of_joints():
    with pytest.raises(LfmError, match="model.identity.block_8"):
        ModelConfig(identity={"block_8": 0})
