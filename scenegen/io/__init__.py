"""Reading and writing scenes and splats: 3DGS PLY, .splat, the native scene format, PLY sequences,
meshes, point clouds and PNG images. Making meshes from a scene and the export front door are
scenegen.export (the old names here still work for one release, see scenegen/deprecated.py)."""

from ..common.atomic import atomic_write_png as write_png
from .mesh import point_cloud, write_mesh, write_point_cloud
from .ply import read_ply, write_ply
from .scene_file import FORMAT_VERSION, load, save
from .sequence import export_ply_sequence
from .splat import read_splat, write_splat

__all__ = ["read_ply", "write_ply", "read_splat", "write_splat", "load", "save", "export_ply_sequence", "write_mesh", "point_cloud",
           "write_point_cloud", "write_png", "FORMAT_VERSION"]


def __getattr__(name: str):
    from ..deprecated import module_name

    return module_name(__name__, name)
