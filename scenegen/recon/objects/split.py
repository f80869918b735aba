"""Labels to objects: each label's Gaussians in a frame of their own, with the rigid Track that
best carries them over time and what it leaves as per-Gaussian motion."""

from __future__ import annotations

import torch
from torch import Tensor

from ...errors import InvalidArgumentError
from ...gaussian_motion import GaussianMotion
from ...geometry import fit_rigid_path, make_transform, quat_conjugate, quat_multiply, quat_to_axis_angle, rotmat_to_quat
from ...scene import Scene, SceneObject, Track
from .labels import sample_times


def _rigid_object(name: str, g, motion: GaussianMotion | None, times: Tensor, metadata: dict) -> SceneObject:
    """An object holding Gaussians `g` (world frame at the middle of the time range, where their
    motion is zero) with per-Gaussian `motion`: centred frame, rigid Track, residual motion."""
    weights = torch.sigmoid(g.opacities.detach()).double()
    centre = (weights @ g.means.detach().double()) / weights.sum().clamp_min(1e-12)
    local = g.transform(make_transform(torch.eye(3), -centre.float()))
    bounds = torch.stack([local.means.detach().amin(0), local.means.detach().amax(0)]) if len(g) else torch.zeros(2, 3)
    metadata = {**metadata, "bounds": bounds.tolist(), "gaussians": len(g)}
    moving = motion is not None and len(g) >= 3 and bool((motion.path_length(times) > 0).any())
    if not moving:
        track = Track.from_matrices([float(times[len(times) // 2])], make_transform(torch.eye(3), centre)[None].double())
        return SceneObject(name, local, track, metadata=metadata, motion=motion)
    rest = local.means.detach().double()
    world = motion.trajectories(g.means, times).detach().double()
    poses = fit_rigid_path(rest, world, weights)
    offsets, turns = [], []
    for k, t in enumerate(times.tolist()):
        R, c = poses[k, :3, :3], poses[k, :3, 3]
        offsets.append((world[k] - c) @ R - rest)  # what the rigid motion leaves, in the object's frame
        q_rigid = rotmat_to_quat(R).float().expand(len(g), 4)
        turns.append(quat_to_axis_angle(quat_multiply(quat_conjugate(q_rigid), motion.turn(t).detach())))
    residual = GaussianMotion.fit(motion.basis, times, torch.stack(offsets), torch.stack(turns), motion.time_centres.detach(),
                                  motion.time_sharpness.detach())
    rms = float(torch.stack(offsets).norm(dim=-1).pow(2).mean().sqrt())
    metadata["rigid_residual"] = rms
    return SceneObject(name, local, Track.from_matrices(times.tolist(), poses), metadata=metadata, motion=residual)


def split_objects(scene: Scene, labels: Tensor, names: dict[int, str] | None = None, *, source: str = "labels",
                  times: Tensor | None = None) -> Scene:
    """A new scene whose background keeps the label-0 Gaussians and whose objects are the other
    labels (named by `names`, else object_<label>), each in its own frame with its own Track."""
    g = scene.background.gaussians
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.shape != (len(g),):
        raise InvalidArgumentError(f"split_objects: {len(labels)} labels for {len(g)} Gaussians")
    if not scene.background.track.is_identity:
        raise InvalidArgumentError("split_objects: the background must not have a Track of its own")
    if len(labels) and int(labels.min()) < 0:
        raise InvalidArgumentError("split_objects: labels must be >= 0 (0 is the background); clean them first")
    times = sample_times(scene) if times is None else torch.as_tensor(times, dtype=torch.float64)
    motion = scene.background.motion
    bg = scene.background
    background = SceneObject(bg.name, g[labels == 0], bg.track, bg.visible, dict(bg.metadata),
                             None if motion is None else motion[labels == 0])
    result = Scene(background, list(scene.objects.values()), time_range=scene.time_range, cameras=scene.cameras,
                   camera_times=scene.camera_times, metadata=dict(scene.metadata))
    for label in sorted(set(labels.tolist()) - {0}):
        sel = labels == label
        name = (names or {}).get(label, f"object_{label}")
        if name in result.objects or name == bg.name:
            name = f"{name}_{label}"
        result.add(_rigid_object(name, g[sel], None if motion is None else motion[sel], times,
                                 {"label": int(label), "source": source}))
    return result


__all__ = ["split_objects"]
