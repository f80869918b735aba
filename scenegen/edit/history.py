"""Undo, redo and the journal of edits.

`apply(scene, op, **args)` runs one operation (scenegen/edit/ops.py) and records it twice:
- in the journal, `scene.history`: a list of {"op": name, "args": {...}} in plain JSON, saved
  with the scene; `replay(original, journal)` applies it to the scene as it was before the
  first edit and gives the edited scene exactly (the operation ran from the very JSON values
  that were recorded);
- on the undo stack: the scene's objects as they were before the edit. Operations replace
  objects rather than change them, so undo restores the previous objects themselves, exactly,
  at no cost in memory beyond the objects the edit replaced.

Undo moves the last entry of the journal to the redo stack; redo applies it again; a new edit
clears the redo stack.
"""

from __future__ import annotations

import json
import math

from ..errors import InvalidArgumentError
from ..scene import Scene
from .ops import OPERATIONS


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
    if op not in OPERATIONS:
        raise InvalidArgumentError(f"unknown edit {op!r}; the edits are: {', '.join(sorted(OPERATIONS))}")
    args = _plain(dict(args), f"edit {op!r}")
    if op == "insert_mesh" and args.get("sha256") is None and "path" in args:
        from pathlib import Path

        from .insert import file_digest

        if Path(args["path"]).is_file():
            args["sha256"] = file_digest(args["path"])  # a replay later refuses a changed file
    return json.loads(json.dumps({"op": op, "args": args}, allow_nan=False))


def _state(scene: Scene):
    return scene.background, dict(scene.objects), scene.time_range


def _restore(scene: Scene, state):
    scene.background, objects, scene.time_range = state
    scene.objects = dict(objects)


def _run(scene: Scene, record: dict):
    fn = OPERATIONS[record["op"]]
    before = _state(scene)
    try:
        fn(scene, **record["args"])
    except TypeError as exc:  # wrong or missing argument names
        _restore(scene, before)
        raise InvalidArgumentError(f"edit {record['op']!r}: {exc}; see help(scenegen.edit.ops.{fn.__name__})") from None
    except BaseException:
        _restore(scene, before)  # a failed edit leaves the scene as it was
        raise
    return before


def apply(scene: Scene, op: str, **args) -> Scene:
    """Run edit `op` on `scene` (in place), journal it and make it undoable; returns the scene."""
    record = entry(op, args)
    before = _run(scene, record)
    scene.history.append(record)
    scene._undo.append(before)
    scene._redo.clear()
    return scene


def undo(scene: Scene) -> dict | None:
    """Undo the last edit made in this session; returns its journal entry (None: nothing to undo)."""
    if not scene._undo:
        return None
    state = _state(scene)
    _restore(scene, scene._undo.pop())
    record = scene.history.pop()
    scene._redo.append((record, state))
    return record


def redo(scene: Scene) -> dict | None:
    """Redo the last undone edit; returns its journal entry (None: nothing to redo)."""
    if not scene._redo:
        return None
    record, state = scene._redo.pop()
    scene._undo.append(_state(scene))
    _restore(scene, state)
    scene.history.append(record)
    return record


def replay(scene: Scene, journal: list[dict]) -> Scene:
    """Apply the journal's edits, in order, to `scene` (in place, each journaled again)."""
    if not isinstance(journal, list):
        raise InvalidArgumentError(f"a journal must be a list of edits, got {type(journal).__name__}")
    for n, record in enumerate(journal):
        if not isinstance(record, dict) or not isinstance(record.get("op"), str) or not isinstance(record.get("args", {}), dict):
            raise InvalidArgumentError(f"journal entry {n} must be {{\"op\": name, \"args\": {{...}}}}, got {str(record)[:80]!r}")
        apply(scene, record["op"], **record.get("args", {}))
    return scene


__all__ = ["apply", "undo", "redo", "replay", "entry"]
