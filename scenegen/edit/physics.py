"""Physics: objects dropped, pushed and stacked by a real rigid-body engine (PyBullet).

`simulate(scene, duration, ...)` (also `scene.simulate`, a journaled edit) runs the objects from
a start time and writes where the engine put them into their Tracks, one keyframe per frame, so
the result renders and plays like any other motion.

- The ground is the scene's supporting plane: scene.metadata["support_plane"] when the
  reconstruction recorded it, else the largest near-horizontal plane of the background's opaque
  Gaussians (RANSAC, recon/objects/from_geometry.py). The rest of the background does not collide.
- Each object collides as the convex hull of its opaque Gaussians' centres (trimesh), its mass is
  `density` times the hull's volume, its centre of mass the hull's.
- Objects not simulated (`objects` names the ones that are) stay where they stand at the start
  and are obstacles.
- Gravity defaults to 9.81 scene units/s² against the plane's normal: a scene in metres falls as
  on Earth. A scene from a video has the scale its poses were estimated at; pass `gravity`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import InvalidArgumentError, MissingDependencyError
from ..geometry import make_transform, quat_to_rotmat, rotmat_to_quat
from ..scene import Scene, SceneObject, Track
from .ops import _replace, get_object, number, operation, vector

STEP_HZ = 240  # engine steps per second
MIN_OPACITY = 0.3  # Gaussians that count as solid for the collision hull
GRAVITY = 9.81
MAX_SECONDS = 600.0  # longest simulation one edit runs
MAX_FPS = float(STEP_HZ)  # poses a second: no more than the engine steps
MAX_POSES = 20000  # poses one edit keys per object (about 20 s of work)


def _engine():
    try:
        import pybullet
    except ImportError:
        raise MissingDependencyError("physics needs PyBullet: pip install pybullet") from None
    return pybullet


def ground_plane(scene: Scene) -> tuple[Tensor, float]:
    """(unit normal [3] float64, d) of the scene's supporting plane, normal . x + d = 0."""
    recorded = scene.metadata.get("support_plane")
    if recorded is not None:
        plane = torch.as_tensor(recorded, dtype=torch.float64)
        return plane[:3] / plane[:3].norm(), float(plane[3] / plane[:3].norm())
    from ..common.points import support_plane

    found = support_plane(scene)
    if found is None:
        raise InvalidArgumentError("simulate: the scene has no supporting plane (none recorded in its metadata and none found "
                                   "in its background); give plane=[a, b, c, d] (a x + b y + c z + d = 0)")
    return found[0].double(), float(found[1])


def collision_hull(obj: SceneObject, t: float):
    """The convex hull (trimesh) of the object's solid Gaussians' centres in its own frame at time t."""
    import trimesh

    g = obj.gaussians if obj.motion is None else obj.motion.apply(obj.gaussians, t)
    solid = torch.sigmoid(g.opacities.detach()) >= MIN_OPACITY
    points = g.means.detach()[solid if int(solid.sum()) >= 4 else torch.ones_like(solid)].double().numpy()
    if len(points) < 4:
        raise InvalidArgumentError(f"simulate: object {obj.name!r} has fewer than 4 Gaussians; it cannot collide")
    hull = trimesh.convex.convex_hull(points)
    if hull.volume <= 0:
        raise InvalidArgumentError(f"simulate: object {obj.name!r} is flat (its hull has no volume); it cannot be simulated")
    return hull


def _xyzw(q: Tensor) -> list[float]:
    return [float(q[1]), float(q[2]), float(q[3]), float(q[0])]


def _body(pb, client, hull, pose: Tensor, mass: float) -> int:
    shape = pb.createCollisionShape(pb.GEOM_MESH, vertices=hull.vertices.tolist(), physicsClientId=client)
    centre = hull.center_mass.tolist() if mass > 0 else [0.0, 0.0, 0.0]
    body = pb.createMultiBody(baseMass=mass, baseCollisionShapeIndex=shape, basePosition=pose[:3, 3].tolist(),
                              baseOrientation=_xyzw(rotmat_to_quat(pose[:3, :3])), baseInertialFramePosition=centre,
                              physicsClientId=client)
    return body


