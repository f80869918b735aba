"""Cameras for looking at a scene: framing from its Gaussians and orbits around it."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..camera import Camera, Cameras
from ..errors import InvalidArgumentError
from ..gaussians import Gaussians


def framing(gaussians: Gaussians) -> tuple[Tensor, float]:
    """Centre [3] and radius of the bulk of the Gaussians (robust to stray splats far away)."""
    if len(gaussians) == 0:
        return torch.zeros(3), 1.0
    means = gaussians.means.detach().float().cpu()
    if len(means) > 200_000:
        means = means[torch.randperm(len(means), generator=torch.Generator().manual_seed(0))[:200_000]]
    lo = torch.quantile(means, 0.02, dim=0)
    hi = torch.quantile(means, 0.98, dim=0)
    centre = 0.5 * (lo + hi)
    radius = float(0.5 * (hi - lo).norm())
    return centre, max(radius, 1e-3)


def scene_up(scene) -> Tensor:
    """World 'up' of a scene: its metadata's "up" when given, else what its cameras saw, else +z."""
    up = scene.metadata.get("up")
    if up is not None:
        try:
            up_t = torch.as_tensor(up, dtype=torch.float32).reshape(3)
        except (TypeError, ValueError, RuntimeError):
            raise InvalidArgumentError(f"scene metadata 'up' must be 3 numbers, got {up!r}") from None
        if torch.isfinite(up_t).all() and up_t.norm() > 1e-6:
            return up_t / up_t.norm()
    return up_from_cameras(scene.cameras)


def up_from_cameras(cameras: Cameras | None) -> Tensor:
    """World 'up' as the capture cameras saw it, else +z: the direction square to all their right
    (OpenCV x) axes when those span a plane (a hand-held camera rarely rolls, and this holds when
    it looks down), else minus their mean OpenCV y axis."""
    if cameras is None or len(cameras) == 0:
        return torch.tensor([0.0, 0.0, 1.0])
    up = -cameras.c2w[:, :3, 1].double().mean(0)
    right = cameras.c2w[:, :3, 0].double()
    if len(right) >= 2:
        _, s, vh = torch.linalg.svd(right, full_matrices=True)
        if float(s[1]) > 0.1 * float(s[0]):
            up = vh[-1] if float(vh[-1] @ up) >= 0 else -vh[-1]
    return (up / up.norm()).float() if up.norm() > 1e-6 else torch.tensor([0.0, 0.0, 1.0])


def up_basis(up) -> tuple[Tensor, Tensor, Tensor]:
    """(up, e1, e2): `up` normalised and two unit vectors completing a right-handed frame with it;
    e1 is the zero-azimuth direction of orbits."""
    up_t = torch.as_tensor(up, dtype=torch.float32)
    up_t = up_t / up_t.norm()
    # Any vector not parallel to up gives the zero-azimuth direction.
    ref = torch.tensor([1.0, 0.0, 0.0]) if abs(float(up_t[0])) < 0.9 else torch.tensor([0.0, 1.0, 0.0])
    e1 = ref - (ref @ up_t) * up_t
    e1 = e1 / e1.norm()
    return up_t, e1, torch.linalg.cross(up_t, e1)


def orbit_cameras(centre, radius: float, *, num: int = 8, elevation_deg: float = 25.0, up=(0.0, 0.0, 1.0),
                  width: int = 512, height: int = 512, fov_deg: float = 45.0, start_deg: float = 0.0) -> Cameras:
    """`num` cameras evenly spaced on a circle around `centre`, looking at it, all seeing a
    sphere of `radius` whole."""
    if num < 1:
        raise InvalidArgumentError(f"orbit_cameras: num must be >= 1, got {num}")
    centre = torch.as_tensor(centre, dtype=torch.float32)
    up_t, e1, e2 = up_basis(up)
    half_fov = math.radians(fov_deg) / 2 * min(1.0, height / width)
    distance = radius / math.sin(half_fov) * 1.05
    elev = math.radians(elevation_deg)
    cams = []
    for i in range(num):
        az = math.radians(start_deg) + 2 * math.pi * i / num
        direction = math.cos(elev) * (math.cos(az) * e1 + math.sin(az) * e2) + math.sin(elev) * up_t
        cams.append(Camera.look_at(centre + distance * direction, centre, up_t, fov_deg=fov_deg, width=width, height=height))
    return Cameras.stack(cams)
