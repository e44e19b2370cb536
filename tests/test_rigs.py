import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lfmcli.rigs import Rig, RigError, get_rig, import_rig, load_rig, match_rig, shipped_rigs

REQUIRED = [
    "h36m_17",
    "h36m_32",
    "coco_17",
    "coco_wholebody_133",
    "cmu_bvh_31",
    "cmu_28",
    "dog_27",
    "mouse_22",
    "chair_21",
] + [
    f"pascal3d_{c}"
    for c in (
        "aeroplane",
        "bicycle",
        "boat",
        "bottle",
        "bus",
        "car",
        "chair",
        "diningtable",
        "motorbike",
        "sofa",
        "train",
        "tvmonitor",
    )
]


def base(**changes):
    d = {"name": "t", "joints": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"]]}
    d.update(changes)
    return d


def test_every_required_rig_ships_and_validates():
    rigs = shipped_rigs()
    for name in REQUIRED:
        assert name in rigs, name
    animals = [n for n in rigs if n.startswith("animalsyn3d_")]
    assert len(animals) >= 13
    assert rigs["coco_wholebody_133"].num_joints == 133
    assert rigs["h36m_32"].num_joints == 32 and rigs["h36m_17"].num_joints == 17
    assert (
        sum(
            rigs[f"pascal3d_{c}"].num_joints
            for c in (
                "aeroplane",
                "car",
                "tvmonitor",
                "sofa",
                "motorbike",
                "diningtable",
                "chair",
                "bus",
                "bottle",
                "boat",
                "bicycle",
                "train",
            )
        )
        == 124
    )  # the C3DPO stacked layout


def test_kinematic_trees_have_one_root_and_follow_edges():
    for rig in shipped_rigs().values():
        if rig.parents is None:
            continue
        assert list(rig.parents).count(-1) == 1, rig.name
        edges = {frozenset(e) for e in rig.edges}
        for j, p in enumerate(rig.parents):
            if p >= 0:
                assert frozenset((j, p)) in edges, (rig.name, rig.joints[j])


def test_adjacency_is_symmetric_with_self_loops():
    rig = get_rig("h36m_17")
    adj = rig.adjacency()
    assert adj.shape == (17, 17) and (adj == adj.T).all() and adj.diagonal().all()
    assert adj.sum() == 17 + 2 * len(rig.edges)
    assert not rig.adjacency(self_loops=False).diagonal().any()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"edges": [["a", "b"], ["b", "x"]]}, "unknown joint 'x'"),
        ({"joints": ["a", "b", "a"]}, "duplicate joint"),
        ({"edges": [["a", "b"], ["b", "b"], ["b", "c"]]}, "itself"),
        ({"edges": [["a", "b"], ["b", "c"], ["c", "b"]]}, "twice"),
        ({"parents": {"b": "a", "a": "c", "c": "b"}}, "root"),
        (
            {
                "joints": ["a", "b", "c", "d"],
                "edges": [["a", "b"], ["b", "c"], ["c", "d"]],
                "parents": {"b": "c", "c": "b", "d": "c"},
            },
            "cycle",
        ),
        ({"root": "a", "edges": [["a", "b"], ["b", "c"], ["c", "a"]]}, "cycle"),
        ({"colour": "red"}, "unknown key"),
        ({"aliases": {"z": "q"}}, "unknown joint"),
    ],
)
def test_invalid_rigs_are_clear_errors(changes, message):
    with pytest.raises(RigError, match=message):
        Rig.from_dict(base(**changes), origin="my.yaml")


def test_root_derives_parents_and_roundtrips_through_yaml(tmp_path):
    rig = Rig.from_dict(base(root="b", symmetry=[["a", "c"]], aliases={"alpha": "a"}))
    assert rig.parents == (1, -1, 1)
    assert rig.index("alpha") == 0
    path = tmp_path / "r.yaml"
    rig.save(path)
    assert load_rig(path) == rig


def test_load_rig_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(RigError, match=r"bad\.yaml: malformed YAML"):
        load_rig(bad)
    with pytest.raises(RigError, match="no such file"):
        load_rig(tmp_path / "missing.yaml")
    with pytest.raises(RigError, match="unknown rig"):
        get_rig("h36m_99")


def test_match_rig_by_joint_names():
    rig = get_rig("dog_27")
    assert match_rig(rig.joints) is rig
    assert match_rig(list(rig.joints)[::-1]) is None


def test_import_deeplabcut_and_coco(tmp_path):
    dlc = tmp_path / "config.yaml"
    dlc.write_text(
        yaml.safe_dump(
            {
                "Task": "mouse",
                "bodyparts": ["snout", "ear_l", "ear_r", "tail"],
                "skeleton": [["snout", "ear_l"], ["snout", "ear_r"], ["snout", "tail"]],
            }
        )
    )
    rig = import_rig(dlc)
    assert rig.name == "mouse" and rig.num_joints == 4 and len(rig.edges) == 3
    coco = tmp_path / "coco.json"
    cats = [
        {
            "id": 1,
            "name": "person",
            "supercategory": "person",
            "keypoints": get_rig("coco_17").joints,
            "skeleton": [
                [16, 14],
                [14, 12],
                [17, 15],
                [15, 13],
                [12, 13],
                [6, 12],
                [7, 13],
                [6, 7],
                [6, 8],
                [7, 9],
                [8, 10],
                [9, 11],
                [2, 3],
                [1, 2],
                [1, 3],
                [2, 4],
                [3, 5],
                [4, 6],
                [5, 7],
            ],
        }
    ]
    coco.write_text(json.dumps({"categories": cats}))
    rig = import_rig(coco)
    assert np.array_equal(rig.adjacency(), get_rig("coco_17").adjacency())
    assert rig.category == "human"  # COCO's person is lfm's human
    dlc.write_text(yaml.safe_dump({"bodyparts": ["a", "b"], "skeleton": []}))
    assert import_rig(dlc).joints == ("a", "b") and import_rig(dlc).graph_note().endswith("without graph edges")


