"""Bytes, generated: every 2D reader, every dataset builder, rig files (`lfm rigs validate`, `show`, `import`, and
`--rig` of lift) and `lfm train --config` take random bytes, and valid text with a few bytes that are not UTF-8
(a Latin-1 é, a stray continuation byte, an encoded surrogate). Each refuses in one line naming the file (exit 1,
nothing written) or, where the bytes happen to make a valid file, gives valid output; text that is not UTF-8 is
always refused as such, never decoded by a guess. File names that are not UTF-8 are shown escaped, never a crash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import (  # tests/ is on the path (pytest rootdir mode)
    _BVH,
    FUZZ,
    _coco,
    _dlc_csv,
    _lfm_json,
    _openpose,
    one_line_error,
)

from lfmcli.io.readers import READERS
from lfmcli.io.results import read_result
from lfmcli.rigs import get_rig
from lfmcli.sources import SOURCES

BYTES = settings(FUZZ, max_examples=14)
NOT_UTF8 = st.sampled_from(
    [b"\xe9", b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
)


def damage(data, text: str) -> bytes:
    """``text`` in UTF-8 with one to three of its bytes replaced by bytes that are not UTF-8."""
    raw = bytearray(text.encode())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i : i + 1] = data.draw(NOT_UTF8)
    return bytes(raw)


def some_bytes(data, text: str | None) -> bytes:
    """Random bytes, or ``text`` (a sample of the format) damaged by bytes that are not UTF-8."""
    if text is None or data.draw(st.booleans()):
        return data.draw(st.binary(max_size=300))
    return damage(data, text)


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_text(r, src: Path, raw: bytes) -> None:
    """Bytes that are not UTF-8 in a text file are refused as such, naming it."""
    if not is_utf8(raw):
        assert r.exit_code == 1 and f"{src.name}: not UTF-8 text" in r.stderr, r.output


def lift(cli, ckpt, src: Path, *extra, named: Path | None = None):
    """`lfm lift src`: refused in one line naming ``named`` (default: ``src``), or a valid result."""
    out = src.parent / "out.h5"
    out.unlink(missing_ok=True)
    r = cli("lift", src, "-o", out, "--checkpoint", ckpt[0], *extra)
    if not one_line_error(r, named or src, out):
        _, lifted, _ = read_result(out)
        assert lifted.position.shape[-1] == 3 and not np.isinf(lifted.position).any()
    return r


def build(cli, src: Path, kind: str, *extra):
    """`lfm build-dataset kind src`: refused in one line naming ``src``, or a dataset that validates."""
    out = src.parent / "out.h5"
    out.unlink(missing_ok=True)
    r = cli("build-dataset", kind, src, "-o", out, *extra)
    if not one_line_error(r, src, out):
        assert cli("dataset", "validate", out).exit_code == 0, f"{kind} wrote an invalid dataset"
    return r


# --- 2D readers -------------------------------------------------------------------------------------------------

TEXT_READERS = {  # format -> (file name, a valid file)
    "lfm-json": ("points.json", lambda: json.dumps(_lfm_json())),
    "coco": ("coco.json", lambda: json.dumps(_coco())),
    "openpose": ("f_000000000000_keypoints.json", lambda: json.dumps(_openpose())),
    "dlc": ("preds.csv", _dlc_csv),
}


def test_every_text_reader_has_a_sample():
    text = {r.name for r in READERS.values() if {".json", ".csv"} & set(r.suffixes)}
    assert text == set(TEXT_READERS)


@pytest.mark.parametrize("fmt", list(READERS))
@BYTES
@given(data=st.data())
def test_readers(cli, ckpt, tmp_path, fmt, data):
    name, sample = TEXT_READERS.get(fmt, (f"input{READERS[fmt].suffixes[-1]}", lambda: None))
    raw = some_bytes(data, sample())
    src = tmp_path / name
    src.write_bytes(raw)
    r = lift(cli, ckpt, src, "--format", fmt)
    if fmt in TEXT_READERS:
        check_text(r, src, raw)


# --- rig files, DeepLabCut configs, training configs -------------------------------------------------------------


@BYTES
@given(data=st.data())
def test_rig_yaml(cli, ckpt, tmp_path, data):
    raw = some_bytes(data, get_rig("h36m_17").to_yaml())
    src = tmp_path / "rig.yaml"
    src.write_bytes(raw)
    for command in (("rigs", "validate", src), ("rigs", "show", src)):
        r = cli(*command)
        one_line_error(r, src)
        check_text(r, src, raw)
    points = tmp_path / "points.json"
    points.write_text(json.dumps({**_lfm_json(), "rig": None}))
    check_text(lift(cli, ckpt, points, "--rig", src, named=src), src, raw)


@BYTES
@given(data=st.data())
def test_deeplabcut_config(cli, tmp_path, data):
    config = {"Task": "mouse", "bodyparts": ["snout", "ear_l", "ear_r"], "skeleton": [["snout", "ear_l"]]}
    raw = some_bytes(data, yaml.safe_dump(config))
    src = tmp_path / "config.yaml"
    src.write_bytes(raw)
    out = tmp_path / "mouse.yaml"
    out.unlink(missing_ok=True)
    r = cli("rigs", "import", src, "-o", out)
    if not one_line_error(r, src, out):
        assert cli("rigs", "validate", out).exit_code == 0
    check_text(r, src, raw)


@BYTES
@given(data=st.data())
def test_train_config(cli, tmp_path, data):
    raw = some_bytes(data, "training:\n  epochs: 1\nmodel:\n  dim: 32\n")
    src = tmp_path / "config.yaml"
    src.write_bytes(raw)
    r = cli("train", "--config", src, "-o", tmp_path / "run")  # no --data: a config that reads stops there
    assert r.exception is None or isinstance(r.exception, SystemExit), f"traceback: {r.exception!r}"
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.output
    check_text(r, src, raw)
    assert not (tmp_path / "run").exists()


# --- dataset builders -------------------------------------------------------------------------------------------

BUILDERS = {  # source -> (file name, a sample of the format or None for a binary one, options)
    "bvh": ("walk.bvh", _BVH, ("--views", "1")),
    "tracks": ("points.json", json.dumps(_lfm_json()), ()),
    "h3wb": ("h3wb_train.json", json.dumps({"0": {"keypoints_2d": {"0": {"x": 1, "y": 2}}, "keypoints_3d": {}}}), ()),
    "pascal3d": ("pascal3d_val.json", json.dumps({"dataset": "pascal3d", "data": [{"kp_loc": [[1.0]]}]}), ()),
    "animalsyn3d-json": ("bear.json", json.dumps({"model": "bear3EP", "frames": [], "connections": []}), ()),
    "npz": ("seq.npz", None, ("--views", "1")),
    "h36m": ("data_3d_h36m.npz", None, ()),
}
NO_INPUT_FILE = {"synthetic", "animalsyn3d"}  # generates its data / marker files tested below


def test_every_builder_is_fed():
    assert set(SOURCES) == set(BUILDERS) | NO_INPUT_FILE


@pytest.mark.parametrize("kind", list(BUILDERS))
@BYTES
@given(data=st.data())
def test_builders(cli, tmp_path, kind, data):
    name, sample, extra = BUILDERS[kind]
    raw = some_bytes(data, sample)
    src = tmp_path / name
    src.write_bytes(raw)
    r = build(cli, src, kind, *extra)
    if sample is not None:
        check_text(r, src, raw)


@BYTES
@given(data=st.data(), suffix=st.sampled_from([".yaml", ".json"]))
def test_marker_files(cli, tmp_path, data, suffix):
    sample = json.dumps({"character": "bear", "rig": "quadruped_generic", "markers": {}})  # JSON is YAML
    raw = some_bytes(data, sample if suffix == ".yaml" else None)
    src = tmp_path / f"bear{suffix}"
    src.write_bytes(raw)
    out = tmp_path / "out.h5"
    r = cli("build-dataset", "animalsyn3d", tmp_path / "bear_run.anime", "--markers", src, "-o", out)
    assert one_line_error(r, src, out)  # no marker set: refused, naming the marker file
    check_text(r, src, raw)


# --- file names that are not UTF-8 ------------------------------------------------------------------------------


def undecodable(folder: Path, name: bytes) -> Path:
    """A path in ``folder`` whose name is ``name``, bytes that are not UTF-8 (as Python keeps them: surrogates)."""
    path = folder / os.fsdecode(name)
    try:
        path.touch()
        path.unlink()
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes only UTF-8 file names")
    return path


def test_file_names_that_are_not_utf8(cli, ckpt, tmp_path):
    src, out = undecodable(tmp_path, b"\xff.json"), undecodable(tmp_path, b"\xfe.h5")
    src.write_text(json.dumps(_lfm_json()))
    r = cli("lift", src, "-o", out, "--checkpoint", ckpt[0])
    assert r.exit_code == 0, r.output
    attrs = read_result(out)[2]
    assert attrs["input"].endswith("\\xff.json") and "\\xfe.h5" in attrs["command"]  # shown as escapes
    assert one_line_error(cli("lift", undecodable(tmp_path, b"\xfd.json"), "-o", out), src.parent)

    rig = undecodable(tmp_path, b"r\xe9.yaml")
    rig.write_text(get_rig("h36m_17").to_yaml())
    r = cli("rigs", "validate", rig)
    assert r.exit_code == 0 and "r\\xe9.yaml" in r.stderr, r.output
    rig.write_text("name: broken\njoints: [a, a]\n")
    r = cli("rigs", "validate", rig)
    assert one_line_error(r, rig.parent) and "r\\xe9.yaml" in r.stderr

    folder = tmp_path / "motion"
    folder.mkdir()
    bvh = undecodable(folder, b"walk\xff.bvh")
    bvh.write_text(_BVH)
    for given_path in (bvh, folder):
        data = tmp_path / "walk.h5"
        data.unlink(missing_ok=True)
        r = cli("build-dataset", "bvh", given_path, "-o", data)
        assert r.exit_code == 0 and "walk\\xff.bvh" in r.stderr, r.output
        assert cli("dataset", "validate", data).exit_code == 0
    bvh.write_bytes(_BVH.encode().replace(b"hips", b"h\xefps"))
    r = cli("build-dataset", "bvh", bvh, "-o", data)
    assert one_line_error(r, folder) and "walk\\xff.bvh: not UTF-8 text (byte 0xef at offset" in r.stderr
