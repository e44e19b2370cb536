"""Model checkpoints: weights in safetensors, with the model config and what the model was trained on in its
metadata, so a model is rebuilt from the file alone."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from . import __version__
from .data.atomic import atomic_path
from .errors import LfmError
from .models import ModelConfig, build_model


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg: ModelConfig, info: dict) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"model": json.dumps(cfg.to_dict()), "info": json.dumps(info), "lfm_version": __version__}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, ModelConfig, dict]:
    """(model in eval mode, its config, the training info stored with it)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.exists():
        raise LfmError("no such checkpoint", path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        cfg = ModelConfig.from_dict(json.loads(meta["model"]))
        info = json.loads(meta.get("info", "{}"))
        model = build_model(cfg)
        model.load_state_dict(load_file(str(path), device="cpu"))
    except (SafetensorError, KeyError, ValueError, RuntimeError, OSError) as e:
        raise LfmError(f"not an lfm checkpoint ({str(e).splitlines()[0]})", path) from None
    return model.to(device).eval(), cfg, info


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def default_checkpoint(kind: str = "lfm") -> Path:
    """The packaged default model of ``kind`` (lfm or spacetime)."""
    path = Path(__file__).resolve().parent / "weights" / f"default_{kind}.safetensors"
    if not path.exists():
        raise LfmError(f"no packaged default {kind} model in this installation; pass --checkpoint")
    return path
