import pytest

from lfmcli.config import DEFAULT_WINDOW, RunConfig, parse_set
from lfmcli.errors import LfmError


def test_resolve_layers_defaults_preset_file_sets_and_flags(tmp_path):
    (tmp_path / "c.yaml").write_text("model: {layers: 3}\ntraining: {lr: 3e-4, epochs: 5}\n")
    cfg = RunConfig.resolve("lfm", "tiny", tmp_path / "c.yaml", ["training.epochs=7"], ["a.h5"], {"seed": 9})
    assert (cfg.model.kind, cfg.model.dim, cfg.model.layers) == ("lfm", 32, 3)  # preset, then the file
    assert cfg.training.lr == 3e-4 and cfg.training.epochs == 7 and cfg.training.seed == 9  # then --set, flags
    assert cfg.data.paths == ["a.h5"] and cfg.data.window == DEFAULT_WINDOW and cfg.loss.align


def test_a_saved_config_loads_back_and_resumes_with_overrides(tmp_path):
    cfg = RunConfig.resolve("spacetime", "tiny", None, ["data.categories=[dog, 3]"], ["a.h5"])
    assert cfg.data.categories == ["dog", "3"]  # a list of names, whatever YAML made of them
    cfg.save(tmp_path / "config.yaml")
    assert RunConfig.load(tmp_path / "config.yaml") == cfg
    resumed = RunConfig.resume(tmp_path, ["training.patience=2"], {"epochs": 300})
    assert resumed.training.patience == 2 and resumed.training.epochs == 300 and resumed.model == cfg.model
    with pytest.raises(LfmError, match="not a run folder"):
        RunConfig.resume(tmp_path / "nothing")


@pytest.mark.parametrize(
    "sets, message",
    [
        (["training.lrr=1"], "unknown config key 'training.lrr'"),
        (["modle.dim=3"], "unknown config key 'modle'"),
        (["lr"], "section.key=value"),
        (["training.lr=fast"], "'training.lr' takes a number"),
        (["model.dim=abc"], "'model.dim' takes an integer"),
        (["model.dim=2.5"], "'model.dim' takes an integer"),
        (["training.bf16=3"], "'training.bf16' takes true or false"),
        (["data.paths=3"], "'data.paths' takes a list"),
        (["training=3"], "block 'training' must be a mapping"),
        (["training.lr.x=1"], "'training.lr' takes a number"),
        (["training.lr=1", "training.lr.x=1"], "'lr' is a setting, not a block"),
        (["training.batch_size=0"], "'training.batch_size' must be at least 1"),
        (["training.lr=nan"], "'training.lr' must be a positive number"),
        (["training.max_minutes=-1"], "'training.max_minutes' must be a number, not negative"),
        (["training.schedule=linear"], "'training.schedule' is plateau or cosine"),
        (["data.occlusion=1.5"], "'data.occlusion' must be a share"),
        (["data.window=0"], "'data.window' must be at least 1"),
        (["loss.velocity_weight=-1"], "'loss.velocity_weight'"),
        (["model.heads=3"], "'model.heads' .3. must divide model.dim"),
    ],
)
def test_every_bad_key_or_value_is_one_error_naming_it(sets, message):
    with pytest.raises(LfmError, match=message):
        RunConfig.resolve("lfm", "tiny", None, sets, ["a.h5"])


def test_choices_and_files_are_checked(tmp_path):
    with pytest.raises(LfmError, match="presets are"):
        RunConfig.resolve("lfm", "huge", None, [], ["a.h5"])
    with pytest.raises(LfmError, match="--model 'lstm': choose lfm or spacetime"):
        RunConfig.resolve("lstm", "tiny", None, [], ["a.h5"])
    with pytest.raises(LfmError, match="no training data"):
        RunConfig.resolve("lfm", "tiny")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(LfmError, match="list.yaml: a config file is a mapping"):
        RunConfig.resolve("lfm", "tiny", tmp_path / "list.yaml", [], ["a.h5"])
    with pytest.raises(LfmError, match="no such file"):
        RunConfig.resolve("lfm", "tiny", tmp_path / "missing.yaml", [], ["a.h5"])


def test_parse_set_reads_yaml_values():
    assert parse_set(["a.b=1", "a.c=[x, y]", "d.e=true"]) == {"a": {"b": 1, "c": ["x", "y"]}, "d": {"e": True}}
