"""Objects from geometry, for still scenes without masks: the supporting plane (floor or table,
found by Open3D's RANSAC among planes facing up) and the separate clusters standing on it (Open3D
DBSCAN on the opaque Gaussians above the plane, clusters that touch joined). Distances scale
with the scene: the plane's thickness and the cluster radius follow the spacing of the Gaussians
and the scene's size, so no setting depends on units.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from ..scene import Scene
from .motion_groups import scene_size
from .segment import clean_labels, neighbours

log = logging.getLogger("scenegen.segment")


def scene_up(scene: Scene) -> Tensor:
    """The scene's up direction: metadata["up"] when set, else opposite the capture cameras'
    mean image-down axis (OpenCV +y), else +z."""
    if "up" in scene.metadata:
        up = torch.as_tensor(scene.metadata["up"], dtype=torch.float64)
    elif scene.cameras is not None and len(scene.cameras):
        up = -scene.cameras.c2w[:, :3, 1].double().mean(0)
    else:
        up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    return up / up.norm().clamp_min(1e-12)


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


def _solid_points(scene: Scene, min_opacity: float):
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
    solid = _solid_points(scene, min_opacity)
    found = None if solid is None else supporting_plane(solid[1], scene_up(scene), thickness=solid[4])
    return None if found is None else (found[0], found[1])


def plane_labels(scene: Scene, *, min_opacity: float = 0.3, min_share: float = 0.01, max_object_fraction: float = 0.5) -> Tensor:
    """[N] label of each background Gaussian: 0 for the background (the plane, what is below it,
    and clusters too big or too small to be objects), 1.. for the clusters on the plane, largest
    first. Also records the plane in scene.metadata["support_plane"] as [a, b, c, d]."""
    g = scene.background.gaussians
    n = len(g)
    labels = torch.zeros(n, dtype=torch.long)
    found = _solid_points(scene, min_opacity)
    if found is None:
        return labels
    solid, points, size, spacing, thickness = found
    found = supporting_plane(points, scene_up(scene), thickness=thickness)
    if found is None:
        log.info("scenegen: no supporting plane found; the scene stays one background")
        return labels
    normal, d, on_plane = found
    scene.metadata["support_plane"] = [*normal.tolist(), d]
    height = points @ normal + d
    above = (~on_plane & (height > thickness)).nonzero().squeeze(1)
    if len(above) < 10:
        return labels
    import open3d as o3d

    eps = max(4.0 * spacing, 0.02 * size)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[above].numpy()))
    clusters = join_touching(points[above], torch.as_tensor(np.asarray(pcd.cluster_dbscan(eps=eps, min_points=10)), dtype=torch.long), eps)
    partial = torch.full((n,), -1, dtype=torch.long)
    partial[solid] = 0
    partial[solid[above[clusters < 0]]] = -1  # DBSCAN's noise: labelled by its neighbours below
    label = 0
    ids, counts = torch.unique(clusters[clusters >= 0], return_counts=True)
    for c in ids[torch.argsort(counts, descending=True)].tolist():
        members = above[clusters == c]
        p = points[members]
        flat = p - (p @ normal)[:, None] * normal  # footprint on the plane
        footprint = float((flat.amax(0) - flat.amin(0)).norm())
        rests = float(height[members].min()) <= max(3 * thickness, 0.05 * size)
        if len(members) >= max(min_share * len(solid), 30) and footprint <= max_object_fraction * size and rests:
            label += 1
            partial[solid[members]] = label
    _claim_bases(points, height, normal, partial, solid, thickness, radius=2 * spacing)
    return clean_labels(g.means.detach(), partial, rounds=1)


def join_touching(points: Tensor, clusters: Tensor, eps: float) -> Tensor:
    """DBSCAN's cluster ids [P] (-1: noise) with clusters that touch made one: two clusters join
    when a point of one lies within `eps` of a point of the other. DBSCAN links clusters through
    core points only, so an object whose surface is thinly sampled in places (opaque Gaussians
    are sparse where few views see it) comes out in pieces that touch along the thin part."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    member = (clusters >= 0).nonzero().squeeze(1)
    n = int(clusters.max()) + 1 if len(member) else 0
    if n < 2:
        return clusters
    pairs = cKDTree(points[member].double().numpy()).query_pairs(eps, output_type="ndarray")
    a, b = clusters[member].numpy()[pairs[:, 0]], clusters[member].numpy()[pairs[:, 1]]
    apart = a != b
    graph = coo_matrix((np.ones(int(apart.sum())), (a[apart], b[apart])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    joined = clusters.clone()
    joined[member] = torch.from_numpy(component).long()[clusters[member]]
    return joined


def _claim_bases(points: Tensor, height: Tensor, normal: Tensor, partial: Tensor, solid: Tensor, thickness: float,
                 radius: float) -> None:
    """Give each object the part of it within the plane's thickness: points a little above the
    plane and right under one of the object's points (in place, on `partial`)."""
    from scipy.spatial import cKDTree

    labelled = (partial[solid] > 0).nonzero().squeeze(1)
    low = ((partial[solid] == 0) & (height > 0.25 * thickness) & (height <= thickness)).nonzero().squeeze(1)
    if len(labelled) == 0 or len(low) == 0:
        return
    flat = points - (points @ normal)[:, None] * normal  # positions projected onto the plane
    dist, nearest = cKDTree(flat[labelled].numpy()).query(flat[low].numpy(), k=1)
    close = torch.from_numpy(dist) <= radius
    partial[solid[low[close]]] = partial[solid[labelled[torch.from_numpy(nearest)[close]]]]


__all__ = ["plane_labels", "supporting_plane", "scene_up", "join_touching"]
