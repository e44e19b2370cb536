"""The configuration of `lfm mvlift`: one YAML file with a block per concern, resolved like `lfm train`'s
(defaults, a config file, ``--set`` overrides, the command's flags) and saved as ``config.yaml`` in the run folder,
so every stage reads the same settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..config import Blocks, _check, _read_yaml, parse_set
from ..errors import LfmError


@dataclass
class DenoiserConfig:
    dim: int = 64
    heads: int = 4
    layers: int = 3
    mlp_ratio: int = 2

    def __post_init__(self):
        _check(self, "model", at_least_1=("dim", "heads", "layers", "mlp_ratio"))
        if self.dim % self.heads:
            raise LfmError(f"config key 'model.heads' ({self.heads}) must divide model.dim ({self.dim})")


@dataclass
class MVLiftData:
    paths: list[str] = field(default_factory=list)  # dataset files; only their 2D is read
    categories: list[str] | None = None
    exclude_categories: list[str] = field(default_factory=list)
    window: int = 32  # frames per clip
    radius: float = 4.0  # the virtual cameras' distance, in object sizes (mvlift/geometry.py)

    def __post_init__(self):
        _check(self, "data", positive=("radius",))
        if self.window < 2:
            raise LfmError(f"config key 'data.window' must be at least 2 frames, not {self.window}")


@dataclass
class DiffusionTraining:
    """How a denoiser trains: a fixed number of steps (max_minutes only a safety stop), evaluated on fixed clips."""

    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 100
    val_clips: int = 256
    eval_every: int = 250
    max_minutes: float = 0.0

    def check(self, block: str) -> None:
        _check(
            self,
            block,
            at_least_1=("steps", "batch_size", "val_clips", "eval_every"),
            positive=("lr",),
            not_negative=("warmup_steps", "max_minutes"),
        )


@dataclass
class PriorConfig(DiffusionTraining):
    """Stage 1: the line-conditioned 2D motion prior."""

    line_dropout: float = 0.1  # share of clips trained without lines (the prior also works unconditioned)
    epipole_angle: float = 80.0  # virtual epipoles along the horizon up to this angle off the optical axis (deg)
    epipole_tilt: float = 10.0  # and this much above or below it (deg, standard deviation)

    def __post_init__(self):
        self.check("prior")
        _check(self, "prior", not_negative=("epipole_tilt",), shares=("line_dropout",))
        if not 0 <= self.epipole_angle < 90:
            raise LfmError(f"config key 'prior.epipole_angle' must be in [0, 90), not {self.epipole_angle}")


@dataclass
class MultiviewConfig(DiffusionTraining):
    """Stage 4: the multi-view model, trained on stage 3's consistent views."""

    sample_steps: int = 50  # DDIM steps when it lifts

    def __post_init__(self):
        self.check("multiview")
        _check(self, "multiview", at_least_1=("sample_steps",))


@dataclass
class ViewsConfig:
    """Stages 2 and 3: other views by score distillation and epipolar consistency, then one 3D motion."""

    angles: list[float] = field(default_factory=lambda: [0.0, 60.0, 120.0, 180.0, 240.0, 300.0])  # 0: the input
    steps: int = 200
    lr: float = 0.01
    sds_weight: float = 1.0
    epipolar_weight: float = 10.0
    max_noise: float = 0.5  # score distillation at diffusion times up to this (1: pure noise)
    batch_size: int = 32  # clips optimised together
    bone_steps: int = 100  # inverse-kinematics steps for constant bone lengths (0: keep the triangulated motion)
    max_clips: int = 0  # at most this many clips per split, chosen evenly at random (0: every clip)
    output_angles: list[float] = field(default_factory=lambda: [0.0, 90.0, 180.0, 270.0])  # views written out

    def __post_init__(self):
        _check(
            self,
            "views",
            at_least_1=("steps", "batch_size"),
            positive=("lr",),
            not_negative=("sds_weight", "epipolar_weight", "bone_steps", "max_clips"),
            shares=("max_noise",),
        )
        for key in ("angles", "output_angles"):
            angles = getattr(self, key)
            if len(angles) < 2 or angles[0] != 0 or len(set(angles)) < len(angles):
                raise LfmError(f"config key 'views.{key}' lists two or more different angles, the first 0 (the input)")


@dataclass
class MVLiftConfig(Blocks):
    kind: ClassVar[str] = "mvlift"  # its lifter's kind, as `Checkpoint.kind` reads it (ModelConfig.kind for lfm's)
    model: DenoiserConfig = field(default_factory=DenoiserConfig)
    data: MVLiftData = field(default_factory=MVLiftData)
    prior: PriorConfig = field(default_factory=PriorConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    multiview: MultiviewConfig = field(default_factory=MultiviewConfig)
    seed: int = 0
    device: str = "auto"

    @classmethod
    def resolve(
        cls, config_file: str | Path | None = None, overrides: Iterable[str] = (), paths: Iterable = (), **flags
    ) -> MVLiftConfig:
        """Defaults, then ``config_file``, ``--set`` overrides, data ``paths`` and the top-level ``flags``."""
        cfg = cls()
        if config_file is not None:
            cfg = cfg.merged(_read_yaml(Path(config_file)))
        cfg = cfg.merged(parse_set(overrides)).merged({k: v for k, v in flags.items() if v is not None})
        if paths:
            cfg.data.paths = [str(p) for p in paths]
        if not cfg.data.paths:
            raise LfmError("no data: give --data FILE.h5 (or data.paths in the config)")
        return cfg
