"""Meshes and point clouds from a scene: TSDF fusion (Open3D) of rendered depth and colour.

A splat scene has no surface of its own. `extract_mesh` renders the chosen objects at time t
from many cameras (a sphere of views around them, or the capture cameras), keeps the pixels they
cover, fuses the depth and colour into a truncated signed distance volume, and takes its zero
level set with marching cubes, with vertex colours. Objects are meshed alone, so a mesh of the
box carries none of the table it stands on.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..camera import Camera, Cameras
from ..errors import InvalidArgumentError
from ..io.mesh import gaussians_of, object_names
from ..scene import BACKGROUND, Scene

GRAZING_COS = 0.2  # pixels seeing their surface at more than ~78 degrees from its normal are not fused
TRUNCATION = 2.0  # the signed distance is truncated this many voxels from a surface (more inflates edges)

def sphere_views(centre, radius: float, *, num: int = 64, size: int = 256, fov_deg: float = 40.0, up=(0.0, 0.0, 1.0)) -> Cameras:
    """`num` cameras spread evenly over a sphere (a Fibonacci lattice) around `centre`, each looking
    at it and seeing a ball of `radius` whole."""
    if num < 1:
        raise InvalidArgumentError(f"sphere_views: num must be >= 1, got {num}")
    from ..common.views import up_basis

    centre = torch.as_tensor(centre, dtype=torch.float32)
    up_t, e1, e2 = up_basis(up)
    distance = radius / math.sin(math.radians(fov_deg) / 2) * 1.05
    golden = math.pi * (3.0 - math.sqrt(5.0))
    cams = []
    for i in range(num):
        z = 1.0 - (2 * i + 1) / num
        r = math.sqrt(max(0.0, 1.0 - z * z))
        direction = r * math.cos(golden * i) * e1 + r * math.sin(golden * i) * e2 + z * up_t
        # Views near the poles look along `up`; give them a sideways up vector instead.
        cam_up = up_t if abs(z) < 0.95 else e1
        cams.append(Camera.look_at(centre + distance * direction, centre, cam_up, fov_deg=fov_deg, width=size, height=size))
    return Cameras.stack(cams)


def _capture_views(cameras: Cameras, size: int) -> Cameras:
    """The capture cameras, scaled so their longer side is `size` pixels."""
    longest = float(max(cameras.width.max(), cameras.height.max()))
    return cameras.rescale(size / longest)


def mesh_views(scene: Scene, gaussians, names: list[str], *, views="auto", num_views: int = 64, size: int = 256) -> Cameras:
    """The cameras to fuse from: "sphere" (around the Gaussians), "capture" (the scene's own
    cameras), or "auto": the capture cameras for a scene with its background, else the sphere."""
    from ..common.views import framing, scene_up

    if isinstance(views, Cameras):
        return views
    if views not in ("auto", "sphere", "capture"):
        raise InvalidArgumentError(f"views must be 'auto', 'sphere', 'capture' or a Cameras batch, got {views!r}")
    use_capture = views == "capture" or (views == "auto" and BACKGROUND in names and scene.cameras is not None)
    if use_capture:
        if scene.cameras is None or len(scene.cameras) == 0:
            raise InvalidArgumentError("views='capture': this scene has no capture cameras; use views='sphere'")
        return _capture_views(scene.cameras, size)
    centre, radius = framing(gaussians)
    # framing() trims the outer 2%: widen the ball so thin edges stay in view.
    lo, hi = gaussians.means.detach().float().amin(0), gaussians.means.detach().float().amax(0)
    radius = max(radius, 0.5 * float((hi - lo).norm())) * 1.1
    return sphere_views(centre, radius, num=num_views, size=size, up=scene_up(scene))


def extract_mesh(scene: Scene, objects=None, t: float | None = None, *, views="auto", num_views: int = 64,
                 size: int = 256, voxel: float | None = None, min_alpha: float = 0.5, min_component: float = 0.01,
                 frame: str = "world", backend: str = "auto", progress: bool = False):
    """A coloured triangle mesh (trimesh.Trimesh) of `objects` (a name, names, or None for the
    whole scene) at time t, by TSDF fusion of renders.

    views: "auto", "sphere", "capture" or a Cameras batch (see mesh_views). voxel: TSDF voxel edge
    in scene units (default: 1/128 of the diagonal of what is meshed). min_alpha: pixels the
    objects cover less than this are left out. min_component: connected pieces with fewer than
    this fraction of the faces are dropped (floaters). frame: "world", or "object" to give a single
    object's mesh in its own frame (apply its Track's pose to place it).
    """
    import open3d as o3d
    import open3d.core as o3c
    import trimesh
    from ..common.progress import track

    from ..render import render

    if frame not in ("world", "object"):
        raise InvalidArgumentError(f"frame must be 'world' or 'object', got {frame!r}")
    names = object_names(scene, objects)
    if frame == "object" and len(names) != 1:
        raise InvalidArgumentError(f"frame='object' needs exactly one object, got {names}")
    if not 0.0 < min_alpha <= 1.0:
        raise InvalidArgumentError(f"min_alpha must be in (0, 1], got {min_alpha}")
    gaussians = gaussians_of(scene, names, t)
    cams = mesh_views(scene, gaussians, names, views=views, num_views=num_views, size=size)
    lo, hi = gaussians.means.detach().float().quantile(0.01, 0), gaussians.means.detach().float().quantile(0.99, 0)
    diagonal = max(float((hi - lo).norm()), 1e-6)
    voxel = diagonal / 128 if voxel is None else float(voxel)
    if not voxel > 0:
        raise InvalidArgumentError(f"voxel must be positive, got {voxel}")
    fused = 0
    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight", "color"), attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
        attr_channels=((1), (1), (3)), voxel_size=voxel, block_resolution=8, block_count=50_000, device=o3c.Device("CPU:0"))
    with torch.no_grad():
        for i in track(range(len(cams)), description="fusing views", enabled=progress):
            cam = cams[i]
            out = render(gaussians, cam, background=(0.0, 0.0, 0.0), backend=backend)
            alpha = out.alpha[0, ..., 0]
            keep = (alpha >= min_alpha) & _facing(out.depth[0, ..., 0], cam)
            if not keep.any():
                continue
            depth_t = torch.where(keep, out.depth[0, ..., 0], torch.zeros_like(alpha)).float()
            rgb = (out.rgb[0] / alpha.clamp_min(1e-6)[..., None]).clamp(0, 1).float()
            depth = o3d.t.geometry.Image(o3c.Tensor(depth_t.numpy()))
            colour = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(rgb.numpy())))
            K = o3c.Tensor(cam.K.double().numpy())
            w2c = o3c.Tensor(cam.w2c.double().numpy())
            far = float(depth_t.max()) + 1.0
            try:
                blocks = grid.compute_unique_block_coordinates(depth, K, w2c, 1.0, far, trunc_voxel_multiplier=TRUNCATION)
                grid.integrate(blocks, depth, colour, K, K, w2c, 1.0, far, trunc_voxel_multiplier=TRUNCATION)
            except RuntimeError:  # Open3D: "No block is touched in TSDF volume" when the depth covers no voxel block
                continue
            fused += 1
    if fused == 0:
        raise InvalidArgumentError(f"objects {names}: no view saw them (nothing covered {min_alpha:.0%} of a pixel); "
                                   "lower min_alpha or check the objects are visible at this time")
    # A surface needs a few views behind it; a speck seen once is not kept.
    try:
        mesh_t = grid.extract_triangle_mesh(weight_threshold=min(3.0, max(1.0, fused / 8))).to_legacy()
        vertices, faces = np.asarray(mesh_t.vertices), np.asarray(mesh_t.triangles)
    except RuntimeError:  # Open3D, on a volume with no block in it
        vertices, faces = np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    if len(faces) == 0:
        raise InvalidArgumentError(f"objects {names}: no surface was found in {fused} views; "
                                   "lower min_alpha or check the objects are visible at this time")
    colours = (np.asarray(mesh_t.vertex_colors).clip(0, 1) * 255).round().astype(np.uint8)
    mesh = trimesh.Trimesh(vertices, faces, vertex_colors=colours, process=True)
    mesh = _drop_small_pieces(mesh, min_component)
    if frame == "object":
        obj = next(o for o in scene.all_objects() if o.name == names[0])
        mesh.apply_transform(np.linalg.inv(obj.pose_at(scene.time_range[0] if t is None else float(t)).double().numpy()))
    mesh.metadata["name"] = "+".join(names)
    return mesh


def _facing(depth: torch.Tensor, cam: Camera, min_cos: float = GRAZING_COS) -> torch.Tensor:
    """[H, W] bool: pixels whose surface (normals from the depth map's neighbours) faces the camera
    at more than a grazing angle. Grazing pixels and depth edges blend splats far apart, and their
    depth is a guess."""
    h, w = depth.shape
    v, u = torch.meshgrid(torch.arange(h, dtype=depth.dtype), torch.arange(w, dtype=depth.dtype), indexing="ij")
    rays = torch.stack([(u + 0.5 - float(cam.cx)) / float(cam.fx), (v + 0.5 - float(cam.cy)) / float(cam.fy),
                        torch.ones_like(u)], -1)
    points = rays * depth[..., None]
    du = torch.zeros_like(points)
    dv = torch.zeros_like(points)
    du[:, 1:-1] = points[:, 2:] - points[:, :-2]
    dv[1:-1] = points[2:] - points[:-2]
    normal = torch.linalg.cross(du, dv)
    cos = (normal * rays).sum(-1).abs() / (normal.norm(dim=-1) * rays.norm(dim=-1)).clamp_min(1e-12)
    return cos >= min_cos


def _drop_small_pieces(mesh, min_component: float):
    """The mesh without connected pieces of fewer than `min_component` of its faces."""
    if min_component <= 0 or len(mesh.faces) == 0:
        return mesh
    import trimesh

    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(mesh.faces))
    counts = np.bincount(labels)
    keep = counts[labels] >= min_component * len(mesh.faces)
    if keep.all():
        return mesh
    piece = mesh.submesh([np.flatnonzero(keep)], append=True)
    piece.remove_unreferenced_vertices()
    return piece


def extract_meshes(scene: Scene, objects=None, t: float | None = None, **kwargs) -> dict:
    """{name: mesh} with each object meshed alone (see extract_mesh for the options)."""
    return {name: extract_mesh(scene, name, t, **kwargs) for name in object_names(scene, objects)}


__all__ = ["extract_mesh", "extract_meshes", "mesh_views", "sphere_views"]
