"""The edit operations: each changes a Scene in place from plain JSON arguments.

Every operation is a function `op(scene, **args)` registered under its name in OPERATIONS. Its
arguments are plain JSON data (names, numbers, lists), so an edit can be written to the scene's
journal and replayed exactly (scenegen/edit/history.py). Operations never modify a SceneObject
or its Gaussians in place: they put a new object in the scene's mapping. That keeps undo a
matter of restoring the mapping.

Objects are named by their name; "background" names the background. Moves act on an object's
Track (every keyframe moves, so the object's own motion is kept and carried along); scaling acts
on its Gaussians and per-Gaussian motion in its own frame.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..common.values import bounded_int, finite_number, finite_vector, shown
from ..errors import InvalidArgumentError
from ..gaussian_motion import GaussianMotion, MotionBasis
from ..gaussians import Gaussians
from ..geometry import axis_angle_to_quat, invert_se3, make_transform, quat_to_rotmat
from ..scene import BACKGROUND, Scene, SceneObject, Track
from ..sh import SH_C0, rgb_to_sh_dc

OPERATIONS: dict[str, Callable] = {}


# Operations renamed, by their old name: journals that name them still replay.
RENAMED = {"recolor": "recolour"}
MAX_MESH_GAUSSIANS = 2_000_000  # Gaussians insert_mesh may put on one mesh


def operation(fn: Callable) -> Callable:
    OPERATIONS[fn.__name__.rstrip("_")] = fn
    return fn


# -- argument checks: every message names the argument and the operation -------------------------

def get_object(scene: Scene, name) -> SceneObject:
    """The object called `name` ("background" for the background), or a clear error."""
    if name == BACKGROUND:
        return scene.background
    if not isinstance(name, str) or name not in scene.objects:
        known = ", ".join([BACKGROUND, *scene.objects]) or "(none)"
        raise InvalidArgumentError(f"no object named {name!r} in the scene; its objects are: {known}")
    return scene.objects[name]


def vector(value, what: str, size: int = 3) -> Tensor:
    """A float64 vector of `size` numbers, each finite in float32 (what the scene stores)."""
    try:
        flat = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{what} must be {size} numbers, got {shown(value)}") from None
    return torch.from_numpy(finite_vector(flat, size, what))


def number(value, what: str, *, positive: bool = False) -> float:
    return finite_number(value, what, positive=positive)


def new_name(scene: Scene, name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"an object name must be a non-empty string, got {name!r}")
    if name == BACKGROUND or name in scene.objects:
        raise InvalidArgumentError(f"an object named {name!r} already exists; choose another name")
    return name


def _replace(scene: Scene, old: SceneObject, **changes) -> SceneObject:
    """Put a copy of `old` with `changes` where `old` was (same place in the order)."""
    obj = dataclasses.replace(old, **changes)
    if old is scene.background:
        scene.background = obj
    else:
        scene.objects = {(obj.name if k == old.name else k): (obj if k == old.name else v) for k, v in scene.objects.items()}
    return obj


def _time(scene: Scene, t) -> float:
    return scene.time_range[0] if t is None else number(t, "t")


def object_centre(obj: SceneObject, t: float) -> Tensor:
    """World position [3] (float64) of the centre of the object's bounding box at time t."""
    if len(obj.gaussians) == 0:
        return obj.pose_at(t)[:3, 3]
    lo, hi = obj.gaussians.bounds()
    local = 0.5 * (lo + hi).double()
    pose = obj.pose_at(t)
    return pose[:3, :3] @ local + pose[:3, 3]


def _moved_track(obj: SceneObject, T: Tensor, t: float) -> Track:
    """The object's Track with every keyframe carried by the world transform T (an object with no
    keyframes gets one, at t)."""
    track = obj.track
    if len(track) == 0:
        return Track.from_matrices([t], T[None], track.interpolation)
    return Track.from_matrices(track.times, T[None] @ track.poses_at(track.times), track.interpolation)


# -- operations ------------------------------------------------------------------------------------

@operation
def translate(scene: Scene, object: str, offset):
    """Move the object (its whole motion) by `offset` [3] in world units."""
    obj = get_object(scene, object)
    T = make_transform(torch.eye(3, dtype=torch.float64), vector(offset, "offset"))
    _replace(scene, obj, track=_moved_track(obj, T, scene.time_range[0]))


@operation
def rotate(scene: Scene, object: str, axis, degrees, pivot=None, t=None):
    """Turn the object (its whole motion) by `degrees` about `axis` through `pivot` (default: the
    centre of its bounding box at time t, by default the start of the scene)."""
    obj = get_object(scene, object)
    axis = vector(axis, "axis")
    if float(axis.norm()) < 1e-12:
        raise InvalidArgumentError("axis must not be the zero vector")
    angle = math.radians(number(degrees, "degrees"))
    time = _time(scene, t)
    p = object_centre(obj, time) if pivot is None else vector(pivot, "pivot")
    R = quat_to_rotmat(axis_angle_to_quat(axis, angle))
    T = make_transform(R, p - R @ p)
    _replace(scene, obj, track=_moved_track(obj, T, time))


