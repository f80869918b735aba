"""Selecting what to edit: objects by name, id or pixel; Gaussians by box, sphere or predicate.

Gaussian selections are a dict {object name: indices [M] (long) into that object's Gaussians},
taken where the objects stand at time t (default: the start of the scene). Pass one to
`Scene.split` (via `split_selection`) to make it an object of its own.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..errors import InvalidArgumentError
from ..gaussians import Gaussians
from ..scene import Scene
from ..render.picking import object_at
from .ops import get_object, number, vector
from .session import session_of

Selection = dict[str, Tensor]


def by_id(scene: Scene, object_id: int) -> str:
    """The name of the object with id `object_id` (0 is the background, as in render_object_ids)."""
    names = scene.object_names
    if isinstance(object_id, bool) or not isinstance(object_id, int) or not 0 <= object_id < len(names):
        raise InvalidArgumentError(f"object id must be an integer in 0..{len(names) - 1}, got {object_id!r}")
    return names[object_id]


def where(scene: Scene, predicate: Callable[[Gaussians], Tensor], t: float | None = None, objects=None) -> Selection:
    """Gaussians for which `predicate` (world-space Gaussians -> [N] bool) holds, per object."""
    t = scene.time_range[0] if t is None else number(t, "t")
    names = [o.name for o in scene.all_objects()] if objects is None else list(objects)
    out = {}
    for name in names:
        obj = get_object(scene, name)
        if len(obj.gaussians) == 0:
            continue
        keep = torch.as_tensor(predicate(obj.gaussians_at(t)))
        if keep.shape != (len(obj.gaussians),) or keep.dtype != torch.bool:
            raise InvalidArgumentError(f"the predicate must return [N] booleans, one per Gaussian; got {keep.dtype} {list(keep.shape)}")
        idx = keep.nonzero().squeeze(1)
        if len(idx):
            out[name] = idx
    return out


def in_box(scene: Scene, lo, hi, t: float | None = None, objects=None) -> Selection:
    """Gaussians whose centres lie in the world box lo..hi [3] at time t."""
    lo, hi = vector(lo, "lo").float(), vector(hi, "hi").float()
    if (lo > hi).any():
        raise InvalidArgumentError(f"the box needs lo <= hi on every axis, got lo={lo.tolist()} hi={hi.tolist()}")
    return where(scene, lambda g: ((g.means >= lo) & (g.means <= hi)).all(1), t, objects)


def in_sphere(scene: Scene, centre, radius: float, t: float | None = None, objects=None) -> Selection:
    """Gaussians whose centres lie within `radius` of `centre` [3] at time t."""
    c, r = vector(centre, "centre").float(), number(radius, "radius", positive=True)
    return where(scene, lambda g: (g.means - c).norm(dim=1) <= r, t, objects)


def split_selection(scene, selection: Selection, name: str) -> Scene:
    """Make the selected Gaussians (all in one object) a new object `name`, journaled and
    undoable in `scene`'s own session (or in the EditSession given instead of a scene)."""
    if not isinstance(selection, dict) or not selection:
        raise InvalidArgumentError("the selection is empty: nothing to split")
    if len(selection) > 1:
        raise InvalidArgumentError(f"the selection spans {sorted(selection)}; split from one object at a time "
                                   "(pass objects=[name] when selecting)")
    (source, idx), = selection.items()
    return session_of(scene).split(source, idx, name).scene


__all__ = ["Selection", "by_id", "object_at", "where", "in_box", "in_sphere", "split_selection"]
