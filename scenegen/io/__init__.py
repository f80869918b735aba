"""Reading and writing scenes and splats: 3DGS PLY, .splat, the native scene format, PLY sequences."""

from .ply import read_ply, write_ply
from .scene_file import FORMAT_VERSION, load, save
from .sequence import export_ply_sequence
from .splat import read_splat, write_splat

__all__ = ["read_ply", "write_ply", "read_splat", "write_splat", "load", "save", "export_ply_sequence", "FORMAT_VERSION"]
