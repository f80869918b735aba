"""Synthetic scenes with ground truth: procedural rooms, textured objects that move, camera paths,
rendered on the CPU (Open3D ray casting) to a dataset, a video and a ground-truth file.

    from scenegen.synth import load_spec, generate
    generate(load_spec("tabletop-dynamic"), "out/tabletop")

Built-in scenes: `builtin_names()`; their specs ship in scenegen/synth/scenes/.
"""

from __future__ import annotations

import os
from pathlib import Path

SCENES = Path(__file__).resolve().parent / "scenes"

__all__ = ["SceneSpec", "load_spec", "builtin_names", "generate", "camera_path", "SyntheticRenderer"]


def builtin_names() -> list[str]:
    return sorted(p.stem for p in SCENES.glob("*.json"))


def load_spec(name_or_path: str | os.PathLike):
    """A SceneSpec from a JSON file, or a built-in scene by name."""
    from ..errors import InvalidArgumentError
    from .spec import SceneSpec

    path = Path(name_or_path)
    if path.suffix.lower() == ".json" or path.exists():
        return SceneSpec.from_json(path)
    if str(name_or_path) in builtin_names():
        return SceneSpec.from_json(SCENES / f"{name_or_path}.json")
    raise InvalidArgumentError(f"{name_or_path!r} is neither a spec file nor a built-in scene; built-ins: {', '.join(builtin_names())}")


def __getattr__(name: str):
    if name == "SceneSpec":
        from .spec import SceneSpec

        return SceneSpec
    if name == "generate":
        from .writer import generate

        return generate
    if name == "camera_path":
        from .paths import camera_path

        return camera_path
    if name == "SyntheticRenderer":
        from .raycast import SyntheticRenderer

        return SyntheticRenderer
    raise AttributeError(f"module 'scenegen.synth' has no attribute {name!r}")
