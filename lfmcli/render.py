"""Pictures: rig diagrams (more to come: lifted skeletons over time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import shortest_path

from .data.atomic import atomic_path
from .errors import LfmError
from .rigs import Rig


def rig_layout(rig: Rig) -> np.ndarray:
    """(J, 2) positions placing joints at distances close to their graph distances (classical MDS)."""
    J = rig.num_joints
    if J == 1:
        return np.zeros((1, 2))
    d = shortest_path(rig.adjacency(self_loops=False).astype(float), unweighted=True, directed=False)
    d[~np.isfinite(d)] = d[np.isfinite(d)].max() + 1
    c = np.eye(J) - 1.0 / J
    b = -0.5 * c @ (d**2) @ c
    w, v = np.linalg.eigh(b)
    top = np.argsort(w)[::-1][:2]
    xy = v[:, top[::-1]] * np.sqrt(np.maximum(w[top[::-1]], 1e-9))  # the longest spread runs vertically
    if rig.parents is not None:
        xy -= xy[rig.parents.index(-1)]
        if xy[:, 1].mean() < 0:  # most of the body above the root, as for a standing figure
            xy[:, 1] *= -1
    return xy


def draw_rig(rig: Rig, path: str | Path) -> None:
    """Draw the rig's joints (labelled) and edges to a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LfmError("drawing needs matplotlib: pip install 'lfmcli[plot]'") from None
    xy = rig_layout(rig)
    size = 4 + 0.08 * rig.num_joints
    fig, ax = plt.subplots(figsize=(size, size))
    for a, b in rig.edges:
        ax.plot(*xy[[a, b]].T, color="0.45", lw=1.5, zorder=1)
    left = {a for a, _ in rig.symmetry}
    right = {b for _, b in rig.symmetry}
    colors = ["tab:blue" if j in left else "tab:red" if j in right else "0.15" for j in range(rig.num_joints)]
    ax.scatter(*xy.T, s=30, c=colors, zorder=2)
    for j, name in enumerate(rig.joints):
        ax.annotate(name, xy[j], fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_title(f"{rig.name}: {rig.num_joints} joints, {len(rig.edges)} edges")
    ax.set_aspect("equal")
    ax.axis("off")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
