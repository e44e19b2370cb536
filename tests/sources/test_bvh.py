import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lfmcli.errors import LfmError
from lfmcli.sources.bvh import bvh_positions, bvh_rig, parse_bvh

BVH = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT knee
  {
    OFFSET 0 -2 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -3 0
    }
  }
  JOINT chest
  {
    OFFSET 0 1.5 0
    CHANNELS 3 Yrotation Xrotation Zrotation
  }
}
MOTION
Frames: 3
Frame Time: 0.1
"""


def write(path, rows):
    path.write_text(BVH + "\n".join(" ".join(map(str, r)) for r in rows) + "\n")
    return path


def test_forward_kinematics_matches_hand_computation(tmp_path):
    rows = [
        [0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 10, 0, 90, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 10, 2, 0, 0, 0, 30, 45, 0, 0, 0, 0],
    ]
    m = parse_bvh(write(tmp_path / "a.bvh", rows))
    assert m.names == ["hips", "knee", "knee_end", "chest"] and m.fps == pytest.approx(10)
    p = bvh_positions(m, end_sites=True)
    np.testing.assert_allclose(p[0], [[0, 10, 0], [0, 8, 0], [0, 5, 0], [0, 11.5, 0]], atol=1e-12)
    # a 90 degree turn of the root about z swings "down" (-y) to +x
    np.testing.assert_allclose(p[1, 1], [1 + 2, 10, 0], atol=1e-12)
    # knee rotated Z then X (intrinsic): the end site hangs from the knee along R_knee @ (0, -3, 0)
    r = Rotation.from_euler("ZXY", [30, 45, 0], degrees=True)
    np.testing.assert_allclose(p[2, 2], p[2, 1] + r.apply([0, -3, 0]), atol=1e-12)
    assert bvh_positions(m).shape == (3, 3, 3)  # end sites dropped by default
    rig = bvh_rig(m)
    assert rig.joints == ("hips", "knee", "chest") and rig.parents == (-1, 0, 0)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.replace("  }\n  JOINT chest", "  JOINT chest", 1), "unbalanced"),
        (lambda s: s.replace("Frames: 3", "Frames: 4"), "MOTION has"),
        (
            lambda s: s.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Zrotation Wrotation Yrotation"),
            "CHANNELS",
        ),
        (lambda s: s.replace("HIERARCHY", "HIERARCHIE"), "not a BVH"),
        # rotations are three distinct axes: anything else is no Euler angle sequence
        (lambda s: s.replace("3 Zrotation Xrotation Yrotation", "3 Xrotation Xrotation Zrotation", 1), "'knee'.*once"),
        (lambda s: s.replace("3 Zrotation Xrotation Yrotation", "2 Zrotation Xrotation", 1), "'knee'.*once"),
        (lambda s: s.replace("3 Yrotation Xrotation Zrotation", "3 Yrotation Xrotation Yposition", 1), "'chest'.*once"),
        (lambda s: s.replace("6 Xposition", "6 Yposition", 1), "'hips'.*once"),
        (lambda s: s.replace("3 Zrotation Xrotation Yrotation", "3 Zrotation Xrotation Yrot", 1), "'knee': CHANNELS"),
        (lambda s: s.replace("OFFSET 0 -2 0", "OFFSET 0 nan 0"), "line 8: OFFSET needs three finite numbers"),
        (lambda s: s.replace("OFFSET 0 -2 0", "OFFSET 0 -2"), "line 8: OFFSET needs three finite numbers"),
        (lambda s: s.replace("Frame Time: 0.1", "Frame Time: inf"), "Frame Time must be a positive number"),
        # motion values are finite numbers: the line and the joint's channel are named
        (lambda s: s[: s.rindex(" 0")] + " nan\n", "line 26: joint 'chest' Zrotation is 'nan', not a finite"),
        (lambda s: s.replace("\n0 ", "\ninf ", 1), "line 24: joint 'hips' Xposition is 'inf'"),
        (lambda s: s[: s.rindex("0 0 0")] + "0 1e400 0\n", "line 26: joint 'chest' Xrotation is '1e400'"),
    ],
)
def test_broken_files_are_clear_errors(tmp_path, mutate, message):
    path = tmp_path / "b.bvh"
    write(path, [[0] * 12] * 3)
    path.write_text(mutate(path.read_text()))
    with pytest.raises(LfmError, match=message) as e:
        parse_bvh(path)
    assert "b.bvh" in str(e.value)


def test_cmu_names_in_metres_are_taken_as_metres(tmp_path, shared_data):
    """Motion retargeted from CMU (PFNN's files) keeps CMU's joint names but is in metres: the size of the body
    decides the unit, and the note says that the names were overruled."""
    from lfmcli.sources.bvh import CMU_UNIT, plan

    cmu = shared_data / "bvh_cmu" / "cmu_131_01.bvh"
    frames = 4
    m = parse_bvh(cmu, frames=frames)
    moves = [k for k, c in enumerate(c for ch in m.channels for c in ch) if c.endswith("position")]
    m.values[:, moves] *= CMU_UNIT
    head = cmu.read_text().split("MOTION")[0]
    head = re.sub(
        r"OFFSET(.*)", lambda g: "OFFSET " + " ".join(f"{float(x) * CMU_UNIT:.7f}" for x in g[1].split()), head
    )
    rows = "\n".join(" ".join(f"{v:.7f}" for v in row) for row in m.values)
    metres = tmp_path / "retargeted.bvh"
    metres.write_text(f"{head}MOTION\nFrames: {frames}\nFrame Time: {m.frame_time}\n{rows}\n")
    built = plan([metres])
    assert "CMU joint names, but" in built.notes[0] and "units taken as metres" in built.notes[0]
    people = [p.load().points3d for p in (*built.sequences, *plan([cmu]).sequences)]
    np.testing.assert_allclose(people[0], people[1][:frames], atol=1e-4)  # the CMU file, in metres
    span = np.nanmax(people[0][0], 0) - np.nanmin(people[0][0], 0)
    assert 0.9 < span.max() < 2.4


def test_cmu_bvh_import_matches_the_cmu_npz_scale(cli, tmp_path, shared_data):
    out = tmp_path / "cmu.h5"
    r = cli("build-dataset", "bvh", shared_data / "bvh_cmu", "-o", out, "--fps", 30)
    assert r.exit_code == 0, r.output
    assert cli("dataset", "validate", out).exit_code == 0
    info = json.loads(cli("dataset", "info", out, "--json").stdout)
    assert info["rigs"] == {"cmu_bvh_31": 31} and info["sequences"] == 2
    from lfmcli.data.format import DatasetFile

    with DatasetFile(out) as f:
        seq = f.sequence(0)
    ix = {n: i for i, n in enumerate(seq.rig.joints)}
    femur = np.linalg.norm(seq.points3d[:, ix["LeftKnee"]] - seq.points3d[:, ix["LeftHip"]], axis=-1).mean()
    npz = np.load(shared_data / "human_cmu" / "train_walking_1.npz")
    names = list(npz["joint_names"])
    ref = np.linalg.norm(npz["points3d"][:, names.index("ltibia")] - npz["points3d"][:, names.index("lfemur")], axis=-1)
    assert femur == pytest.approx(ref.mean(), rel=0.15)


def test_position_channels_replace_the_offset(tmp_path):
    """MotionBuilder-style files give every joint position channels: they stand for its OFFSET, axis by axis."""
    text = BVH.replace(
        "CHANNELS 3 Zrotation Xrotation Yrotation",
        "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
    )
    path = tmp_path / "mb.bvh"
    rows = ["1 2 3 0 0 0  0 -2 0 0 0 0  0 0 0", "0 0 0 0 0 0  0 -4 0 0 0 0  0 0 0", "0 0 0 0 0 0  0 -1 0 0 0 0  0 0 0"]
    path.write_text(text + "\n".join(rows) + "\n")
    pos = bvh_positions(parse_bvh(path), end_sites=True)
    np.testing.assert_allclose(pos[0, 0], [1, 2, 3])  # the root stands where its channels say
    np.testing.assert_allclose(
        pos[:, 1] - pos[:, 0], [[0, -2, 0], [0, -4, 0], [0, -1, 0]]
    )  # the knee: channels, not 2x offset
    np.testing.assert_allclose(pos[:, 2] - pos[:, 1], [[0, -3, 0]] * 3)  # the end site keeps its offset


def test_units_are_guessed_from_names_and_size_and_said(shared_data):
    from lfmcli.sources.bvh import CMU_UNIT, plan

    fixtures = shared_data.parent / "fixtures" / "real" / "bvh"
    files = [fixtures / "fairmotion__01_01.bvh", fixtures / "pymo__AV_8Walk_Meredith_HVHA_Rep1.bvh"]
    files.append(shared_data / "bvh_bandai" / "dataset-1_run_normal_001.bvh")
    notes = plan(files).notes
    assert "CMU length units" in notes[0] and "inches" in notes[1] and "centimetres" in notes[2]
    people = [p.load().points3d for p in plan(files).sequences]
    for points in people:
        span = np.nanmax(points[0], 0) - np.nanmin(points[0], 0)
        assert 0.9 < span.max() < 2.4  # every one a person, not a 55 m giant
    assert plan(files[:1], scale=CMU_UNIT).notes == []
    # the conversion that keeps CMU's ASF bone names is the shipped CMU BVH rig (its cmu_asf layout)
    assert plan(files[:1]).sequences[0].load().rig.name == "cmu_bvh_31"


def test_a_scale_that_overflows_the_points_is_one_error(cli, tmp_path):
    bvh = next((Path(__file__).resolve().parents[2].parent / "shared" / "data" / "bvh_cmu").glob("*.bvh"), None)
    if bvh is None:
        pytest.skip("../shared/data/bvh_cmu is not here")
    out = tmp_path / "o.h5"
    r = cli("build-dataset", "bvh", bvh, "-o", out, "--scale", "1e300")
    assert r.exit_code == 1 and "float range" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.output
    assert not out.exists()
