"""Camera paths of synthetic captures: an orbit arc, the same with hand-held wobble, and a
forward walk. Each gives one OpenCV camera per frame, looking at a target, with +z up."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from ..camera import Camera, Cameras
from ..deprecated import renamed_keys
from ..errors import InvalidArgumentError

PATHS = ("orbit", "walk")


def _wobble(frames: int, amplitude: float, seed: int) -> np.ndarray:
    """[frames, 3] smooth random offsets of about `amplitude`: a few slow sines with random phases,
    like a hand holding a phone."""
    if amplitude <= 0:
        return np.zeros((frames, 3))
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, frames)[:, None]
    out = np.zeros((frames, 3))
    for cycles in (0.7, 1.6, 3.1):
        phase = rng.uniform(0, 2 * math.pi, size=3)
        out += np.sin(2 * math.pi * cycles * s + phase) / cycles
    return amplitude * out / 1.5


def camera_path(spec: dict, seed: int = 0) -> Cameras:
    """Cameras for a path spec. Common keys: frames, width, height, fov_deg (horizontal), wobble
    (metres of hand-held shake, 0 for a rig), principal_point ([x, y] as fractions of the width
    and height, default the centre), distortion (OpenCV k1, k2, p1, p2, default none). orbit: centre, radius, eye_height (above the centre),
    start_deg, arc_deg. walk: start, end (eye positions), look_at (a point, default straight
    ahead), bob (metres of vertical step motion)."""
    spec = renamed_keys(spec, "the camera path", center="centre")
    kind = spec.get("path", "orbit")
    if kind not in PATHS:
        raise InvalidArgumentError(f"camera 'path' must be one of {', '.join(PATHS)}; got {kind!r}")
    try:
        frames = int(spec.get("frames", 60))
        width, height = int(spec.get("width", 480)), int(spec.get("height", 360))
        fov = float(spec.get("fov_deg", 60.0))
        wobble = float(spec.get("wobble", 0.0))
        if frames < 2 or width < 8 or height < 8 or not 10 <= fov <= 150:
            raise ValueError("need frames >= 2, width and height >= 8 and 10 <= fov_deg <= 150")
        principal, distortion = lens(spec)
        s = np.linspace(0.0, 1.0, frames)
        if kind == "orbit":
            centre = np.asarray(spec.get("centre", (0, 0, 0)), dtype=np.float64).reshape(3)
            radius, up = float(spec.get("radius", 2.0)), float(spec.get("eye_height", 1.0))
            angles = np.radians(float(spec.get("start_deg", 0.0)) + float(spec.get("arc_deg", 360.0)) * s)
            eyes = centre + np.stack([radius * np.cos(angles), radius * np.sin(angles), np.full(frames, up)], 1)
            targets = np.repeat(centre[None], frames, 0)
        else:
            start = np.asarray(spec["start"], dtype=np.float64).reshape(3)
            end = np.asarray(spec["end"], dtype=np.float64).reshape(3)
            eyes = start + s[:, None] * (end - start)
            eyes[:, 2] += float(spec.get("bob", 0.02)) * np.abs(np.sin(math.pi * 2 * s * max(1, frames / 15)))
            if "look_at" in spec:
                targets = np.repeat(np.asarray(spec["look_at"], dtype=np.float64).reshape(1, 3), frames, 0)
            else:
                targets = eyes + (end - start) / max(np.linalg.norm(end - start), 1e-9)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"camera path {kind!r}: {type(exc).__name__}: {exc}") from None
    eyes = eyes + _wobble(frames, wobble, seed)
    targets = targets + _wobble(frames, wobble * 0.5, seed + 1)
    cams = [Camera.look_at(torch.tensor(e, dtype=torch.float32), torch.tensor(t, dtype=torch.float32), (0.0, 0.0, 1.0),
                           fov_deg=fov, width=width, height=height) for e, t in zip(eyes, targets)]
    cams = [replace(c, cx=principal[0] * width, cy=principal[1] * height, distortion=distortion) for c in cams]
    return Cameras.stack(cams)


MAX_SHIFT = 0.2  # the principal point within this fraction of the frame from its centre
MAX_DISTORTION = 0.5  # |k1|, |k2|, |p1|, |p2| at most this


def lens(spec: dict) -> tuple[tuple[float, float], torch.Tensor | None]:
    """(principal point as fractions of the frame, OpenCV distortion [4] or None) of a camera spec;
    a ValueError naming the key when they are out of range."""
    principal = tuple(float(v) for v in spec.get("principal_point", (0.5, 0.5)))
    if len(principal) != 2 or not all(abs(v - 0.5) <= MAX_SHIFT for v in principal):
        raise ValueError(f"principal_point must be [x, y], each within {MAX_SHIFT} of 0.5 (fractions of the frame)")
    distortion = spec.get("distortion")
    if distortion is None:
        return principal, None
    distortion = [float(v) for v in distortion]
    if len(distortion) != 4 or not all(math.isfinite(v) and abs(v) <= MAX_DISTORTION for v in distortion):
        raise ValueError(f"distortion must be [k1, k2, p1, p2], each at most {MAX_DISTORTION} in size")
    return principal, torch.tensor(distortion, dtype=torch.float32)
