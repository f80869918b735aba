"""Ray casting a synthetic scene with Open3D's RaycastingScene (CPU, no display): RGB with
Lambert + ambient shading and cast shadows, z-depth, and object-instance masks per frame.

RGB is supersampled (`supersample` x `supersample` rays a pixel, averaged); depth and masks come
from one ray through each pixel's centre, so a mask value is always one object's index and a
depth is a real surface's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import Camera
from .meshes import object_mesh, room_meshes
from .spec import SceneSpec, Surface
from .textures import texture_colours

MISS = np.uint32(0xFFFFFFFF)


@dataclass
class Frame:
    rgb: np.ndarray  # [H, W, 3] float32 in [0, 1]
    depth: np.ndarray  # [H, W] float32: z in the camera frame (OpenCV), 0 where no surface was hit
    mask: np.ndarray  # [H, W] uint8: 0 the room / background, i the i-th object (1-based)


def undistort(xy: np.ndarray, distortion, iterations: int = 30) -> np.ndarray:
    """The ideal normalised coordinates [N, 2] that OpenCV distortion maps to `xy` [N, 2]: the
    rays of a distorted camera's pixels (fixed-point iteration, as OpenCV's undistortPoints)."""
    import torch

    from ..camera import distort_normalized

    target = torch.as_tensor(xy, dtype=torch.float64)
    dist = torch.as_tensor(distortion, dtype=torch.float64)
    x = target.clone()
    for _ in range(iterations):
        x = x - (distort_normalized(x, dist) - target)
    return x.numpy()


class SyntheticRenderer:
    def __init__(self, spec: SceneSpec, supersample: int = 2):
        self.spec = spec
        self.supersample = max(1, int(supersample))
        self.room = [(name, mesh, Surface.from_dict(surface, name)) for name, mesh, surface in room_meshes(spec)]
        self.meshes = [object_mesh(obj, spec.root) for obj in spec.objects]
        light = np.asarray(spec.light.get("direction", (0.4, -0.3, 1.0)), dtype=np.float64)
        self.light = light / np.linalg.norm(light)
        self.ambient = float(spec.light.get("ambient", 0.35))
        self.shadows = bool(spec.light.get("shadows", True))

    def _scene(self, t: float):
        """Open3D scene at time t and, per geometry id: (surface, object index, local_from_world, mesh, R world_from_local)."""
        import open3d as o3d

        scene = o3d.t.geometry.RaycastingScene()
        parts = []
        for name, mesh, surface in self.room:
            scene.add_triangles(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.uint32))
            parts.append((surface, 0, np.eye(4), None, np.eye(3)))
        for index, (obj, mesh) in enumerate(zip(self.spec.objects, self.meshes), start=1):
            pose = obj.pose_at(t)
            vertices = np.asarray(mesh.vertices) @ pose[:3, :3].T + pose[:3, 3]
            scene.add_triangles(vertices.astype(np.float32), np.asarray(mesh.faces, np.uint32))
            parts.append((obj.surface, index, np.linalg.inv(pose), mesh if obj.smooth else None, pose[:3, :3]))
        return scene, parts

    @staticmethod
    def _rays(camera: Camera, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rays [H*W*S, 6] through each pixel at sub-pixel offsets [S, 2]; directions have camera z = 1
        so the hit distance is the z-depth."""
        w, h = int(camera.width), int(camera.height)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        u = (xs[..., None] + offsets[:, 0]).reshape(-1)
        v = (ys[..., None] + offsets[:, 1]).reshape(-1)
        xy = np.stack([(u - float(camera.cx)) / float(camera.fx), (v - float(camera.cy)) / float(camera.fy)], 1)
        if camera.distortion is not None:
            xy = undistort(xy, camera.distortion)
        d_cam = np.concatenate([xy, np.ones_like(u)[:, None]], 1)
        c2w = camera.c2w.double().numpy()
        d = d_cam @ c2w[:3, :3].T
        origin = np.broadcast_to(c2w[:3, 3], d.shape)
        return np.concatenate([origin, d], 1).astype(np.float32), d

    def _shade(self, scene, parts, rays: np.ndarray, dirs: np.ndarray, hit: dict) -> np.ndarray:
        import open3d as o3d

        t = hit["t_hit"].numpy()
        ids = hit["geometry_ids"].numpy()
        found = ids != MISS
        rgb = np.empty((len(t), 3))
        rgb[~found] = self.spec.background
        points = rays[:, :3].astype(np.float64) + t[:, None] * dirs
        normals = hit["primitive_normals"].numpy().astype(np.float64)
        for gid, (surface, index, local_from_world, smooth_mesh, R) in enumerate(parts):
            sel = np.nonzero(ids == gid)[0]
            if not len(sel):
                continue
            local = points[sel] @ local_from_world[:3, :3].T + local_from_world[:3, 3]
            if smooth_mesh is not None:
                tri = np.asarray(smooth_mesh.faces)[hit["primitive_ids"].numpy()[sel]]
                vn = np.asarray(smooth_mesh.vertex_normals)
                uv = hit["primitive_uvs"].numpy()[sel].astype(np.float64)
                n = (1 - uv.sum(1, keepdims=True)) * vn[tri[:, 0]] + uv[:, :1] * vn[tri[:, 1]] + uv[:, 1:] * vn[tri[:, 2]]
                normals[sel] = n @ R.T
            rgb[sel] = texture_colours(surface.texture, local, surface.colour, surface.colour2, surface.scale, self.spec.seed + gid)
        normals[found] /= np.linalg.norm(normals[found], axis=1, keepdims=True) + 1e-12
        facing = (normals * dirs).sum(1) > 0
        normals[facing] *= -1
        lambert = np.clip(normals @ self.light, 0, None)
        if self.shadows and found.any():
            idx = np.nonzero(found & (lambert > 0))[0]
            origins = points[idx] + 1e-4 * normals[idx]
            shadow_rays = np.concatenate([origins, np.broadcast_to(self.light, origins.shape)], 1).astype(np.float32)
            blocked = scene.test_occlusions(o3d.core.Tensor(shadow_rays)).numpy()
            lambert[idx[blocked]] = 0
        light = self.ambient + (1 - self.ambient) * lambert
        rgb[found] *= light[found, None]
        return rgb

    def render(self, camera: Camera, t: float) -> Frame:
        import open3d as o3d

        scene, parts = self._scene(t)
        w, h, s = int(camera.width), int(camera.height), self.supersample
        grid = (np.arange(s) + 0.5) / s
        offsets = np.stack(np.meshgrid(grid, grid, indexing="xy"), -1).reshape(-1, 2)
        rays, dirs = self._rays(camera, offsets)
        hit = scene.cast_rays(o3d.core.Tensor(rays))
        rgb = self._shade(scene, parts, rays, dirs, hit).reshape(h, w, s * s, 3).mean(2)
        centre_rays, _ = self._rays(camera, np.array([[0.5, 0.5]]))
        centre = scene.cast_rays(o3d.core.Tensor(centre_rays))
        ids = centre["geometry_ids"].numpy()
        object_of = np.array([p[1] for p in parts] + [0], dtype=np.uint8)
        mask = object_of[np.where(ids == MISS, len(parts), ids)].reshape(h, w)
        depth = np.where(ids == MISS, 0.0, centre["t_hit"].numpy()).reshape(h, w).astype(np.float32)
        return Frame(rgb.astype(np.float32).clip(0, 1), depth, mask)
