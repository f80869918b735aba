"""Editing a Scene: operations (move, turn, scale, keyframe, retime, duplicate, delete, split,
merge, tint, recolour, hide, insert a mesh, simulate physics), selections, undo/redo and the journal of edits.

Every edit is also a method of Scene (`scene.translate("box", [0.1, 0, 0])`, `scene.undo()`).
"""

from .history import apply, entry, redo, replay, undo
from .ops import OPERATIONS, object_centre
from .physics import collision_hull, ground_plane, simulate
from .select import Selection, by_id, in_box, in_sphere, object_at, split_selection, where

__all__ = ["OPERATIONS", "Selection", "apply", "by_id", "collision_hull", "ground_plane", "simulate", "entry", "in_box", "in_sphere", "object_at", "object_centre", "redo",
           "replay", "split_selection", "undo", "where"]
