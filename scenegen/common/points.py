"""Point-set geometry shared by segmentation, physics and the trainers: nearest neighbours, a
robust size, and the supporting plane (the largest near-horizontal plane under a scene)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from .views import scene_up

if TYPE_CHECKING:
    from ..scene import Scene


def neighbours(points: Tensor, k: int) -> Tensor:
    """[N, k] indices of each point's k nearest points (itself first)."""
    from scipy.spatial import cKDTree

    k = min(k, len(points))
    pts = points.detach().cpu().double().numpy()
    _, idx = cKDTree(pts).query(pts, k=k)
    return torch.from_numpy(idx.reshape(len(points), k)).long().to(points.device)


def scene_size(points: Tensor, weights: Tensor | None = None) -> float:
    """A robust size of a point set: the spread (5th to 95th percentile) along its widest axis."""
    if len(points) < 2:
        return 1.0
    if weights is not None and int((weights > 0.5).sum()) >= 10:
        points = points[weights > 0.5]
    lo, hi = torch.quantile(points.double(), torch.tensor([0.05, 0.95], dtype=torch.float64), dim=0)
    return max(float((hi - lo).max()), 1e-9)


def supporting_plane(points: Tensor, up: Tensor, *, thickness: float, max_tilt_deg: float = 30.0, attempts: int = 3):
    """(normal [3] pointing up, offset d with normal . x + d = 0, inlier mask [P]) of the largest
    plane within `max_tilt_deg` of horizontal, or None. Steeper planes (walls) are set aside and
    the search repeats."""
    import open3d as o3d

    o3d.utility.random.seed(0)  # the same scene gives the same plane
    remaining = torch.arange(len(points))
    for _ in range(attempts):
        if len(remaining) < 50:
            return None
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[remaining].double().numpy()))
        model, inliers = pcd.segment_plane(distance_threshold=thickness, ransac_n=3, num_iterations=1000)
        normal = torch.tensor(model[:3], dtype=torch.float64)
        d = float(model[3]) / float(normal.norm())
        normal = normal / normal.norm()
        inliers = remaining[torch.as_tensor(np.asarray(inliers), dtype=torch.long)]
        if float(normal @ up) < 0:
            normal, d = -normal, -d
        if float(normal @ up) >= np.cos(np.radians(max_tilt_deg)):
            mask = torch.zeros(len(points), dtype=torch.bool)
            mask[inliers] = True
            return normal, d, mask
        keep = torch.ones(len(points), dtype=torch.bool)
        keep[inliers] = False
        remaining = remaining[keep[remaining]]
    return None


def solid_points(scene: Scene, min_opacity: float):
    """(indices of the opaque background Gaussians, their means [P, 3] float64, scene size, spacing,
    plane thickness), or None with fewer than 100 of them."""
    g = scene.background.gaussians
    solid = (torch.sigmoid(g.opacities.detach()) >= min_opacity).nonzero().squeeze(1)
    if len(solid) < 100:
        return None
    points = g.means.detach()[solid].double()
    size = scene_size(points)
    spacing = float(torch.median((points[neighbours(points, 2)[:, 1]] - points).norm(dim=1)))
    return solid, points, size, spacing, max(2.0 * spacing, 0.01 * size)


def support_plane(scene: Scene, *, min_opacity: float = 0.3) -> tuple[Tensor, float] | None:
    """(normal [3] pointing up, offset d: normal . x + d = 0) of the scene's supporting plane
    (its opaque background Gaussians' largest near-horizontal plane), or None."""
    solid = solid_points(scene, min_opacity)
    found = None if solid is None else supporting_plane(solid[1], scene_up(scene).double(), thickness=solid[4])
    return None if found is None else (found[0], found[1])


__all__ = ["neighbours", "scene_size", "supporting_plane", "solid_points", "support_plane"]
