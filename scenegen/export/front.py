"""Exports of a scene for other tools: splats (every format of scenegen.io.splat_formats), meshes,
point clouds, splat sequences."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidArgumentError
from ..scene import BACKGROUND, Scene
from ..io.mesh import MESH_SUFFIXES

EXPORT_KINDS = ("splats", "mesh", "points", "sequence")
SEQUENCE_FRAMES = 30


def export_kind(output: Path, kind: str = "auto") -> str:
    """What `output` receives: the kind given, or the one its extension implies (.ply, .splat,
    .spz, .sog, meta.json, .compressed.ply: splats; .glb/.gltf/.obj/...: a mesh (splats in glTF
    with kind "splats"); no extension: a folder of frames)."""
    if kind != "auto":
        if kind not in EXPORT_KINDS:
            raise InvalidArgumentError(f"unknown export kind {kind!r}; choose one of {('auto',) + EXPORT_KINDS}")
        return kind
    from ..io.splat_formats import splat_format, splat_suffixes

    suffix = output.suffix.lower()
    fmt = splat_format(output)
    if fmt is not None and fmt.name != "gltf":
        return "splats"
    if suffix in MESH_SUFFIXES or fmt is not None:
        return "mesh"
    if suffix == "":
        return "sequence"
    raise InvalidArgumentError(f"{output}: cannot tell what to export from the extension {suffix!r}; use {'/'.join(splat_suffixes())} "
                               f"(splats), {'/'.join(MESH_SUFFIXES)} (mesh), a folder (PLY sequence), or pass the kind")


def only(scene: Scene, names: list[str] | None) -> Scene:
    """A scene holding just the named objects (shared, not copied); the whole scene when None."""
    if names is None:
        return scene
    from ..gaussians import Gaussians
    from ..io.mesh import object_names

    names = object_names(scene, names)

    background = scene.background if BACKGROUND in names else Gaussians.empty(scene.background.gaussians.sh_degree)
    return Scene(background, [o for n, o in scene.objects.items() if n in names], time_range=scene.time_range,
                 cameras=scene.cameras, camera_times=scene.camera_times, metadata=scene.metadata)


def export(scene: Scene, output: str | os.PathLike, *, kind: str = "auto", objects: list[str] | None = None,
           t: float | None = None, start: float | None = None, end: float | None = None, frames: int | None = None,
           separate: bool = False, progress: bool = False, sequence_format: str = "ply", **mesh_options) -> dict:
    """Write `objects` (default: every visible object) of `scene` to `output` as `kind`; returns a
    summary {"kind", "path", ...}. Meshes: each object is fused alone (scenegen.export.mesh), and a
    GLB keeps them as named nodes; `separate` writes one file per object into `output` as a folder
    instead. Sequences: `frames` times from start to end (default: the scene's time range), one
    file each in `sequence_format` (a splat format's name: ply, spz, ...)."""
    from ..render.paths import path_times
    from ..io.sequence import export_ply_sequence
    from ..io.splat_formats import splat_format

    output = Path(output)
    kind = export_kind(output, kind)
    sub = only(scene, objects)
    if kind == "splats":
        fmt = splat_format(output)
        if fmt is None:
            from ..io.splat_formats import splat_suffixes

            raise InvalidArgumentError(f"{output}: splats are written as {', '.join(splat_suffixes())}")
        gaussians, _ = sub.gaussians_at(t)
        fmt.write(output, gaussians)
        return {"kind": kind, "path": str(output), "gaussians": len(gaussians), "format": fmt.name}
    if kind == "points":
        from ..io.mesh import point_cloud, write_point_cloud

        cloud = point_cloud(sub, None, t)
        write_point_cloud(output, cloud)
        return {"kind": kind, "path": str(output), "points": len(cloud.vertices)}
    if kind == "sequence":
        if output.suffix:
            raise InvalidArgumentError(f"{output}: a PLY sequence is written into a folder; give a path without an extension")
        times = path_times(scene, frames or _default_frames(scene), start, end)
        files = export_ply_sequence(sub, output, times, format=sequence_format)
        return {"kind": kind, "path": str(output), "frames": len(files), "times": [float(times[0]), float(times[-1])],
                "format": sequence_format}
    from ..io.mesh import write_mesh
    from .mesh import extract_meshes

    meshes = extract_meshes(sub, None, t, progress=progress, **mesh_options)
    if separate:
        suffix = output.suffix.lower() if output.suffix else ".glb"
        folder = output.with_suffix("") if output.suffix else output
        paths = [str(write_mesh(folder / f"{name}{suffix}", mesh)) for name, mesh in meshes.items()]
    else:
        paths = [str(write_mesh(output, meshes))]
    return {"kind": kind, "path": str(output), "files": paths,
            "objects": {name: {"vertices": len(m.vertices), "faces": len(m.faces)} for name, m in meshes.items()}}


def _default_frames(scene: Scene) -> int:
    """One frame per capture time of a moving scene, else SEQUENCE_FRAMES (one for a still scene)."""
    if scene.time_range[1] <= scene.time_range[0]:
        return 1
    if scene.camera_times is not None:
        return len(scene.camera_times)
    return SEQUENCE_FRAMES
