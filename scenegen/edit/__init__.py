"""Editing a Scene: operations (move, turn, scale, keyframe, retime, duplicate, delete, split,
merge, tint, recolour, hide, insert a mesh, simulate physics), selections, undo/redo and the
journal of edits.

    session = EditSession(scene)
    session.translate("box", [0.1, 0, 0]).rotate("box", [0, 0, 1], 90)
    session.undo()
"""

from .ops import OPERATIONS, object_centre
from .physics import collision_hull, ground_plane, simulate
from .select import Selection, by_id, in_box, in_sphere, object_at, split_selection, where
from .session import EditSession, apply, redo, replay, session_of, undo
from .history import entry

__all__ = ["EditSession", "OPERATIONS", "Selection", "apply", "by_id", "collision_hull", "entry", "ground_plane", "in_box",
           "in_sphere", "object_at", "object_centre", "redo", "replay", "session_of", "simulate", "split_selection", "undo", "where"]
