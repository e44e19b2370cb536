"""Training lifting models (`lfm train`).

A run folder holds everything needed to rebuild and continue the run: ``config.yaml`` (the resolved config),
``run.json`` (versions, device, data summary), ``metrics.jsonl`` (one line per epoch), ``best.safetensors`` and
``last.safetensors`` (weights with the model config in their metadata), and ``trainer.pt``: all that ``resume``
needs to continue exactly where the last epoch ended (weights, model config, optimizer, scheduler, counters and
random states) in one file, written last, so a run stopped while saving resumes from its last complete save.

Under ``torchrun`` each process trains on its own batches with DistributedDataParallel; the same command runs on
one CPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .checkpoint import load_checkpoint, save_checkpoint
from .config import DataConfig, RunConfig
from .data.augment import augment_training
from .data.dataset import Batch, DeviceBank, SampleBank
from .data.draws import Draws
from .devices import resolve_device
from .errors import LfmError
from .files import atomic_path, run_lock
from .losses import lifting_loss
from .metrics import pa_mpjpe
from .models import MODELS, build_model, flat_lift
from .schedule import CosineSchedule


def make_train_batch(bank: SampleBank, d: DataConfig, size: int, temporal: bool, rng: np.random.Generator) -> Batch:
    """One augmented training batch of ``size`` frames (or windows of ``d.window`` frames)."""
    with one_thread():
        if temporal:
            views = bank.window_views()
            chosen = rng.choice(views, size, p=bank.view_weights(views, d.balance_categories, d.category_weights))
            starts = (rng.random(size) * np.maximum(bank.view_length[chosen] - d.window + 1, 1)).astype(int)
            batch = bank.windows(chosen, starts, d.window)
        else:
            weights = bank.sample_weights(d.balance_categories, d.category_weights)
            batch = bank.frames(rng.choice(bank.num_samples, size, p=weights))
        return augment_training(batch, d, rng)


def make_device_batch(bank: DeviceBank, d: DataConfig, size: int, temporal: bool, rand: Draws) -> Batch:
    """`make_train_batch` where ``bank`` lies: frames or windows drawn alike, then the same augmentations."""
    with one_thread() if bank.device.type == "cpu" else contextlib.nullcontext():
        return augment_training(bank.batch(size, d, temporal, rand), d, rand)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Batches made on the CPU in one thread (as worker processes make them): they are many small tensor
    operations, which more threads slow down (2.5 times with two threads on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def epoch_generator(device: str, seed: list[int]) -> torch.Generator:
    """The torch random stream on ``device`` for the seed (*seed): one per epoch, so a resumed run repeats it."""
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]) >> 1)
    return g


class _BatchStream(torch.utils.data.IterableDataset):
    """``steps`` training batches shared out among the loader's worker processes; worker k draws from the random
    stream (*seed, k), so a run is repeatable for a given number of workers."""

    def __init__(self, bank: SampleBank, d: DataConfig, size: int, temporal: bool, steps: int, seed: list[int]):
        self.bank, self.d, self.size, self.temporal, self.steps, self.seed = bank, d, size, temporal, steps, seed

    def __iter__(self) -> Iterator[Batch]:
        info = torch.utils.data.get_worker_info()
        k, n = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng([*self.seed, k])
        for _ in range(k, self.steps, n):  # the loader takes one batch from each worker in turn
            yield make_train_batch(self.bank, self.d, self.size, self.temporal, rng)


@dataclass
class EpochReport:
    epoch: int
    step: int
    train_loss: float
    val_pa_mpjpe: float
    lr: float
    samples_per_second: float
    seconds: float
    best: bool


class Trainer:
    """Trains the model of ``cfg`` into the run folder ``run`` (``resume``: continues the run there)."""

    def __init__(
        self,
        cfg: RunConfig,
        run: str | Path,
        *,
        resume: bool = False,
        on_step: Callable[[int, int, float], None] | None = None,
    ):
        self.cfg, self.run, self.on_step = cfg, Path(run), on_step
        if not resume and (self.run / "trainer.pt").exists():
            raise LfmError("already holds a run: continue it with --resume, or choose a new --output", self.run)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        device = cfg.training.device
        if self.world > 1:
            import torch.distributed as dist

            cuda = torch.cuda.is_available() and device != "cpu"
            dist.init_process_group("nccl" if cuda else "gloo")
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu"
        self.device = resolve_device(device)
        self.cuda = self.device.startswith("cuda")
        t = cfg.training
        self.model_cfg = cfg.model
        self.temporal = MODELS[self.model_cfg.kind].temporal
        self.train_bank, self.val_bank = self._banks()
        if self.temporal and not len(self.train_bank.window_views()):
            raise LfmError("the space-time model needs time series (fps > 0) in the training data")
        torch.manual_seed(t.seed)
        self.model = build_model(self.model_cfg).to(self.device)
        self.model.know_rigs({name: g.rig.adjacency() for name, g in self.train_bank.groups.items()})
        self.init_report = self._init_weights(t.init) if t.init and not resume else None
        if t.trainable == "temporal":  # the encoder, space layers and decoder stay as they are (as --init gave them)
            temporal = getattr(self.model, "motion", None)
            if not temporal:
                raise LfmError("training.trainable=temporal: this model has no temporal layers (model.motion_layers)")
            self.model.requires_grad_(False)
            temporal.requires_grad_(True)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.opt, factor=t.plateau_factor, patience=t.plateau_patience, min_lr=t.min_lr
        )
        self.cosine = CosineSchedule(t.lr, t.min_lr, t.warmup_steps)
        self.rng = np.random.default_rng([t.seed, self.rank])
        self.epoch, self.step, self.best, self.bad_epochs = 0, 0, float("inf"), 0
        self._val_batches = self._validation_batches()
        self.device_bank = DeviceBank(self.train_bank, self.device) if t.batches == "device" else None
        self.run.mkdir(parents=True, exist_ok=True)
        self._lock = run_lock(self.run) if self.rank == 0 else None
        try:
            if resume:
                self._restore()
            elif self.rank == 0:
                self._write_run_files()
        except BaseException:  # a refused resume leaves the folder free, in this process too
            self._unlock()
            raise
        self.net = self.model
        if self.cuda and t.compile:
            self.net = torch.compile(self.net)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.net, device_ids=[self.device] if self.cuda else None)

    # ----- data
    def _banks(self) -> tuple[SampleBank, SampleBank]:
        """The training and validation samples: views with 3D."""
        d = self.cfg.data
        chosen = d.categories, d.exclude_categories
        return SampleBank(d.paths, "train", *chosen), SampleBank(d.paths, d.val_split, *chosen)

    def _train_batch(self) -> Batch:
        return make_train_batch(self.train_bank, self.cfg.data, self.cfg.training.batch_size, self.temporal, self.rng)

    def _train_batches(self, steps: int) -> Iterator[Batch]:
        """This epoch's ``steps`` training batches: made here, or (``training.workers``) by that many processes
        in parallel, each with its own random stream, so that a GPU is not left waiting for augmentation; or
        (``training.batches=device``) made on the model's device from the training data held there."""
        t = self.cfg.training
        seed = [t.seed, self.rank, self.epoch]  # a new stream every epoch
        if self.device_bank is not None:
            rand = Draws(epoch_generator(self.device, seed))
            d, temporal = self.cfg.data, self.temporal
            return (make_device_batch(self.device_bank, d, t.batch_size, temporal, rand) for _ in range(steps))
        workers = t.workers
        if not workers:
            return (self._train_batch() for _ in range(steps))
        stream = _BatchStream(self.train_bank, self.cfg.data, t.batch_size, self.temporal, steps, seed)
        loader = torch.utils.data.DataLoader(
            stream, batch_size=None, num_workers=workers, pin_memory=self.cuda, prefetch_factor=4
        )
        return iter(loader)

    def _validation_batches(self) -> list[Batch]:
        """A fixed validation set: the same frames (or windows) every epoch, and in every process."""
        bank, t, d = self.val_bank, self.cfg.training, self.cfg.data
        rng = np.random.default_rng(12345)
        B = t.batch_size
        if self.temporal:
            views = bank.window_views()
            if not len(views):
                raise LfmError(f"no time series in the {d.val_split} split to validate the space-time model on")
            T = d.window
            pairs = [(v, s) for v in views for s in range(0, max(bank.view_length[v] - T, 0) + 1, T)]
            pairs = [pairs[i] for i in rng.permutation(len(pairs))[: max(t.val_samples // T, 1)]]
            v, s = np.array(pairs).T
            batches = [bank.windows(v[i : i + B], s[i : i + B], T) for i in range(0, len(v), B)]
        else:
            idx = np.sort(rng.permutation(bank.num_samples)[: t.val_samples])
            batches = [bank.frames(idx[i : i + B]) for i in range(0, len(idx), B)]
        return [piece for batch in batches for piece in batch.by_size()]  # split once, evaluated every epoch

    # ----- steps
    def loss(self, pred: torch.Tensor, batch: Batch) -> torch.Tensor:
        return lifting_loss(pred, batch.target, batch.has_3d, self.cfg.loss)

    def _forward(self, batch: Batch) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda and self.cfg.training.bf16):
            return self.net(*batch.model_inputs()).float()

    def evaluate(self, batches: list[Batch] | None = None, flat: bool = False) -> float:
        """Frame-weighted PA-MPJPE over the validation set (``flat``: of the z = 0 baseline instead)."""
        self.net.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in batches if batches is not None else self._val_batches:
                batch = batch.to(self.device)
                if flat:
                    pred = flat_lift(batch.points2d, batch.visible & _exists_like(batch))
                else:
                    pred = self._forward(batch)
                J = pred.shape[-2]
                p, g, m = pred.reshape(-1, J, 3), batch.target.reshape(-1, J, 3), batch.has_3d.reshape(-1, J)
                keep = m.any(-1)
                err = pa_mpjpe(p[keep], g[keep], m[keep])
                total += float(err.sum())
                count += int(keep.sum())
        self.net.train()
        return total / max(count, 1)

    def fit(self, on_epoch: Callable[[EpochReport], None] | None = None) -> list[EpochReport]:
        t = self.cfg.training
        steps = t.steps_per_epoch or max(self.train_bank.num_samples // t.batch_size, 1)
        budget = t.max_minutes * 60 if t.max_minutes else float("inf")
        started = time.perf_counter()
        reports = []
        if self.epoch == 0 and self.rank == 0:
            self._log(
                {
                    "epoch": 0,
                    "val_flat_pa_mpjpe": self.evaluate(flat=True),
                    "val_pa_mpjpe": self.evaluate(),
                    "train_frames": self.train_bank.num_samples,
                    "val_frames": self.val_bank.num_samples,
                }
            )
        self.net.train()
        while self.epoch < t.epochs:
            epoch_start, seen, losses = time.perf_counter(), 0, []
            for k, batch in enumerate(self._train_batches(steps)):
                self.opt.zero_grad(set_to_none=True)
                pieces = batch.by_size()
                loss = 0.0
                for i, piece in enumerate(pieces):  # the gradient of the whole batch, in pieces of less padding
                    last = i == len(pieces) - 1
                    with contextlib.nullcontext() if last or self.world == 1 else self.net.no_sync():
                        piece = piece.to(self.device)
                        part = self.loss(self._forward(piece), piece) * (len(piece) / len(batch))
                        part.backward()
                    loss += part.detach()
                if t.schedule == "cosine":
                    progress = max(self.step / (steps * t.epochs), (time.perf_counter() - started) / budget)
                    for group in self.opt.param_groups:
                        group["lr"] = self.cosine.lr_at(self.step, progress)
                if t.clip:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.clip)
                self.opt.step()
                self.step += 1
                losses.append(float(loss))
                seen += int(batch.visible.any(-1).sum())
                if self.on_step:
                    self.on_step(k + 1, steps, losses[-1])
                if time.perf_counter() - started > budget:
                    break
            self.epoch += 1
            elapsed = time.perf_counter() - epoch_start
            val = self.evaluate()
            if t.schedule == "plateau":
                self.sched.step(val)
            improved = val < self.best
            if improved:
                self.best, self.bad_epochs = val, 0
            else:
                self.bad_epochs += 1
            report = EpochReport(
                self.epoch,
                self.step,
                float(np.mean(losses)),
                val,
                self.opt.param_groups[0]["lr"],
                seen * self.world / elapsed,
                elapsed,
                improved,
            )
            reports.append(report)
            if self.rank == 0:
                self._log(report.__dict__)
                self._save(best=improved)
            if on_epoch:
                on_epoch(report)
            if self.bad_epochs >= t.patience or time.perf_counter() - started > budget:
                break
        self._unlock()  # done: the folder may be resumed
        return reports

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _init_weights(self, path: str) -> dict:
        """Copy the weights of ``path`` whose names and shapes match this model's; the rest keep their fresh
        values (a space-time model started from a single-frame one keeps its own temporal layers)."""
        source = load_checkpoint(path).model
        theirs, ours = source.state_dict(), self.model.state_dict()
        copied = {k: v for k, v in theirs.items() if k in ours and ours[k].shape == v.shape}
        if len(copied) < len(theirs) / 2:
            raise LfmError(f"only {len(copied)} of its {len(theirs)} weights fit this model (a different size?)", path)
        self.model.load_state_dict(copied, strict=False)
        return {"from": str(path), "copied": len(copied), "fresh": sorted(set(ours) - set(copied))}

    # ----- files
    def _info(self) -> dict:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "val_pa_mpjpe": self.best,
            "categories": self.train_bank.categories,
            "window": self.cfg.data.window,
            "rigs": {n: g.rig.num_joints for n, g in self.train_bank.groups.items()},
            "data": self.cfg.data.paths,
        }

    def _save(self, best: bool) -> None:
        save_checkpoint(self.run / "last.safetensors", self.model, self.model_cfg, self._info())
        if best:
            save_checkpoint(self.run / "best.safetensors", self.model, self.model_cfg, self._info())
        # only tensors, numbers, strings and containers: resume loads them with weights_only, which runs no code
        state = {
            "model": self.model.state_dict(),
            "model_config": self.model_cfg.to_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            **self._extra_state(),
        }
        with atomic_path(self.run / "trainer.pt") as tmp:
            torch.save(state, tmp)

    def _extra_state(self) -> dict:
        """What a subclass trains besides the model (tensors, numbers, strings), resumed with it."""
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass

    def _restore(self) -> None:
        path = self.run / "trainer.pt"
        if not path.exists():
            raise LfmError("nothing to resume: no trainer.pt (start without --resume)", self.run)
        with resume_state(path, self.run, "start a new run, or --init from its best.safetensors") as state:
            self._check_model(state["model_config"])
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            keys = ("epoch", "step", "best", "bad_epochs")
            self.epoch, self.step, self.best, self.bad_epochs = (state[k] for k in keys)
            self.rng.bit_generator.state = state["rng"]
            torch.set_rng_state(state["torch_rng"])
            self._load_extra_state(state)
        # a run killed after logging an epoch but before saving it logged an epoch that is trained again now
        log = self.run / "metrics.jsonl"
        if log.exists():
            kept = [line for line in log.read_text().splitlines() if json.loads(line).get("epoch", 0) <= self.epoch]
            with atomic_path(log) as tmp:
                tmp.write_text("".join(line + "\n" for line in kept))

    def _check_model(self, saved: dict) -> None:
        """Refuse to continue a model other than the one config.yaml describes now, naming a key that differs."""
        ours = self.model_cfg.to_dict()
        key = next((k for k in ours if k in saved and ours[k] != saved[k]), None)
        if key:
            raise LfmError(
                f"cannot resume: model.{key} is {ours[key]} in config.yaml but {saved[key]} in trainer.pt", self.run
            )

    def _write_run_files(self) -> None:
        self.cfg.save(self.run / "config.yaml")
        summary = {
            "lfm": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "device": self.device,
            "processes": self.world,
            "parameters": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            "init": self.init_report,
            "train": self.train_bank.frames_per_category(),
            "val": self.val_bank.frames_per_category(),
        }
        with atomic_path(self.run / "run.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2))
        (self.run / "metrics.jsonl").unlink(missing_ok=True)

    def _log(self, row: dict) -> None:
        with open(self.run / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")


@contextlib.contextmanager
def resume_state(path: Path, run: Path, older: str) -> Iterator[dict]:
    """The resume state saved at ``path`` (`lfm train`'s trainer.pt, an MVLift stage's state file), loaded with
    weights_only, which refuses any object whose loading could run code; whatever goes wrong reading or applying it
    in the block is one line naming ``run``. ``older``: what to do with a state from an lfm that kept no weights in
    it, which cannot resume."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"holds a {type(state).__name__}, not a saved state")
        if "model" not in state:
            raise LfmError(f"cannot resume: {path.name} is from an older lfm and cannot be resumed; {older}", run)
        yield state
    except LfmError:
        raise
    except pickle.UnpicklingError:
        reason = "holds objects other than tensors and numbers, which could run code when loaded; refused"
        raise LfmError(f"cannot resume: {path.name} {reason}", run) from None
    except Exception as e:  # a truncated or foreign file fails in many ways
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LfmError(f"cannot resume: {path.name} is damaged ({reason})", run) from None


def _exists_like(batch: Batch) -> torch.Tensor:
    """The joint-exists mask shaped like the visibility (frames or windows)."""
    return batch.exists if batch.visible.dim() == 2 else batch.exists[:, None]
