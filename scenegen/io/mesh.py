"""Meshes and point clouds as files: writing meshes (GLB, glTF, OBJ, PLY, STL, OFF) and
coloured point clouds of a scene's Gaussians. Making meshes from a scene (TSDF fusion of its
renders) is scenegen.export.mesh.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from ..scene import Scene

MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")
POINT_SUFFIXES = (".ply",)

def object_names(scene: Scene, objects) -> list[str]:
    """The object names to mesh: all of them (background first) when None, else those given."""
    if objects is None:
        return [o.name for o in scene.all_objects() if o.visible and len(o.gaussians)]
    names = [objects] if isinstance(objects, str) else list(objects)
    known = scene.object_names
    for name in names:
        if name not in known:
            raise InvalidArgumentError(f"no object named {name!r}; the scene has {known}")
    if not names:
        raise InvalidArgumentError("no objects named; pass at least one object name, or None for the whole scene")
    return names


def gaussians_of(scene: Scene, names: list[str], t: float | None):
    """World-space Gaussians at t of the named objects (hidden ones included when named)."""
    from ..gaussians import Gaussians

    t = scene.time_range[0] if t is None else float(t)
    parts = [o.gaussians_at(t) for o in scene.all_objects() if o.name in names and len(o.gaussians)]
    if not parts:
        raise InvalidArgumentError(f"objects {names} have no Gaussians to mesh")
    return Gaussians.cat(parts)


def write_mesh(path: str | os.PathLike, meshes) -> Path:
    """Write a mesh, or {name: mesh}, atomically. GLB/glTF keep each object a named node; OBJ, PLY,
    STL and OFF get the pieces joined into one mesh (vertex colours kept where the format can)."""
    import trimesh

    from ..common.atomic import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise InvalidArgumentError(f"{path}: a mesh is written as one of {MESH_SUFFIXES}; choose one of those extensions")
    items = meshes if isinstance(meshes, dict) else {meshes.metadata.get("name", "mesh"): meshes}
    if not items:
        raise InvalidArgumentError(f"{path}: no meshes to write")
    if suffix in (".glb", ".gltf"):
        data = trimesh.Scene()
        for name, mesh in items.items():
            data.add_geometry(mesh, node_name=name, geom_name=name)
    else:
        data = trimesh.util.concatenate(list(items.values()))
    with atomic_path(path) as tmp:
        data.export(tmp, file_type=suffix[1:])
    return path


def point_cloud(scene: Scene, objects=None, t: float | None = None, *, min_opacity: float = 0.5):
    """The centres of the objects' Gaussians at t with their base colours, as a trimesh.PointCloud
    (Gaussians fainter than `min_opacity` are left out)."""
    import trimesh

    names = object_names(scene, objects)
    gaussians = gaussians_of(scene, names, t)
    keep = gaussians.alphas.detach().reshape(-1) >= min_opacity
    if not keep.any():
        raise InvalidArgumentError(f"objects {names}: no Gaussian is at least {min_opacity} opaque; lower min_opacity")
    points = gaussians.means.detach()[keep].double().numpy()
    colours = (gaussians.colours.detach()[keep].clamp(0, 1) * 255).round().byte().numpy()
    alpha = np.full((len(points), 1), 255, dtype=np.uint8)
    return trimesh.PointCloud(points, colors=np.concatenate([colours, alpha], 1))


def write_point_cloud(path: str | os.PathLike, cloud) -> Path:
    """A trimesh.PointCloud as a coloured PLY, written atomically."""
    from ..common.atomic import atomic_path

    path = Path(path)
    if path.suffix.lower() not in POINT_SUFFIXES:
        raise InvalidArgumentError(f"{path}: point clouds are written as .ply; use that extension")
    with atomic_path(path) as tmp:
        cloud.export(tmp, file_type="ply")
    return path


__all__ = ["MESH_SUFFIXES", "POINT_SUFFIXES", "object_names", "gaussians_of", "write_mesh", "point_cloud", "write_point_cloud"]
