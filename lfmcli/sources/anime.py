"""DeformingThings4D ``.anime`` animated meshes.

Little-endian layout: int32 nf, int32 nv, int32 nt; float32[nv*3] frame-0 vertices; int32[nt*3] triangles;
float32[(nf-1)*nv*3] offsets of frames 1..nf-1, each relative to frame 0 (not cumulative).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LfmError
from ..files import atomic_path


@dataclass
class AnimeMesh:
    vertices: np.ndarray  # (F, V, 3) float32, absolute positions in every frame
    faces: np.ndarray  # (T, 3) int32 vertex indices

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])


def read_anime(path: str | Path) -> AnimeMesh:
    """Read an .anime file; a size that disagrees with its header is an LfmError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LfmError("no such file", path) from None
    if len(data) < 12:
        raise LfmError(f"too short for an .anime header ({len(data)} bytes)", path)
    nf, nv, nt = (int(x) for x in np.frombuffer(data, "<i4", 3))
    if nf < 1 or nv < 1 or nt < 0:
        raise LfmError(f"header says {nf} frames, {nv} vertices, {nt} triangles", path)
    expected = 12 + 12 * nv + 12 * nt + 12 * (nf - 1) * nv
    if len(data) != expected:
        raise LfmError(
            f"is {len(data)} bytes but its header ({nf} frames, {nv} vertices, {nt} triangles) needs "
            f"{expected}: truncated or not an .anime file",
            path,
        )
    first = np.frombuffer(data, "<f4", nv * 3, 12).reshape(nv, 3)
    faces = np.frombuffer(data, "<i4", nt * 3, 12 + 12 * nv).reshape(nt, 3).astype(np.int32)
    offsets = np.frombuffer(data, "<f4", (nf - 1) * nv * 3, 12 + 12 * nv + 12 * nt).reshape(nf - 1, nv, 3)
    if nt and (faces.min() < 0 or faces.max() >= nv):
        raise LfmError(f"triangles index vertices outside 0..{nv - 1}", path)
    vertices = np.concatenate([first[None], first[None] + offsets]).astype(np.float32)
    if not np.isfinite(vertices).all():
        raise LfmError("vertices hold NaN or infinite values", path)
    return AnimeMesh(vertices=vertices, faces=faces)


def write_anime(path: str | Path, mesh: AnimeMesh) -> None:
    """Write ``mesh`` as an .anime file, atomically."""
    v = np.asarray(mesh.vertices, np.float32)
    f = np.asarray(mesh.faces, np.int32).reshape(-1, 3)
    if v.ndim != 3 or v.shape[2] != 3 or v.shape[0] < 1:
        raise LfmError(f"vertices must be (frames, vertices, 3), got {v.shape}", path)
    header = np.array([v.shape[0], v.shape[1], len(f)], "<i4")
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(header.tobytes())
        out.write(v[0].astype("<f4").tobytes())
        out.write(f.astype("<i4").tobytes())
        out.write((v[1:] - v[0]).astype("<f4").tobytes())
