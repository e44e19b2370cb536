"""Model checkpoints: weights in safetensors, with the model config and what the model was trained on in its
metadata, so a model is rebuilt from the file alone. lfm's own models are built here; a model kind defined above
this module (MVLift's lifter) registers its loader with `checkpoint_loader`."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from . import __version__
from .config import DEFAULT_WINDOW, ModelConfig, check_kind
from .errors import LfmError
from .files import atomic_path
from .models import build_model
from .rigs import Rig

WEIGHTS = Path(__file__).resolve().parent / "weights"  # the packaged default models


@dataclass
class Checkpoint:
    """A loaded model (in eval mode) with its config and the training info stored beside its weights."""

    model: torch.nn.Module
    config: ModelConfig
    info: dict
    path: Path

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def window(self) -> int:
        """Frames per clip the model was trained on (the space-time model lifts in clips of this length)."""
        return int(self.info.get("window", DEFAULT_WINDOW))

    def familiarity_note(self, rig: Rig | None) -> str | None:
        """What to expect where the model never trained on ``rig`` or on its kind of object (None where it did, or
        where the checkpoint does not say what it trained on): measured, such depth is barely better than flat."""
        rigs, categories = self.info.get("rigs"), self.info.get("categories")
        if not isinstance(rigs, dict) or not isinstance(categories, list):
            return None
        if rig is not None and rigs.get(rig.name) == rig.num_joints:
            return None
        flat = "the flat (z = 0) lift's (docs/accuracy.md)"
        if rig is not None and rig.category in categories:
            return (
                f"the model trained on {rig.category} keypoints but never on the skeleton {rig.name!r}: on a new "
                f"skeleton of a known kind its depth is only a little better than {flat}"
            )
        if rig is not None and rig.category:
            said = f"the model never trained on {rig.category!r} objects"
        else:
            said = (
                f"the skeleton {rig.name!r} is not one the model trained on" if rig is not None else "no rig is given"
            ) + ", and the input does not say what kind of object this is (a rig's `category`)"
        return (
            f"{said}; it knows {', '.join(categories)}: on a kind of object it never saw, its depth is about as "
            f"accurate as {flat}"
        )

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]


Loader = Callable[[Path, str], tuple[torch.nn.Module, object, dict]]  # (path, device) -> model, config, info
LOADERS: dict[str, Loader] = {}  # by the metadata key that marks a checkpoint as theirs


def checkpoint_loader(key: str) -> Callable[[Loader], Loader]:
    """Register the decorated loader for checkpoints whose metadata holds ``key``; its config names its ``kind``."""

    def register(loader: Loader) -> Loader:
        LOADERS[key] = loader
        return loader

    return register


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg: ModelConfig, info: dict, half: bool = False) -> None:
    """``half``: the trained weights in float16 (half the file; loading turns them back into float32), the fixed
    buffers such as the Fourier frequencies as they are."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if half:
        trained = {name for name, _ in model.named_parameters()}
        if any(state[k].abs().max() > torch.finfo(torch.float16).max for k in trained):
            raise LfmError("a weight is too large for float16")
        state = {k: v.half() if k in trained else v for k, v in state.items()}
    meta = {"model": json.dumps(cfg.to_dict()), "info": json.dumps(info), "lfm_version": __version__}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_checkpoint(path: str | Path, device: str = "cpu") -> Checkpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.exists():
        raise LfmError("no such checkpoint", path)

    def refuse(e: Exception):
        return LfmError(f"not an lfm checkpoint ({str(e).splitlines()[0]})", path)

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise refuse(e) from None
    registered = next((loader for key, loader in LOADERS.items() if key in meta), None)
    if registered:
        return _checked(Checkpoint(*registered(path, device), path))
    try:
        # checkpoints written before model.output existed decode shapes
        stored, info = json.loads(meta["model"]), json.loads(meta.get("info", "{}"))
        if not isinstance(stored, dict) or not isinstance(info, dict):
            raise ValueError("its model and info metadata must be JSON objects")
        cfg = ModelConfig.from_dict({"output": "shape", **stored})
        model = build_model(cfg)
        model.load_state_dict(load_file(str(path), device="cpu"))
    except (SafetensorError, KeyError, ValueError, RuntimeError, OSError, LfmError) as e:
        raise refuse(e) from None
    return _checked(Checkpoint(model.to(device).eval(), cfg, info, path))


def _checked(ckpt: Checkpoint) -> Checkpoint:
    """Refuse training info that the lifters would trip over later."""
    window = ckpt.info.get("window", DEFAULT_WINDOW)
    if type(window) is not int or window < 1:  # bool is an int; JSON gives no other kind of whole number
        raise LfmError(f"not an lfm checkpoint (its window {window!r} is not a whole number of frames)", ckpt.path)
    return ckpt


def default_checkpoint(kind: str = "lfm") -> Path:
    """The packaged default model of ``kind`` (lfm or spacetime)."""
    path = WEIGHTS / f"default_{check_kind(kind)}.safetensors"
    if not path.exists():
        raise LfmError(f"no packaged default {kind} model in this installation; pass --checkpoint")
    return path


def packaged_models() -> dict[str, dict]:
    """The packaged models by name: kind, size, and the training info stored with each."""
    found = {}
    for path in sorted(WEIGHTS.glob("*.safetensors")):
        ckpt = load_checkpoint(path)
        found[path.stem] = {
            "kind": ckpt.kind,
            "dim": ckpt.config.dim,
            "layers": ckpt.config.layers,
            "parameters": sum(p.numel() for p in ckpt.model.parameters()),
            "megabytes": round(path.stat().st_size / 2**20, 2),
            **ckpt.info,
        }
    return found
