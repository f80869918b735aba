"""`find_objects`: the one front door that splits a trained scene into objects, by the method
asked for (see the package doc)."""

from __future__ import annotations

import logging

from ...data.dataset import Dataset
from ...errors import InvalidArgumentError
from ...scene import Scene
from ..config import OBJECT_METHODS
from .labels import clean_labels, labels_from_masks
from .split import split_objects

log = logging.getLogger("scenegen.segment")
METHODS = OBJECT_METHODS


def _mask_names(dataset: Dataset | None) -> dict[int, str]:
    names = (dataset.metadata or {}).get("mask_names", {}) if dataset is not None else {}
    return {int(k): str(v) for k, v in names.items() if str(k).isdigit() and int(k) > 0}


def find_objects(scene: Scene, dataset: Dataset | None = None, method: str = "auto") -> Scene:
    """The scene split into objects. method: "masks" (the dataset's instance masks), "motion"
    (Gaussians that move together; needs a dynamic scene), "geometry" (clusters on the supporting
    plane), "none", or "auto": masks when the dataset has them, else motion for a dynamic scene,
    else geometry. Scenes that already have objects are returned unchanged, except that with "auto"
    a scene whose objects were all found from motion also gets the still objects standing on its
    supporting plane (geometry, on the background)."""
    if method not in METHODS:
        raise InvalidArgumentError(f"unknown object method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "none" or len(scene.background.gaussians) == 0:
        return scene
    if scene.objects:
        if method == "auto" and all(o.metadata.get("source") == "motion" for o in scene.objects.values()):
            from .from_geometry import plane_labels

            labels = plane_labels(scene)
            return split_objects(scene, labels, {i: f"still_{i}" for i in range(1, int(labels.max()) + 1)}, source="geometry")
        return scene
    if method == "auto":
        if dataset is not None and dataset.mask_paths is not None:
            method = "masks"
        elif scene.background.motion is not None:
            method = "motion"
        else:
            method = "geometry"
    means = scene.background.gaussians.means.detach()
    if method == "masks":
        if dataset is None:
            raise InvalidArgumentError("find_objects: method='masks' needs the dataset that holds the masks")
        views = [i for i, p in enumerate(dataset.mask_paths) if p is not None]
        labels = clean_labels(means, labels_from_masks(scene, dataset, views=views))
        names = _mask_names(dataset) or {v: f"object_{i}" for i, v in enumerate(sorted(set(labels.tolist()) - {0}), start=1)}
        return split_objects(scene, labels, names, source="masks")
    if method == "motion":
        from .from_motion import motion_labels

        if scene.background.motion is None:
            raise InvalidArgumentError("find_objects: method='motion' needs a scene trained with motion (a timed dataset)")
        labels = motion_labels(scene)
        return split_objects(scene, labels, {i: f"moving_{i}" for i in range(1, int(labels.max()) + 1)}, source="motion")
    from .from_geometry import plane_labels

    labels = plane_labels(scene)
    return split_objects(scene, labels, source="geometry")


def describe_objects(scene: Scene) -> str:
    """One line naming the scene's objects, their sizes and where they came from."""
    parts = [f"{name} ({o.metadata.get('gaussians', len(o.gaussians))} Gaussians{', moving' if len(o.track) > 1 else ''})"
             for name, o in scene.objects.items()]
    sources = " and ".join(sorted({o.metadata.get("source", "labels") for o in scene.objects.values()}))
    return f"{len(parts)} object(s) from {sources}: " + ", ".join(parts) if parts else "no objects"


__all__ = ["describe_objects", "find_objects", "METHODS"]
