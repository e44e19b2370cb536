"""The run configuration of `lfm train`: four typed blocks (model, data, training, loss) in one `RunConfig`.

A run's settings are resolved once, in this order: defaults, the model preset, a YAML config file, ``--set``
overrides, then the command's own flags. Every key is checked where it enters: an unknown or misspelled key, or a
value of the wrong type, is a one-line error naming the key. The resolved config is saved as ``config.yaml`` in the
run folder, and ``--resume`` reads it back.
"""

from __future__ import annotations

import copy
import math
import typing
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import yaml

from .errors import LfmError
from .files import atomic_path, read_text

DEFAULT_WINDOW = 48  # frames per clip of the space-time model, when a checkpoint does not say


MODEL_KINDS = ("lfm", "spacetime")  # the keys of MODEL_PRESETS


@dataclass
class ModelConfig:
    kind: str = "lfm"  # lfm (single frame) or spacetime
    dim: int = 64
    heads: int = 4
    layers: int = 4  # hybrid (space) layers
    mlp_ratio: int = 2
    encoding: str = "fourier"  # fourier (frozen random features) or mlp (learned, the ablation)
    # scale of the random Fourier frequencies (inputs lie in [-1, 1]): 1 generalises better than 10 to held-out
    # actions and left-out categories (docs/accuracy.md, "Fourier scale")
    sigma: float = 1.0
    # spacetime: their scale along t (t runs from -1 to 1 over the window); small, so that a space-time model
    # initialised from a single-frame one (training.init) starts close to it
    time_sigma: float = 0.1
    attention: str = "hybrid"  # hybrid, local (graph only) or global (self-attention only)
    motion_layers: int = 0  # spacetime: temporal layers before the space layers
    window: int = 8  # spacetime: frames attend to frames within +-window (alpha)
    seed: int = 0  # of the frozen Fourier features
    # residual: the normalised 2D with a learned depth and correction added (an untrained model is the flat lift, so
    # what is learned is what the 2D does not say); depth: the normalised 2D kept as it is, only a depth learned;
    # shape: a 3D shape decoded from the tokens alone (the paper's)
    output: str = "residual"
    # rigs whose joints carry a learned identity (rig name -> joints), known in a batch by their graph: without it
    # (the packaged models) the model knows no joint, only the graph, and mirrored limbs are alike to it
    identity: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        for key, choices in (
            ("kind", MODEL_KINDS),
            ("encoding", ("fourier", "mlp")),
            ("attention", ("hybrid", "local", "global")),
            ("output", ("residual", "depth", "shape")),
        ):
            if getattr(self, key) not in choices:
                raise LfmError(f"config key 'model.{key}' is one of {', '.join(choices)}, not {getattr(self, key)!r}")
        for key in ("dim", "heads", "layers", "mlp_ratio", "window"):
            if getattr(self, key) < 1:
                raise LfmError(f"config key 'model.{key}' must be at least 1, not {getattr(self, key)}")
        if self.motion_layers < 0:
            raise LfmError("config key 'model.motion_layers' must not be negative")
        for rig, joints in self.identity.items():
            if joints < 1:
                raise LfmError(f"config key 'model.identity.{rig}' is the rig's number of joints, not {joints}")
        if self.dim % self.heads:
            raise LfmError(f"config key 'model.heads' ({self.heads}) must divide model.dim ({self.dim})")

    @classmethod
    def from_dict(cls, d: dict, where: str = "model.") -> ModelConfig:
        return _typed(cls, d, where)

    def to_dict(self) -> dict:
        return asdict(self)


MODEL_PRESETS: dict[str, dict[str, dict]] = {
    "lfm": {
        "tiny": {"dim": 32, "heads": 4, "layers": 2},
        "small": {"dim": 64, "heads": 4, "layers": 4},  # the paper's presets: D / heads, four layers
        "base": {"dim": 256, "heads": 4, "layers": 4},
        "large": {"dim": 512, "heads": 8, "layers": 4},
    },
    "spacetime": {
        "tiny": {"dim": 32, "heads": 4, "layers": 2, "motion_layers": 1},
        "small": {"dim": 64, "heads": 4, "layers": 4, "motion_layers": 2},
        "paper": {"dim": 256, "heads": 8, "layers": 12, "motion_layers": 4},  # P = 4, O = 12, D = 256
    },
}


