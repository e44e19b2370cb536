import json
import os

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from lfmcli.checkpoint import load_checkpoint, save_checkpoint
from lfmcli.config import RunConfig
from lfmcli.errors import LfmError
from lfmcli.train import Trainer


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    from typer.testing import CliRunner

    from lfmcli.cli.main import app

    out = tmp_path_factory.mktemp("data") / "zoo.h5"
    r = CliRunner().invoke(
        app,
        [
            "build-dataset",
            "synthetic",
            "-o",
            str(out),
            "--creatures",
            "8",
            "--frames",
            "40",
            "--ik-steps",
            "5",
            "--split",
            "0.6,0.2,0.2",
            "--views",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    return out


FAST = [
    "training.device=cpu",
    "training.steps_per_epoch=4",
    "training.batch_size=16",
    "training.val_samples=64",
    "data.window=8",
]


def test_cli_train_writes_a_complete_run(cli, zoo, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", zoo, "--preset", "tiny", "-o", run, "--epochs", 2, "--seed", 3]
    r = cli(*args, *[x for s in FAST for x in ("--set", s)])
    assert r.exit_code == 0, r.output
    for name in ("config.yaml", "run.json", "metrics.jsonl", "best.safetensors", "last.safetensors", "trainer.pt"):
        assert (run / name).exists(), name
    saved = RunConfig.load(run / "config.yaml")
    assert saved.training.seed == 3 and saved.training.epochs == 2 and saved.model.dim == 32
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["epoch"] == 0 and "val_flat_pa_mpjpe" in rows[0]
    assert [r["epoch"] for r in rows[1:]] == [1, 2] and all(r["samples_per_second"] > 0 for r in rows[1:])
    ckpt = load_checkpoint(run / "last.safetensors")
    assert ckpt.kind == "lfm" and ckpt.config.dim == 32 and ckpt.info["epoch"] == 2
    assert len(ckpt.info["categories"]) == 4
    r = cli(*args)
    assert r.exit_code == 1 and "--resume" in r.stderr


def test_resume_reproduces_an_uninterrupted_run(zoo, tmp_path):
    cfg = RunConfig.resolve("lfm", "tiny", None, FAST + ["training.epochs=2"], [zoo])
    Trainer(cfg, tmp_path / "straight").fit()
    half = RunConfig.resolve("lfm", "tiny", None, FAST + ["training.epochs=1"], [zoo])
    Trainer(half, tmp_path / "halves").fit()
    log = tmp_path / "halves" / "metrics.jsonl"
    with open(log, "a") as f:  # killed after logging epoch 2 but before saving it
        f.write(json.dumps({"epoch": 2, "step": 99}) + "\n")
    half.training.epochs = 2
    Trainer(half, tmp_path / "halves", resume=True).fit()
    a, b = load_file(tmp_path / "straight" / "last.safetensors"), load_file(tmp_path / "halves" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [0, 1, 2]
    (tmp_path / "halves" / "trainer.pt").write_bytes(b"truncated")
    with pytest.raises(LfmError, match="halves: cannot resume: trainer.pt is damaged"):
        Trainer(half, tmp_path / "halves", resume=True)


class _Stopped(Exception):
    """The process dying at a chosen moment."""


def test_a_run_stopped_between_its_saves_resumes_from_the_last_complete_one(zoo, tmp_path, monkeypatch):
    Trainer(RunConfig.resolve("lfm", "tiny", None, FAST + ["training.epochs=2"], [zoo]), tmp_path / "straight").fit()
    cfg = RunConfig.resolve("lfm", "tiny", None, FAST + ["training.epochs=1"], [zoo])
    Trainer(cfg, tmp_path / "run").fit()
    cfg.training.epochs = 2
    written = []

    def save_then_die(path, *args, **kwargs):  # epoch 2's weights are written, the rest of its save never is
        save_checkpoint(path, *args, **kwargs)
        written.append(path.name)
        raise _Stopped

    monkeypatch.setattr("lfmcli.train.save_checkpoint", save_then_die)
    stopped = Trainer(cfg, tmp_path / "run", resume=True)
    with pytest.raises(_Stopped):
        stopped.fit()
    stopped._unlock()  # as the end of the process would
    monkeypatch.undo()
    assert written == ["last.safetensors"] and load_checkpoint(tmp_path / "run" / "last.safetensors").info["epoch"] == 2
    resumed = Trainer(cfg, tmp_path / "run", resume=True)
    assert resumed.epoch == 1  # epoch 2 is trained again, from epoch 1's weights, optimizer and random state
    resumed.fit()
    a, b = (load_file(tmp_path / name / "last.safetensors") for name in ("straight", "run"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


class _RunsCode:
    """An object whose unpickling creates a folder: what a planted trainer.pt could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.makedirs, (self.path,)


def test_resume_refuses_a_trainer_state_that_could_run_code_or_is_from_an_older_lfm(zoo, tmp_path):
    cfg = RunConfig.resolve("lfm", "tiny", None, FAST + ["training.epochs=1"], [zoo])
    Trainer(cfg, tmp_path / "run").fit()
    state = torch.load(tmp_path / "run" / "trainer.pt", weights_only=True)
    ran = tmp_path / "ran"
    torch.save({**state, "planted": _RunsCode(ran)}, tmp_path / "run" / "trainer.pt")
    with pytest.raises(LfmError) as e:
        Trainer(cfg, tmp_path / "run", resume=True)
    assert not ran.exists()
    assert "cannot resume: trainer.pt holds objects other than tensors and numbers" in str(e.value)
    assert "\n" not in str(e.value)
    older = {k: v for k, v in state.items() if k not in ("model", "model_config")}  # its weights were apart
    torch.save(older, tmp_path / "run" / "trainer.pt")
    with pytest.raises(LfmError, match="trainer.pt is from an older lfm and cannot be resumed; start a new run, or"):
        Trainer(cfg, tmp_path / "run", resume=True)


def test_resume_refuses_a_config_that_no_longer_describes_the_saved_model(cli, zoo, tmp_path):
    run = tmp_path / "run"
    sets = [x for s in FAST for x in ("--set", s)]
    assert cli("train", "--data", zoo, "--preset", "tiny", "-o", run, "--epochs", 1, *sets).exit_code == 0
    saved = (run / "config.yaml").read_text()
    for key, value, said in (
        ("dim", 64, "model.dim is 64 in config.yaml but 32"),
        ("sigma", 2.0, "model.sigma is 2.0"),
    ):
        config = yaml.safe_load(saved)
        config["model"][key] = value  # a shape the weights cannot take, or one they silently would
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        r = cli("train", "-o", run, "--resume", "--epochs", 2)
        assert r.exit_code == 1 and f"cannot resume: {said}" in r.stderr and "in trainer.pt" in r.stderr, r.output
    (run / "config.yaml").write_text(saved)
    assert cli("train", "-o", run, "--resume", "--epochs", 2).exit_code == 0


def test_spacetime_trains_on_windows(zoo, tmp_path):
    cfg = RunConfig.resolve("spacetime", "tiny", None, FAST + ["training.epochs=1"], [zoo])
    trainer = Trainer(cfg, tmp_path / "st")
    batch = trainer._train_batch()
    assert batch.points2d.shape[:2] == (16, 8)
    reports = trainer.fit()
    assert len(reports) == 1 and reports[0].val_pa_mpjpe > 0


def test_training_categories_can_be_chosen_or_held_out(zoo, tmp_path):
    every = set(Trainer(RunConfig.resolve("lfm", "tiny", None, FAST, [zoo]), tmp_path / "all").train_bank.categories)
    assert len(every) >= 3
    held_out = sorted(every)[0]
    sets = FAST + [f"data.exclude_categories=[{held_out}]"]
    trainer = Trainer(RunConfig.resolve("lfm", "tiny", None, sets, [zoo]), tmp_path / "without")
    assert set(trainer.train_bank.categories) == every - {held_out}
    assert held_out not in trainer.val_bank.categories
    only = Trainer(
        RunConfig.resolve("lfm", "tiny", None, FAST + [f"data.categories=[{held_out}]"], [zoo]), tmp_path / "o"
    )
    assert list(only.train_bank.categories) == [held_out]


def test_training_lowers_the_error(zoo, tmp_path):
    cfg = RunConfig.resolve(
        "lfm",
        "tiny",
        None,
        [
            "training.device=cpu",
            "training.steps_per_epoch=40",
            "training.batch_size=64",
            "training.epochs=6",
            "training.lr=3e-3",
            "data.occlusion=0",
        ],
        [zoo],
    )
    trainer = Trainer(cfg, tmp_path / "learn")
    seen = [trainer.train_bank.frames(np.arange(0, trainer.train_bank.num_samples, 3))]
    flat, before = trainer.evaluate(seen, flat=True), trainer.evaluate(seen)
    assert before == pytest.approx(flat, rel=1e-4)  # an untrained residual model is the flat lift
    trainer.fit()
    assert trainer.evaluate(seen) < 0.7 * flat


def test_cosine_schedule_warms_up_then_decays_to_min_lr(zoo, tmp_path):
    sets = FAST + ["training.epochs=3", "training.schedule=cosine", "training.warmup_steps=4", "training.min_lr=1e-5"]
    trainer = Trainer(RunConfig.resolve("lfm", "tiny", None, sets, [zoo]), tmp_path / "cos")
    lrs = []
    trainer.on_step = lambda *_: lrs.append(trainer.opt.param_groups[0]["lr"])
    trainer.fit()
    assert len(lrs) == 12
    assert lrs[0] == pytest.approx(1e-3 / 4) and lrs[0] < lrs[1] < lrs[2] < lrs[3]  # warm-up
    assert all(a > b for a, b in zip(lrs[3:], lrs[4:], strict=False)) and lrs[-1] < 1e-4  # then cosine decay
    with pytest.raises(LfmError, match="plateau or cosine"):
        RunConfig.resolve("lfm", "tiny", None, FAST + ["training.schedule=steps"], [zoo])


def test_spacetime_model_starts_from_a_single_frame_checkpoint(cli, zoo, tmp_path):
    frame = Trainer(RunConfig.resolve("lfm", "tiny", None, FAST + ["training.epochs=1"], [zoo]), tmp_path / "frame")
    frame.fit()
    ckpt = tmp_path / "frame" / "best.safetensors"
    sets = FAST + ["training.epochs=1", f"training.init={ckpt}"]
    st = Trainer(RunConfig.resolve("spacetime", "tiny", None, sets, [zoo]), tmp_path / "st")
    theirs, ours = frame.model.state_dict(), st.model.state_dict()
    # the space layers and the decoder come over; the temporal layers and the (x, y, t) frequencies stay fresh,
    # though the x and y rows of those frequencies are the single-frame model's by construction
    for name in ("space.0.mlp.0.weight", "decode.2.bias", "lift_in.weight", "encode.b"):
        torch.testing.assert_close(ours[name], theirs[name])
    assert any(k.startswith("motion.") for k in st.init_report["fresh"]) and "encode.W" in st.init_report["fresh"]
    torch.testing.assert_close(ours["encode.W"][:2], theirs["encode.W"])
    assert json.loads((tmp_path / "st" / "run.json").read_text())["init"]["copied"] == st.init_report["copied"]
    # trainable=temporal trains only the temporal layers, and a resumed run freezes the same ones
    sets += ["training.trainable=temporal"]
    frozen = Trainer(RunConfig.resolve("spacetime", "tiny", None, sets, [zoo]), tmp_path / "frozen")
    frozen.fit()
    after = frozen.model.state_dict()
    torch.testing.assert_close(after["space.0.mlp.0.weight"], theirs["space.0.mlp.0.weight"])
    assert not torch.equal(after["motion.0.out.weight"], torch.zeros_like(after["motion.0.out.weight"]))
    resumed = Trainer(
        RunConfig.resolve("spacetime", "tiny", None, sets + ["training.epochs=2"], [zoo]),
        tmp_path / "frozen",
        resume=True,
    )
    trainable = {n for n, q in resumed.model.named_parameters() if q.requires_grad}
    assert trainable and trainable == {n for n, _ in resumed.model.named_parameters()} & set(
        frozen.init_report["fresh"]
    )
    assert len(resumed.fit()) == 1
    # started from a space-time checkpoint, the temporal layers go on learning from where they were
    start = tmp_path / "frozen" / "best.safetensors"
    sets[sets.index(f"training.init={ckpt}")] = f"training.init={start}"
    again = Trainer(RunConfig.resolve("spacetime", "tiny", None, sets, [zoo]), tmp_path / "again")
    assert again.init_report["fresh"] == []
    motion = load_checkpoint(start).model.state_dict()["motion.0.out.weight"]
    torch.testing.assert_close(again.model.state_dict()["motion.0.out.weight"], motion)
    again.fit()
    final = again.model.state_dict()
    torch.testing.assert_close(final["space.0.mlp.0.weight"], theirs["space.0.mlp.0.weight"])
    assert not torch.equal(final["motion.0.out.weight"], motion)
    with pytest.raises(LfmError, match="no temporal layers"):
        Trainer(RunConfig.resolve("lfm", "tiny", None, FAST + ["training.trainable=temporal"], [zoo]), tmp_path / "x")
    # a checkpoint of another size hardly fits: one clear error
    other = RunConfig.resolve("lfm", "small", None, FAST + [f"training.init={ckpt}"], [zoo])
    with pytest.raises(LfmError, match="weights fit this model"):
        Trainer(other, tmp_path / "other")


@pytest.mark.parametrize("kind", ["lfm", "spacetime"])
def test_training_with_every_augmentation(zoo, tmp_path, kind):
    sets = FAST + ["training.epochs=1"]
    sets += [f"data.augment.{k}=0.5" for k in ("reproject", "morph", "drop_joints", "virtual_joints", "outliers_2d")]
    sets += ["data.augment.noise_2d=0.02"]
    trainer = Trainer(RunConfig.resolve(kind, "tiny", None, sets, [zoo]), tmp_path / kind)
    batch = trainer._train_batch()
    assert batch.points2d.shape[-2] == batch.exists.shape[1] > trainer.train_bank.max_joints  # virtual joints
    assert len(trainer.fit()) == 1 and np.isfinite(trainer.best)


def test_one_run_folder_trains_one_run_at_a_time(zoo, tmp_path):
    cfg = RunConfig.resolve("lfm", "tiny", None, FAST, [zoo])
    first = Trainer(cfg, tmp_path / "run")
    with pytest.raises(LfmError, match="another process is training in this run folder"):
        Trainer(cfg, tmp_path / "run")
    first.fit()  # a finished run leaves the folder free to resume
    cfg.training.epochs += 1
    Trainer(cfg, tmp_path / "run", resume=True)


def test_a_run_folder_is_used_by_one_training_at_a_time(zoo, tmp_path):
    cfg = RunConfig.resolve("lfm", "tiny", None, FAST + ["training.epochs=1"], [zoo])
    first = Trainer(cfg, tmp_path / "run")  # holds the folder's lock until its fit ends
    with pytest.raises(LfmError, match="another process is training in this run folder"):
        Trainer(cfg, tmp_path / "run", resume=True)
    first.fit()
    Trainer(cfg, tmp_path / "run", resume=True)  # a finished run lets go


def test_batches_made_by_worker_processes_are_repeatable(zoo, tmp_path):
    cfg = RunConfig.resolve("lfm", "tiny", None, FAST + ["training.epochs=2", "training.workers=2"], [zoo])
    runs = [Trainer(cfg, tmp_path / name) for name in ("a", "b")]
    batches = list(runs[0]._train_batches(5))
    assert len(batches) == 5 and all(len(b) == 16 for b in batches)
    for r in runs:
        assert len(r.fit()) == 2
    a, b = (load_file(tmp_path / name / "last.safetensors") for name in ("a", "b"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
