"""Reading and writing scenes and splats: 3DGS PLY, compressed PLY, .splat, .spz, SOG, glTF with
KHR_gaussian_splatting, the native scene format, splat sequences, meshes, point clouds and PNG
images. Making meshes from a scene and the export front door are
scenegen.export (the old names here still work for one release, see scenegen/deprecated.py)."""

from ..common.atomic import atomic_write_png as write_png
from .mesh import point_cloud, write_mesh, write_point_cloud
from .ply import read_ply, write_ply
from .scene_file import FORMAT_VERSION, load, save
from .sequence import export_ply_sequence
from .compressed_ply import read_compressed_ply, write_compressed_ply
from .splat import read_splat, write_splat
from .spz import read_spz, write_spz
from .sog import read_sog, write_sog
from .gltf_splats import read_gltf_splats, write_gltf_splats
from .splat_formats import read_splats, splat_format, splat_formats, splat_suffixes, write_splats

__all__ = ["read_ply", "write_ply", "read_splat", "write_splat", "load", "save", "export_ply_sequence", "write_mesh", "point_cloud",
           "write_point_cloud", "write_png", "FORMAT_VERSION", "read_splats", "write_splats", "splat_format", "splat_formats",
           "splat_suffixes", "read_spz", "write_spz", "read_compressed_ply", "write_compressed_ply", "read_sog", "write_sog",
           "read_gltf_splats", "write_gltf_splats"]


def __getattr__(name: str):
    from ..deprecated import module_name

    return module_name(__name__, name)