def check_kind(kind: str, flag: str = "--model") -> str:
    """``kind`` if it names a model, else a one-line error naming the flag and the choices."""
    if kind not in MODEL_KINDS:
        raise LfmError(f"{flag} {kind!r}: choose {' or '.join(MODEL_KINDS)}")
    return kind


@dataclass
class AugmentConfig:
    """Augmentations aimed at unseen skeletons, proportions, cameras and detectors (lfmcli/data/augment.py). Each
    probability is the share of training items it touches; 0 turns it off."""

    reproject: float = 0.0  # share of items seen through a new random camera
    elevation_deg: list[float] = field(default_factory=lambda: [-30.0, 70.0])  # camera height, below to high above
    roll_deg: float = 10.0  # camera roll, +-
    distance: list[float] = field(default_factory=lambda: [1.5, 20.0])  # in object sizes (log-uniform)
    weak_projection: float = 0.1  # share of re-projected items with weak perspective (one depth per frame)
    morph: float = 0.0  # share of items whose limbs are rescaled (and re-projected)
    morph_range: list[float] = field(default_factory=lambda: [0.5, 2.0])  # factor per limb, mirrored limbs alike
    drop_joints: float = 0.0  # share of items reduced to a random sub-skeleton (single joints or whole limbs)
    drop_max: float = 0.5  # at most this share of an item's joints dropped
    virtual_joints: float = 0.0  # share of items given extra joints along their bones (and re-projected)
    virtual_max: int = 3  # at most this many extra joints per item
    noise_2d: float = 0.0  # Gaussian 2D noise, sigma up to this share of the 2D size
    outliers_2d: float = 0.0  # share of visible 2D points thrown somewhere near the object

    def __post_init__(self):
        shares = ("reproject", "weak_projection", "morph", "drop_joints", "drop_max", "virtual_joints", "outliers_2d")
        _check(self, "data.augment", at_least_1=("virtual_max",), not_negative=("noise_2d", "roll_deg"), shares=shares)
        for name in ("elevation_deg", "distance", "morph_range"):
            low, high = _pair(getattr(self, name), name)
            if name != "elevation_deg" and not 0 < low <= high:
                raise LfmError(f"config key 'data.augment.{name}' takes two positive numbers, low then high")

    @property
    def active(self) -> bool:
        return any((self.reproject, self.morph, self.drop_joints, self.virtual_joints, self.noise_2d, self.outliers_2d))


def _pair(value: list[float], name: str) -> tuple[float, float]:
    if len(value) != 2 or value[0] > value[1]:
        raise LfmError(f"config key 'data.augment.{name}' takes [low, high], not {value!r}")
    return value[0], value[1]


@dataclass
class DataConfig:
    paths: list[str] = field(default_factory=list)  # dataset files
    categories: list[str] | None = None  # train on these categories only (None: all)
    exclude_categories: list[str] = field(default_factory=list)  # and never on these (a held-out category)
    window: int = DEFAULT_WINDOW  # frames per training window (space-time model)
    occlusion: float = 0.1  # ratio of visible 2D points hidden at random
    balance_categories: bool = True  # equal sampling weight per category
    category_weights: dict[str, float] = field(default_factory=dict)  # with balance: a category's share, x this
    rotate_2d: float = 0.0  # random in-plane rotation of the 2D, +-degrees
    scale_2d: float = 0.0  # random scaling of the 2D, 1 +- this
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    val_split: str = "val"

    def __post_init__(self):
        _check(self, "data", at_least_1=("window",), shares=("occlusion",), not_negative=("rotate_2d", "scale_2d"))


