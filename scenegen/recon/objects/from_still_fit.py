"""Objects without masks: instance masks of what moves, from what a still fit cannot explain.

A still (static) fit of a timed capture keeps what stays put: the room, the table, still objects.
A moving object is somewhere else most of the time, so the still fit mostly shows what is behind
its path, and in each frame the object stands out of the fit's render as a blob of residual where
it is at that instant. An object that turns on the spot stands out too, since the fit blurs its
orientations together. The residual (largest channel's absolute difference), box-filtered over a
few percent of the image's width, is thresholded at a few times its median over the image (the
fit's own noise level, so the threshold adapts to how well the rest is fitted); regions thinner
than the filter are opened away, holes filled, and each region replaced by the convex hull of
its own pixels over the threshold (the filter spreads it past the object's outline). With
shadows left out, the pixels where the frame is the fit's render darkened alike in every
channel are set aside first: a shadow the object casts moves with it but is not of it, and
joined to it, it pulls the object's mask (and so its track) onto the floor; split off, it starts
a track of its own or takes the object's (the change detectors of background subtraction test
shadows the same way, by brightness ratio and colour distortion). This is off by default
(TrainConfig.motion_mask_shadows): a dull object over a surface of its own hue, a grey backpack
over grey stairs, is that surface darkened too, and is then not found.

Regions are linked over time into tracks: a region joins the track whose region in one of the
few views just before covers it most (nearby views see an object in nearly the same place), else
the track whose last 3D centre (the region's centroid ray at the fit's median depth there) is
within a few of its radii, else starts a track. Tracks that end where another starts (in 3D) are
joined. A track keeps the regions that show its object whole (not cut by the border, not much
smaller than its usual size: a partial region would pull the object's centre off; nor much
larger: that is the object joined to something beside it that stood out too); tracks seen
whole in enough of the views become the objects, and their regions the instance masks that
recon/object_trainer.py then trains as rigid bodies, as it does user-supplied masks. A track's
regions cut by the border or much smaller are kept apart as its parts (masks.json "parts"), as
the half of a resting object that the still fit did not explain; the much larger are dropped.
The parts place nothing (no centroid ray, no hull), but the object must cover them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ...camera import Camera
from ...common.atomic import atomic_path, atomic_write_bytes
from ...common.points import support_plane
from ...scene import Scene
from ..trainer import Trainer
from .masks import ObjectMasks

MASKS_FOLDER = "motion_masks"
SMOOTH_SHARE = 0.04  # the residual's box filter, as a share of the image's width
CONTRAST = 3.0  # the threshold, over the filtered residual's median
MIN_THRESHOLD = 0.05  # and at least this colour difference
SHADOW_DARKEST = 0.5  # a shadow darkens what is under it to no less than this share
MAX_GROWTH = 1.15  # a track's region over this times its neighbours' median radius is joined to something


@dataclass
class Region:
    view: int
    time: float
    pixels: Tensor  # [H, W] bool
    centre: Tensor  # [3] world
    radius: float  # world units


def blurred(image: Tensor, width: int) -> Tensor:
    """[H, W] box filter of odd width >= 1 (edges averaged over the pixels inside)."""
    k = max(1, width) | 1
    return torch.nn.functional.avg_pool2d(image[None, None], k, stride=1, padding=k // 2, count_include_pad=False)[0, 0]


def regions_of(change: Tensor, *, threshold: float, smooth: int, min_area: int, min_share_inside: float = 0.1) -> list[Tensor]:
    """Connected regions ([H, W] bool each, largest first before the hulls) where the change map,
    box-filtered over `smooth` pixels, exceeds `threshold`: opened by a little over half that
    width (a seam between surfaces, which the filter widens to its own width, goes), closed,
    filled, and those under `min_area` pixels dropped. Each is replaced by the convex hull (a patchy object is
    whole) of its pixels whose own change exceeds the threshold, less specks, or where those are
    under `min_share_inside` of it, of all of it."""
    from scipy import ndimage

    k = max(1, smooth) | 1
    on = ndimage.binary_opening(blurred(change, k).numpy() > threshold, iterations=k // 2 + 1)
    on = ndimage.binary_fill_holes(ndimage.binary_closing(on, iterations=max(1, k // 2)))
    labels, count = ndimage.label(on)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    order = [int(i) for i in np.argsort(-sizes[1:]) + 1 if sizes[i] >= min_area]
    # The filter spreads a region by up to half its width past the object's outline: the hull is
    # of the region's own pixels over the threshold (less specks), where there are enough of them.
    core = ndimage.binary_opening(change.numpy() > threshold)
    regions = []
    for i in order:
        region = labels == i
        inside = region & core
        regions.append(convex_hull(torch.from_numpy(inside if inside.sum() >= min_share_inside * sizes[i] else region)))
    return regions


def convex_hull(pixels: Tensor) -> Tensor:
    """[H, W] bool: the pixels whose centres lie in the convex hull of the region's pixels."""
    from scipy.spatial import ConvexHull, QhullError

    vs, us = pixels.nonzero(as_tuple=True)
    points = torch.stack([us, vs], 1).double()
    try:
        hull = ConvexHull(points.numpy())
    except (QhullError, ValueError):  # a line of pixels, or too few
        return pixels
    lo, hi = points.amin(0).long(), points.amax(0).long()
    gv, gu = torch.meshgrid(torch.arange(int(lo[1]), int(hi[1]) + 1), torch.arange(int(lo[0]), int(hi[0]) + 1), indexing="ij")
    grid = torch.stack([gu.reshape(-1), gv.reshape(-1)], 1).double()
    eq = torch.from_numpy(hull.equations)  # [F, 3]: normal . p + offset <= 0 inside
    inside = (grid @ eq[:, :2].T + eq[:, 2]).amax(1) <= 1e-9
    out = pixels.clone()
    out[gv.reshape(-1)[inside], gu.reshape(-1)[inside]] = True
    return out


