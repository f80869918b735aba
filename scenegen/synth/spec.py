"""Synthetic scene descriptions: a room (floor, walls), objects with textures and motions, a
camera path and a light, as Python objects read from and written to JSON.

    {"name": "...", "seed": 0, "duration": null,
     "room": {"floor": {"size": [4, 4], "texture": "wood", "colour": [..], "scale": 0.2},
              "walls": {"height": 2, "sides": ["back", "left"], "texture": "noise", ...},
              "background": [r, g, b]},
     "objects": [{"name": "box", "shape": "box", "size": [x, y, z], "position": [x, y, z],
                  "rotation": [rx, ry, rz], "texture": "speckle", "colour": [..], "motion": {...}}],
     "camera": {"path": "orbit", "frames": 60, "fps": 15, ...},
     "light": {"direction": [x, y, z], "ambient": 0.35, "shadows": true}}

Shapes: box (size), sphere (radius), cylinder / cone / capsule (radius, height), torus (radius,
tube), mesh (path: any file trimesh reads, relative to the spec file; mesh_scale). A shape is centred
on its own origin; `position` places that origin. Units are metres, +z is up, the floor is z = 0.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatError, InvalidArgumentError
from ..deprecated import renamed_keys
from .object_motion import Motion, euler_matrix
from .textures import KINDS

SHAPES = ("box", "sphere", "cylinder", "cone", "capsule", "torus", "mesh")
WALL_SIDES = ("back", "front", "left", "right")
SPEC_FORMAT = "scenegen-synth"


def _vec(value, n: int, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(n)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{where}: expected {n} numbers, got {value!r}") from None
    if not np.isfinite(arr).all():
        raise InvalidArgumentError(f"{where}: expected finite numbers, got {value!r}")
    return arr


@dataclass
class Surface:
    texture: str = "noise"
    colour: tuple = (0.7, 0.7, 0.7)
    colour2: tuple | None = None
    scale: float = 0.1

    @classmethod
    def from_dict(cls, d: dict, where: str, **defaults) -> "Surface":
        d = renamed_keys({**defaults, **d}, where, color="colour", color2="colour2")
        texture = d.get("texture", "noise")
        if texture not in KINDS:
            raise InvalidArgumentError(f"{where}: texture must be one of {', '.join(KINDS)}; got {texture!r}")
        colour = tuple(_vec(d.get("colour", (0.7, 0.7, 0.7)), 3, f"{where}.colour").tolist())
        colour2 = None if d.get("colour2") is None else tuple(_vec(d["colour2"], 3, f"{where}.colour2").tolist())
        scale = float(d.get("scale", 0.1))
        if not scale > 0:
            raise InvalidArgumentError(f"{where}.scale must be positive, got {scale}")
        return cls(texture, colour, colour2, scale)


@dataclass
class ObjectSpec:
    name: str
    shape: str
    params: dict  # the shape's size keys (size, radius, height, tube, path, mesh_scale)
    position: np.ndarray
    rotation: np.ndarray  # [3, 3] rest rotation
    surface: Surface
    motion: Motion | None = None
    smooth: bool = True  # interpolate vertex normals (curved shapes) or shade each face flat
    spec: dict = field(default_factory=dict)

    def pose_at(self, t: float) -> np.ndarray:
        """world_from_object [4, 4] at time t."""
        position, R = (self.position, np.eye(3)) if self.motion is None else self.motion.at(t)
        T = np.eye(4)
        T[:3, :3] = R @ self.rotation
        T[:3, 3] = position
        return T


@dataclass
class SceneSpec:
    name: str
    seed: int
    floor: dict | None
    walls: dict | None
    background: tuple
    objects: list[ObjectSpec]
    camera: dict
    light: dict
    root: Path | None = None  # folder that relative mesh paths start from
    raw: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return float(self.camera.get("fps", 15.0))

    @property
    def frames(self) -> int:
        return int(self.camera.get("frames", 60))

    def times(self) -> np.ndarray:
        return np.arange(self.frames) / self.fps

    def to_json(self) -> str:
        return json.dumps(self.raw, indent=1)

    @classmethod
    def from_dict(cls, d: dict, root: str | os.PathLike | None = None, where: str = "spec") -> "SceneSpec":
        if not isinstance(d, dict):
            raise FormatError(f"{where}: a scene spec is a JSON object, got {type(d).__name__}")
        unknown = set(d) - {"format", "name", "seed", "room", "objects", "camera", "light", "description"}
        if unknown:
            raise FormatError(f"{where}: unknown keys {sorted(unknown)}; see scenegen.synth.spec")
        room = d.get("room", {}) or {}
        floor = room.get("floor", {"size": [4.0, 4.0]})
        walls = room.get("walls")
        if floor is not None:
            Surface.from_dict(floor, f"{where}.room.floor")
            _vec(floor.get("size", [4.0, 4.0]), 2, f"{where}.room.floor.size")
        if walls is not None:
            Surface.from_dict(walls, f"{where}.room.walls")
            bad = set(walls.get("sides", WALL_SIDES)) - set(WALL_SIDES)
            if bad:
                raise InvalidArgumentError(f"{where}.room.walls.sides: unknown {sorted(bad)}; use {', '.join(WALL_SIDES)}")
        objects, names = [], set()
        for i, o in enumerate(d.get("objects", [])):
            obj = _object(o, f"{where}.objects[{i}]")
            if obj.name in names or obj.name == "background":
                raise InvalidArgumentError(f"{where}.objects[{i}]: the name {obj.name!r} is used twice (or is 'background')")
            names.add(obj.name)
            objects.append(obj)
        camera = dict(d.get("camera", {}))
        if not float(camera.get("fps", 15.0)) > 0:
            raise InvalidArgumentError(f"{where}.camera.fps must be positive")
        light = dict(d.get("light", {}))
        _vec(light.get("direction", (0.4, -0.3, 1.0)), 3, f"{where}.light.direction")
        return cls(name=str(d.get("name", "scene")), seed=int(d.get("seed", 0)), floor=floor, walls=walls,
                   background=tuple(_vec(room.get("background", (0.55, 0.6, 0.7)), 3, f"{where}.room.background").tolist()),
                   objects=objects, camera=camera, light=light, root=None if root is None else Path(root), raw=d)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "SceneSpec":
        from ..common.json_file import read_json_file

        path = Path(path)
        return cls.from_dict(read_json_file(path, "scene spec"), root=path.parent, where=str(path))


def _object(o: dict, where: str) -> ObjectSpec:
    if not isinstance(o, dict) or "name" not in o or "shape" not in o:
        raise InvalidArgumentError(f"{where}: an object needs a 'name' and a 'shape' ({', '.join(SHAPES)})")
    shape = o["shape"]
    if shape not in SHAPES:
        raise InvalidArgumentError(f"{where}: shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    params = {k: o[k] for k in ("size", "radius", "height", "tube", "path", "mesh_scale") if k in o}
    needed = {"box": ["size"], "sphere": ["radius"], "cylinder": ["radius", "height"], "cone": ["radius", "height"],
              "capsule": ["radius", "height"], "torus": ["radius", "tube"], "mesh": ["path"]}[shape]
    missing = [k for k in needed if k not in params]
    if missing:
        raise InvalidArgumentError(f"{where}: a {shape} needs {', '.join(missing)}")
    for k in ("radius", "height", "tube", "mesh_scale"):
        if k in params and not float(params[k]) > 0:
            raise InvalidArgumentError(f"{where}.{k} must be positive, got {params[k]}")
    if "size" in params and not (_vec(params["size"], 3, f"{where}.size") > 0).all():
        raise InvalidArgumentError(f"{where}.size must be positive, got {params['size']}")
    position = _vec(o.get("position", (0, 0, 0)), 3, f"{where}.position")
    rotation = euler_matrix(_vec(o.get("rotation", (0, 0, 0)), 3, f"{where}.rotation"))
    motion = None if o.get("motion") is None else Motion(o["motion"], position, f"{where}.motion")
    smooth = bool(o.get("smooth", shape in ("sphere", "capsule", "torus", "mesh")))
    return ObjectSpec(str(o["name"]), shape, params, position, rotation, Surface.from_dict(o, where), motion, smooth, dict(o))
