"""The scene model: a background plus named objects, each with Gaussians and a Track over time.

An object's Gaussians live in the object's own frame; its Track maps that frame to the world at
time t. `scene.gaussians_at(t)` gives world-space Gaussians with a per-Gaussian object id
(0 is the background, 1..n the objects in order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import Tensor

from .camera import Camera, Cameras
from .common.values import FLOAT32_MAX
from .errors import InvalidArgumentError
from .gaussian_motion import GaussianMotion
from .gaussians import Gaussians
from .geometry import make_transform, quat_normalize, quat_slerp, quat_to_rotmat, rotmat_to_quat

INTERPOLATIONS = ("linear", "cubic")
BACKGROUND = "background"


class Track:
    """Rigid SE(3) keyframes over time: times [T], rotations [T, 4] (w, x, y, z), translations [T, 3].

    Rotation is slerped; translation is linear or cubic (Catmull-Rom with non-uniform times);
    outside the keyed range the first/last pose holds. An empty Track is the identity.
    """

    def __init__(self, times=None, rotations=None, translations=None, interpolation: str = "linear"):
        if interpolation not in INTERPOLATIONS:
            raise InvalidArgumentError(f"Track interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.interpolation = interpolation
        times = torch.zeros(0) if times is None else torch.as_tensor(times, dtype=torch.float64).reshape(-1)
        n = times.numel()
        rotations = torch.zeros(0, 4) if rotations is None else torch.as_tensor(rotations, dtype=torch.float64)
        translations = torch.zeros(0, 3) if translations is None else torch.as_tensor(translations, dtype=torch.float64)
        if rotations.shape != (n, 4) or translations.shape != (n, 3):
            raise InvalidArgumentError(
                f"Track needs rotations [T, 4] and translations [T, 3] for T={n} times, "
                f"got {list(rotations.shape)} and {list(translations.shape)}"
            )
        if not all(torch.isfinite(x).all() and (x.abs() <= FLOAT32_MAX).all() for x in (times, rotations, translations)):
            raise InvalidArgumentError("Track keyframes contain NaN, infinite values or values past float32's range")
        if n and (rotations.norm(dim=-1) < 1e-12).any():
            raise InvalidArgumentError("Track rotations contain a zero quaternion")
        order = torch.argsort(times)
        times = times[order]
        if n > 1 and (times[1:] == times[:-1]).any():
            raise InvalidArgumentError("Track keyframe times must be distinct")
        self.times = times
        self.rotations = quat_normalize(rotations[order].double())
        self.translations = translations[order].double()

    @classmethod
    def identity(cls) -> "Track":
        return cls()

    @classmethod
    def from_matrices(cls, times, matrices, interpolation: str = "linear") -> "Track":
        """Track through rigid poses `matrices` [T, 4, 4] at `times` [T]."""
        m = torch.as_tensor(matrices, dtype=torch.float64)
        if m.dim() != 3 or m.shape[1:] != (4, 4):
            raise InvalidArgumentError(f"Track.from_matrices expects [T, 4, 4] matrices, got {list(m.shape)}")
        return cls(times, rotmat_to_quat(m[:, :3, :3]), m[:, :3, 3], interpolation)

    def __len__(self) -> int:
        return self.times.numel()

    @property
    def is_identity(self) -> bool:
        if len(self) == 0:
            return True
        eye = self.rotations.new_tensor([1.0, 0, 0, 0])
        return bool(torch.allclose(self.rotations.abs(), eye.expand_as(self.rotations)) and torch.allclose(self.translations, torch.zeros_like(self.translations)))

    def pose_at(self, t: float) -> Tensor:
        """The object-to-world transform [4, 4] (float64) at time t."""
        return self.poses_at([t])[0]

    def poses_at(self, ts) -> Tensor:
        """Object-to-world transforms [len(ts), 4, 4] (float64)."""
        ts = torch.as_tensor(ts, dtype=torch.float64).reshape(-1)
        if len(self) == 0:
            return torch.eye(4, dtype=torch.float64).expand(ts.numel(), 4, 4).clone()
        if len(self) == 1:
            return make_transform(quat_to_rotmat(self.rotations[0]), self.translations[0]).expand(ts.numel(), 4, 4).clone()
        tc = ts.clamp(self.times[0], self.times[-1])
        i0 = (torch.searchsorted(self.times, tc, right=True) - 1).clamp(0, len(self) - 2)
        i1 = i0 + 1
        a = ((tc - self.times[i0]) / (self.times[i1] - self.times[i0])).clamp(0, 1)
        q = quat_slerp(self.rotations[i0], self.rotations[i1], a)
        if self.interpolation == "linear":
            pos = torch.lerp(self.translations[i0], self.translations[i1], a[:, None])
        else:
            pos = self._cubic(i0, a)
        return make_transform(quat_to_rotmat(q), pos)

    def _cubic(self, i0: Tensor, a: Tensor) -> Tensor:
        p, t = self.translations, self.times
        n = len(self)

        def tangent(i):
            lo, hi = (i - 1).clamp(min=0), (i + 1).clamp(max=n - 1)
            return (p[hi] - p[lo]) / (t[hi] - t[lo])[:, None]

        i1 = i0 + 1
        dt = (t[i1] - t[i0])[:, None]
        m0, m1 = tangent(i0) * dt, tangent(i1) * dt
        a = a[:, None]
        h00, h10, h01, h11 = 2 * a**3 - 3 * a**2 + 1, a**3 - 2 * a**2 + a, -2 * a**3 + 3 * a**2, a**3 - a**2
        return h00 * p[i0] + h10 * m0 + h01 * p[i1] + h11 * m1

    def set_keyframe(self, t: float, pose: Tensor) -> "Track":
        """A new Track with the pose [4, 4] at time t (replacing a keyframe at the same time)."""
        pose = torch.as_tensor(pose, dtype=torch.float64)
        keep = self.times != float(t)
        return Track(
            torch.cat([self.times[keep], self.times.new_tensor([float(t)])]),
            torch.cat([self.rotations[keep], rotmat_to_quat(pose[:3, :3])[None]]),
            torch.cat([self.translations[keep], pose[:3, 3][None]]),
            self.interpolation,
        )

    def to_dict(self) -> dict:
        return {
            "interpolation": self.interpolation,
            "times": self.times.tolist(),
            "rotations": self.rotations.tolist(),
            "translations": self.translations.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Track":
        if not isinstance(d, dict):
            raise InvalidArgumentError(f"a track must be a JSON object, got {type(d).__name__}")
        try:
            return cls(d.get("times") or None, d.get("rotations") or None, d.get("translations") or None, d.get("interpolation", "linear"))
        except (TypeError, ValueError, RuntimeError) as exc:
            if isinstance(exc, InvalidArgumentError):
                raise
            raise InvalidArgumentError(f"a track's keyframes are not numeric arrays of the right shape: {exc}") from None

    def __repr__(self) -> str:
        return f"Track({len(self)} keyframes, {self.interpolation})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Track) and self.to_dict() == other.to_dict()


@dataclass
class SceneObject:
    """One object: Gaussians in its own frame, a Track placing it in the world, metadata and,
    optionally, per-Gaussian motion within that frame (scenegen.gaussian_motion)."""

    name: str
    gaussians: Gaussians
    track: Track = field(default_factory=Track)
    visible: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)
    motion: GaussianMotion | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidArgumentError(f"an object name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.gaussians, Gaussians):
            raise InvalidArgumentError(f"SceneObject {self.name!r}: gaussians must be a Gaussians, got {type(self.gaussians).__name__}")
        if self.motion is not None and len(self.motion) != len(self.gaussians):
            raise InvalidArgumentError(f"SceneObject {self.name!r}: motion for {len(self.motion)} Gaussians, but it has {len(self.gaussians)}")

    def pose_at(self, t: float) -> Tensor:
        return self.track.pose_at(t)

    def gaussians_at(self, t: float) -> Gaussians:
        """World-space Gaussians of this object at time t."""
        g = self.gaussians if self.motion is None else self.motion.apply(self.gaussians, t)
        if self.track.is_identity:
            return g
        return g.transform(self.track.pose_at(t).to(g.means.dtype))


class Scene:
    """A background object plus named objects, a time range, capture cameras and metadata."""

    def __init__(self, background: SceneObject | Gaussians | None = None, objects=None, *,
                 time_range: tuple[float, float] = (0.0, 0.0), cameras: Cameras | None = None,
                 camera_times=None, metadata: dict | None = None, history: list | None = None):
        if background is None:
            background = Gaussians.empty()
        if isinstance(background, Gaussians):
            background = SceneObject(BACKGROUND, background)
        self.background: SceneObject = background
        self.objects: dict[str, SceneObject] = {}
        for obj in (objects.values() if isinstance(objects, dict) else objects or []):
            self.add(obj)
        t0, t1 = (float(v) for v in time_range)
        if not (t0 <= t1):
            raise InvalidArgumentError(f"time_range must be (start, end) with start <= end, got {time_range}")
        self.time_range = (t0, t1)
        if cameras is not None and not isinstance(cameras, Cameras):
            raise InvalidArgumentError(f"cameras must be a Cameras batch, got {type(cameras).__name__}")
        self.cameras = cameras
        self.camera_times = None
        if camera_times is not None:
            try:
                self.camera_times = torch.as_tensor(camera_times, dtype=torch.float64).reshape(-1)
            except (TypeError, ValueError, RuntimeError, OverflowError):
                raise InvalidArgumentError(f"camera_times must be a list of numbers, got {str(camera_times)[:40]!r}") from None
            if cameras is None or len(self.camera_times) != len(cameras):
                raise InvalidArgumentError(f"camera_times needs one time per capture camera ({0 if cameras is None else len(cameras)})")
        self.metadata: dict[str, Any] = dict(metadata or {})
        # The journal of edits (scenegen.edit.history), saved with the scene; undo and redo are
        # an editing session's (scenegen.edit.EditSession).
        self.history: list[dict] = list(history or [])

    @classmethod
    def from_gaussians(cls, gaussians: Gaussians, **kwargs) -> "Scene":
        """A static scene holding `gaussians` as its background."""
        return cls(SceneObject(BACKGROUND, gaussians), **kwargs)

    def add(self, obj: SceneObject) -> SceneObject:
        if not isinstance(obj, SceneObject):
            raise InvalidArgumentError(f"Scene.add expects a SceneObject, got {type(obj).__name__}")
        if obj.name == BACKGROUND or obj.name in self.objects:
            raise InvalidArgumentError(f"an object named {obj.name!r} already exists; choose another name")
        self.objects[obj.name] = obj
        return obj

    def all_objects(self) -> Iterator[SceneObject]:
        """The background first, then every object in order (their ids are 0, 1, 2, ...)."""
        yield self.background
        yield from self.objects.values()

    @property
    def object_names(self) -> list[str]:
        """Names indexed by object id (index 0 is the background)."""
        return [o.name for o in self.all_objects()]

    @property
    def num_gaussians(self) -> int:
        return sum(len(o.gaussians) for o in self.all_objects())

    def gaussians_at(self, t: float | None = None) -> tuple[Gaussians, Tensor]:
        """World-space Gaussians of every visible object at time t (default: start of the range),
        and their object ids [N] (long, 0 = background)."""
        t = self.time_range[0] if t is None else float(t)
        if not math.isfinite(t):
            raise InvalidArgumentError(f"the scene time must be a finite number, got {t}")
        parts, ids = [], []
        for oid, obj in enumerate(self.all_objects()):
            if obj.visible and len(obj.gaussians):
                g = obj.gaussians_at(t)
                parts.append(g)
                ids.append(torch.full((len(g),), oid, dtype=torch.long, device=g.device))
        if not parts:
            return Gaussians.empty(self.background.gaussians.sh_degree, self.background.gaussians.device), torch.zeros(0, dtype=torch.long)
        return Gaussians.cat(parts), torch.cat(ids)

    def render(self, camera: Camera | Cameras, t: float | None = None, **kwargs):
        """Render the scene at time t from `camera`; see scenegen.render.render for the options."""
        from .render import render

        gaussians, ids = self.gaussians_at(t)
        return render(gaussians, camera, object_ids=ids, **kwargs)

    def __getattr__(self, name: str):
        # The edits (translate, rotate, ..., undo, redo) and picking were methods of Scene before
        # scenegen.edit.EditSession and scenegen.render.picking; for one release they still
        # answer here, as deprecated aliases listed in scenegen/deprecated.py.
        if not name.startswith("_"):
            from importlib import import_module

            alias = import_module("scenegen.deprecated").scene_method(self, name)
            if alias is not None:
                return alias
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return (f"Scene({len(self.objects)} objects + background, {self.num_gaussians} Gaussians, "
                f"time {self.time_range[0]:g}..{self.time_range[1]:g})")