@operation
def transform(scene: Scene, object: str, matrix):
    """Carry the object (its whole motion) by the rigid world transform `matrix` [4, 4]."""
    obj = get_object(scene, object)
    T = _rigid(matrix, "matrix")
    _replace(scene, obj, track=_moved_track(obj, T, scene.time_range[0]))


def _rigid(matrix, what: str) -> Tensor:
    T = vector(matrix, what, 16).reshape(4, 4)
    R = T[:3, :3]
    if not torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-6) or float(torch.det(R)) < 0 \
            or not torch.allclose(T[3], torch.tensor([0, 0, 0, 1.0], dtype=torch.float64)):
        raise InvalidArgumentError(f"{what} must be a rigid transform (rotation and translation, last row 0 0 0 1)")
    return T


@operation
def scale(scene: Scene, object: str, factor, pivot=None):
    """Scale the object uniformly by `factor` about `pivot` given in its own frame (default: the
    centre of its Gaussians' bounding box), motion included."""
    obj = get_object(scene, object)
    s = number(factor, "factor", positive=True)
    g = obj.gaussians
    if pivot is None:
        lo, hi = g.bounds() if len(g) else (torch.zeros(3), torch.zeros(3))
        p = 0.5 * (lo + hi).double()
    else:
        p = vector(pivot, "pivot")
    S = make_transform(torch.eye(3, dtype=torch.float64) * s, p * (1 - s))
    motion = obj.motion
    if motion is not None:
        motion = GaussianMotion(motion.basis, motion.offsets * s, motion.rotations, motion.time_centres, motion.time_sharpness)
    _replace(scene, obj, gaussians=g.transform(S.to(g.means.dtype)), motion=motion)


@operation
def set_pose(scene: Scene, object: str, t, matrix):
    """Keyframe the object: at time t its frame is at the rigid world transform `matrix` [4, 4]."""
    obj = get_object(scene, object)
    _replace(scene, obj, track=obj.track.set_keyframe(number(t, "t"), _rigid(matrix, "matrix")))


@operation
def retime(scene: Scene, object: str, speed=1.0, shift=0.0):
    """Play the object's motion `speed` times as fast, `shift` seconds later: what happened at
    time t now happens at (t - t0) / speed + t0 + shift, t0 the start of the scene."""
    obj = get_object(scene, object)
    speed, shift = number(speed, "speed", positive=True), number(shift, "shift")
    t0 = scene.time_range[0]
    new_time = lambda t: (t - t0) / speed + t0 + shift  # noqa: E731
    track = obj.track
    if len(track):
        track = Track(new_time(track.times), track.rotations, track.translations, track.interpolation)
    motion = obj.motion
    if motion is not None:
        b = motion.basis
        motion = dataclasses.replace(motion, basis=MotionBasis(new_time(b.t0), new_time(b.t1), b.degree, b.fourier))
    _replace(scene, obj, track=track, motion=motion)
    lo, hi = scene.time_range
    ends = [new_time(t) for t in (lo, hi)]
    scene.time_range = (min(lo, *ends), max(hi, *ends))


@operation
def duplicate(scene: Scene, object: str, name: str, offset=(0.0, 0.0, 0.0)):
    """A copy of the object named `name`, moved by `offset` [3]."""
    obj = get_object(scene, object)
    copy = dataclasses.replace(obj, name=new_name(scene, name), metadata={**obj.metadata, "copy_of": obj.name})
    scene.add(copy)
    translate(scene, name, offset)


@operation
def delete(scene: Scene, object: str):
    """Remove the object. What was behind it shows as reconstructed (it may hold a hole)."""
    if object == BACKGROUND:
        raise InvalidArgumentError("the background cannot be deleted; hide it instead")
    get_object(scene, object)
    scene.objects = {k: v for k, v in scene.objects.items() if k != object}


@operation
def split(scene: Scene, object: str, indices, name: str):
    """Move the object's Gaussians at `indices` into a new object `name` that keeps its Track."""
    obj = get_object(scene, object)
    new_name(scene, name)
    n = len(obj.gaussians)
    try:
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise InvalidArgumentError(f"indices must be a list of Gaussian indices of {object!r}") from None
    if len(idx) == 0 or int(idx.min()) < 0 or int(idx.max()) >= n:
        raise InvalidArgumentError(f"indices must be a non-empty list of Gaussian indices of {object!r} (0..{n - 1})")
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[idx] = True
    motion = obj.motion
    part = dataclasses.replace(obj, name=name, gaussians=obj.gaussians[chosen], motion=None if motion is None else motion[chosen],
                               metadata={"split_from": obj.name})
    _replace(scene, obj, gaussians=obj.gaussians[~chosen], motion=None if motion is None else motion[~chosen])
    scene.add(part)


