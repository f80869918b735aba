"""Exports for other tools: `export(scene, path)` picks the format from the file name (3DGS PLY,
.splat, a PLY sequence, a coloured point cloud, meshes), and meshes are made from the scene's
renders by TSDF fusion (`extract_mesh`, `extract_meshes`). Above render and io, which it uses;
io itself holds the file formats only."""

from .front import export, export_kind
from .mesh import extract_mesh, extract_meshes, mesh_views, sphere_views

__all__ = ["export", "export_kind", "extract_mesh", "extract_meshes", "mesh_views", "sphere_views"]
