"""Objects: split a reconstructed scene into named objects, from masks, from motion or from
geometry, each with its Gaussians in its own frame and a Track placing it in the world.

Labels come from one of three sources, all giving one integer per background Gaussian (0: stays
in the background):
- masks (`labels_from_masks`): in every masked view each Gaussian whose centre is in the frame
  and not hidden votes for the mask value under it; a Gaussian takes its most voted value.
  Gaussians that no view saw (a single first-frame mask leaves the far side unseen) take the
  label of their nearest neighbours, and a spatial majority vote removes speckle (`clean_labels`);
- motion (recon/motion_groups.py): Gaussians whose trajectories move together (training itself
  first looks for moving objects without masks, recon/change_masks.py, and trains those it finds
  as rigid bodies; this grouping is what is left when it finds none);
- geometry (recon/plane_split.py): the clusters standing on the supporting plane.

`split_objects` turns labels into objects. An object's canonical frame is centred on its
Gaussians at the middle of the time range; when its Gaussians move, its Track is the rigid motion
that best carries them over time (weighted Kabsch at each sample time), and what the rigid motion
does not explain stays as per-Gaussian motion in the object's frame.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from ..data.dataset import Dataset
from ..errors import InvalidArgumentError
from ..geometry import fit_rigid_path, make_transform, quat_conjugate, quat_multiply, quat_to_axis_angle, rotmat_to_quat
from ..gaussian_motion import GaussianMotion
from ..render import render
from ..scene import Scene, SceneObject, Track

log = logging.getLogger("scenegen.segment")
METHODS = ("auto", "masks", "motion", "geometry", "none")
MAX_TRACK_KEYS = 64


def labels_from_masks(scene: Scene, dataset: Dataset, *, views=None, depth_tolerance: float = 0.05,
                      object_share: float = 1 / 3) -> Tensor:
    """[N] long label of each background Gaussian of `scene` (rendered at each view's time) from
    the instance masks of `dataset`: the object it was seen on most when at least `object_share`
    of its votes name it, else 0; -1 when no view saw it.
    views: the indices of the masked views (default: all)."""
    if dataset.mask_paths is None:
        raise InvalidArgumentError(f"{dataset.root}: the dataset has no masks to take object labels from")
    n = len(scene.background.gaussians)
    votes = torch.zeros(n, 256)
    with torch.no_grad():
        for i in range(len(dataset)) if views is None else views:
            t = None if dataset.times is None else float(dataset.times[i])
            g = scene.background.gaussians_at(scene.time_range[0] if t is None else t)
            cam = dataset.cameras[i]
            mask = instance_mask(dataset.mask(i))
            if int(mask.min()) < 0 or int(mask.max()) > 255:
                raise InvalidArgumentError(f"{dataset.mask_paths[i]}: mask values must be 0..255 object indices")
            uv, z = cam.project(g.means)
            u, v = uv[:, 0].floor().long(), uv[:, 1].floor().long()
            h, w = mask.shape
            inside = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
            depth = render(g, cam, background=(0.0, 0.0, 0.0)).depth[0, :, :, 0]
            idx = inside.nonzero().squeeze(1)
            seen = depth[v[idx], u[idx]]
            idx = idx[z[idx] <= seen * (1 + depth_tolerance) + 1e-6]
            votes.index_put_((idx, mask[v[idx], u[idx]]), torch.ones(len(idx)), accumulate=True)
    # An object wins with a third of the votes: a point on an object's side falls just outside its
    # silhouette in many views, while the depth test keeps objects from claiming what they hide.
    total = votes.sum(1)
    best = votes[:, 1:].max(1)
    labels = torch.where(best.values >= object_share * total, best.indices + 1, torch.zeros_like(best.indices))
    labels[total == 0] = -1
    return labels


def instance_mask(mask: Tensor, max_objects: int = 32) -> Tensor:
    """Object indices of a mask image. A mask with more distinct values than `max_objects` is a
    soft (anti-aliased) single-object mask: values from 128 up are the object (1), the rest 0."""
    if len(torch.unique(mask)) > max_objects + 1:
        return (mask >= 128).long()
    return mask


def neighbours(points: Tensor, k: int) -> Tensor:
    """[N, k] indices of each point's k nearest points (itself first)."""
    from scipy.spatial import cKDTree

    k = min(k, len(points))
    _, idx = cKDTree(points.detach().double().numpy()).query(points.detach().double().numpy(), k=k)
    return torch.from_numpy(idx.reshape(len(points), k)).long()


def clean_labels(points: Tensor, labels: Tensor, *, k: int = 8, rounds: int = 2, fill_rounds: int = 100) -> Tensor:
    """Labels after filling the unlabelled (-1) from their nearest labelled neighbours (up to
    `fill_rounds` passes) and `rounds` passes of a spatial majority vote over each point's k
    nearest neighbours (a label changes only when most of them agree on another one); what stays
    unlabelled becomes 0."""
    labels = labels.clone()
    if len(labels) == 0:
        return labels.clamp_min(0)
    nn = neighbours(points, k)
    size = int(labels.max()) + 2

    def vote(labels):
        near = labels[nn]  # [N, k]
        counts = torch.zeros(len(labels), size).scatter_add_(1, near + 1, torch.ones_like(near, dtype=torch.float32))
        counts[:, 0] = 0  # unlabelled neighbours do not vote
        return counts.argmax(1) - 1, counts.max(1).values

    for _ in range(fill_rounds):
        unlabelled = labels < 0
        if not unlabelled.any():
            break
        best, top = vote(labels)
        fill = unlabelled & (top > 0)
        if not fill.any():
            break
        labels = torch.where(fill, best, labels)
    for _ in range(rounds):
        best, top = vote(labels)
        flip = (labels >= 0) & (top > k / 2) & (best != labels)
        if not flip.any():
            break
        labels = torch.where(flip, best, labels)
    return labels.clamp_min(0)


def sample_times(scene: Scene, limit: int = MAX_TRACK_KEYS) -> Tensor:
    """Times at which to sample motion: the capture times (at most `limit`, evenly spread), else
    evenly over the time range."""
    t0, t1 = scene.time_range
    if t1 <= t0:
        return torch.tensor([t0], dtype=torch.float64)
    if scene.camera_times is not None and len(torch.unique(scene.camera_times)) > 1:
        times = torch.unique(scene.camera_times)
        if len(times) > limit:
            times = times[torch.linspace(0, len(times) - 1, limit).round().long()]
        return times
    return torch.linspace(t0, t1, min(limit, 33), dtype=torch.float64)


def _rigid_object(name: str, g, motion: GaussianMotion | None, times: Tensor, metadata: dict) -> SceneObject:
    """An object holding Gaussians `g` (world frame at the middle of the time range, where their
    motion is zero) with per-Gaussian `motion`: centred frame, rigid Track, residual motion."""
    weights = torch.sigmoid(g.opacities.detach()).double()
    center = (weights @ g.means.detach().double()) / weights.sum().clamp_min(1e-12)
    local = g.transform(make_transform(torch.eye(3), -center.float()))
    bounds = torch.stack([local.means.detach().amin(0), local.means.detach().amax(0)]) if len(g) else torch.zeros(2, 3)
    metadata = {**metadata, "bounds": bounds.tolist(), "gaussians": len(g)}
    moving = motion is not None and len(g) >= 3 and bool((motion.path_length(times) > 0).any())
    if not moving:
        track = Track.from_matrices([float(times[len(times) // 2])], make_transform(torch.eye(3), center)[None].double())
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
    residual = GaussianMotion.fit(motion.basis, times, torch.stack(offsets), torch.stack(turns), motion.time_centers.detach(),
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


def _mask_names(dataset: Dataset | None) -> dict[int, str]:
    names = (dataset.metadata or {}).get("mask_names", {}) if dataset is not None else {}
    return {int(k): str(v) for k, v in names.items() if str(k).isdigit() and int(k) > 0}


def find_objects(scene: Scene, dataset: Dataset | None = None, method: str = "auto") -> Scene:
    """The scene split into objects. method: "masks" (the dataset's instance masks), "motion"
    (Gaussians that move together; needs a dynamic scene), "geometry" (clusters on the supporting
    plane), "none", or "auto": masks when the dataset has them, else motion for a dynamic scene,
    else geometry. Scenes that already have objects are returned unchanged, except that with "auto"
    a scene whose objects were all found from motion also gets the still objects standing on its
    supporting plane (geometry, on the background)."""
    if method not in METHODS:
        raise InvalidArgumentError(f"unknown object method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "none" or len(scene.background.gaussians) == 0:
        return scene
    if scene.objects:
        if method == "auto" and all(o.metadata.get("source") == "motion" for o in scene.objects.values()):
            from .plane_split import plane_labels

            labels = plane_labels(scene)
            return split_objects(scene, labels, {i: f"still_{i}" for i in range(1, int(labels.max()) + 1)}, source="geometry")
        return scene
    if method == "auto":
        if dataset is not None and dataset.mask_paths is not None:
            method = "masks"
        elif scene.background.motion is not None:
            method = "motion"
        else:
            method = "geometry"
    means = scene.background.gaussians.means.detach()
    if method == "masks":
        if dataset is None:
            raise InvalidArgumentError("find_objects: method='masks' needs the dataset that holds the masks")
        views = [i for i, p in enumerate(dataset.mask_paths) if p is not None]
        labels = clean_labels(means, labels_from_masks(scene, dataset, views=views))
        names = _mask_names(dataset) or {v: f"object_{i}" for i, v in enumerate(sorted(set(labels.tolist()) - {0}), start=1)}
        return split_objects(scene, labels, names, source="masks")
    if method == "motion":
        from .motion_groups import motion_labels

        if scene.background.motion is None:
            raise InvalidArgumentError("find_objects: method='motion' needs a scene trained with motion (a timed dataset)")
        labels = motion_labels(scene)
        return split_objects(scene, labels, {i: f"moving_{i}" for i in range(1, int(labels.max()) + 1)}, source="motion")
    from .plane_split import plane_labels

    labels = plane_labels(scene)
    return split_objects(scene, labels, source="geometry")


def describe_objects(scene: Scene) -> str:
    """One line naming the scene's objects, their sizes and where they came from."""
    parts = [f"{name} ({o.metadata.get('gaussians', len(o.gaussians))} Gaussians{', moving' if len(o.track) > 1 else ''})"
             for name, o in scene.objects.items()]
    sources = " and ".join(sorted({o.metadata.get("source", "labels") for o in scene.objects.values()}))
    return f"{len(parts)} object(s) from {sources}: " + ", ".join(parts) if parts else "no objects"


__all__ = ["describe_objects", "labels_from_masks", "clean_labels", "split_objects", "find_objects", "sample_times", "neighbours", "METHODS"]
