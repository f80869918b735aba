"""A mesh turned into Gaussians: flat discs on its surface, with its colours or texture.

The surface is sampled evenly by area (trimesh), each sample becomes a Gaussian lying in the
face's plane (two scales the spacing of the samples, the third a small fraction of it), opaque,
coloured by the texture at that point (or the face's or vertices' colour, else mid grey). The
mesh's own frame is kept, moved so that the base of its bounding box is centred at the origin:
a placed mesh stands on the point it is placed at.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from ..errors import FormatError, InvalidArgumentError
from ..gaussians import Gaussians
from ..sh import rgb_to_sh_dc

FLATNESS = 0.1  # thickness of a disc against its width
OPACITY = 0.95


def file_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_mesh(path):
    """The file's triangles as one trimesh.Trimesh (a multi-part scene is concatenated)."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"{path}: no such mesh file")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise FormatError(f"{path}: cannot read the mesh ({type(exc).__name__}: {exc}); use GLB, OBJ, PLY or STL") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or mesh.area <= 0:
        raise FormatError(f"{path}: holds no triangles with area")
    return mesh


def _colours(mesh, faces: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """[N, 3] colours in [0, 1] of the surface at barycentric points `bary` [N, 3] of `faces`."""
    from trimesh.visual.color import uv_to_interpolated_color

    visual = mesh.visual
    if visual.kind == "texture":
        material = visual.material
        image = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
        if image is not None and getattr(visual, "uv", None) is not None:
            uv = np.einsum("nk,nkd->nd", bary, visual.uv[mesh.faces[faces]])
            return uv_to_interpolated_color(uv, image)[:, :3] / 255.0
        colour = getattr(material, "baseColorFactor", None)
        if colour is None:
            colour = getattr(material, "main_color", None)
        if colour is not None:
            return np.broadcast_to(np.asarray(colour[:3], dtype=np.float64) / 255.0, (len(faces), 3)).copy()
    if visual.kind == "vertex":
        return np.einsum("nk,nkd->nd", bary, visual.vertex_colors[mesh.faces[faces], :3] / 255.0)
    if visual.kind == "face":
        return visual.face_colors[faces, :3] / 255.0
    return np.full((len(faces), 3), 0.5)


def mesh_gaussians(path, *, count: int = 20000, seed: int = 0, size: float | None = None, sha256: str | None = None) -> Gaussians:
    """Gaussians (SH degree 0) on the surface of the mesh at `path`, its base centred at the origin,
    scaled so that its largest side is `size` when given. sha256: refuse a file with another digest."""
    if sha256 is not None and Path(path).is_file() and file_digest(path) != sha256:
        raise InvalidArgumentError(f"{path}: the file has changed since the edit was recorded (sha256 differs)")
    mesh = load_mesh(path)
    import trimesh

    points, faces, bary = trimesh.sample.sample_surface(mesh, count, seed=seed, return_barycentric=True)
    colours = np.clip(_colours(mesh, faces, bary), 0, 1)
    lo, hi = mesh.bounds
    base = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    factor = 1.0 if size is None else size / float((hi - lo).max())
    means = torch.as_tensor((points - base) * factor, dtype=torch.float32)
    normals = torch.as_tensor(mesh.face_normals[faces], dtype=torch.float64)
    quats = _quats_from_normals(normals)
    spacing = math.sqrt(float(mesh.area) / count) * factor
    scales = torch.log(torch.tensor([spacing, spacing, FLATNESS * spacing])).expand(count, 3).float().clone()
    opacities = torch.full((count,), math.log(OPACITY / (1 - OPACITY)))
    sh = rgb_to_sh_dc(torch.as_tensor(colours, dtype=torch.float32))[:, None]
    return Gaussians(means, scales, quats, opacities, sh)


def _quats_from_normals(normals: torch.Tensor) -> torch.Tensor:
    """[N, 4] quaternions turning +z onto each unit normal (vectorised shortest arc)."""
    n = normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-12)
    w = 1.0 + n[:, 2]
    q = torch.stack([w, -n[:, 1], n[:, 0], torch.zeros_like(w)], 1)  # z x n = (-n_y, n_x, 0)
    flipped = w < 1e-9  # normal along -z: half a turn about x
    q[flipped] = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=q.dtype)
    return (q / q.norm(dim=1, keepdim=True)).float()
