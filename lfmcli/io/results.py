"""Lift result files: the lfm result HDF5 (netCDF4 layout: xarray opens it with named dimensions), the same result
as npz, JSON, C3D or a movement dataset, and reading the HDF5 back. Each format is one entry of `WRITERS`."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LfmError
from ..files import atomic_path
from ..keypoints import Keypoints2D, Lifted
from ..rigs import Rig, shipped_rigs

FRAME_NOTE = (
    "canonical object frame: the lifted shape is defined up to rotation, scale and translation; "
    "its scale follows the units of the model's training data"
)

Write = Callable[[Path, Keypoints2D, Lifted, dict], None]


@dataclass(frozen=True)
class Writer:
    """One result format: the function that writes it, the suffix of its file beside the output, and the optional
    package it writes with, as (module, lfmcli extra)."""

    write: Write
    suffix: str
    needs: tuple[str, str] | None = None


WRITERS: dict[str, Writer] = {}  # format name -> writer, in the order of --also help


def writer(name: str, suffix: str | None = None, needs: tuple[str, str] | None = None) -> Callable[[Write], Write]:
    """Register a result writer under ``name``; its file takes ``suffix`` (default: the name)."""

    def register(fn: Write) -> Write:
        WRITERS[name] = Writer(fn, suffix or f".{name}", needs)
        return fn

    return register


def check_format(fmt: str) -> None:
    """Refuse an unknown format, or one whose optional package is not installed: before anything is written."""
    if fmt not in WRITERS:
        raise LfmError(f"unknown result format {fmt!r}; choose {', '.join(WRITERS)}")
    if WRITERS[fmt].needs:
        module, extra = WRITERS[fmt].needs
        try:
            importlib.import_module(module)
        except ImportError:
            raise LfmError(f"{fmt} output needs the {module} package: pip install 'lfmcli[{extra}]'") from None


def beside(output: str | Path, fmt: str) -> Path:
    """Where format ``fmt`` of the result ``output`` goes: the same name with the format's suffix."""
    return Path(output).with_suffix(WRITERS[fmt].suffix)


def write_result(path: str | Path, fmt: str, kp: Keypoints2D, lifted: Lifted, attrs: dict) -> Path:
    """Write the result to ``path`` in format ``fmt`` (a key of WRITERS), atomically; returns ``path``."""
    check_format(fmt)
    WRITERS[fmt].write(Path(path), kp, lifted, attrs)
    return Path(path)


@writer("h5")
def write_h5(path: Path, kp: Keypoints2D, lifted: Lifted, attrs: dict) -> None:
    """Variables position (time, individual, keypoint, space), position_2d, confidence, visible and edges, with
    coordinates time, individual, keypoint and space; readable by h5py and by xarray (engine="h5netcdf")."""
    import h5netcdf
    import h5py

    T, I, J = kp.shape
    edges = np.array(kp.rig.edges if kp.rig is not None else np.zeros((0, 2)), np.int32).reshape(-1, 2)
    with atomic_path(path) as tmp, h5netcdf.File(tmp, "w") as f:
        f.dimensions = {
            "time": T,
            "individual": I,
            "keypoint": J,
            "space": 3,
            "space_2d": 2,
            "edge": len(edges),
            "pair": 2,
        }
        time = f.create_variable("time", ("time",), "f8")
        time[:] = np.arange(T) / kp.fps if kp.fps else np.arange(T)
        time.attrs["units"] = "seconds" if kp.fps else "frame index"
        if kp.frame_names is not None:  # the way back to the input's images or files
            source = f.create_variable("source_frame", ("time",), h5py.string_dtype())
            source[:] = np.array(kp.frame_names, dtype=object)
        for name, values in (
            ("individual", kp.individuals),
            ("keypoint", kp.joints),
            ("space", ["x", "y", "z"]),
            ("space_2d", ["x", "y"]),
        ):
            var = f.create_variable(name, (name,), h5py.string_dtype())
            var[:] = np.array(values, dtype=object)
        pos = f.create_variable("position", ("time", "individual", "keypoint", "space"), "f4", fillvalue=np.nan)
        pos[:] = lifted.position
        pos.attrs["description"] = lifted.frame or FRAME_NOTE
        if lifted.root is not None:
            root = f.create_variable("root_position", ("time", "individual", "space"), "f4", fillvalue=np.nan)
            root[:] = lifted.root
            root.attrs["description"] = "the path of each individual's root joint (else its centroid)"
        p2 = f.create_variable("position_2d", ("time", "individual", "keypoint", "space_2d"), "f4", fillvalue=np.nan)
        p2[:] = kp.points
        p2.attrs["units"] = "pixels"
        conf = f.create_variable("confidence", ("time", "individual", "keypoint"), "f4", fillvalue=np.nan)
        conf[:] = kp.confidence
        vis = f.create_variable("visible", ("time", "individual", "keypoint"), "i1")
        vis[:] = lifted.visible.astype(np.int8)
        e = f.create_variable("edges", ("edge", "pair"), "i4")
        e[:] = edges
        e.attrs["description"] = "rig edges as pairs of keypoint indices"
        f.attrs.update({k: str(v) for k, v in attrs.items()})
        f.attrs["rig"] = kp.rig.name if kp.rig is not None else ""
        f.attrs["frame"] = lifted.frame or FRAME_NOTE


