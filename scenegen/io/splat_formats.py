"""The splat file formats, by name and extension: one table that load, convert, export, sequences
and the viewer all read, so a format added here is reachable everywhere at once.

Each format has a reader (path or bytes -> Gaussians, with the `on_invalid` policy of read_ply)
and an encoder (Gaussians -> bytes); writes are atomic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..common.atomic import atomic_write_bytes
from ..errors import InvalidArgumentError
from ..gaussians import Gaussians


@dataclass(frozen=True)
class SplatFormat:
    name: str
    suffixes: tuple[str, ...]  # longest first where one ends another (.compressed.ply before .ply)
    read: Callable[..., Gaussians]
    encode: Callable[[Gaussians], bytes]
    lost: str  # what writing loses, for the README and --help
    writer: Callable[..., Path] | None = None  # for formats whose file name picks a layout (.gltf / .glb, meta.json / .sog)

    def write(self, path: str | os.PathLike, gaussians: Gaussians) -> Path:
        path = Path(path)
        if self.writer is not None:
            return self.writer(path, gaussians)
        atomic_write_bytes(path, self.encode(gaussians))
        return path


def _formats() -> list[SplatFormat]:
    from .compressed_ply import compressed_ply_bytes, read_any_ply, read_compressed_ply
    from .gltf_splats import glb_bytes, read_gltf_splats, write_gltf_splats
    from .ply import ply_bytes
    from .sog import read_sog, sog_bytes, write_sog
    from .splat import read_splat, splat_bytes
    from .spz import read_spz, spz_bytes

    return [
        SplatFormat("compressed-ply", (".compressed.ply",), read_compressed_ply, compressed_ply_bytes,
                    "quantised in chunks of 256 splats (positions 11-10-11 bits, rotations 2-10-10-10, colours 8 bits, SH 8 bits)"),
        SplatFormat("ply", (".ply",), read_any_ply, ply_bytes, "nothing (float32)"),
        SplatFormat("splat", (".splat",), read_splat, splat_bytes, "SH beyond degree 0; colours and rotations to 8 bits"),
        SplatFormat("spz", (".spz",), read_spz, spz_bytes,
                    "positions to 12 fractional bits, scales, colours and opacity to 8 bits, rotations to a sign and 9 bits, SH to 5/4 bits"),
        SplatFormat("sog", (".sog", "meta.json"), read_sog, sog_bytes,
                    "positions to 16 bits of a log range, scales, colours and SH to 256-entry codebooks, rotations to 8 bits a "
                    "component, opacity to 8 bits, SH vectors to a palette of 1024-16384", write_sog),
        SplatFormat("gltf", (".glb", ".gltf"), read_gltf_splats, glb_bytes,
                    "nothing but float32 rounding of linear scales and opacities (KHR_gaussian_splatting)", write_gltf_splats),
    ]


_TABLE: list[SplatFormat] | None = None


def splat_formats() -> list[SplatFormat]:
    global _TABLE
    if _TABLE is None:
        _TABLE = _formats()
    return _TABLE


def splat_suffixes() -> tuple[str, ...]:
    return tuple(s for f in splat_formats() for s in f.suffixes)


def splat_format(path: str | os.PathLike) -> SplatFormat | None:
    """The format a file name says (by its ending), or None."""
    name = Path(path).name.lower()
    for fmt in splat_formats():
        if any(name.endswith(s) for s in fmt.suffixes):
            return fmt
    return None


def _required(path) -> SplatFormat:
    fmt = splat_format(path)
    if fmt is None:
        raise InvalidArgumentError(f"{path}: not a splat file name; splats are {', '.join(splat_suffixes())}")
    return fmt


def read_splats(path: str | os.PathLike, *, on_invalid: str = "raise") -> Gaussians:
    """Read any splat file the table knows, picked by its extension."""
    return _required(path).read(path, on_invalid=on_invalid)


def write_splats(path: str | os.PathLike, gaussians: Gaussians) -> Path:
    """Write `gaussians` in the format the extension of `path` names, atomically."""
    return _required(path).write(path, gaussians)


__all__ = ["SplatFormat", "splat_formats", "splat_format", "splat_suffixes", "read_splats", "write_splats"]
