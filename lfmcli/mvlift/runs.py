"""The run folder of an MVLift stage: its config, a metrics log, the stage's weights and the state to resume from
(all a resume needs, weights included, in one file written last and loaded as `lfm train` loads its trainer.pt).
One stage trains in one folder at a time (the run-folder lock `lfm train` holds too)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import LfmError
from ..files import atomic_path, check_writable_folder, read_text, run_lock
from ..schedule import CosineSchedule
from ..train import resume_state
from .config import DiffusionTraining, MVLiftConfig
from .diffusion import Conditions, MotionDenoiser, denoising_loss


def save_denoiser(path: Path, model: MotionDenoiser, cfg: MVLiftConfig, stage: str, info: dict) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"mvlift": json.dumps(cfg.to_dict()), "stage": stage, "info": json.dumps(info)}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_denoiser(path: str | Path, stage: str, device: str = "cpu") -> tuple[MotionDenoiser, MVLiftConfig, dict]:
    """The denoiser of ``stage`` (prior or multiview) stored at ``path``, its config and info."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.exists():
        raise LfmError("no such checkpoint", path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("stage") != stage:
            raise ValueError(f"it holds {meta.get('stage') or 'no MVLift model'!r}, not the {stage} model")
        cfg = MVLiftConfig.from_dict(json.loads(meta["mvlift"]))
        info = json.loads(meta.get("info", "{}"))
        if not isinstance(info, dict):
            raise ValueError("its info metadata is not a JSON object")
        m = cfg.model
        model = MotionDenoiser(m.dim, m.heads, m.layers, m.mlp_ratio, views=int(info.get("views", 1)))
        model.load_state_dict(load_file(str(path), device="cpu"))
    except (SafetensorError, KeyError, ValueError, TypeError, RuntimeError, OSError, LfmError) as e:
        raise LfmError(f"not an MVLift {stage} checkpoint ({str(e).splitlines()[0]})", path) from None
    return model.to(device).eval(), cfg, info


def read_run_config(run: str | Path) -> MVLiftConfig:
    """The config a run folder's stages share (written by stage 1)."""
    import yaml

    path = Path(run) / "config.yaml"
    if not path.exists():
        raise LfmError("not an MVLift run folder (no config.yaml): train its prior first (`lfm mvlift prior`)", run)
    try:
        return MVLiftConfig.from_dict(yaml.safe_load(read_text(path)))
    except yaml.YAMLError:
        raise LfmError("config.yaml is not valid YAML", run) from None


class RunFolder:
    def __init__(self, run: str | Path, cfg: MVLiftConfig, weights: str, resume: bool):
        self.run, self.cfg, self.weights = Path(run), cfg, weights
        self.state_file = self.run / Path(weights).with_suffix(".state.pt").name
        self.log = self.run / Path(weights).with_suffix(".jsonl").name
        if resume and not self.state_file.exists():
            raise LfmError(f"nothing to resume: no {self.state_file.name} (start without --resume)", self.run)
        if not resume and self.state_file.exists():
            raise LfmError("already holds this stage: continue it with --resume, or choose a new --output", self.run)
        check_writable_folder(self.run)
        self.run.mkdir(parents=True, exist_ok=True)
        self._lock = run_lock(self.run)
        if not resume:
            cfg.save(self.run / "config.yaml")
            self.log.unlink(missing_ok=True)

    def save(self, model, opt, rng: np.random.Generator, state: dict, row: dict, info: dict) -> None:
        save_denoiser(self.run / self.weights, model, self.cfg, Path(self.weights).stem, info)
        # written last and all that resume reads: a run stopped before this resumes from its previous save, weights
        # and all; only tensors, numbers, strings and containers, which resume loads with weights_only
        payload = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "state": state,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        with atomic_path(self.state_file) as tmp:
            torch.save(payload, tmp)
        with open(self.log, "a") as f:
            f.write(json.dumps(row) + "\n")

    def restore(self, model, opt, rng: np.random.Generator) -> dict:
        older = "delete it and train this stage again without --resume"
        with resume_state(self.state_file, self.run, older) as payload:
            model.load_state_dict(payload["model"])
            opt.load_state_dict(payload["optimizer"])
            rng.bit_generator.state = payload["rng"]
            torch.set_rng_state(payload["torch_rng"])
            return dict(payload["state"])

    def close(self) -> None:
        self._lock.close()


Batch = tuple[torch.Tensor, torch.Tensor, Conditions]  # clean 2D, where the loss counts, conditions


def fit_denoiser(
    model: MotionDenoiser,
    folder: RunFolder,
    block: DiffusionTraining,
    draw: Callable[[np.random.Generator], Batch],
    fixed: Batch,
    cfg: MVLiftConfig,
    resume: bool,
    on_step: Callable[[int, int, float], None] | None,
    info: dict,
) -> dict:
    """Train ``model`` on batches from ``draw`` for ``block.steps`` steps (AdamW, warm-up then cosine decay),
    measuring the loss on the ``fixed`` batch and saving weights and state every ``block.eval_every`` steps;
    returns the last metrics row."""
    device = resolve_device(cfg.device)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=block.lr, weight_decay=1e-4)
    schedule = CosineSchedule(block.lr, block.lr * 0.01, block.warmup_steps)
    rng = np.random.default_rng(cfg.seed)
    state = folder.restore(model, opt, rng) if resume else {"step": 0, "best": math.inf}
    started, budget = time.perf_counter(), block.max_minutes * 60 or math.inf
    row: dict = {}
    model.train()
    while state["step"] < block.steps:
        x0, weight, cond = draw(rng)
        for group in opt.param_groups:
            group["lr"] = schedule.lr_at(state["step"], state["step"] / block.steps)
        loss = denoising_loss(model, x0.to(device), weight.to(device), cond.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["step"] += 1
        value = float(loss.detach())
        if on_step:
            on_step(state["step"], block.steps, value)
        out_of_time = time.perf_counter() - started > budget
        if state["step"] % block.eval_every == 0 or state["step"] == block.steps or out_of_time:
            score = fixed_loss(model, fixed, cfg.seed, device)
            row = {"step": state["step"], "train_loss": value, "val_loss": score}
            state["best"] = min(state["best"], score)
            folder.save(model, opt, rng, state, row, info={**info, "step": state["step"], "val_loss": score})
            model.train()
        if out_of_time:
            break
    return row


def fixed_loss(model: MotionDenoiser, batch: Batch, seed: int, device, chunk: int = 64) -> float:
    """The denoising loss on a fixed batch with fixed times and noise: comparable from one evaluation to the next."""
    x0, weight, cond = batch
    model.eval()
    total, norm = 0.0, 0.0
    with torch.no_grad():
        for a in range(0, len(x0), chunk):
            part = slice(a, a + chunk)
            g = torch.Generator(device=device).manual_seed(seed + a)
            w = weight[part].to(device)
            loss = denoising_loss(model, x0[part].to(device), w, cond.take(part).to(device), generator=g)
            total += float(loss) * float(w.sum())
            norm += float(w.sum())
    return total / max(norm, 1.0)
