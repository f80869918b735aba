"""Per-time-step splat sequences of a moving scene, as 4D splat viewers read them: one file per
time in any splat format (3DGS PLY by default) and `sequence.json` listing them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import InvalidArgumentError
from ..scene import Scene
from ..common.atomic import atomic_path
from .splat_formats import splat_formats


def export_ply_sequence(scene: Scene, folder: str | os.PathLike, times, *, format: str = "ply") -> list[Path]:
    """Write `frame_00000.ply`, `frame_00001.ply`, ... (world-space Gaussians at each time; with
    `format` another splat format, e.g. "spz": frame_00000.spz, ...) and `sequence.json` listing
    the files and their times into `folder`, atomically."""
    formats = {f.name: f for f in splat_formats()}
    if format not in formats:
        raise InvalidArgumentError(f"unknown sequence format {format!r}; choose one of {', '.join(formats)}")
    fmt = formats[format]
    times = torch.as_tensor(times, dtype=torch.float64).reshape(-1)
    if times.numel() == 0:
        raise InvalidArgumentError("export_ply_sequence: `times` is empty; pass at least one time")
    if not torch.isfinite(times).all():
        raise InvalidArgumentError("export_ply_sequence: `times` contains NaN or infinite values")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidArgumentError(f"{folder}: exists and is not a folder; choose another output folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "sequence.json").is_file():
        raise InvalidArgumentError(f"{folder}: is a non-empty folder that is not a PLY sequence; refusing to replace it")
    names = [f"frame_{i:05d}{fmt.suffixes[0]}" for i in range(times.numel())]
    with atomic_path(folder, directory=True) as tmp:
        for name, t in zip(names, times.tolist()):
            gaussians, _ = scene.gaussians_at(t)
            (tmp / name).write_bytes(fmt.encode(gaussians))
        (tmp / "sequence.json").write_text(json.dumps({"frames": [{"file": n, "time": t} for n, t in zip(names, times.tolist())]}, indent=1))
    return [folder / n for n in names]
