"""Objects from instance masks: lift per-frame masks to per-Gaussian labels, then split a scene
into objects.

Lifting: in every masked view each Gaussian whose centre is in the frame and not hidden (its
depth at most a little behind the rendered depth at that pixel) votes for the mask value there;
a Gaussian's label is its most voted value, 0 (background) when it never got a vote. Splitting:
every label but 0 becomes a SceneObject whose Gaussians sit in a canonical frame centred on them,
placed in the world by a constant Track.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..data.dataset import Dataset
from ..errors import InvalidArgumentError
from ..geometry import make_transform
from ..render import render
from ..scene import Scene, SceneObject, Track


def labels_from_masks(scene: Scene, dataset: Dataset, *, depth_tolerance: float = 0.05, max_label: int = 255) -> Tensor:
    """[N] long label of each background Gaussian of `scene` (rendered at each view's time)
    from the instance masks of `dataset` (values 0..max_label)."""
    if dataset.mask_paths is None:
        raise InvalidArgumentError(f"{dataset.root}: the dataset has no masks to take object labels from")
    n = len(scene.background.gaussians)
    votes = torch.zeros(n, max_label + 1)
    with torch.no_grad():
        for i in range(len(dataset)):
            t = None if dataset.times is None else float(dataset.times[i])
            g = scene.background.gaussians_at(scene.time_range[0] if t is None else t)
            cam = dataset.cameras[i]
            mask = dataset.mask(i)
            uv, z = cam.project(g.means)  # [N, 2], [N]
            u, v = uv[:, 0].floor().long(), uv[:, 1].floor().long()
            h, w = mask.shape
            inside = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
            depth = render(g, cam, background=(0.0, 0.0, 0.0)).depth[0, :, :, 0]
            idx = inside.nonzero().squeeze(1)
            seen = depth[v[idx], u[idx]]
            visible = z[idx] <= seen * (1 + depth_tolerance) + 1e-6
            idx = idx[visible]
            values = mask[v[idx], u[idx]].clamp(0, max_label)
            votes.index_put_((idx, values), torch.ones(len(idx)), accumulate=True)
    labels = votes.argmax(1)
    labels[votes.sum(1) == 0] = 0
    return labels


def split_objects(scene: Scene, labels: Tensor, names: dict[int, str] | None = None) -> Scene:
    """A new scene whose background keeps the label-0 Gaussians and whose objects are the other
    labels (named by `names`, else object_<label>), each centred in its own frame."""
    g = scene.background.gaussians
    if labels.shape != (len(g),):
        raise InvalidArgumentError(f"split_objects: {len(labels)} labels for {len(g)} Gaussians")
    motion = scene.background.motion
    background = SceneObject(scene.background.name, g[labels == 0], scene.background.track, scene.background.visible,
                             dict(scene.background.metadata), None if motion is None else motion[labels == 0])
    objects = []
    for label in sorted(set(labels.tolist()) - {0}):
        sel = labels == label
        part = g[sel]
        center = part.means.detach().mean(0)
        world_from_object = make_transform(torch.eye(3), center)
        local = part.transform(make_transform(torch.eye(3), -center))
        track = Track.from_matrices([scene.time_range[0]], world_from_object[None].double())
        name = (names or {}).get(label, f"object_{label}")
        local_motion = None if motion is None else motion[sel]
        objects.append(SceneObject(name, local, track, metadata={"label": int(label)}, motion=local_motion))
    return Scene(background, objects, time_range=scene.time_range, cameras=scene.cameras, camera_times=scene.camera_times,
                 metadata=dict(scene.metadata))