def lift(pixels: Tensor, depth: Tensor, camera: Camera) -> tuple[Tensor, float] | None:
    """The region's 3D centre (its centroid's ray at its median depth) and radius; None when
    nothing was rendered under it."""
    vs, us = pixels.nonzero(as_tuple=True)
    d = depth[vs, us]
    d = d[d > 0]
    if len(d) == 0:
        return None
    z = float(d.median())
    centre = camera.position.double() + z * camera.pixel_rays(us.double().mean() + 0.5, vs.double().mean() + 0.5)
    return centre, math.sqrt(len(vs) / math.pi) / camera.fx * z


def _overlap(a: Tensor, b: Tensor, grow: int) -> float:
    """Share of the smaller region that the other one, grown by `grow` pixels, covers."""
    from scipy import ndimage

    if a.shape != b.shape:
        return 0.0
    grown = torch.from_numpy(ndimage.binary_dilation(b.numpy(), iterations=max(1, grow)))
    return int((a & grown).sum()) / max(1, min(int(a.sum()), int(b.sum())))


def _near(a: Region, b: Region, reach: float, max_size_ratio: float = 2.5) -> float:
    """3D distance of the two regions' centres when within `reach` of their larger radius and
    their sizes alike (radii within `max_size_ratio`), else inf."""
    d = float((a.centre - b.centre).norm())
    alike = max(a.radius, b.radius) <= max_size_ratio * max(min(a.radius, b.radius), 1e-12)
    return d if alike and d <= reach * max(a.radius, b.radius) else math.inf


