"""Reading and writing scenes and splats: 3DGS PLY, .splat, the native scene format, PLY sequences,
and exports for other tools (TSDF meshes, point clouds)."""

from .export import export
from .mesh import extract_mesh, extract_meshes, point_cloud, write_mesh, write_point_cloud
from .ply import read_ply, write_ply
from .scene_file import FORMAT_VERSION, load, save
from .sequence import export_ply_sequence
from .splat import read_splat, write_splat

__all__ = ["read_ply", "write_ply", "read_splat", "write_splat", "load", "save", "export_ply_sequence", "export",
           "extract_mesh", "extract_meshes", "write_mesh", "point_cloud", "write_point_cloud", "FORMAT_VERSION"]