@operation
def simulate(scene: Scene, duration, fps=30, gravity=None, impulses=None, objects=None, start=None, plane=None,
             density=500.0, friction=0.6, restitution=0.1):
    """Run the objects under physics for `duration` seconds from time `start` (default: the end
    of the scene's time range) and key their poses `fps` times a second. impulses: {object name:
    [3] impulse} given at the start (velocity = impulse / mass); objects: the names to simulate
    (default: every visible object); plane: [a, b, c, d] to override the supporting plane."""
    pb = _engine()
    duration, fps = number(duration, "duration", positive=True), number(fps, "fps", positive=True)
    if duration > MAX_SECONDS or fps > MAX_FPS or duration * fps > MAX_POSES:
        raise InvalidArgumentError(f"simulate: at most {MAX_SECONDS:g} s, {MAX_FPS:g} poses a second and {MAX_POSES} poses in "
                                   f"all; got {duration:g} s at {fps:g}: lower duration or fps")
    density = number(density, "density", positive=True)
    t0 = scene.time_range[1] if start is None else number(start, "start")
    if plane is None:
        normal, d = ground_plane(scene)
    else:
        p = vector(plane, "plane", 4)
        if float(p[:3].norm()) < 1e-12:
            raise InvalidArgumentError("plane: its normal (a, b, c) must not be zero")
        normal, d = p[:3] / p[:3].norm(), float(p[3] / p[:3].norm())
    g = -GRAVITY * normal if gravity is None else vector(gravity, "gravity")
    names = [o.name for o in scene.objects.values() if o.visible] if objects is None else list(objects)
    moving = {name: get_object(scene, name) for name in names}
    if any(name == "background" for name in moving):
        raise InvalidArgumentError("simulate: the background does not move; name objects")
    impulses = dict(impulses or {})
    for name in impulses:
        if name not in moving:
            raise InvalidArgumentError(f"simulate: impulse for {name!r}, which is not among the simulated objects {sorted(moving)}")
    client = pb.connect(pb.DIRECT)
    try:
        pb.setGravity(*g.tolist(), physicsClientId=client)
        pb.setTimeStep(1.0 / STEP_HZ, physicsClientId=client)
        ground = pb.createCollisionShape(pb.GEOM_PLANE, planeNormal=normal.tolist(), physicsClientId=client)
        floor = pb.createMultiBody(baseMass=0, baseCollisionShapeIndex=ground, basePosition=(-d * normal).tolist(),
                                   physicsClientId=client)
        bodies, masses = {}, {}
        for obj in scene.objects.values():
            if not obj.visible and obj.name not in moving:
                continue
            hull = collision_hull(obj, t0)
            mass = density * float(hull.volume) if obj.name in moving else 0.0
            bodies[obj.name] = _body(pb, client, hull, obj.pose_at(t0), mass)
            masses[obj.name] = mass
        for body in [floor, *bodies.values()]:
            pb.changeDynamics(body, -1, lateralFriction=float(friction), restitution=float(restitution), physicsClientId=client)
        for name, impulse in impulses.items():
            velocity = vector(impulse, f"impulses[{name!r}]") / masses[name]
            pb.resetBaseVelocity(bodies[name], linearVelocity=velocity.tolist(), physicsClientId=client)
        frames = max(1, int(math.ceil(duration * fps)))
        times = [t0 + k / fps for k in range(frames + 1)]
        # PyBullet reports a body's centre of mass; each object's frame sits at this offset from it.
        centres = {name: torch.tensor(pb.getDynamicsInfo(bodies[name], -1, physicsClientId=client)[3], dtype=torch.float64)
                   for name in moving}
        states = {name: [pb.getBasePositionAndOrientation(bodies[name], physicsClientId=client)] for name in moving}
        steps_done = 0
        for k in range(1, frames + 1):
            target = int(round(k / fps * STEP_HZ))
            for _ in range(target - steps_done):
                pb.stepSimulation(physicsClientId=client)
            steps_done = target
            for name in moving:
                states[name].append(pb.getBasePositionAndOrientation(bodies[name], physicsClientId=client))
    finally:
        pb.disconnect(physicsClientId=client)
    poses = {name: _poses(states[name], centres[name]) for name in moving}
    for name, obj in moving.items():
        track = obj.track
        kept = track.times[track.times < t0 - 1e-9]  # keyframes before the start stay
        new = Track.from_matrices(torch.cat([kept, torch.tensor(times, dtype=torch.float64)]),
                                  torch.cat([track.poses_at(kept), poses[name]]), track.interpolation)
        _replace(scene, obj, track=new)
    lo, hi = scene.time_range
    scene.time_range = (min(lo, t0), max(hi, times[-1]))


def _poses(states: list, centre: Tensor) -> Tensor:
    """The object's frames in the world [F, 4, 4] (float64), from the engine's centre-of-mass
    poses (position, xyzw orientation) and the centre of mass `centre` [3] in the object's frame."""
    position = torch.tensor([p for p, _ in states], dtype=torch.float64)
    R = quat_to_rotmat(torch.tensor([q for _, q in states], dtype=torch.float64)[:, [3, 0, 1, 2]])
    return make_transform(R, position - R @ centre)


__all__ = ["simulate", "ground_plane", "collision_hull"]
