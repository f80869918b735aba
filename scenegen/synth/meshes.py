"""Triangle meshes of a synthetic scene: the room (floor and walls) and each object in its own
frame (trimesh primitives, or a mesh file read with trimesh)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .spec import ObjectSpec, SceneSpec

SECTIONS = 48  # segments around curved primitives


def object_mesh(obj: ObjectSpec, root: Path | None = None):
    """The object's trimesh.Trimesh in its own frame (centred on its origin)."""
    import trimesh

    p = obj.params
    if obj.shape == "box":
        return trimesh.creation.box(extents=np.asarray(p["size"], dtype=np.float64))
    if obj.shape == "sphere":
        return trimesh.creation.icosphere(subdivisions=4, radius=float(p["radius"]))
    if obj.shape == "cylinder":
        return trimesh.creation.cylinder(radius=float(p["radius"]), height=float(p["height"]), sections=SECTIONS)
    if obj.shape == "cone":
        mesh = trimesh.creation.cone(radius=float(p["radius"]), height=float(p["height"]), sections=SECTIONS)
        mesh.apply_translation([0, 0, -float(p["height"]) / 2])  # centred like the other shapes
        return mesh
    if obj.shape == "capsule":
        return trimesh.creation.capsule(radius=float(p["radius"]), height=float(p["height"]), count=[SECTIONS, SECTIONS // 2])
    if obj.shape == "torus":
        return trimesh.creation.torus(major_radius=float(p["radius"]), minor_radius=float(p["tube"]),
                                      major_sections=SECTIONS, minor_sections=SECTIONS // 2)
    path = Path(p["path"])
    if not path.is_absolute() and root is not None:
        path = root / path
    try:
        mesh = trimesh.load(path, force="mesh")
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise DatasetError(f"{path}: cannot read the mesh of object {obj.name!r} ({type(exc).__name__}: {exc})") from None
    if len(mesh.faces) == 0:
        raise DatasetError(f"{path}: the mesh of object {obj.name!r} has no faces")
    mesh.apply_translation(-mesh.bounds.mean(0))
    mesh.apply_scale(float(p.get("mesh_scale", 1.0)))
    return mesh


def room_meshes(spec: SceneSpec) -> list[tuple[str, object, dict]]:
    """[(part name, trimesh, surface dict)] for the floor and each wall, in world coordinates."""
    import trimesh

    parts = []
    width, depth = (4.0, 4.0)
    if spec.floor is not None:
        width, depth = (float(v) for v in spec.floor.get("size", (4.0, 4.0)))
        floor = trimesh.Trimesh(vertices=[[-width / 2, -depth / 2, 0], [width / 2, -depth / 2, 0], [width / 2, depth / 2, 0],
                                          [-width / 2, depth / 2, 0]], faces=[[0, 1, 2], [0, 2, 3]], process=False)
        parts.append(("floor", floor, spec.floor))
    if spec.walls is not None:
        h = float(spec.walls.get("height", 2.0))
        x, y = width / 2, depth / 2
        corners = {"back": ([-x, y], [x, y]), "front": ([x, -y], [-x, -y]), "left": ([-x, -y], [-x, y]), "right": ([x, y], [x, -y])}
        for side in spec.walls.get("sides", ("back", "left", "right", "front")):
            (ax, ay), (bx, by) = corners[side]
            wall = trimesh.Trimesh(vertices=[[ax, ay, 0], [bx, by, 0], [bx, by, h], [ax, ay, h]], faces=[[0, 1, 2], [0, 2, 3]],
                                   process=False)
            parts.append((f"wall_{side}", wall, spec.walls))
    return parts
