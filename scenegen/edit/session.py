"""EditSession: editing one scene, with undo and redo.

    session = EditSession(scene)
    session.translate("box", [0.1, 0, 0])
    session.duplicate("box", "box_2", offset=[0, 0.3, 0])
    session.undo()

Every operation registered in OPERATIONS (edit/ops.py, edit/physics.py) is a method of the
session, made from the registry with the operation's own signature (less the scene), so the two
cannot drift. A method runs the operation on the scene in place, records it in the scene's
journal (`scene.history`, saved with the scene, see edit/history.py) and on the session's undo
stack; undo moves the last journal entry to the redo stack, redo applies it again, and a new edit
clears the redo stack. The scene holds its journal; the session holds the stacks.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Callable

from ..camera import Camera
from ..errors import InvalidArgumentError
from ..render.picking import object_at
from ..scene import Scene
from . import physics  # noqa: F401  (registers "simulate")
from .history import entry, restore, run, snapshot
from .ops import OPERATIONS, RENAMED


class EditSession:
    """Edits of one Scene with this session's undo and redo (see the module doc)."""

    def __init__(self, scene: Scene):
        if not isinstance(scene, Scene):
            raise InvalidArgumentError(f"EditSession needs a scenegen.Scene, got {type(scene).__name__}")
        self.scene = scene
        self._undo: list = []
        self._redo: list = []

    def apply(self, op: str, **args) -> "EditSession":
        """Run edit `op` (a name in OPERATIONS) with `args` on the scene, journal it and make it
        undoable; returns the session, so edits chain."""
        record = entry(op, args)
        before = run(self.scene, record)
        self.scene.history.append(record)
        self._undo.append(before)
        self._redo.clear()
        return self

    def undo(self) -> dict | None:
        """Undo the last edit of this session; returns its journal entry (None: nothing to undo)."""
        if not self._undo:
            return None
        state = snapshot(self.scene)
        restore(self.scene, self._undo.pop())
        record = self.scene.history.pop()
        self._redo.append((record, state))
        return record

    def redo(self) -> dict | None:
        """Redo the last undone edit; returns its journal entry (None: nothing to redo)."""
        if not self._redo:
            return None
        record, state = self._redo.pop()
        self._undo.append(snapshot(self.scene))
        restore(self.scene, state)
        self.scene.history.append(record)
        return record

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def replay(self, journal: list[dict]) -> Scene:
        """Apply the journal's edits, in order (each journaled again and undoable)."""
        if not isinstance(journal, list):
            raise InvalidArgumentError(f"a journal must be a list of edits, got {type(journal).__name__}")
        for n, record in enumerate(journal):
            if not isinstance(record, dict) or not isinstance(record.get("op"), str) or not isinstance(record.get("args", {}), dict):
                raise InvalidArgumentError(f"journal entry {n} must be {{\"op\": name, \"args\": {{...}}}}, got {str(record)[:80]!r}")
            self.apply(record["op"], **record.get("args", {}))
        return self.scene

    def object_at(self, camera: Camera, u: float, v: float, t: float | None = None, *, backend: str = "auto") -> str | None:
        """The name of the object seen at pixel (u, v) of `camera` at time t (what a click in the
        viewer picks), None where nothing is drawn."""
        return object_at(self.scene, camera, u, v, t, backend=backend)

    def __getattr__(self, name: str):
        name = RENAMED.get(name, name) if name in RENAMED and RENAMED[name] in OPERATIONS else name
        if name in OPERATIONS and not name.startswith("_"):  # registered after this module was read
            return _operation_method(name, OPERATIONS[name]).__get__(self)
        raise AttributeError(f"EditSession has no attribute {name!r}; the edits are: {', '.join(sorted(OPERATIONS))}")

    def __repr__(self) -> str:
        return f"EditSession({self.scene!r}, {len(self._undo)} to undo, {len(self._redo)} to redo)"


def _operation_method(name: str, fn: Callable) -> Callable:
    """The session method of operation `name`: fn's signature without the scene, calling apply."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())[1:]
    plain = inspect.Signature(params)

    def method(self: EditSession, *args, **kwargs) -> EditSession:
        try:
            bound = plain.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArgumentError(f"edit {name!r}: {exc}; see help(EditSession.{name})") from None
        return self.apply(name, **bound.arguments)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = fn.__doc__
    method.__signature__ = inspect.Signature([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *params],
                                             return_annotation="EditSession")
    return method


for _name, _fn in OPERATIONS.items():
    if not hasattr(EditSession, _name):
        setattr(EditSession, _name, _operation_method(_name, _fn))


_SESSIONS: "weakref.WeakKeyDictionary[Scene, EditSession]" = weakref.WeakKeyDictionary()


def session_of(scene: Scene) -> EditSession:
    """The scene's own session, made on first use: the one the module-level apply, undo and redo
    (and the deprecated Scene methods) share, so they undo each other's edits."""
    if isinstance(scene, EditSession):
        return scene
    if not isinstance(scene, Scene):
        raise InvalidArgumentError(f"expected a scenegen.Scene or EditSession, got {type(scene).__name__}")
    if scene not in _SESSIONS:
        _SESSIONS[scene] = EditSession(scene)
    return _SESSIONS[scene]


def apply(scene: Scene, op: str, **args) -> Scene:
    """Run edit `op` on `scene` (in place) through its own session; returns the scene."""
    return session_of(scene).apply(op, **args).scene


def undo(scene: Scene) -> dict | None:
    """Undo the last edit made through the scene's own session (see session_of)."""
    return session_of(scene).undo()


def redo(scene: Scene) -> dict | None:
    """Redo the last edit undone through the scene's own session."""
    return session_of(scene).redo()


def replay(scene: Scene, journal: list[dict]) -> Scene:
    """Apply the journal's edits, in order, to `scene` (in place, each journaled again)."""
    return session_of(scene).replay(journal)


__all__ = ["EditSession", "session_of", "apply", "undo", "redo", "replay"]
