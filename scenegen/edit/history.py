"""The journal of edits: each edit as {"op": name, "args": {...}} in plain JSON, saved with the
scene in `scene.history`; `replay(original, journal)` (edit/session.py) applies it to the scene
as it was before the first edit and gives the edited scene exactly (the operation runs from the
very JSON values that were recorded). `run` applies one entry; `snapshot` and `restore` are what
undo keeps: operations replace objects rather than change them, so a snapshot is the objects'
mapping itself, at no cost in memory beyond the objects an edit replaced.
"""

from __future__ import annotations

import json
import math

from ..errors import InvalidArgumentError
from ..scene import Scene
from .ops import OPERATIONS, RENAMED


def _plain(value, where: str):
    """`value` as plain JSON data (tensors and tuples become lists of numbers)."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    if hasattr(value, "__fspath__"):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgumentError(f"{where}: arguments must be finite numbers, got {value}")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item(), where)
    raise InvalidArgumentError(f"{where}: arguments must be plain data (numbers, strings, lists), got {type(value).__name__}")


def entry(op: str, args: dict) -> dict:
    """The journal entry of operation `op` with `args`, checked and in plain JSON."""
    op = RENAMED.get(op, op)
    if op not in OPERATIONS:
        raise InvalidArgumentError(f"unknown edit {op!r}; the edits are: {', '.join(sorted(OPERATIONS))}")
    args = _plain(dict(args), f"edit {op!r}")
    if op == "insert_mesh" and args.get("sha256") is None and isinstance(args.get("path"), str):
        from pathlib import Path

        from .insert import file_digest

        if Path(args["path"]).is_file():
            args["sha256"] = file_digest(args["path"])  # a replay later refuses a changed file
    return json.loads(json.dumps({"op": op, "args": args}, allow_nan=False))


def snapshot(scene: Scene):
    """What an edit may replace: the background, the objects' mapping and the time range."""
    return scene.background, dict(scene.objects), scene.time_range


def restore(scene: Scene, state) -> None:
    """Put a snapshot back."""
    scene.background, objects, scene.time_range = state
    scene.objects = dict(objects)


def run(scene: Scene, record: dict):
    """Run the journal entry `record` on `scene` (in place); returns the snapshot from before it.
    A failed edit leaves the scene as it was."""
    fn = OPERATIONS[record["op"]]
    before = snapshot(scene)
    try:
        fn(scene, **record["args"])
    except TypeError as exc:  # wrong or missing argument names
        restore(scene, before)
        raise InvalidArgumentError(f"edit {record['op']!r}: {exc}; see help(scenegen.edit.ops.{fn.__name__})") from None
    except BaseException:
        restore(scene, before)  # a failed edit leaves the scene as it was
        raise
    return before


__all__ = ["entry", "run", "snapshot", "restore"]
