"""Individuals as tracks: the people (or animals) of a detector's frames, linked from frame to frame.

Detectors list each frame's detections in their own order; a lifter that treats "detection 0" as one individual
mixes people, and a space-time model would blend them. Files that carry track ids are read by them; the others are
linked here by minimum total 2D distance (Hungarian assignment), and a detection far from every track starts a new
one, so two people never share a track.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

FAR = 1e9  # the cost of a pair that shares no seen joint


def _size(points: np.ndarray) -> float:
    seen = points[np.isfinite(points).all(-1)]
    return float(np.ptp(seen, 0).max()) if len(seen) > 1 else 0.0


def _distance(det: np.ndarray, last: np.ndarray) -> float:
    """Mean distance over the joints seen in both, in units of the detection's size."""
    both = np.isfinite(det).all(-1) & np.isfinite(last).all(-1)
    if not both.any():
        return FAR
    return float(np.linalg.norm(det[both] - last[both], axis=-1).mean()) / max(_size(det), _size(last), 1e-9)


def link_tracks(points: np.ndarray, confidence: np.ndarray, gate: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(T, I, J, 2) points and (T, I, J) confidence in detection order -> the same in tracks, (T, K, J, ...).

    Each frame's detections go to the tracks of earlier frames (their last seen joints) by minimum total distance;
    a detection whose distance to its track exceeds ``gate`` (in body sizes) starts a new track instead."""
    T, I, J, _ = points.shape
    last: list[np.ndarray] = []  # per track: its joints where last seen
    owner = np.full((T, I), -1)  # the track of each detection
    for t in range(T):
        dets = [i for i in range(I) if np.isfinite(points[t, i]).all(-1).any()]
        if not dets:
            continue
        cost = np.array([[_distance(points[t, i], track) for track in last] for i in dets]).reshape(len(dets), -1)
        rows, cols = linear_sum_assignment(cost) if len(last) else ((), ())
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] <= gate:
                owner[t, dets[r]] = c
        for i in dets:
            if owner[t, i] < 0:
                owner[t, i] = len(last)
                last.append(np.full((J, 2), np.nan))
            seen = np.isfinite(points[t, i]).all(-1)
            last[owner[t, i]][seen] = points[t, i][seen]
    K = max(len(last), 1)
    out_p = np.full((T, K, J, 2), np.nan, points.dtype)
    out_c = np.full((T, K, J), np.nan, confidence.dtype)
    t, i = np.nonzero(owner >= 0)
    out_p[t, owner[t, i]], out_c[t, owner[t, i]] = points[t, i], confidence[t, i]
    return out_p, out_c


def by_track_id(ids: list[list], points: np.ndarray, confidence: np.ndarray):
    """Detections placed by the track ids the file gives (``ids[t][i]`` of detection i in frame t): (points,
    confidence, names), one individual per id in sorted order."""
    names = sorted({k for frame in ids for k in frame}, key=lambda k: (str(type(k)), k))
    slot = {k: n for n, k in enumerate(names)}
    T, _, J, _ = points.shape
    out_p = np.full((T, len(names), J, 2), np.nan, points.dtype)
    out_c = np.full((T, len(names), J), np.nan, confidence.dtype)
    for t, frame in enumerate(ids):
        for i, k in enumerate(frame):
            out_p[t, slot[k]], out_c[t, slot[k]] = points[t, i], confidence[t, i]
    return out_p, out_c, [str(k) for k in names]
