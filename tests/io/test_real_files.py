"""Every 2D file of ../shared/fixtures/real, as other projects published it: read right, or refused in one line."""

import json
import shutil
import sys

import numpy as np
import pytest

from lfmcli.errors import LfmError
from lfmcli.io.readers import read_keypoints
from lfmcli.rigs import Rig, get_rig


def median_offset(points, a, b, c):
    """Median distance of joint a from the middle of joints b and c, in body sizes."""
    p = points.reshape(-1, *points.shape[-2:])
    ok = np.isfinite(p[:, [a, b, c]]).all((1, 2))
    p = p[ok]
    size = np.nanmax(np.nanmax(p, 1) - np.nanmin(p, 1), -1)
    return np.median(np.linalg.norm(p[:, a] - (p[:, b] + p[:, c]) / 2, axis=-1) / size)


def test_openpose_body25_and_body25b_are_told_apart(real_files):
    b25 = read_keypoints(real_files / "openpose" / "raga_example_1person")
    assert b25.rig.name == "openpose_body25" and b25.shape == (125, 1, 25) and not b25.notes
    b25b = read_keypoints(real_files / "openpose" / "pose2sim_balancing_cam01")
    assert b25b.rig.name == "openpose_body25b" and "BODY_25B" in b25b.notes[0]
    # read as BODY_25B, the upper neck sits between the shoulders and the hips are hips, left of the right ones
    j = b25b.rig.joints.index
    assert median_offset(b25b.points, j("UpperNeck"), j("LShoulder"), j("RShoulder")) < 0.1
    single = read_keypoints(real_files / "openpose" / "spin_im1010_openpose.json")
    assert single.rig.name == "openpose_body25" and single.shape == (1, 1, 25)


def test_openpose_before_1_2_names_its_points_pose_keypoints(real_files, tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    for f in sorted((real_files / "openpose" / "raga_example_1person").glob("*.json"))[:5]:
        doc = json.loads(f.read_text())
        for person in doc["people"]:
            person["pose_keypoints"] = person.pop("pose_keypoints_2d")
        (folder / f.name).write_text(json.dumps(doc))
    old = read_keypoints(folder)
    new = read_keypoints(real_files / "openpose" / "raga_example_1person")
    np.testing.assert_array_equal(old.points, new.points[:5])


def test_people_without_track_ids_are_linked_into_tracks(real_files):
    kp = read_keypoints(real_files / "openpose" / "raga_example_3people")
    assert kp.shape[1] == 3 and "linked into 3 tracks" in kp.notes[-1]
    centre = np.nanmean(kp.points, axis=2)  # (T, I, 2)
    size = np.nanmedian(np.nanmax(kp.points, 2) - np.nanmin(kp.points, 2))
    step = np.linalg.norm(np.diff(centre, axis=0), axis=-1)
    assert np.nanmax(step) < 0.3 * size  # no track jumps from one person to another


def test_coco_track_ids_name_the_individuals(real_files):
    kp = read_keypoints(real_files / "coco" / "mmpose_test_posetrack18_val.json")
    anns = json.loads((real_files / "coco" / "mmpose_test_posetrack18_val.json").read_text())["annotations"]
    assert kp.individuals == [str(t) for t in sorted({a["track_id"] for a in anns})] and not kp.notes
    assert kp.joints[:3] == ["nose", "head_bottom", "head_top"] and kp.named


def test_coco_wholebody_reads_all_133_points(real_files):
    kp = read_keypoints(real_files / "coco" / "mmpose_test_coco_wholebody.json")
    assert kp.shape[2] == 133 and kp.rig.name == "coco_wholebody_133"
    face = [j for j, n in enumerate(kp.joints) if n.startswith("face_")]
    assert len(face) == 68 and np.isfinite(kp.points[:, :, face]).any()


def test_coco_categories_keep_their_keypoint_names_without_a_skeleton(real_files):
    kp = read_keypoints(real_files / "coco" / "mmpose_test_horse10.json")
    assert kp.shape == (3, 1, 22) and kp.joints[0] == "Nose" and kp.rig.graph_note().endswith("without graph edges")
    ap10k = read_keypoints(real_files / "coco" / "mmpose_test_ap10k.json")
    assert ap10k.joints[:3] == ["left_eye", "right_eye", "nose"] and ap10k.rig.edges


def test_deeplabcut_csv_with_three_index_columns(real_files):
    path = real_files / "dlc" / "sleapio_dlc_test_project__PrL-19__CollectedData_JohnDoe__first8rows.csv"
    kp = read_keypoints(path)
    assert kp.shape[0] == 8 and kp.individuals[:2] == ["pup1", "pup2"] and kp.joints[0] == "pup_snout"
    assert np.isfinite(kp.points).any() and (kp.points[np.isfinite(kp.points)] > 1).all()  # pixels, not indices
    single = read_keypoints(real_files / "dlc" / "m4s1__CollectedData_Pranav.csv")
    assert single.shape == (116, 1, 4) and single.joints == ["snout", "leftear", "rightear", "tailbase"]


def test_a_binary_csv_is_one_line(cli, tmp_path):
    (tmp_path / "noise.csv").write_bytes(bytes(range(256)) * 4)
    r = cli("lift", tmp_path / "noise.csv", "-o", tmp_path / "out.h5")
    assert r.exit_code == 1 and "noise.csv: not UTF-8 text (byte 0x80 at offset 128)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.h5").exists()


def test_a_triangulated_deeplabcut_csv_is_refused(tmp_path):
    rows = ["scorer,s,s,s", "bodyparts,nose,nose,nose", "coords,x,y,z", "0,1.0,2.0,3.0"]
    path = tmp_path / "3d.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(LfmError, match="3D DeepLabCut.*3d.csv|3d.csv.*3D DeepLabCut"):
        read_keypoints(path)


