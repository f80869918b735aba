"""Initial Gaussians: from SfM points when the dataset has them, else random in the view volume."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..camera import Cameras
from ..gaussians import Gaussians
from ..sh import num_sh_bases, rgb_to_sh_dc


def scene_extent(cameras: Cameras) -> float:
    """Radius of the camera centres around their mean, times 1.1 (3DGS's scene scale), and never
    less than the half-size of the view volume (a tripod or single camera has no spread)."""
    centres = cameras.positions.double()
    spread = float(1.1 * (centres - centres.mean(0)).norm(dim=1).max())
    return max(spread, view_volume(cameras)[1], 1e-6)


def look_at_point(cameras: Cameras) -> Tensor:
    """The point closest (least squares) to every camera's optical axis: what the capture looks at."""
    origins = cameras.positions.double()
    dirs = torch.nn.functional.normalize(cameras.c2w[:, :3, 2].double(), dim=1)
    eye = torch.eye(3, dtype=torch.float64)
    P = eye - dirs[:, :, None] * dirs[:, None, :]  # projectors orthogonal to each axis
    A = P.sum(0)
    b = (P @ origins[:, :, None]).sum(0)[:, 0]
    ahead = (origins + dirs).mean(0).float()  # a unit ahead of the mean camera
    if torch.linalg.matrix_rank(A) < 3:  # all axes parallel
        return ahead
    point = torch.linalg.solve(A, b)
    # Axes that diverge (forward-facing captures) meet behind the cameras: look ahead instead.
    if ((point - origins) * dirs).sum(1).median() <= 0:
        return ahead
    return point.float()


def view_volume(cameras: Cameras) -> tuple[Tensor, float]:
    """Centre and half-size of a cube that the cameras see around what they look at."""
    centre = look_at_point(cameras)
    dist = (cameras.positions - centre).norm(dim=1).median()
    half_fov = torch.atan(0.5 * torch.minimum(cameras.width / cameras.fx, cameras.height / cameras.fy)).median()
    return centre, float(dist * torch.tan(half_fov))


def knn_scales(points: Tensor, k: int = 3) -> Tensor:
    """Log scale per point: the log of the mean distance to its k nearest neighbours."""
    from scipy.spatial import cKDTree

    pts = points.detach().double().numpy()
    if len(pts) <= 1:
        return torch.full((len(pts), 3), math.log(0.01))
    dist, _ = cKDTree(pts).query(pts, k=min(k + 1, len(pts)))
    mean = torch.from_numpy(dist[:, 1:]).mean(1).clamp_min(1e-7)
    return torch.log(mean).float()[:, None].expand(-1, 3).clone()


def initial_gaussians(points: Tensor | None, colours: Tensor | None, cameras: Cameras, *, num_random: int,
                      opacity: float, sh_degree: int, generator: torch.Generator, max_count: int | None = None) -> Gaussians:
    """Gaussians at the SfM points with their colours, or `num_random` random ones in the view
    volume; a random subset when there are more than `max_count`."""
    if max_count is not None:
        num_random = min(num_random, max_count)
        if points is not None and len(points) > max_count:
            keep = torch.randperm(len(points), generator=generator)[:max_count]
            points, colours = points[keep], None if colours is None else colours[keep]
    if points is None or len(points) == 0:
        centre, half = view_volume(cameras)
        points = centre + (torch.rand(num_random, 3, generator=generator) * 2 - 1) * half
        colours = torch.rand(num_random, 3, generator=generator)
    points = points.float()
    colours = torch.full_like(points, 0.5) if colours is None else colours.float()
    n = len(points)
    sh = torch.zeros(n, num_sh_bases(sh_degree), 3)
    sh[:, 0] = rgb_to_sh_dc(colours)
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1
    return Gaussians(means=points.clone(), scales=knn_scales(points), quats=quats,
                     opacities=torch.full((n,), math.log(opacity / (1 - opacity))), sh=sh)