def link(regions: list[Region], *, reach: float = 2.0, min_overlap: float = 0.3, grow: int = 3, recent: int = 4) -> list[list[Region]]:
    """Regions grouped into tracks over time, longest first (see the module doc). min_overlap and
    grow: how much of a region the last one (grown by `grow` pixels) must cover, in one of the
    `recent` views before; reach: in 3D, how many radii apart a region may be from a track's end."""
    tracks: list[list[Region]] = []
    by_time: dict[float, list[Region]] = {}
    for r in regions:
        by_time.setdefault(r.time, []).append(r)
    times = sorted(by_time)
    for n, t in enumerate(times):
        taken: set[int] = set()
        window = set(times[max(0, n - recent):n])
        for r in sorted(by_time[t], key=lambda r: -int(r.pixels.sum())):
            free = [k for k in range(len(tracks)) if k not in taken and tracks[k][-1].time != t]
            scores = {k: _overlap(r.pixels, tracks[k][-1].pixels, grow) for k in free if tracks[k][-1].time in window}
            best = max((k for k in scores if scores[k] >= min_overlap), key=scores.get, default=None)
            if best is None:
                dists = {k: _near(r, tracks[k][-1], reach) for k in free}
                best = min((k for k in dists if dists[k] < math.inf), key=dists.get, default=None)
            if best is None:
                tracks.append([r])
                best = len(tracks) - 1
            else:
                tracks[best].append(r)
            taken.add(best)
    return _join(tracks, reach)


def _join(tracks: list[list[Region]], reach: float) -> list[list[Region]]:
    """Tracks joined end to start when one ends before the other starts, near where it starts."""
    tracks = sorted(tracks, key=lambda tr: tr[0].time)
    joined = True
    while joined:
        joined = False
        for a in tracks:
            later = [b for b in tracks if b is not a and b[0].time > a[-1].time and _near(a[-1], b[0], reach) < math.inf]
            if later:
                b = min(later, key=lambda b: (b[0].time, _near(a[-1], b[0], reach)))
                a.extend(b)
                tracks.remove(b)
                joined = True
                break
    return sorted(tracks, key=len, reverse=True)


def residual_threshold(residual: Tensor, smooth_share: float = SMOOTH_SHARE, contrast: float = CONTRAST,
                       min_threshold: float = MIN_THRESHOLD) -> tuple[int, float]:
    """(filter width in pixels, threshold) for a residual image [H, W]: the width is
    `smooth_share` of the image's, the threshold `contrast` times the filtered residual's median,
    at least `min_threshold`."""
    smooth = max(1, round(smooth_share * residual.shape[1]))
    return smooth, max(min_threshold, contrast * float(blurred(residual, smooth).median()))


class StillTrainer(Trainer):
    """A static fit whose loss, after the first third of its steps, leaves out the pixels it
    cannot explain (filtered residual over residual_threshold), so what moves is not baked into
    the still fit as a faint ghost where it rested."""

    coarse_to_fine = False  # its pixel weights and silhouettes are at the training resolution

    def pixel_weights(self, i: int, rgb: Tensor) -> Tensor | None:
        if self.step <= self.cfg.steps // 3:
            return None
        residual = (rgb.detach() - self.images[i]).abs().amax(-1)
        smooth, threshold = residual_threshold(residual)
        return (blurred(residual, smooth) <= threshold).to(rgb.dtype)


def shadow_pixels(render: Tensor, image: Tensor, threshold: float, darkest: float = SHADOW_DARKEST) -> Tensor:
    """[H, W] bool: the pixels where `image` is `render` ([H, W, 3] each) darkened, by a factor
    from `darkest` to 1, and otherwise within `threshold`/2 of it in every channel: a shadow cast
    on what the still fit shows, not something in front of it."""
    scale = (image * render).sum(-1) / (render * render).sum(-1).clamp_min(1e-6)
    off = (image - scale[..., None] * render).abs().amax(-1)
    return (scale >= darkest) & (scale < 1.0) & (off <= threshold / 2)