def test_rigs_cli(cli, tmp_path):
    r = cli("rigs", "list", "--json")
    assert r.exit_code == 0
    listed = json.loads(r.stdout)
    assert set(REQUIRED) <= set(listed) and listed["coco_17"]["joints"] == 17
    r = cli("rigs", "show", "mouse_22")
    assert r.exit_code == 0 and "SpineM" in r.output
    png = tmp_path / "mouse.png"
    assert cli("rigs", "show", "mouse_22", "--png", png).exit_code == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    good = tmp_path / "good.yaml"
    get_rig("h36m_17").save(good)
    assert cli("rigs", "validate", good).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(base(edges=[["a", "b"], ["b", "x"]])))
    r = cli("rigs", "validate", bad)
    assert r.exit_code == 1
    assert "bad.yaml" in r.stderr and "unknown joint 'x'" in r.stderr and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_rig_may_be_in_several_parts():
    rig = Rig.from_dict({"name": "parts", "joints": ["a", "b", "c", "d"], "edges": [["a", "b"], ["c", "d"]]})
    assert rig.parts == 2 and "2 unconnected parts" in rig.graph_note()
    assert get_rig("coco_17").parts == 1 and get_rig("coco_17").graph_note() is None


def test_joint_names_without_edges_are_a_rig_without_a_graph():
    rig = Rig.from_dict({"name": "loose", "joints": ["a", "b", "c"]})
    assert rig.edges == () and (rig.adjacency() == np.eye(3, dtype=bool)).all()


def test_rigs_import_never_replaces_its_input(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"bodyparts": ["a", "b"], "skeleton": [["a", "b"]]}))
    before = config.read_bytes()
    link = tmp_path / "link.yaml"
    link.hardlink_to(config)
    for output in (config, link):
        r = cli("rigs", "import", config, "-o", output)
        assert r.exit_code == 1 and "would overwrite the input" in r.stderr
    assert config.read_bytes() == before


@pytest.mark.parametrize("entry", [["a"], ["a", "b", "c"], "a-b", None])
def test_a_deeplabcut_skeleton_entry_is_a_pair(cli, tmp_path, entry):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"bodyparts": ["a", "b", "c"], "skeleton": [["a", "b"], entry]}))
    r = cli("rigs", "import", config, "-o", tmp_path / "rig.yaml")
    assert isinstance(r.exception, SystemExit) and r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1
    assert f"config.yaml: skeleton entry {entry!r} is not a pair of body parts" in r.stderr
    assert not (tmp_path / "rig.yaml").exists()


def test_a_layout_is_the_same_rig_under_other_names():
    rig = Rig.from_dict(
        {"name": "r", "joints": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"]], "layouts": {"x": ["p", "q", "s"]}}
    )
    assert Rig.from_dict(rig.to_dict()).layouts == {"x": ("p", "q", "s")}
    shipped = get_rig("cmu_bvh_31")
    assert match_rig(list(shipped.layouts["cmu_asf"])) is shipped and match_rig(list(shipped.joints)) is shipped
    with pytest.raises(RigError, match="'layouts'"):
        Rig.from_dict({"name": "r", "joints": ["a", "b"], "layouts": {"x": ["p"]}})


OBJECTS = Path(__file__).resolve().parents[1].parent / "shared" / "data_objects"


@pytest.mark.skipif(not OBJECTS.is_dir(), reason="../shared/data_objects (PASCAL3D+ CAD keypoints) is not here")
def test_the_pascal3d_layout_order_is_the_one_whose_sticks_join_near_points():
    """PASCAL3D+'s chair keypoint names, ordered as the rig's layout (alphabetically), put every stick of the C3DPO
    rig (seat, legs, back: a real graph, where other classes have a loop) between near points of the real CAD
    models; the file's own order does not."""
    z = np.load(OBJECTS / "chair_pascal3d" / "chair.npz")
    names = [str(n) for n in z["joint_names"]]
    the_rig = get_rig("pascal3d_chair")

    def sticks(order):  # each stick's mean length over the models, over the median distance between keypoints
        p = z["points3d"][:, [names.index(n) for n in order]]
        d = np.nanmean(np.linalg.norm(p[:, :, None] - p[:, None], axis=-1), 0)
        return np.array([d[a, b] for a, b in the_rig.edges]) / np.nanmedian(d[np.triu_indices(len(order), 1)])

    assert sticks(the_rig.layouts["pascal3d"]).max() < 0.75 < sticks(names).max()
    assert the_rig.layouts["pascal3d"] == tuple(sorted(names))