@operation
def merge(scene: Scene, objects: list, name: str, t=None):
    """Join `objects` into one object `name` that moves with the first of them; the others'
    Gaussians join it where they stand at time t (default: the start of the scene)."""
    if not isinstance(objects, list) or len(objects) < 2 or len(set(objects)) != len(objects):
        raise InvalidArgumentError(f"merge needs a list of at least two different object names, got {objects!r}")
    parts = [get_object(scene, o) for o in objects]
    if BACKGROUND in objects:
        raise InvalidArgumentError("the background cannot be merged into an object; split from it instead")
    time = _time(scene, t)
    first = parts[0]
    to_first = invert_se3(first.pose_at(time))
    gaussians, motions = [first.gaussians], [first.motion]
    for obj in parts[1:]:
        g = obj.gaussians if obj.motion is None else obj.motion.apply(obj.gaussians, time)
        gaussians.append(g.transform((to_first @ obj.pose_at(time)).to(g.means.dtype)))
        motions.append(None)
    degree = max(g.sh_degree for g in gaussians)
    merged_g = Gaussians.cat([g.with_sh_degree(degree) for g in gaussians])
    motion = None
    if first.motion is not None:
        motion = GaussianMotion.cat([first.motion] + [GaussianMotion.still(len(g), first.motion.basis, first.motion.offsets.dtype)
                                                      for g in gaussians[1:]])
    for o in objects:
        delete(scene, o)
    scene.add(SceneObject(new_name(scene, name), merged_g, first.track, first.visible, {"merged_from": list(objects)}, motion))


@operation
def tint(scene: Scene, object: str, rgb):
    """Multiply the object's colours by `rgb` [3] (view-dependent colour included)."""
    obj = get_object(scene, object)
    f = vector(rgb, "rgb")
    if (f < 0).any():
        raise InvalidArgumentError(f"rgb must be non-negative factors, got {rgb!r}")
    g = obj.gaussians
    f = f.to(g.sh.dtype)
    sh = g.sh.clone()
    sh[:, 0] = ((sh[:, 0] * SH_C0 + 0.5) * f - 0.5) / SH_C0
    sh[:, 1:] = sh[:, 1:] * f
    _replace(scene, obj, gaussians=Gaussians(g.means, g.scales, g.quats, g.opacities, sh))


@operation
def recolour(scene: Scene, object: str, rgb):
    """Paint the object one colour `rgb` [3] in [0, 1], seen the same from every side."""
    obj = get_object(scene, object)
    c = vector(rgb, "rgb")
    if (c < 0).any() or (c > 1).any():
        raise InvalidArgumentError(f"rgb must be three numbers in [0, 1], got {rgb!r}")
    g = obj.gaussians
    sh = torch.zeros_like(g.sh)
    sh[:, 0] = rgb_to_sh_dc(c.to(g.sh.dtype))
    _replace(scene, obj, gaussians=Gaussians(g.means, g.scales, g.quats, g.opacities, sh))


@operation
def hide(scene: Scene, object: str):
    _replace(scene, get_object(scene, object), visible=False)


@operation
def show(scene: Scene, object: str):
    _replace(scene, get_object(scene, object), visible=True)


@operation
def rename(scene: Scene, object: str, name: str):
    if object == BACKGROUND:
        raise InvalidArgumentError("the background cannot be renamed")
    _replace(scene, get_object(scene, object), name=new_name(scene, name))


@operation
def insert_mesh(scene: Scene, path: str, name: str, position=(0.0, 0.0, 0.0), size=None, count: int = 20000, seed: int = 0,
                sha256=None):
    """A mesh file (GLB, OBJ, PLY, STL, ...) as a new object `name` of Gaussians on its surface
    with its colours, its base centred at `position` (world), scaled so that its largest side is
    `size` (default: as modelled). sha256: the file's digest, checked when given (a replayed
    journal then refuses a changed file)."""
    from .insert import mesh_gaussians

    new_name(scene, name)
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InvalidArgumentError(f"insert_mesh: path must name a mesh file, got {shown(path)}")
    g = mesh_gaussians(path, count=bounded_int(count, "count", 1, MAX_MESH_GAUSSIANS), seed=bounded_int(seed, "seed", 0, 2 ** 32 - 1),
                       size=None if size is None else number(size, "size", positive=True), sha256=sha256)
    T = make_transform(torch.eye(3, dtype=torch.float64), vector(position, "position"))
    scene.add(SceneObject(name, g, Track.from_matrices([scene.time_range[0]], T[None]), metadata={"source": "mesh", "path": str(path)}))


__all__ = ["OPERATIONS", "get_object", "object_centre"]
