"""Pictures: rig diagrams, and lifted skeletons over time beside their 2D input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import shortest_path

from .errors import LfmError
from .files import atomic_path, check_not_input
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


def _writer(path: Path, fps: float):
    """An imageio writer for .gif, .mp4 (needs imageio-ffmpeg) or .png (one frame)."""
    import imageio.v2 as imageio

    suffix = path.suffix.lower()
    if suffix == ".gif":
        return imageio.get_writer(path, format="GIF", mode="I", duration=1000 / fps, loop=0)
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise LfmError("MP4 output needs imageio-ffmpeg: pip install 'lfmcli[mp4]' (or write a .gif)") from None
        return imageio.get_writer(path, format="FFMPEG", fps=fps, macro_block_size=1)
    raise LfmError(f"unknown picture type {suffix!r}: use .gif, .mp4 or .png", path)


def render_motion(
    out: str | Path,
    points2d: np.ndarray,
    edges,
    predicted: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    fps: float = 20.0,
    title: str = "",
    orbit_degrees: float = 90.0,
    image_size: tuple[int, int] | None = None,
) -> int:
    """Draw the 2D input (left) beside the 3D skeletons (right, camera slowly orbiting): ground truth in red,
    prediction in blue. Arrays are (T, J, 2) and (T, J, 3); NaN points and their edges are skipped.
    Writes a GIF, an MP4, or (for .png) the middle frame; returns the number of frames drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    out = Path(out)
    T = points2d.shape[0]

    # show the shapes in place, overlaid: centre every frame of each on its own centroid
    def centred(shape):
        if shape is None:
            return None
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return shape - np.nan_to_num(np.nanmean(shape, axis=1, keepdims=True))

    truth, predicted = centred(truth), centred(predicted)
    shapes = [s for s in (truth, predicted) if s is not None]
    allpts = np.concatenate([s.reshape(-1, 3) for s in shapes]) if shapes else np.zeros((1, 3))
    allpts = allpts[np.isfinite(allpts).all(1)]
    centre = (allpts.min(0) + allpts.max(0)) / 2 if len(allpts) else np.zeros(3)
    # a box that holds nearly every point: a few stray points must not shrink the figure
    half = float(np.percentile(np.abs(allpts - centre), 99)) * 1.15 if len(allpts) else 1.0
    fig = plt.figure(figsize=(8, 4), dpi=80)
    ax2, ax3 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2, projection="3d")
    frames = [T // 2] if out.suffix.lower() == ".png" else range(T)
    edges = np.asarray(edges, dtype=int).reshape(-1, 2)
    # every artist is made once and only its data changes per frame: clearing and redrawing the axes each frame
    # costs several times more than drawing them
    lines2d = ax2.add_collection(LineCollection([], colors="0.3", linewidths=1.5))
    dots2d = ax2.scatter([], [], s=8, color="k")
    if image_size:
        ax2.set_xlim(0, image_size[0])
        ax2.set_ylim(image_size[1], 0)
    else:  # one box for the whole motion, so the picture does not jump
        seen = points2d[np.isfinite(points2d).all(-1)]
        lo, hi = (seen.min(0), seen.max(0)) if len(seen) else (np.zeros(2), np.ones(2))
        pad = 0.05 * max(float((hi - lo).max()), 1e-9)
        ax2.set_xlim(lo[0] - pad, hi[0] + pad)
        ax2.set_ylim(hi[1] + pad, lo[1] - pad)
    ax2.set_aspect("equal", adjustable="box")
    ax2.set_title("2D input", fontsize=9)
    drawn3d = []
    for shape, color in ((truth, "tab:red"), (predicted, "tab:blue")):
        if shape is not None:
            lines = ax3.add_collection3d(Line3DCollection([np.zeros((2, 3))], colors=color, linewidths=1.8))
            dots = ax3.scatter([], [], [], color=color, s=6 if len(edges) else 14)  # a rig without edges too
            drawn3d.append((shape, lines, dots))
    for axis, c in zip((ax3.set_xlim, ax3.set_ylim, ax3.set_zlim), (centre[0], centre[2], -centre[1]), strict=True):
        axis(c - half, c + half)
    ax3.set_box_aspect((1, 1, 1))
    for ax in (ax2, ax3):  # no ticks: their labels were a third of the drawing time, and say little here
        ax.set_xticks([])
        ax.set_yticks([])
    ax3.set_zticks([])
    legend = "red: ground truth, blue: lifted" if truth is not None else "lifted 3D"
    fig.suptitle(title, fontsize=10)

    def show_edges(lines, p: np.ndarray) -> None:
        both = np.isfinite(p[edges]).all((1, 2))
        lines.set_visible(bool(both.any()))  # an empty 3D collection cannot be drawn
        if both.any():
            lines.set_segments(p[edges[both]])

    def draw(t: int):
        p = points2d[t]
        show_edges(lines2d, p)
        dots2d.set_offsets(p[np.isfinite(p).all(-1)].reshape(-1, 2))
        for shape, lines, dots in drawn3d:
            q = shape[t][:, [0, 2, 1]] * [1, 1, -1]  # the camera frame with y down shown as "up": (x, z, -y)
            show_edges(lines, q)
            dots._offsets3d = tuple(q[np.isfinite(q).all(-1)].T)
        ax3.view_init(elev=15, azim=-90 + orbit_degrees * t / max(T - 1, 1))
        ax3.set_title(f"{legend}  (frame {t + 1}/{T})", fontsize=9)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()

    try:
        if out.suffix.lower() == ".png":
            import imageio.v2 as imageio

            image = draw(frames[0])
            with atomic_path(out) as tmp:
                imageio.imwrite(tmp, image, format="PNG")
            return 1
        with atomic_path(out) as tmp:
            named = tmp.with_suffix(out.suffix)  # the video writer picks its container by the file name
            try:
                writer = _writer(named, fps)
                try:
                    for t in frames:
                        writer.append_data(draw(t))
                finally:
                    writer.close()
                named.replace(tmp)
            finally:
                named.unlink(missing_ok=True)
        return len(frames)
    finally:
        plt.close(fig)


def render_file(
    input: str | Path,
    output: str | Path,
    *,
    individual: int = 0,
    sequence: str | None = None,
    view: int = 0,
    checkpoint: str | Path | None = None,
    max_frames: int = 120,
    fps: float = 15.0,
    device: str = "auto",
) -> int:
    """Draw a lift result (one ``individual``), or a dataset ``sequence`` seen from ``view`` and lifted by
    ``checkpoint`` beside its ground truth, to a GIF, MP4 or PNG; at most ``max_frames`` frames, evenly spread.
    Returns the number of frames drawn."""
    import h5py

    input = Path(input)
    check_not_input(output, [input])
    if max_frames < 1:
        raise LfmError(f"--max-frames {max_frames}: draw at least 1 frame")
    if not fps > 0:
        raise LfmError(f"--fps {fps}: give a positive frame rate")
    try:
        with h5py.File(input, "r") as f:
            is_dataset = f.attrs.get("format") == "lfm-dataset"
    except OSError:
        raise LfmError("not a readable HDF5 file", input) from None
    if is_dataset:
        uv, pred, truth, edges, title, size = _dataset_sequence(input, sequence, view, checkpoint, device)
    else:
        if sequence is not None:
            raise LfmError("--sequence is for dataset files; this is a lift result", input)
        uv, pred, truth, edges, title, size = _lift_result(input, individual)
    keep = np.unique(np.linspace(0, len(uv) - 1, min(max_frames, len(uv))).round().astype(int))
    return render_motion(
        output,
        uv[keep],
        edges,
        pred[keep] if pred is not None else None,
        truth[keep] if truth is not None else None,
        fps=fps,
        title=title,
        image_size=size,
    )


def _lift_result(path: Path, individual: int):
    from .io.results import read_result

    kp, lifted, _ = read_result(path)
    if not 0 <= individual < len(kp.individuals):
        raise LfmError(f"--individual {individual}: the file has {len(kp.individuals)}", path)
    uv, pos = kp.points[:, individual], lifted.position[:, individual]
    if not np.isfinite(pos).any():
        raise LfmError(f"--individual {individual} ({kp.individuals[individual]!r}) has no lifted point", path)
    edges = list(kp.rig.edges) if kp.rig is not None else []
    return uv, _facing_camera(pos, uv), None, edges, f"{path.name} (individual {individual})", None


def _facing_camera(pos: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The canonical frame has no fixed orientation: for display, turn the whole sequence (one similarity
    transform) so that its x, y best match the 2D input; depth then runs along z, as in a camera frame."""
    import torch

    from .geometry.procrustes import sequence_align

    flat = np.concatenate([uv, np.zeros_like(uv[..., :1])], -1)
    mask = np.isfinite(pos).all(-1) & np.isfinite(flat).all(-1)
    if mask.sum() < 3:
        return pos
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        aligned = sequence_align(
            torch.as_tensor(np.nan_to_num(pos), dtype=torch.float64)[None],
            torch.as_tensor(np.nan_to_num(flat), dtype=torch.float64)[None],
            torch.as_tensor(mask)[None],
        )[0].numpy()
    return np.where(mask[..., None], aligned, np.nan)


def _dataset_sequence(path: Path, sequence: str | None, view: int, checkpoint, device: str):
    """A dataset sequence's 2D, its lift by ``checkpoint`` aligned to the ground truth (one similarity transform
    for the whole sequence, so the path across the room shows), and the camera-frame ground truth."""
    import torch

    from .checkpoint import default_checkpoint, load_checkpoint
    from .data.format import DatasetFile
    from .devices import resolve_device
    from .geometry.procrustes import sequence_align
    from .keypoints import Keypoints2D
    from .lift import lift_keypoints

    if sequence is None:
        raise LfmError("a dataset needs --sequence NAME (`lfm dataset info` lists them)", path)
    with DatasetFile(path) as f:
        names = list(f.sequences["name"])
        index = names.index(sequence) if sequence in names else int(sequence) if sequence.isdigit() else None
        if index is None or not 0 <= index < len(names):
            raise LfmError(f"no sequence {sequence!r} (the file has {len(names)}, e.g. {names[0]!r})", path)
        seq = f.sequence(index)
    if not 0 <= view < len(seq.views):
        raise LfmError(f"--view {view}: sequence {seq.name!r} has {len(seq.views)} view(s)", path)
    v = seq.views[view]
    truth = v.camera.to_camera(seq.points3d).astype(np.float32)
    kp = Keypoints2D(
        points=v.points2d[:, None],
        confidence=np.ones(v.visible.shape, np.float32)[:, None],
        joints=list(seq.rig.joints),
        rig=seq.rig,
        individuals=["0"],
        fps=seq.fps or None,
    )
    dev = resolve_device(device)
    model = load_checkpoint(checkpoint or default_checkpoint(), dev)  # without one, the packaged model
    pred = lift_keypoints(kp, model, device=dev).position[:, 0]
    mask = torch.as_tensor(np.isfinite(pred).all(-1) & np.isfinite(truth).all(-1))[None]
    aligned = sequence_align(torch.as_tensor(np.nan_to_num(pred))[None], torch.as_tensor(truth)[None], mask)[0]
    aligned = np.where(mask[0, ..., None].numpy(), aligned.numpy(), np.nan)
    return v.points2d, aligned, truth, list(seq.rig.edges), f"{seq.name} ({seq.category})", v.camera.image_size