@dataclass
class TrainingConfig:
    batch_size: int = 256  # frames (single-frame model) or windows (space-time model)
    lr: float = 1e-3
    schedule: str = "plateau"  # plateau (halve the lr when validation stalls) or cosine (warm-up, then decay)
    warmup_steps: int = 200  # cosine: linear warm-up steps
    init: str | None = None  # start from this checkpoint's weights (those whose names and shapes match)
    trainable: str = "all"  # all, or temporal: only a space-time model's temporal layers learn, the rest stay as given
    weight_decay: float = 1e-4
    epochs: int = 100
    steps_per_epoch: int = 0  # 0: one pass over the training frames
    max_minutes: float = 0.0  # stop after this much training time (0: no limit)
    clip: float = 1.0  # gradient norm clipping
    patience: int = 10  # early stopping: epochs without a better validation error
    plateau_patience: int = 3  # ReduceLROnPlateau on the validation error
    plateau_factor: float = 0.5
    min_lr: float = 1e-6
    val_samples: int = 4096  # validation frames (or frames in windows) evaluated per epoch
    seed: int = 0
    bf16: bool = True  # bf16 autocast on CUDA
    compile: bool = False  # torch.compile on CUDA
    workers: int = 0  # processes that make training batches in parallel (0: the training process itself)
    # where training batches are made: cpu (numpy sampling; with workers, in parallel processes) or device (sampled,
    # gathered and augmented as tensors where the model runs, from a copy of the training data held there)
    batches: str = "cpu"
    device: str = "auto"

    def __post_init__(self):
        _check(
            self,
            "training",
            at_least_1=("batch_size", "epochs", "val_samples", "patience", "plateau_patience"),
            positive=("lr", "plateau_factor"),
            not_negative=(
                "workers",
                "warmup_steps",
                "weight_decay",
                "steps_per_epoch",
                "max_minutes",
                "clip",
                "min_lr",
            ),
        )
        if self.schedule not in ("plateau", "cosine"):
            raise LfmError(f"config key 'training.schedule' is plateau or cosine, not {self.schedule!r}")
        if self.trainable not in ("all", "temporal"):
            raise LfmError(f"config key 'training.trainable' is all or temporal, not {self.trainable!r}")
        if self.batches not in ("cpu", "device"):
            raise LfmError(f"config key 'training.batches' is cpu or device, not {self.batches!r}")
        if self.batches == "device" and self.workers:
            raise LfmError(
                "config key 'training.workers' makes batches on the CPU: set it to 0 with training.batches=device"
            )


@dataclass
class LossConfig:
    align: bool = True  # Procrustes-align each frame before the error (False: centre only, the plain-loss ablation)
    velocity_weight: float = 1.0  # lambda of the velocity term (space-time model)
    reflections: bool = False  # allow mirror images in the Procrustes alignment
    scale_free: bool = False  # divide each frame's error by its ground-truth spread: every size and unit weighs alike

    def __post_init__(self):
        _check(self, "loss", not_negative=("velocity_weight",))


def _check(block, name: str, at_least_1=(), positive=(), not_negative=(), shares=()) -> None:
    """One line naming the key for a value out of its range (NaN and infinity are never in range)."""
    for keys, test, words in (
        (at_least_1, lambda v: v >= 1, "at least 1"),
        (positive, lambda v: 0 < v < math.inf, "a positive number"),
        (not_negative, lambda v: 0 <= v < math.inf, "a number, not negative"),
        (shares, lambda v: 0 <= v <= 1, "a share between 0 and 1"),
    ):
        for key in keys:
            value = getattr(block, key)
            if not test(value):
                raise LfmError(f"config key '{name}.{key}' must be {words}, not {value!r}")


class Blocks:
    """What a config of typed blocks (a dataclass) can do: read a mapping, merge updates, save as YAML."""

    @classmethod
    def from_dict(cls, d: dict):
        return _typed(cls, d, "")

    def to_dict(self) -> dict:
        return asdict(self)

    def merged(self, update: dict):
        """This config with the nested ``update`` merged in (checked key by key)."""
        return type(self).from_dict(_deep_merge(self.to_dict(), update))

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


