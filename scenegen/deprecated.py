"""Names kept for one release after they moved: each still works, and warns once (FutureWarning)
with its new name. This is the one table of them; the README's architecture section lists it.

- Scene's edit methods (scene.translate, ..., scene.undo, scene.redo, scene.edit) and picking
  (scene.object_at, scene.render_object_ids): scenegen.edit.EditSession and
  scenegen.render.picking. They act through the scene's own session (scenegen.edit.session_of),
  so scene.undo() still undoes scene.translate(...).
- scenegen.io.extract_mesh, extract_meshes, export: scenegen.export.
- `scenegen train --static`, `scenegen reconstruct --dynamic`: `--motion static`, `--motion dynamic` (cli.py).
- One spelling (the README's, British): Gaussians.colors, Gaussians.from_points(colors=),
  Dataset.point_colors, GaussianMotion.time_centers, scenegen.sh.sh_to_color and the scene-spec
  keys "color", "color2", "center": colours, point_colours, time_centres, sh_to_colour, "colour",
  "colour2", "centre" (renamed_attribute, renamed_keywords, renamed_keys).
- scenegen.synth.motion: scenegen.synth.object_motion (one module per meaning of "motion").
"""

from __future__ import annotations

import functools
import importlib
import warnings

_warned: set[str] = set()


def warn_once(old: str, new: str) -> None:
    """Warn (once per process) that `old` is deprecated in favour of `new`."""
    if old not in _warned:
        _warned.add(old)
        warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}", FutureWarning, stacklevel=4)


def _session(scene):
    return importlib.import_module("scenegen.edit.session").session_of(scene)


# Scene method -> (its replacement, for the warning; the method with its old signature)
SCENE_METHODS = {
    "edit": ("EditSession(scene).apply(op, **args)", lambda s, op, **args: _session(s).apply(op, **args)),
    "translate": ("EditSession(scene).translate", lambda s, name, offset: _session(s).translate(name, offset)),
    "rotate": ("EditSession(scene).rotate", lambda s, name, axis, degrees, pivot=None, t=None:
               _session(s).rotate(name, axis, degrees, pivot=pivot, t=t)),
    "scale": ("EditSession(scene).scale", lambda s, name, factor, pivot=None: _session(s).scale(name, factor, pivot=pivot)),
    "set_pose": ("EditSession(scene).set_pose", lambda s, name, t, matrix: _session(s).set_pose(name, t, matrix)),
    "retime": ("EditSession(scene).retime", lambda s, name, speed=1.0, shift=0.0: _session(s).retime(name, speed=speed, shift=shift)),
    "duplicate": ("EditSession(scene).duplicate", lambda s, name, new_name, offset=(0.0, 0.0, 0.0):
                  _session(s).duplicate(name, new_name, offset=offset)),
    "delete": ("EditSession(scene).delete", lambda s, name: _session(s).delete(name)),
    "split": ("EditSession(scene).split", lambda s, name, indices, new_name: _session(s).split(name, indices, new_name)),
    "merge": ("EditSession(scene).merge", lambda s, names, new_name, t=None: _session(s).merge(list(names), new_name, t=t)),
    "tint": ("EditSession(scene).tint", lambda s, name, rgb: _session(s).tint(name, rgb)),
    "recolor": ("EditSession(scene).recolour", lambda s, name, rgb: _session(s).recolour(name, rgb)),
    "hide": ("EditSession(scene).hide", lambda s, name: _session(s).hide(name)),
    "show": ("EditSession(scene).show", lambda s, name: _session(s).show(name)),
    "rename": ("EditSession(scene).rename", lambda s, name, new_name: _session(s).rename(name, new_name)),
    "insert_mesh": ("EditSession(scene).insert_mesh", lambda s, path, name, position=(0.0, 0.0, 0.0), size=None, count=20000, seed=0:
                    _session(s).insert_mesh(path, name, position=position, size=size, count=count, seed=seed)),
    "simulate": ("EditSession(scene).simulate", lambda s, duration, fps=30, gravity=None, impulses=None, objects=None, start=None,
                 plane=None, density=500.0, friction=0.6, restitution=0.1:
                 _session(s).simulate(duration, fps=fps, gravity=gravity, impulses=impulses, objects=objects, start=start,
                                      plane=plane, density=density, friction=friction, restitution=restitution)),
    "undo": ("EditSession(scene).undo", lambda s: _session(s).undo()),
    "redo": ("EditSession(scene).redo", lambda s: _session(s).redo()),
    "object_at": ("scenegen.render.picking.object_at(scene, ...) or EditSession(scene).object_at",
                  lambda s, camera, u, v, t=None: importlib.import_module("scenegen.render.picking").object_at(s, camera, u, v, t)),
    "render_object_ids": ("scenegen.render.picking.object_ids(scene, ...)",
                          lambda s, camera, t=None, *, min_alpha=0.5, backend="auto":
                          importlib.import_module("scenegen.render.picking").object_ids(s, camera, t, min_alpha=min_alpha, backend=backend)),
}

# module -> {old name: "new.module:name"}
MODULE_NAMES = {
    "scenegen.io": {"extract_mesh": "scenegen.export:extract_mesh", "extract_meshes": "scenegen.export:extract_meshes",
                    "export": "scenegen.export:export"},
    "scenegen.sh": {"sh_to_color": "scenegen.sh:sh_to_colour"},
}


def scene_method(scene, name: str):
    """The deprecated Scene method `name` bound to `scene`, or None when there is none."""
    if name not in SCENE_METHODS:
        return None
    new, fn = SCENE_METHODS[name]

    def method(*args, **kwargs):
        warn_once(f"Scene.{name}", new)
        return fn(scene, *args, **kwargs)

    method.__name__ = name
    return method


def module_name(module: str, name: str):
    """The object a deprecated `module.name` now is (warning once), or raise AttributeError."""
    target = MODULE_NAMES.get(module, {}).get(name)
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    where, attr = target.split(":")
    warn_once(f"{module}.{name}", f"{where}.{attr}")
    return getattr(importlib.import_module(where), attr)


def renamed_attribute(old: str, new: str) -> property:
    """A class attribute `old` (e.g. "Gaussians.colors") that reads and writes `new`, warning once."""
    cls_name, old_attr = old.rsplit(".", 1)

    def get(self):
        warn_once(old, f"{cls_name}.{new}")
        return getattr(self, new)

    def put(self, value):
        warn_once(old, f"{cls_name}.{new}")
        setattr(self, new, value)

    return property(get, put, doc=f"Deprecated name of `{new}`.")


def renamed_keywords(where: str, **names: str):
    """A decorator: keyword arguments named after the keys of `names` are passed as their values
    (`@renamed_keywords("Gaussians.from_points", colors="colours")`), warning once."""
    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            for old, new in names.items():
                if old in kwargs:
                    warn_once(f"{where}({old}=)", f"{where}({new}=)")
                    if new in kwargs:
                        raise TypeError(f"{where}: give {new}= only (not {old}= too)")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        return call
    return wrap


def renamed_keys(d: dict, where: str, **names: str) -> dict:
    """`d` with its old keys (the keys of `names`) under their new names, warning once per key;
    `where` names the file or section for the warning."""
    if not any(old in d for old in names):
        return d
    d = dict(d)
    for old, new in names.items():
        if old in d:
            warn_once(f"the key {old!r} (in {where})", repr(new))
            value = d.pop(old)
            d.setdefault(new, value)
    return d


__all__ = ["SCENE_METHODS", "MODULE_NAMES", "scene_method", "module_name", "renamed_attribute", "renamed_keywords",
           "renamed_keys", "warn_once"]
