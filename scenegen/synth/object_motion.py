"""Rigid motions of synthetic objects over time: keyframes and the presets slide, rotate, fall
and bounce. Every motion is a function t -> (translation offset, rotation) applied on top of the
object's rest pose, so `pose_at(t)` = T(position + offset(t)) R(motion(t)) R(rest)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidArgumentError

GRAVITY = 9.81
MOTION_TYPES = ("slide", "rotate", "fall", "bounce", "keyframes")


def axis_angle_matrix(axis, angle_rad: float) -> np.ndarray:
    """Rotation [3, 3] (float64) by `angle_rad` about `axis`."""
    import torch

    from ..geometry import axis_angle_to_quat, quat_to_rotmat

    axis = torch.as_tensor(np.asarray(axis, dtype=np.float64))
    if float(axis.norm()) < 1e-12:
        raise InvalidArgumentError(f"rotation axis must not be zero, got {axis.tolist()}")
    return quat_to_rotmat(axis_angle_to_quat(axis, angle_rad)).numpy()


def euler_matrix(degrees) -> np.ndarray:
    """Rotation from x, y, z Euler angles in degrees, applied in that order (R = Rz Ry Rx)."""
    rx, ry, rz = (math.radians(float(a)) for a in degrees)
    return axis_angle_matrix((0, 0, 1), rz) @ axis_angle_matrix((0, 1, 0), ry) @ axis_angle_matrix((1, 0, 0), rx)


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


def _fall_height(t: float, height: float) -> float:
    """Height above rest of a body dropped from `height` at t = 0 (t < 0: still held)."""
    if t <= 0:
        return height
    return max(0.0, height - 0.5 * GRAVITY * t * t)


def _bounce_height(t: float, height: float, restitution: float) -> float:
    """Height above rest of a ball dropped from `height` at t = 0 that bounces, losing speed by
    `restitution` at each contact, until the bounces are under a millimetre."""
    if t <= 0:
        return height
    first = math.sqrt(2 * height / GRAVITY)
    if t < first:
        return height - 0.5 * GRAVITY * t * t
    t -= first
    v = GRAVITY * first * restitution
    while v * v / (2 * GRAVITY) > 1e-3:
        flight = 2 * v / GRAVITY
        if t < flight:
            return v * t - 0.5 * GRAVITY * t * t
        t -= flight
        v *= restitution
    return 0.0


class Motion:
    """A rigid motion from a spec dict: {"type": "slide", "to": [x, y, z], "start": s, "end": s},
    {"type": "rotate", "axis": [x, y, z], "deg_per_s": d, "start": s, "end": s},
    {"type": "fall", "height": h, "start": s}, {"type": "bounce", "height": h, "restitution": e,
    "start": s}, or {"type": "keyframes", "keys": [{"t": s, "position": [..], "rotation": [..]}]}
    (rotation as x, y, z Euler degrees; positions absolute)."""

    def __init__(self, spec: dict, rest_position, where: str):
        if not isinstance(spec, dict) or spec.get("type") not in MOTION_TYPES:
            raise InvalidArgumentError(f"{where}: motion needs a 'type', one of {', '.join(MOTION_TYPES)}; got {spec!r}")
        self.spec = dict(spec)
        self.kind = spec["type"]
        self.rest = np.asarray(rest_position, dtype=np.float64)
        self.start = float(spec.get("start", 0.0))
        self.end = float(spec.get("end", math.inf))
        if self.end <= self.start:
            raise InvalidArgumentError(f"{where}: motion 'end' ({self.end}) must come after 'start' ({self.start})")
        try:
            if self.kind == "slide":
                self.to = np.asarray(spec["to"], dtype=np.float64).reshape(3)
                if not math.isfinite(self.end):
                    raise InvalidArgumentError(f"{where}: a slide needs an 'end' time")
            elif self.kind == "rotate":
                self.axis = np.asarray(spec.get("axis", (0, 0, 1)), dtype=np.float64).reshape(3)
                self.rate = math.radians(float(spec["deg_per_s"]))
                axis_angle_matrix(self.axis, 0.0)
            elif self.kind in ("fall", "bounce"):
                self.height = float(spec["height"])
                self.restitution = float(spec.get("restitution", 0.6))
                if self.height <= 0 or not 0 <= self.restitution < 1:
                    raise InvalidArgumentError(f"{where}: a {self.kind} needs height > 0 and 0 <= restitution < 1")
            else:
                keys = spec["keys"]
                if not isinstance(keys, list) or len(keys) < 1:
                    raise InvalidArgumentError(f"{where}: 'keys' must be a non-empty list")
                self.key_times = np.array([float(k["t"]) for k in keys])
                if np.any(np.diff(self.key_times) <= 0):
                    raise InvalidArgumentError(f"{where}: keyframe times must increase")
                self.key_positions = np.array([np.asarray(k.get("position", self.rest), dtype=np.float64).reshape(3) for k in keys])
                self.key_rotations = [euler_matrix(k.get("rotation", (0, 0, 0))) for k in keys]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"{where}: bad {self.kind} motion ({type(exc).__name__}: {exc}); see scenegen.synth.object_motion.Motion") from None

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(position [3], rotation applied after the rest rotation [3, 3]) at time t."""
        local = min(max(t, self.start), self.end) - self.start
        if self.kind == "slide":
            s = _smoothstep(local / (self.end - self.start))
            return self.rest + s * (self.to - self.rest), np.eye(3)
        if self.kind == "rotate":
            return self.rest.copy(), axis_angle_matrix(self.axis, self.rate * local)
        if self.kind == "fall":
            return self.rest + [0, 0, _fall_height(t - self.start, self.height)], np.eye(3)
        if self.kind == "bounce":
            return self.rest + [0, 0, _bounce_height(t - self.start, self.height, self.restitution)], np.eye(3)
        return self._keyframe(t)

    def _keyframe(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from ..geometry import quat_slerp, quat_to_rotmat, rotmat_to_quat

        times = self.key_times
        if t <= times[0] or len(times) == 1:
            return self.key_positions[0].copy(), self.key_rotations[0]
        if t >= times[-1]:
            return self.key_positions[-1].copy(), self.key_rotations[-1]
        i = int(np.searchsorted(times, t)) - 1
        w = (t - times[i]) / (times[i + 1] - times[i])
        q0 = rotmat_to_quat(torch.from_numpy(self.key_rotations[i]))
        q1 = rotmat_to_quat(torch.from_numpy(self.key_rotations[i + 1]))
        R = quat_to_rotmat(quat_slerp(q0, q1, w)).numpy()
        return (1 - w) * self.key_positions[i] + w * self.key_positions[i + 1], R
