"""The native scene file: a folder or a .zip with `scene.json` and one standard 3DGS PLY per object.

scene.json holds format_version (1, or 2 when an object carries per-Gaussian motion), time range,
metadata, capture cameras and, for the background and every object, its name, PLY path, Track,
visibility, metadata and motion basis. Every PLY opens in any splat viewer on its own (in the
object's own frame; motion coefficients are extra columns those viewers skip). Saves are atomic; loads refuse newer format
versions, paths that leave the folder or archive, and oversized members.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path

import torch

from ..camera import Cameras
from ..common.json_file import parse_json
from ..errors import FormatError, InvalidArgumentError, ScenegenError, UnsupportedVersionError
from ..scene import BACKGROUND, Scene, SceneObject, Track
from ..common.atomic import atomic_path, recover
from ..gaussian_motion import MotionBasis, motion_column_names, motion_columns, motion_from_columns
from .ply import ply_bytes, read_ply, read_ply_properties
from .splat_formats import splat_format
from ..common.members import MemberReader, safe_relpath
from ..common.values import finite_number

FORMAT_VERSION = 2  # 2 adds per-Gaussian motion (objects' "motion" entries and PLY columns)
MANIFEST = "scene.json"
log = logging.getLogger("scenegen.io")
MAX_MANIFEST_BYTES = 64 << 20
MAX_MEMBER_BYTES = 8 << 30


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:60] or "object"


def _cameras_to_json(cams: Cameras | None, times) -> dict | None:
    if cams is None:
        return None
    return {
        "fx": cams.fx.tolist(), "fy": cams.fy.tolist(), "cx": cams.cx.tolist(), "cy": cams.cy.tolist(),
        "width": cams.width.tolist(), "height": cams.height.tolist(), "c2w": cams.c2w.tolist(),
        "distortion": None if cams.distortion is None else cams.distortion.tolist(),
        "times": None if times is None else torch.as_tensor(times).tolist(),
    }


def _cameras_from_json(d, where: str):
    if d is None:
        return None, None
    try:
        cams = Cameras(fx=d["fx"], fy=d["fy"], cx=d["cx"], cy=d["cy"], width=d["width"], height=d["height"],
                       c2w=torch.tensor(d["c2w"], dtype=torch.float32), distortion=d.get("distortion"))
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError, AttributeError) as exc:
        raise FormatError(f"{where}: 'cameras' is malformed ({exc}); it needs fx, fy, cx, cy, width, height, c2w lists of equal length") from None
    R = cams.c2w[:, :3, :3].double()
    if not torch.isfinite(cams.c2w).all() or (R.transpose(1, 2) @ R - torch.eye(3, dtype=torch.float64)).abs().max() > 1e-3 \
            or (torch.linalg.det(R) <= 0).any():
        raise FormatError(f"{where}: the cameras' c2w must be finite rigid transforms (a rotation and a translation)")
    times = d.get("times")
    if times is not None:
        if not isinstance(times, list) or len(times) != len(cams):
            raise FormatError(f"{where}: 'cameras.times' must be a list of {len(cams)} numbers")
        times = [finite_number(t, f"cameras.times[{i}]", error=FormatError) for i, t in enumerate(times)]
    return cams, times


def _json_safe(value, what: str):
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{what} must be plain JSON data (dicts, lists, strings, finite numbers): {exc}") from None


def scene_to_files(scene: Scene) -> dict[str, bytes]:
    """Every file of the native format, by relative path."""
    files: dict[str, bytes] = {}
    entries = []
    version = 1  # the lowest version that holds the scene, so static scenes stay readable by older readers
    for i, obj in enumerate(scene.all_objects()):
        rel = "background.ply" if i == 0 else f"objects/{i:03d}_{_slug(obj.name)}.ply"
        files[rel] = ply_bytes(obj.gaussians, None if obj.motion is None else motion_columns(obj.motion))
        entries.append({
            "name": obj.name, "ply": rel, "track": obj.track.to_dict(), "visible": bool(obj.visible),
            "metadata": _json_safe(obj.metadata, f"metadata of object {obj.name!r}"),
        })
        if obj.motion is not None:
            entries[-1]["motion"] = obj.motion.basis.to_dict()
            version = 2
    from ..version import __version__

    manifest = {
        "format_version": version,
        "generator": f"scenegen {__version__}",
        "time_range": list(scene.time_range),
        "metadata": _json_safe(scene.metadata, "scene.metadata"),
        "background": entries[0],
        "objects": entries[1:],
        "cameras": _cameras_to_json(scene.cameras, scene.camera_times),
    }
    if scene.history:
        manifest["history"] = _json_safe(scene.history, "scene.history")
    files[MANIFEST] = json.dumps(manifest, indent=1).encode("utf-8")
    return files


def save(scene: Scene, path: str | os.PathLike) -> Path:
    """Save `scene` to a folder, or to a zip when `path` ends with .zip. Atomic: a failed save
    leaves any previous scene at `path` untouched."""
    if not isinstance(scene, Scene):
        raise InvalidArgumentError(f"save expects a Scene, got {type(scene).__name__}; write Gaussians with write_ply")
    path = Path(path)
    if splat_format(path) is not None:
        raise InvalidArgumentError(f"{path}: save writes the native scene format (a folder or .zip); use write_splats "
                                   "(scenegen.io) for a single splat file")
    files = scene_to_files(scene)
    if path.suffix.lower() == ".zip":
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                for rel, data in files.items():
                    # A fixed timestamp keeps the archive byte-identical for the same scene.
                    zf.writestr(zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0)), data)
    else:
        if path.exists() and not path.is_dir():
            raise InvalidArgumentError(f"{path}: exists and is not a folder; choose another path or a .zip name")
        if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).exists():
            raise InvalidArgumentError(f"{path}: is a non-empty folder that is not a scene; refusing to replace it")
        with atomic_path(path, directory=True) as tmp:
            for rel, data in files.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)
    return path


def _number(value, what: str, where: str) -> float:
    return finite_number(value, f"{where}: {what}", error=FormatError)


def _load_object(reader: MemberReader, entry, where: str) -> SceneObject:
    if not isinstance(entry, dict):
        raise FormatError(f"{where}: each object entry must be a JSON object")
    name = entry.get("name")
    rel = safe_relpath(entry.get("ply"), where)
    data = reader.read(rel, MAX_MEMBER_BYTES)
    gaussians = read_ply(data)
    try:
        track = Track.from_dict(entry.get("track") or {})
        motion = None
        if entry.get("motion") is not None:
            basis = MotionBasis.from_dict(entry["motion"])
            motion = motion_from_columns(read_ply_properties(data, motion_column_names(basis)), basis)
            for field in ("offsets", "rotations", "time_centres", "time_sharpness"):
                if not torch.isfinite(getattr(motion, field)).all():
                    raise ValueError(f"its motion {field} hold NaN or infinite values")
        return SceneObject(name, gaussians, track, bool(entry.get("visible", True)), dict(entry.get("metadata") or {}), motion)
    except (InvalidArgumentError, TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise FormatError(f"{where}: object {name!r} is malformed: {exc}") from None


def load(path: str | os.PathLike) -> Scene:
    """Load a native scene (folder or .zip); a splat file (3DGS .ply, compressed .ply, .splat,
    .spz, .sog, meta.json, KHR_gaussian_splatting .glb/.gltf: scenegen.io.splat_formats) loads
    as a static scene."""
    path = Path(path)
    if recover(path):
        log.warning("scenegen: %s: a save was cut off between its renames; the scene saved before it is back in place", path)
    if not path.exists():
        raise FormatError(f"{path}: no such file or folder")
    if path.is_file() and splat_format(path) is not None:
        return Scene.from_gaussians(splat_format(path).read(path), metadata={"source": str(path)})
    if path.is_dir() and not (path / MANIFEST).is_file():
        raise FormatError(f"{path}: is a folder without {MANIFEST}; it is not a scenegen scene")
    reader = MemberReader(path)
    where = f"{path}/{MANIFEST}"
    raw = reader.read(MANIFEST, MAX_MANIFEST_BYTES)
    manifest = parse_json(raw, where)
    if not isinstance(manifest, dict):
        raise FormatError(f"{where}: the manifest must be a JSON object")
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise FormatError(f"{where}: 'format_version' is missing or not an integer")
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"{where}: format_version {version} was written by a newer scenegen (this one reads up to {FORMAT_VERSION}); "
            "upgrade scenegen with: pip install -U scenegen"
        )
    if version < 1:
        raise FormatError(f"{where}: format_version {version} is not valid")
    tr = manifest.get("time_range", [0.0, 0.0])
    if not isinstance(tr, list) or len(tr) != 2:
        raise FormatError(f"{where}: 'time_range' must be [start, end]")
    time_range = (_number(tr[0], "time_range[0]", where), _number(tr[1], "time_range[1]", where))
    objects = manifest.get("objects", [])
    if not isinstance(objects, list):
        raise FormatError(f"{where}: 'objects' must be a list")
    background = _load_object(reader, manifest.get("background"), where)
    loaded = [_load_object(reader, e, where) for e in objects]
    if background.name != BACKGROUND:
        raise FormatError(f"{where}: the background entry must be named {BACKGROUND!r}")
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise FormatError(f"{where}: 'metadata' must be a JSON object")
    history = manifest.get("history") or []
    if not isinstance(history, list) or not all(isinstance(e, dict) for e in history):
        raise FormatError(f"{where}: 'history' must be a list of edits")
    try:
        cams, times = _cameras_from_json(manifest.get("cameras"), where)
        return Scene(background, loaded, time_range=time_range, cameras=cams, camera_times=times, metadata=metadata,
                     history=history)
    except FormatError:
        raise
    except (ScenegenError, TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise FormatError(f"{where}: the manifest is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None

