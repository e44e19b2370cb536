import json

import h5py
import numpy as np
import pytest

from lfmcli.errors import LfmError
from lfmcli.io.readers import read_keypoints
from lfmcli.rigs import get_rig


def frames(rng, T=12, J=17):
    return rng.uniform(100, 600, (T, J, 2))


def test_lfm_json_reads_nulls_confidence_and_rigs(tmp_path, rng):
    pts = frames(rng, 4, 3).tolist()
    pts[1][2] = None
    pts[2][0] = pts[2][0] + [0.2]
    path = tmp_path / "k.json"
    path.write_text(
        json.dumps({"keypoints": pts, "fps": 30, "rig": {"joints": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"]]}})
    )
    kp = read_keypoints(path)
    assert kp.format == "lfm-json" and kp.shape == (4, 1, 3) and kp.joints == ["a", "b", "c"] and kp.fps == 30
    assert np.isnan(kp.points[1, 0, 2]).all() and kp.confidence[2, 0, 0] == pytest.approx(0.2)
    path.write_text(json.dumps({"keypoints": pts}))
    assert read_keypoints(path).rig is None


def test_coco_openpose_dlc_sleap_readers(tmp_path, rng):
    coco = get_rig("coco_17")
    # COCO: image 1 has two people, image 2 one; visibility 0 = missing
    kps = lambda: [v for x, y in frames(rng, 1)[0] for v in (x, y, 2)]  # noqa: E731
    anns = [{"id": k, "image_id": img, "category_id": 1, "keypoints": kps()} for k, img in enumerate([1, 1, 2])]
    anns[2]["keypoints"][0:3] = [0, 0, 0]
    (tmp_path / "coco.json").write_text(
        json.dumps(
            {
                "images": [{"id": 1, "width": 640, "height": 480}],
                "annotations": anns,
                "categories": [{"id": 1, "name": "person", "keypoints": list(coco.joints)}],
            }
        )
    )
    kp = read_keypoints(tmp_path / "coco.json")
    assert kp.format == "coco" and kp.shape == (2, 2, 17) and kp.rig.name == "coco_17"
    present = np.isfinite(kp.points[1]).any((-1, -2))  # image 2's one person went to one of the two tracks
    assert present.sum() == 1 and np.isnan(kp.points[1, present, 0]).all() and kp.image_size == (640, 480)
    # OpenPose: a folder of per-frame files, BODY_25
    op = tmp_path / "openpose"
    op.mkdir()
    for t in range(3):
        body = frames(rng, 1, 25)[0]
        body[1], body[8] = (body[2] + body[5]) / 2, (body[9] + body[12]) / 2  # BODY_25's neck and mid-hip
        people = [{"pose_keypoints_2d": [v for x, y in body for v in (x, y, 0.9)]}]
        (op / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    kp = read_keypoints(op)
    assert kp.format == "openpose" and kp.shape == (3, 1, 25) and kp.rig.name == "openpose_body25"
    for f in op.glob("*.json"):  # random points: no layout is guessed
        doc = json.loads(f.read_text())
        doc["people"][0]["pose_keypoints_2d"] = [v for x, y in frames(rng, 1, 25)[0] for v in (x, y, 0.9)]
        f.write_text(json.dumps(doc))
    kp = read_keypoints(op)
    assert kp.rig is None and "neither BODY_25 nor BODY_25B" in kp.notes[0]
    # DeepLabCut CSV, multi-animal
    header = [
        ["scorer"] + ["DLC"] * 12,
        ["individuals"] + ["m1"] * 6 + ["m2"] * 6,
        ["bodyparts"] + ["snout"] * 3 + ["tail"] * 3 + ["snout"] * 3 + ["tail"] * 3,
        ["coords"] + ["x", "y", "likelihood"] * 4,
    ]
    rows = [[str(t)] + [f"{v:.2f}" for v in rng.uniform(0, 1, 12)] for t in range(5)]
    rows[2][1] = ""  # a missing x
    (tmp_path / "dlc.csv").write_text("\n".join(",".join(r) for r in header + rows))
    kp = read_keypoints(tmp_path / "dlc.csv")
    assert kp.format == "dlc" and kp.shape == (5, 2, 2) and kp.joints == ["snout", "tail"]
    assert kp.individuals == ["m1", "m2"] and np.isnan(kp.points[2, 0, 0]).all()
    # SLEAP analysis file
    tracks = rng.uniform(0, 500, (2, 2, 4, 6))
    tracks[0, :, 1, 3] = np.nan
    with h5py.File(tmp_path / "sleap.h5", "w") as f:
        f["tracks"] = tracks
        f["node_names"] = np.array([b"head", b"thorax", b"abdomen", b"wing"])
        f["track_names"] = np.array([b"fly1", b"fly2"])
        f["edge_inds"] = np.array([[0, 1], [1, 2], [1, 3]])
    kp = read_keypoints(tmp_path / "sleap.h5")
    assert kp.format == "sleap" and kp.shape == (6, 2, 4) and kp.individuals == ["fly1", "fly2"]
    assert kp.rig is not None and len(kp.rig.edges) == 3 and np.isnan(kp.points[3, 0, 1]).all()


def test_a_format_is_one_registry_entry_and_detection_follows_it(tmp_path, cli, monkeypatch):
    from lfmcli.errors import LfmError
    from lfmcli.io import readers
    from lfmcli.keypoints import Keypoints2D

    assert list(readers.READERS) == ["lfm-json", "coco", "openpose", "dlc", "sleap", "slp", "movement"]
    help_text = cli("lift", "--help").stdout
    assert all(name in help_text for name in readers.READERS)  # --format help comes from the registry
    path = tmp_path / "track.tsv"
    path.write_text("10\t20\n30\t40\n")
    with pytest.raises(LfmError, match="unknown input format"):
        read_keypoints(path)
    monkeypatch.setattr(readers, "READERS", dict(readers.READERS))

    @readers.reader("tsv", "one joint per line", (".tsv",), lambda probe: True)
    def read_tsv(p):
        pts = np.loadtxt(p, dtype=np.float32).reshape(1, 1, -1, 2)
        return Keypoints2D(pts, np.ones(pts.shape[:3], np.float32), ["a", "b"], None, ["0"], format="tsv")

    kp = read_keypoints(path)
    assert kp.format == "tsv" and kp.shape == (1, 1, 2)
    assert readers.detect_format(tmp_path) == "openpose"  # folders are OpenPose output


@pytest.mark.parametrize("field", [{"fps": 2**1100}, {"image_size": [2**40, 480]}])
def test_numbers_too_large_for_their_use_are_one_error(tmp_path, field):
    path = tmp_path / "points.json"
    path.write_text(json.dumps({"keypoints": [[[1, 2], [3, 5], [6, 4]]] * 2, **field}))
    with pytest.raises(LfmError, match=r"points\.json: .*must be"):
        read_keypoints(path)