def residual_regions(scene: Scene, camera: Camera, image: Tensor, t: float, *, smooth_share: float = SMOOTH_SHARE,
                     contrast: float = CONTRAST, min_threshold: float = MIN_THRESHOLD, min_area_share: float = 0.002,
                     shadows: bool = False) -> list[Region]:
    """The regions of one view (`image` [H, W, 3] taken by `camera` at time t) that `scene` (a
    still fit) cannot explain (see the module doc). smooth_share: the filter's width as a share of
    the image's; contrast: the threshold over the filtered residual's median (at least
    `min_threshold`); min_area_share: the smallest region as a share of the image; shadows: leave
    out the pixels where the view is the fit's render darkened (shadow_pixels)."""
    with torch.no_grad():
        out = scene.render(camera, t)
    residual = (out.rgb[0] - image).abs().amax(-1)
    h, w = residual.shape
    smooth, threshold = residual_threshold(residual, smooth_share, contrast, min_threshold)
    if shadows:
        residual = residual.masked_fill(shadow_pixels(out.rgb[0], image, threshold), 0.0)
    found = []
    for pixels in regions_of(residual, threshold=threshold, smooth=smooth, min_area=max(4, round(min_area_share * h * w))):
        lifted = lift(pixels, out.depth[0, ..., 0], camera)
        if lifted is not None:
            found.append(Region(-1, t, pixels, *lifted))
    return found


def whole_and_parts(track: list[Region], min_size_share: float = 0.6, max_growth: float = MAX_GROWTH,
                    neighbours: int = 4) -> tuple[list[Region], list[Region]]:
    """(whole, parts) of a track's regions (in time order). A rigid object keeps about its size,
    and over a few views it keeps it closely. parts: the regions cut by the image's border or
    under `min_size_share` of the track's median radius (the part of the object that stood out,
    which would pull its mask off centre). whole: the others, but those over `max_growth` times
    the median radius of their `neighbours` such regions on each side, which are the object
    joined to something beside it that stood out too (a shadow, a fault of the still fit): in
    neither. A run of more than `neighbours` such views in a row passes (its median grows too)."""
    from statistics import median

    radius = median(r.radius for r in track)

    def cut(r: Region) -> bool:
        rows, cols = r.pixels.any(1), r.pixels.any(0)
        return bool(rows[0] or rows[-1] or cols[0] or cols[-1])

    full = [r for r in track if not cut(r) and r.radius >= min_size_share * radius]
    whole = [r for n, r in enumerate(full)
             if len(full) == 1
             or r.radius <= max_growth * median(q.radius for q in full[max(0, n - neighbours):n] + full[n + 1:n + 1 + neighbours])]
    shown = {id(r) for r in full}
    return whole, [r for r in track if id(r) not in shown]


def change_masks(scene: Scene, cameras, images, times, **options) -> list[Tensor | None]:
    """Instance masks ([H, W] uint8: 0 the background, 1.. the moving objects, most seen first) of
    each view (images[i] taken by cameras[i] at times[i]) against a still fit `scene`, None for
    the views where nothing moves; the first of change_masks_and_parts's results."""
    return change_masks_and_parts(scene, cameras, images, times, **options)[0]


def change_masks_and_parts(scene: Scene, cameras, images, times, *, min_views_share: float = 0.3, min_size_share: float = 0.6,
                           max_growth: float = MAX_GROWTH, max_objects: int = 8, progress: bool = False,
                           **options) -> tuple[list[Tensor | None], list[Tensor | None]]:
    """(masks, parts) of each view against a still fit `scene`, as [H, W] uint8 (0 the background,
    1.. the moving objects, most seen first) or None where there is nothing. masks: the regions
    that show an object whole; parts: the regions linked to its track that are cut by the border
    or much smaller (the part of a resting object that stood out), which are of the object but
    not all of it (those grown past their neighbours are in neither, see whole_and_parts).
    min_views_share: the share of the views a track must be seen whole in to become an object;
    min_size_share, max_growth: see whole_and_parts; options: residual_regions's."""
    from ...common.progress import track

    found: list[Region] = []
    for i in track(range(len(cameras)), description="finding what moves", enabled=progress):
        for r in residual_regions(scene, cameras[i], images[i], float(times[i]), **options):
            r.view = i
            found.append(r)
    grow = max(1, round(options.get("smooth_share", SMOOTH_SHARE) * (images[0].shape[1] if len(images) else 1)))
    tracks = [whole_and_parts(tr, min_size_share, max_growth) for tr in link(found, grow=grow)]
    tracks = sorted((tr for tr in tracks if len(tr[0]) >= max(3, min_views_share * len(cameras))), key=lambda tr: len(tr[0]),
                    reverse=True)[:max_objects]
    masks: list[Tensor | None] = [None] * len(cameras)
    parts: list[Tensor | None] = [None] * len(cameras)
    for value, (whole, pieces) in enumerate(tracks, start=1):
        for r, into in [(r, masks) for r in whole] + [(r, parts) for r in pieces]:
            if into[r.view] is None:
                into[r.view] = torch.zeros(r.pixels.shape, dtype=torch.uint8)
            into[r.view][r.pixels & (into[r.view] == 0)] = value
    return masks, parts