@writer("npz")
def write_npz(path: Path, kp: Keypoints2D, lifted: Lifted, attrs: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            position=lifted.position,
            **({} if lifted.root is None else {"root_position": lifted.root}),
            position_2d=kp.points,
            confidence=kp.confidence,
            keypoints=np.array(kp.joints),
            individuals=np.array(kp.individuals),
            source_frame=np.array(kp.frame_names if kp.frame_names is not None else [], dtype=str),
            edges=np.array(kp.rig.edges if kp.rig else np.zeros((0, 2), int)),
            attrs=json.dumps(attrs),
        )


@writer("json")
def write_json(path: Path, kp: Keypoints2D, lifted: Lifted, attrs: dict) -> None:
    doc = {
        "keypoints": kp.joints,
        "individuals": kp.individuals,
        "fps": kp.fps,
        "source_frames": kp.frame_names,
        "edges": [list(e) for e in (kp.rig.edges if kp.rig else [])],
        "frame": lifted.frame or FRAME_NOTE,
        **attrs,
        "position": [
            [[None if np.isnan(p).any() else [round(float(v), 6) for v in p] for p in ind] for ind in frame]
            for frame in lifted.position
        ],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc))


@writer("c3d", needs=("ezc3d", "c3d"))
def write_c3d(path: Path, kp: Keypoints2D, lifted: Lifted, attrs: dict) -> None:
    import ezc3d

    c3d = ezc3d.c3d()
    T, I, J, _ = lifted.position.shape
    labels = [f"{ind}:{j}" if I > 1 else j for ind in kp.individuals for j in kp.joints]
    pts = np.ones((4, I * J, T))
    pts[:3] = lifted.position.transpose(3, 1, 2, 0).reshape(3, I * J, T)
    if not kp.fps:
        raise LfmError("C3D needs the frame rate, which the input does not give: pass --fps", path)
    c3d["parameters"]["POINT"]["RATE"]["value"] = [kp.fps]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = labels
    c3d["data"]["points"] = pts
    with atomic_path(path) as tmp:
        named = tmp.with_suffix(".c3d")  # ezc3d writes only to a name ending in .c3d
        try:
            c3d.write(str(named))
            named.replace(tmp)
        finally:
            named.unlink(missing_ok=True)


@writer("movement", ".nc", needs=("movement", "movement"))
def write_movement(path: Path, kp: Keypoints2D, lifted: Lifted, attrs: dict) -> None:
    """A movement poses dataset, built by movement and saved as movement saves one (netCDF): position over (time,
    space x y z, keypoints, individuals), the input's confidence, time in seconds with the fps attribute when the
    frame rate is known (else in frames), and lfm's provenance among the attributes."""
    from movement.io import load_poses

    ds = load_poses.from_numpy(
        lifted.position.transpose(0, 3, 2, 1),
        kp.confidence.transpose(0, 2, 1),
        individual_names=kp.individuals,
        keypoint_names=kp.joints,
        fps=kp.fps,
        source_software="lfm",
    )
    ds.attrs.update({k: str(v) for k, v in attrs.items()})
    ds.attrs["source_file"] = str(attrs.get("input", ""))
    ds.attrs["frame"] = lifted.frame or FRAME_NOTE
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp)


def read_result(path: str | Path) -> tuple[Keypoints2D, Lifted, dict]:
    """The input 2D, the lifted 3D and the attributes of an lfm result HDF5 (what `write_h5` wrote)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if "position" not in f or "position_2d" not in f:
                raise LfmError("not an lfm lift result (no position and position_2d)", path)
            text = lambda name: [v.decode() if isinstance(v, bytes) else str(v) for v in f[name][()]]  # noqa: E731
            joints, individuals = text("keypoint"), text("individual")
            position, points = f["position"][()], f["position_2d"][()]
            confidence = f["confidence"][()] if "confidence" in f else np.ones(points.shape[:3], np.float32)
            visible = f["visible"][()].astype(bool) if "visible" in f else np.isfinite(position).all(-1)
            edges = [tuple(int(v) for v in e) for e in f["edges"][()]] if "edges" in f else []
            frame_names = text("source_frame") if "source_frame" in f else None
            time = f["time"]
            fps = (1 / float(time[1] - time[0])) if len(time) > 1 and time.attrs.get("units") == "seconds" else None
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError:
        raise LfmError("not a readable HDF5 file", path) from None
    name = str(attrs.get("rig", ""))
    rig = shipped_rigs()[name] if name in shipped_rigs() else None
    if rig is None or list(rig.joints) != joints:
        rig = Rig(name=name or "result", joints=tuple(joints), edges=tuple(edges)) if edges else None
    kp = Keypoints2D(
        points, confidence, joints, rig, individuals, fps=fps, format="lfm-result", frame_names=frame_names
    )
    return kp, Lifted(position=position, visible=visible), attrs
