"""scenegen: from a captured video to an editable, time-varying 3D scene of Gaussian splats.

Front doors: `reconstruct`, `load`, `save`, `render`, `load_dataset`, and the types `Scene`, `SceneObject`,
`Track`, `Gaussians`, `Camera`, `Cameras`. Heavy modules are imported on first use.
"""

from __future__ import annotations

import importlib

from .version import __version__

_LAZY = {
    "Camera": ("scenegen.camera", "Camera"),
    "Cameras": ("scenegen.camera", "Cameras"),
    "Gaussians": ("scenegen.gaussians", "Gaussians"),
    "Scene": ("scenegen.scene", "Scene"),
    "SceneObject": ("scenegen.scene", "SceneObject"),
    "Track": ("scenegen.scene", "Track"),
    "load": ("scenegen.io", "load"),
    "save": ("scenegen.io", "save"),
    "render": ("scenegen.render", "render"),
    "RenderOutput": ("scenegen.render", "RenderOutput"),
    "load_dataset": ("scenegen.data", "load_dataset"),
    "reconstruct": ("scenegen.pipeline", "reconstruct"),
    "Dataset": ("scenegen.data", "Dataset"),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        # `render` is also the subpackage scenegen.render, which is callable as render() itself:
        # binding the function here would hide the subpackage from `import scenegen.render` later.
        if module != f"{__name__}.{name}":
            value = getattr(value, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'scenegen' has no attribute {name!r}")


def __dir__():
    return __all__
