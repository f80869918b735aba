"""Object labels of a scene's Gaussians: votes from instance masks, the cleaning that fills the
unseen and removes speckle, and the times at which motion is sampled."""

from __future__ import annotations

import torch
from torch import Tensor

from ...common.points import neighbours
from ...data.dataset import Dataset
from ...errors import InvalidArgumentError
from ...render import render
from ...scene import Scene

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


__all__ = ["labels_from_masks", "instance_mask", "clean_labels", "sample_times", "MAX_TRACK_KEYS"]