@dataclass
class RunConfig(Blocks):
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """A config file: any subset of the four blocks, on top of the defaults."""
        return cls().merged(_read_yaml(Path(path)))

    @classmethod
    def resolve(
        cls,
        kind: str = "lfm",
        preset: str = "small",
        config_file: str | Path | None = None,
        overrides: Iterable[str] = (),
        paths: Iterable[str | Path] = (),
        training: dict | None = None,
    ) -> RunConfig:
        """A new run's config: defaults, the preset, ``config_file``, ``--set`` overrides, the data ``paths``,
        then ``training`` settings given as the command's own flags."""
        check_kind(kind)
        if preset not in MODEL_PRESETS[kind]:
            raise LfmError(f"--preset {preset!r}: {kind} presets are {', '.join(MODEL_PRESETS[kind])}")
        cfg = cls().merged({"model": {"kind": kind, **MODEL_PRESETS[kind][preset]}})
        return cfg.given(config_file, overrides, paths, training, "no training data: give --data FILE.h5")

    def given(self, config_file, overrides: Iterable[str], paths: Iterable[str | Path], training: dict | None, no_data):
        """This config under what a command was given, in order: ``config_file``, ``--set`` overrides, the command's
        own ``training`` flags and the data ``paths``; ``no_data`` is the error where it then has no data."""
        cfg = self if config_file is None else self.merged(_read_yaml(Path(config_file)))
        cfg = cfg.merged(parse_set(overrides)).merged({"training": training or {}})
        paths = [str(p) for p in paths]
        if paths:
            cfg.data.paths = paths
        if not cfg.data.paths:
            raise LfmError(f"{no_data} (or data.paths in the config)")
        return cfg

    @classmethod
    def resume(cls, run: str | Path, overrides: Iterable[str] = (), training: dict | None = None) -> RunConfig:
        """The config of the run in folder ``run``, with ``--set`` overrides and flags (more epochs, say)."""
        path = Path(run) / "config.yaml"
        if not path.exists():
            raise LfmError("not a run folder (no config.yaml)", run)
        return cls.load(path).merged(parse_set(overrides)).merged({"training": training or {}})


def parse_set(items: Iterable[str]) -> dict:
    """['training.lr=3e-4', ...] -> nested dict; values are read as YAML (numbers, booleans, lists)."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LfmError(f"--set {item!r}: use section.key=value, e.g. training.lr=3e-4")
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise LfmError(f"--set {item!r}: {p!r} is a setting, not a block")
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise LfmError(f"--set {item!r}: the value is not valid YAML") from None
    return out


def _read_yaml(path: Path) -> dict:
    try:
        doc = yaml.safe_load(read_text(path))
    except yaml.YAMLError:
        raise LfmError("malformed YAML", path) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise LfmError("a config file is a mapping of blocks (model, data, training, loss)", path)
    return doc


def _deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        out[k] = _deep_merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def _typed(cls, d, where: str):
    """An instance of the dataclass ``cls`` from the mapping ``d``: unknown keys and values of the wrong type are
    errors naming the key (``where`` is its prefix, such as 'training.')."""
    if not isinstance(d, dict):
        raise LfmError(f"config block {where.rstrip('.') or 'root'!r} must be a mapping of settings, not {d!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    values = {}
    for k, v in d.items():
        if k not in known:
            raise LfmError(f"unknown config key {where + str(k)!r}; known: {', '.join(known)}")
        kind = hints[k]
        if is_dataclass(kind):
            values[k] = v if isinstance(v, kind) else _typed(kind, v, f"{where}{k}.")
        else:
            values[k] = _coerce(v, kind, where + k)
    return cls(**values)


def _coerce(value, kind, key: str):
    """``value`` as the annotated type ``kind`` (int, float, bool, str, list[str], or any of them | None)."""
    args = typing.get_args(kind)
    if type(None) in args:
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        try:
            number = float(value)
            if number.is_integer():
                return int(number)
        except (TypeError, ValueError, OverflowError):
            pass
    if kind is float and not isinstance(value, bool):
        try:
            return float(value)  # YAML reads 3e-4 (no dot) as a string
        except (TypeError, ValueError):
            pass
    if kind is str and isinstance(value, str):
        return value
    if typing.get_origin(kind) is list and isinstance(value, list | tuple):
        (item,) = typing.get_args(kind)
        return [str(v) if item is str else _coerce(v, item, key) for v in value]
    if typing.get_origin(kind) is dict and isinstance(value, dict):
        _, item = typing.get_args(kind)
        return {str(k): _coerce(v, item, f"{key}.{k}") for k, v in value.items()}
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a text"}
    wanted = names.get(kind, "a mapping" if typing.get_origin(kind) is dict else "a list")
    raise LfmError(f"config key {key!r} takes {wanted}, not {value!r}")
