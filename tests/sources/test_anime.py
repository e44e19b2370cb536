import numpy as np
import pytest

from lfmcli.errors import LfmError
from lfmcli.sources.anime import AnimeMesh, read_anime, write_anime


def test_roundtrip_and_layout(tmp_path, rng):
    v = rng.normal(size=(5, 7, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6]], np.int32)
    path = tmp_path / "bear_walk.anime"
    write_anime(path, AnimeMesh(v, faces))
    assert path.stat().st_size == 12 + 12 * 7 + 12 * 3 + 12 * 4 * 7
    header = np.fromfile(path, "<i4", 3)
    assert header.tolist() == [5, 7, 3]
    # frames after the first are stored as offsets from frame 0
    raw = np.fromfile(path, "<f4", offset=12 + 12 * 7 + 12 * 3).reshape(4, 7, 3)
    np.testing.assert_allclose(raw, v[1:] - v[0], atol=1e-6)
    back = read_anime(path)
    np.testing.assert_allclose(back.vertices, v, atol=1e-6)
    np.testing.assert_array_equal(back.faces, faces)


def test_truncated_and_inconsistent_files(tmp_path, rng):
    path = tmp_path / "a.anime"
    write_anime(path, AnimeMesh(rng.normal(size=(3, 4, 3)), np.array([[0, 1, 2]])))
    data = path.read_bytes()
    path.write_bytes(data[:-4])
    with pytest.raises(LfmError, match=r"a\.anime: is \d+ bytes but its header"):
        read_anime(path)
    bad = bytearray(data)
    bad[12 + 48 : 16 + 48] = np.int32(9).tobytes()  # a triangle pointing past the last vertex
    path.write_bytes(bytes(bad))
    with pytest.raises(LfmError, match="outside"):
        read_anime(path)
    path.write_bytes(b"\x01")
    with pytest.raises(LfmError, match="too short"):
        read_anime(path)
