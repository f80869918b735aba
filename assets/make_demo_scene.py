"""Build assets/demo_scene.zip: the small built-in scene that `make demo` loads and renders.

A checkered floor (the background) and three objects: a sphere whose colour changes with the
viewing direction (SH degree 1), a ring that spins about the vertical axis over 0..2 s, and a cube.
Deterministic: running it again writes the same bytes.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from scenegen import Gaussians, Scene, SceneObject, Track
from scenegen.geometry import axis_angle_to_quat, quat_to_rotmat
from scenegen.io import save
from scenegen.sh import rgb_to_sh_dc


def surface_gaussians(points, normals, colors, spacing, sh_degree=1) -> Gaussians:
    """Flat Gaussians (discs) on a surface: wide along it, thin along the normal."""
    n = len(points)
    z = torch.tensor([0.0, 0.0, 1.0]).expand(n, 3)
    axis = torch.linalg.cross(z, normals)
    angle = torch.atan2(axis.norm(dim=1), (z * normals).sum(1))
    axis = torch.where(axis.norm(dim=1, keepdim=True) < 1e-6, torch.tensor([1.0, 0.0, 0.0]), axis)
    quats = axis_angle_to_quat(axis, angle)
    scales = torch.log(torch.tensor([spacing, spacing, spacing * 0.15])).expand(n, 3).clone()
    sh = torch.zeros(n, (sh_degree + 1) ** 2, 3)
    sh[:, 0] = rgb_to_sh_dc(colors)
    return Gaussians(points, scales, quats, torch.full((n,), 4.0), sh)


def fibonacci_sphere(n: int) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float32) + 0.5
    phi = torch.acos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    return torch.stack([torch.cos(theta) * torch.sin(phi), torch.sin(theta) * torch.sin(phi), torch.cos(phi)], 1)


def build() -> Scene:
    # Floor: a 3 x 3 checkerboard on z = 0.
    g = torch.linspace(-1.5, 1.5, 61)
    xs, ys = torch.meshgrid(g, g, indexing="ij")
    floor_pts = torch.stack([xs.flatten(), ys.flatten(), torch.zeros(xs.numel())], 1)
    checker = ((xs.flatten() * 2).floor() + (ys.flatten() * 2).floor()) % 2
    floor_col = torch.where(checker[:, None] > 0, torch.tensor([0.85, 0.85, 0.8]), torch.tensor([0.35, 0.4, 0.45]))
    floor = surface_gaussians(floor_pts, torch.tensor([0.0, 0.0, 1.0]).expand(len(floor_pts), 3), floor_col, 0.03)

    # Sphere: blue seen from +x, reddish from -x (degree-1 SH).
    dirs = fibonacci_sphere(1500)
    sphere = surface_gaussians(dirs * 0.35, dirs, torch.full((1500, 3), 0.5).lerp(torch.tensor([0.2, 0.4, 0.9]), 0.8), 0.035)
    sphere.sh[:, 3, 0] = 0.6  # f(d) includes -C1 * x * sh[3]: more red looking from -x
    sphere.sh[:, 3, 2] = -0.6

    # Ring (torus) around its own z axis.
    u = torch.rand(2500, generator=torch.Generator().manual_seed(1)) * 2 * math.pi
    v = torch.rand(2500, generator=torch.Generator().manual_seed(2)) * 2 * math.pi
    R, r = 0.45, 0.07
    ring_pts = torch.stack([(R + r * torch.cos(v)) * torch.cos(u), (R + r * torch.cos(v)) * torch.sin(u), r * torch.sin(v)], 1)
    ring_n = torch.stack([torch.cos(v) * torch.cos(u), torch.cos(v) * torch.sin(u), torch.sin(v)], 1)
    ring = surface_gaussians(ring_pts, ring_n, torch.tensor([0.95, 0.55, 0.1]).expand(2500, 3), 0.025)

    # Cube: 6 faces of a 0.4 box.
    side = torch.linspace(-0.2, 0.2, 17)
    a, b = (t.flatten() for t in torch.meshgrid(side, side, indexing="ij"))
    faces, normals = [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            p = torch.zeros(len(a), 3)
            p[:, axis] = 0.2 * sign
            p[:, (axis + 1) % 3], p[:, (axis + 2) % 3] = a, b
            nrm = torch.zeros(len(a), 3)
            nrm[:, axis] = sign
            faces.append(p); normals.append(nrm)  # noqa: E702
    cube_pts, cube_n = torch.cat(faces), torch.cat(normals)
    cube = surface_gaussians(cube_pts, cube_n, torch.tensor([0.3, 0.75, 0.35]).expand(len(cube_pts), 3), 0.02)

    def at(x, y, z):
        return Track([0.0], [[1.0, 0.0, 0.0, 0.0]], [[x, y, z]])

    spin_times = torch.linspace(0, 2, 9)
    spin_quats = torch.stack([axis_angle_to_quat(torch.tensor([0.0, 0.0, 1.0]), float(t) * math.pi) for t in spin_times])
    ring_track = Track(spin_times, spin_quats, torch.tensor([[0.6, -0.5, 0.5]]).expand(9, 3))

    tilt = torch.eye(4)
    tilt[:3, :3] = quat_to_rotmat(axis_angle_to_quat(torch.tensor([1.0, 0.0, 0.0]), math.radians(60)))
    ring = ring.transform(tilt)
    return Scene(
        SceneObject("background", floor),
        [
            SceneObject("sphere", sphere, at(-0.5, 0.3, 0.36)),
            SceneObject("ring", ring, ring_track),
            SceneObject("cube", cube, at(0.5, 0.6, 0.201), metadata={"material": "plastic"}),
        ],
        time_range=(0.0, 2.0),
        metadata={"name": "scenegen demo scene", "up": [0, 0, 1]},
    )


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("demo_scene.zip")
    save(build(), out)
    print(f"wrote {out}")