def test_deeplabcut_config_imports_as_a_rig_of_names(real_files, cli, tmp_path):
    out = tmp_path / "openfield.yaml"
    r = cli("rigs", "import", real_files / "dlc" / "openfield-Pranav-2018-10-30__config.yaml", "-o", out)
    assert r.exit_code == 0, r.output
    rig = get_rig(out)
    assert list(rig.joints) == ["snout", "leftear", "rightear", "tailbase"] and not rig.edges


def test_sleap_files(real_files, monkeypatch):
    analysis = read_keypoints(real_files / "sleap" / "predictions.analysis.h5")
    assert analysis.shape == (3000, 2, 13) and analysis.joints[:2] == ["head", "thorax"]
    slp = real_files / "sleap" / "clip.predictions.slp"
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "sleap_io", None)  # as without the optional package
        with pytest.raises(LfmError, match=r"clip.predictions.slp.*lfmcli\[sleap\].*sleap-convert"):
            read_keypoints(slp)
    pytest.importorskip("sleap_io")
    kp = read_keypoints(slp)
    assert kp.joints == ["head", "thorax"] and kp.individuals == ["female", "male"] and kp.shape[0] == 1500


def test_deeplabcut_h5_without_its_optional_packages_says_which_to_install(real_files, monkeypatch):
    pd = pytest.importorskip("pandas")
    h5 = real_files / "dlc" / "m4s1__CollectedData_Pranav.h5"

    def no_tables(*args, **kwargs):
        raise ImportError("Missing optional dependency 'pytables'.")

    for missing in ({"pandas": None}, {}):  # no pandas; pandas without tables
        with monkeypatch.context() as m:
            for name, module in missing.items():
                m.setitem(sys.modules, name, module)
            if not missing:
                m.setattr(pd, "read_hdf", no_tables)
            with pytest.raises(LfmError, match=r"m4s1__CollectedData_Pranav.h5.*lfmcli\[dlc\].*\.csv"):
                read_keypoints(h5)


def test_rig_given_for_a_file_that_names_its_joints_is_matched_by_name(real_files, tmp_path):
    from lfmcli.lift import lift_file

    csv = real_files / "dlc" / "m4s1__CollectedData_Pranav.csv"
    kp = read_keypoints(csv)
    rig = Rig.from_dict(
        {"name": "mouse4", "joints": ["tailbase", "snout", "leftear", "rightear"], "edges": [["snout", "tailbase"]]}
    )
    matched = kp.with_rig(rig, csv)
    assert matched.joints == ["tailbase", "snout", "leftear", "rightear"]
    np.testing.assert_array_equal(matched.points[:, :, 0], kp.points[:, :, 3])  # moved by name, not position
    wrong = Rig.from_dict({"name": "other", "joints": ["a", "b", "c", "d"]})
    with pytest.raises(LfmError, match="4 of the file's keypoints are not joints of rig 'other'"):
        kp.with_rig(wrong, csv)
    rig.save(tmp_path / "mouse4.yaml")
    done = lift_file(csv, tmp_path / "m.h5", rig=str(tmp_path / "mouse4.yaml"), device="cpu")
    assert done.keypoints.joints[0] == "tailbase"


def test_every_real_2d_file_lifts_or_fails_in_one_line(real_files, cli, tmp_path):
    inputs = [p for p in sorted(real_files.glob("*/*")) if p.suffix in (".json", ".csv", ".h5", ".slp") or p.is_dir()]
    assert len(inputs) >= 14
    for k, path in enumerate(inputs):
        r = cli("lift", path, "-o", tmp_path / f"{k}.h5")
        if r.exit_code:
            assert len(r.stderr.strip().splitlines()) == 1 and path.name in r.stderr, r.stderr
            assert not (tmp_path / f"{k}.h5").exists()
        else:
            assert (tmp_path / f"{k}.h5").exists()
    shutil.rmtree(tmp_path)


def test_deeplabcut_guesses_below_its_pcutoff_are_missing_by_default(tmp_path):
    from lfmcli.lift import lift_file

    header = ["scorer,d,d,d,d,d,d,d,d,d", "bodyparts,a,a,a,b,b,b,c,c,c", "coords" + ",x,y,likelihood" * 3]
    rows = [f"{t},10,20,0.9,30,{40 + t},0.5,50,70,0.95" for t in range(4)]
    path = tmp_path / "pred.csv"
    path.write_text("\n".join(header + rows) + "\n")
    default = lift_file(path, tmp_path / "a.h5", device="cpu")
    assert default.lifted.visible[:, 0].tolist() == [[True, False, True]] * 4  # 0.5 < DeepLabCut's pcutoff 0.6
    every = lift_file(path, tmp_path / "b.h5", min_confidence=0.0, device="cpu")
    assert every.lifted.visible.all()
    with pytest.raises(LfmError, match="--min-confidence 2"):
        lift_file(path, tmp_path / "c.h5", min_confidence=2, device="cpu")


def test_a_deeplabcut_config_as_rig_gives_its_skeleton_and_pcutoff(real_files, tmp_path):
    from lfmcli.lift import lift_file

    config = real_files / "dlc" / "openfield-Pranav-2018-10-30__config.yaml"
    done = lift_file(real_files / "dlc" / "m4s1__CollectedData_Pranav.csv", tmp_path / "m.h5", rig=str(config))
    assert done.keypoints.rig.name == "openfield" and done.keypoints.joints == [
        "snout",
        "leftear",
        "rightear",
        "tailbase",
    ]
    import h5py

    with h5py.File(tmp_path / "m.h5") as f:
        assert "--min-confidence 0.4" in f.attrs["command"]  # the project's pcutoff
