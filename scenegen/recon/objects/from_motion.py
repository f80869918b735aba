"""Objects from motion: Gaussians whose trajectories move together become one object.

Each Gaussian's trajectory is sampled at the capture times. A Gaussian moves when its mean goes
further than `move_fraction` of the scene's size from where it is at the middle of the time
range. Among the moving, opaque Gaussians, each is linked to its nearest neighbours when the two
move rigidly together: their distance stays the same at every sample time (within a tolerance
that grows with the distance, for noisy fits). The connected groups of at least `min_share` of
the moving Gaussians seed the objects. Each seed's rigid motion over time (weighted Kabsch) then
claims every opaque Gaussian near it whose trajectory it explains better than standing still
does, which brings in the slow parts near an axis of rotation. Transparent Gaussians join the
group of their nearest neighbours, and everything else is the background.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...common.points import neighbours, scene_size
from ...geometry import fit_rigid_path
from ...scene import Scene
from .labels import clean_labels, sample_times


def trajectories(scene: Scene, times: Tensor) -> Tensor:
    """[T, N, 3] positions of the background Gaussians' means at `times`."""
    g, motion = scene.background.gaussians, scene.background.motion
    means = g.means.detach()
    if motion is None:
        return means.expand(len(times), -1, -1).clone()
    return motion.trajectories(means, times).detach()


def motion_labels(scene: Scene, *, move_fraction: float = 0.03, rigid_tolerance: float = 0.2, min_share: float = 0.05,
                  min_opacity: float = 0.3, k: int = 10) -> Tensor:
    """[N] label of each background Gaussian: 0 for the background, 1.. for the moving groups,
    largest first (see the module doc for the parameters' meaning)."""
    g = scene.background.gaussians
    n = len(g)
    labels = torch.zeros(n, dtype=torch.long)
    if scene.background.motion is None or n < 3:
        return labels
    times = sample_times(scene)
    paths = trajectories(scene, times)  # [T, N, 3]
    opacity = torch.sigmoid(g.opacities.detach())
    size = scene_size(g.means.detach(), opacity)
    moving = ((paths - g.means.detach()).norm(dim=-1).amax(0) > move_fraction * size) & (opacity >= min_opacity)
    idx = moving.nonzero().squeeze(1)
    if len(idx) < 3:
        return labels
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    sub = paths[:, idx]  # [T, M, 3]
    mid = g.means.detach()[idx]
    nn = neighbours(mid, k + 1)[:, 1:]  # [M, k], without itself
    rest = (mid[:, None] - mid[nn]).norm(dim=-1)  # [M, k]
    change = ((sub[:, :, None] - sub[:, nn]).norm(dim=-1) - rest).abs().amax(0)  # [M, k]
    together = change <= rigid_tolerance * rest + 0.5 * move_fraction * size
    rows = torch.arange(len(idx))[:, None].expand_as(nn)[together]
    graph = coo_matrix((torch.ones(len(rows)).numpy(), (rows.numpy(), nn[together].numpy())), shape=(len(idx), len(idx)))
    _, component = connected_components(graph, directed=False)
    component = torch.from_numpy(component).long()
    sizes = torch.bincount(component)
    order = torch.argsort(sizes, descending=True)
    kept = [int(c) for c in order if int(sizes[c]) >= max(min_share * len(idx), 3)]
    groups = _merge_rigid([idx[component == c] for c in kept], g.means.detach(), paths, opacity,
                          tolerance=0.5 * move_fraction * size)
    partial = torch.full((n,), -1, dtype=torch.long)
    solid = opacity >= min_opacity
    partial[solid] = _assign(g.means.detach(), paths, opacity, solid, groups, margin=0.05 * size)
    return clean_labels(g.means.detach(), partial, rounds=0)


def _rigid_residual(poses: Tensor, points: Tensor, traj: Tensor) -> Tensor:
    """[P] largest distance over time between where rigid `poses` [T, 4, 4] carry `points` [P, 3]
    and their trajectories [T, P, 3]."""
    predicted = torch.einsum("tij,nj->tni", poses[:, :3, :3], points.double()) + poses[:, None, :3, 3]
    return (predicted - traj.double()).norm(dim=-1).amax(0)


def _merge_rigid(groups: list[Tensor], means: Tensor, paths: Tensor, opacity: Tensor, *, tolerance: float) -> list[Tensor]:
    """Seeds that follow one rigid motion merged (the two ends of a turning bar: its middle barely
    moves, so no seed links them), largest first."""
    merged = True
    while merged and len(groups) > 1:
        merged = False
        poses = [fit_rigid_path(means[m].double(), paths[:, m].double(), opacity[m]) for m in groups]
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                union = torch.cat([groups[a], groups[b]])
                if float(_rigid_residual(poses[a], means[groups[b]], paths[:, groups[b]]).median()) <= tolerance and \
                        float(_rigid_residual(poses[b], means[groups[a]], paths[:, groups[a]]).median()) <= tolerance:
                    groups = [m for k, m in enumerate(groups) if k not in (a, b)] + [union]
                    merged = True
                    break
            if merged:
                break
    return sorted(groups, key=len, reverse=True)


def _assign(means: Tensor, paths: Tensor, opacity: Tensor, solid: Tensor, groups: list[Tensor], margin: float) -> Tensor:
    """Label of each solid Gaussian: the group whose rigid motion explains its trajectory best,
    or 0 when staying still explains it at least as well. Gaussians near a group's axis of
    rotation barely move, yet follow its motion: this is where they join it. Only Gaussians
    within `margin` of a group's bounding box are considered for it."""
    pts = means[solid].double()
    traj = paths[:, solid].double()  # [T, S, 3]
    best = (traj - pts).norm(dim=-1).amax(0)  # residual of staying still
    labels = torch.zeros(len(pts), dtype=torch.long)
    for label, members in enumerate(groups, start=1):
        poses = fit_rigid_path(means[members].double(), paths[:, members].double(), opacity[members])  # [T, 4, 4]
        lo, hi = means[members].double().amin(0) - margin, means[members].double().amax(0) + margin
        near = ((pts >= lo) & (pts <= hi)).all(1).nonzero().squeeze(1)
        residual = _rigid_residual(poses, pts[near], traj[:, near])
        better = residual < best[near]
        labels[near[better]] = label
        best[near[better]] = residual[better]
    return labels


__all__ = ["motion_labels", "trajectories"]
