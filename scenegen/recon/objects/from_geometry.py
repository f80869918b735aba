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

from ...common.points import solid_points, supporting_plane
from ...common.views import scene_up
from ...scene import Scene
from .labels import clean_labels

log = logging.getLogger("scenegen.segment")


def plane_labels(scene: Scene, *, min_opacity: float = 0.3, min_share: float = 0.01, max_object_fraction: float = 0.5) -> Tensor:
    """[N] label of each background Gaussian: 0 for the background (the plane, what is below it,
    and clusters too big or too small to be objects), 1.. for the clusters on the plane, largest
    first. Also records the plane in scene.metadata["support_plane"] as [a, b, c, d]."""
    g = scene.background.gaussians
    n = len(g)
    labels = torch.zeros(n, dtype=torch.long)
    found = solid_points(scene, min_opacity)
    if found is None:
        return labels
    solid, points, size, spacing, thickness = found
    found = supporting_plane(points, scene_up(scene).double(), thickness=thickness)
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


__all__ = ["plane_labels", "join_touching"]