def masks_from_still_fit(dataset, config, folder, *, progress: bool = True, reuse: bool = False, still_share: float = 1 / 3):
    """ObjectMasks of `dataset`'s moving objects (see the module doc), or None when nothing
    moves. A still fit with `still_share` of config's steps is trained first; the masks
    of its training views are written to `folder` as PNGs, listed in folder/masks.json with the
    supporting plane; with `reuse`, masks already listed there are read instead."""
    import json
    from dataclasses import replace

    import imageio.v3 as iio

    folder = Path(folder)
    index = folder / "masks.json"
    if not (reuse and index.is_file()):
        # The still fit is a probe, not the result: no opacity penalty, so what it cannot explain
        # is left for the masks as it is (with the penalty, the box trained from the masks of a
        # 24-frame 128x96 clip followed 45% of its slide instead of more than half).
        probe = replace(config, motion="static", steps=max(1, round(still_share * config.steps)), checkpoint_every=0, opacity_l1=0.0)
        still = StillTrainer(dataset, probe)
        still.run(progress=progress)
        scene = still.make_scene({})
        views = [int(still.view_indices[i]) for i in still.indices]
        masks, parts = change_masks_and_parts(scene, still.cameras, [img.cpu() for img in still.images], still.train_ds.times[still.indices], progress=progress,
                                              shadows=config.motion_mask_shadows)
        files, part_files = {}, {}
        for view, mask, part in zip(views, masks, parts):
            for image, suffix, listed in ((mask, "", files), (part, "_parts", part_files)):
                if image is not None:
                    name = f"{view:05d}{suffix}.png"
                    with atomic_path(folder / name) as tmp:
                        iio.imwrite(tmp, image.numpy(), extension=".png")
                    listed[str(view)] = name
        values = sorted({int(v) for m in masks if m is not None for v in torch.unique(m).tolist()} - {0})
        plane = support_plane(scene) if values else None
        plane = None if plane is None else [*plane[0].tolist(), plane[1]]
        listing = {"views": files, "parts": part_files, "objects": values, "support_plane": plane}
        atomic_write_bytes(index, json.dumps(listing, indent=1).encode())
    listing = json.loads(index.read_text())
    if not listing["objects"]:
        return None
    paths = [None] * len(dataset)
    for view, name in listing["views"].items():
        paths[int(view)] = folder / name
    parts = [None] * len(dataset)
    for view, name in listing.get("parts", {}).items():
        parts[int(view)] = folder / name
    plane = listing.get("support_plane")
    return ObjectMasks(tuple(paths), {int(v): f"moving_{v}" for v in listing["objects"]}, "motion", tuple(parts),
                       None if plane is None else (plane[:3], plane[3]))


__all__ = ["masks_from_still_fit", "change_masks", "change_masks_and_parts", "residual_regions", "regions_of", "convex_hull", "lift",
           "link", "whole_and_parts", "shadow_pixels", "Region"]
