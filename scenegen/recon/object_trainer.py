"""Objects as rigid bodies while training: a timed dataset with instance masks trains each masked
object as its own set of Gaussians moved by its own rigid motion, next to a background with
per-Gaussian motion.

Why: from one moving camera, a large motion learned Gaussian by Gaussian smears (a static fit
first places copies of the object all along its path, and each copy then fades in and out rather
than travels). An object's pixels all pull on the same six numbers per instant instead, and the
masks say where the object is before any training:

- Path from masks (`mask_path`): in every masked view the object's mask centroid defines a ray
  from the camera. An object whose rays mostly pass near one point (three quarters of them within
  a fifth of its radius) stays there: it is still, or turns on the spot. Otherwise its centre follows keyframes
  (linearly interpolated) that minimise, by least squares, the distances to the rays, plus its
  depth along each ray against its radius over the mask's angular radius (the radius one more
  unknown; the mask area is a weak depth cue), plus the keyframes' steps in L1 (reweighted least
  squares): objects rest between motions. The rays alone leave open how far the path lies from
  the moving camera, since a path scaled about the camera's projects to the same centroids; the
  prior that the object rests when it can settles it, from the instants it is still. Masks found
  from motion (recon/objects/from_still_fit.py) bring the supporting plane of their still fit: in each
  view the object then also stands where its mask's bottom meets the plane (a depth along its
  ray), and their areas, which are what stood out rather than the object's outline, give no
  size cue.
- Its turn: gradient descent does not find a large turn from an unturned start (the object's
  Gaussians first fit a blur of its orientations), so each object's steady spin about the up
  axis is searched for first, from its masks and colours (recon/objects/spin.py): most objects
  come out unturned, and one that turns starts turning at that rate.
- Each object starts as its visual hull under that spin (Gaussians on the hull's voxels; a ball
  of its size when the hull is too small), with the colour under its mask; the background's
  random start leaves the volume the objects sweep.
- Its pose: keyframes (one per two capture instants), linearly interpolated, so a path that
  starts and stops is followed; they start on the triangulated path, turned by the spin found,
  and are trained with the Gaussians. A silhouette loss (each object rendered alone, white on
  black, against its mask) pulls each pose onto its mask, and an L1 penalty on the keyframes'
  second differences keeps the ends and the instants few views see with their neighbours. With
  masks found from motion, a view without the object's mask says nothing of it (it may only have
  rested there), except that the object covers its parts there, the pixels of it that stood out.
- With `motion_curriculum`, the time window opens outward from the middle of the capture and
  each keyframe it reaches starts from its neighbours' turn carried on at the same rate.
- The result: one SceneObject per masked object with its Gaussians in its own frame, a Track
  through the keyframes, and its remaining per-Gaussian motion.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor

from ..data.dataset import Dataset
from ..gaussian_motion import GaussianMotion
from ..geometry import make_transform, quat_multiply, quat_to_rotmat, rotation_vector_to_quat
from ..gaussians import Gaussians
from ..render import render
from ..common.views import up_from_cameras
from ..errors import InvalidArgumentError
from ..scene import Scene, SceneObject, Track
from ..sh import rgb_to_sh_dc, rotate_sh
from .config import TrainConfig
from .densify import ParamSet
from .dynamic_trainer import MOTION_PARAMS, DynamicTrainer
from .objects.masks import ObjectMasks
from .objects.spin import Spin, search_spin
from .objects.labels import instance_mask
from .trainer import _gaussians

log = logging.getLogger("scenegen.train")
OBJECT_GAUSSIANS = 3000  # starting Gaussians per object
MIN_MASK_PIXELS = 16
MAX_KEYS = 64
MIN_HULL_VOXELS = 20  # an object starts as its visual hull when that has this many voxels, else as a ball


def read_masks(dataset: Dataset, views) -> dict[int, Tensor]:
    """Object indices [H, W] (uint8) of each view in `views` that has a mask, by view index."""
    masks = {}
    for i in views:
        m = dataset.mask(i)
        if m is not None:
            masks[i] = instance_mask(m).to(torch.uint8)
    return masks


def silhouette_target(mask: Tensor | None, part: Tensor | None, value: int, from_motion: bool) -> tuple[Tensor, bool] | None:
    """What object `value`'s silhouette (its alpha rendered alone) is held to in a view: (target
    [H, W] bool, one_sided), or None for nothing. Where the view's `mask` shows the object, its
    mask, both ways. Where it does not: with masks a user gave, the object is not in the view
    (an empty target); with masks found from motion it only did not stand out, so just its
    `part` there counts, one-sided (the object covers those pixels, and may cover more)."""
    target = None if mask is None else mask == value
    if target is not None and (bool(target.any()) or not from_motion):
        return target, False
    if not from_motion or part is None or not bool((part == value).any()):
        return None
    return part == value, True


def interpolation_matrix(times: Tensor, key_times: Tensor) -> Tensor:
    """[F, K] weights that interpolate K keyframes at `key_times` linearly to each of `times`
    (held at the ends)."""
    kt = key_times.double()
    t = torch.as_tensor(times, dtype=torch.float64).reshape(-1).clamp(float(kt[0]), float(kt[-1]))
    j = (torch.searchsorted(kt, t, right=True) - 1).clamp(0, len(kt) - 2)
    a = (t - kt[j]) / (kt[j + 1] - kt[j]).clamp_min(1e-12)
    W = torch.zeros(len(t), len(kt), dtype=torch.float64)
    rows = torch.arange(len(t))
    W[rows, j], W[rows, j + 1] = 1 - a, a
    return W


def _mask_rays(dataset: Dataset, masks: dict[int, Tensor], value: int, plane: tuple[Tensor, float] | None = None):
    """(origins [F, 3], unit directions [F, 3], times [F], angular radii [F], colour [3], contact
    depths [F]) of the rays through object `value`'s mask centroid in each view that shows it
    whole; None when fewer than 3 do. With the supporting `plane`, a view's contact depth is where
    the object stands along its ray: the median, over the mask's columns, of the depth along the
    ray of the point where the column's lowest pixel edge meets the plane (NaN without a plane or
    when the mask's bottom is above the horizon)."""
    origins, dirs, times, spans, colours, contacts = [], [], [], [], [], []
    for i, m in masks.items():
        sel = m == value
        if int(sel.sum()) < MIN_MASK_PIXELS:
            continue
        h, w = sel.shape
        vs, us = sel.nonzero(as_tuple=True)
        if int(us.min()) == 0 or int(vs.min()) == 0 or int(us.max()) == w - 1 or int(vs.max()) == h - 1:
            continue  # cut by the image border: its centroid is not the object's
        cam = dataset.cameras[i]
        o = cam.position.double()
        d = cam.pixel_rays(us.double().mean() + 0.5, vs.double().mean() + 0.5)
        d = d / d.norm()
        contact = math.nan
        if plane is not None:
            cols = sel.any(0).nonzero().squeeze(1)
            bottom = h - 1 - torch.flip(sel[:, cols].long(), [0]).argmax(0)  # each column's lowest pixel
            rays = cam.pixel_rays(cols.double() + 0.5, bottom.double() + 1.0)
            normal, offset = plane[0].double(), float(plane[1])
            reach = -(normal @ o + offset) / (rays @ normal)
            hit = reach > 0
            if bool(hit.any()):
                contact = float(((reach[hit, None] * rays[hit]) @ d).median())
        origins.append(o)
        dirs.append(d)
        times.append(float(dataset.times[i]))
        spans.append(math.sqrt(float(sel.sum()) / math.pi) / float(cam.fx))  # radius over depth
        contacts.append(contact)
        if len(colours) < 8:
            colours.append(dataset.image(i)[sel].mean(0))
    if len(origins) < 3:
        return None
    f64 = torch.float64
    return (torch.stack(origins), torch.stack(dirs), torch.tensor(times, dtype=f64), torch.tensor(spans, dtype=f64),
            torch.stack(colours).mean(0), torch.tensor(contacts, dtype=f64))


def mask_path(dataset: Dataset, masks: dict[int, Tensor], value: int, key_times: Tensor, *, still_ratio: float = 0.2,
              path_l1: float = 1e-4, size_weight: float = 0.05, plane: tuple[Tensor, float] | None = None,
              plane_weight: float = 1.0, iterations: int = 30):
    """(keyframe centres [K, 3] at `key_times`, radius, colour [3], views used) of object `value`'s
    centre triangulated from its mask centroids in the views of `masks` (view index -> object
    indices, see read_masks; the module doc has the method); None when fewer than 3 views show it
    whole. plane: the supporting plane (normal, d), when known: a moving object then also stands
    where its mask's bottom meets the plane (its contact depth along each ray, weight
    `plane_weight` per view, as much as a ray's)."""
    rays = _mask_rays(dataset, masks, value, plane)
    if rays is None:
        return None
    o, d, times, spans, colour, contacts = rays
    eye = torch.eye(3, dtype=torch.float64)
    P = eye - d[:, :, None] * d[:, None, :]  # [F, 3, 3] projections off each ray
    # Still: the one point nearest all the rays, in L1 (reweighted least squares from the plain
    # least-squares point), so a few stray views do not pull it. An object that turns on the spot
    # is still here. It counts as still when three quarters of the rays pass that close (some
    # views' masks may be off).
    ray_weights = torch.ones(len(o), dtype=torch.float64)
    eps = None
    for _ in range(10):
        Pw = P * ray_weights[:, None, None]
        x0 = torch.linalg.lstsq(Pw.reshape(-1, 3), (Pw @ o[:, :, None]).reshape(-1)).solution
        off = (P @ (x0 - o)[:, :, None]).squeeze(-1).norm(dim=1)
        eps = eps or 1e-3 * float(((x0 - o) * d).sum(1).abs().median()) + 1e-12
        ray_weights = 1.0 / torch.sqrt(off + eps)
    depth = ((x0 - o) * d).sum(1).clamp_min(1e-6)
    radius = float(torch.median(spans * depth))
    K = len(key_times)
    if float(torch.quantile(off, 0.75)) <= still_ratio * radius:
        return x0.expand(K, 3).clone(), radius, colour, len(o)
    # Moving: keyframes interpolated to each view's time, each view's ray passing through its
    # centre; the depth along the ray against the object's radius over the mask's angular radius
    # (one more unknown); and the keyframes' steps in L1 (reweighted least squares), so the
    # object rests where it can. Rays alone leave the path's scale about the moving camera open.
    F = len(o)
    W = interpolation_matrix(times, key_times)
    zeros = lambda n: torch.zeros(n, 1, dtype=torch.float64)  # noqa: E731
    A_ray = torch.cat([torch.einsum("fij,fk->fikj", P, W).reshape(3 * F, 3 * K), zeros(3 * F)], 1)
    y_ray = (P @ o[:, :, None]).reshape(-1)
    A_depth = torch.cat([torch.einsum("fj,fk->fkj", d, W).reshape(F, 3 * K), -(1.0 / spans)[:, None]], 1) * math.sqrt(size_weight)
    y_depth = (d * o).sum(1) * math.sqrt(size_weight)
    seen = torch.isfinite(contacts)  # the depth where the object stands on the plane, along its ray
    A_contact = torch.cat([torch.einsum("fj,fk->fkj", d[seen], W[seen]).reshape(-1, 3 * K), zeros(int(seen.sum()))], 1)
    y_contact = (d[seen] * o[seen]).sum(1) + contacts[seen]
    A_contact, y_contact = A_contact * math.sqrt(plane_weight), y_contact * math.sqrt(plane_weight)
    step = torch.diff(torch.eye(K, dtype=torch.float64), dim=0)  # [K-1, K]
    eps = 1e-3 * float(depth.median())
    weights = torch.ones(K - 1, dtype=torch.float64)
    for _ in range(iterations):
        A_step = ((weights[:, None] * step)[:, None, :, None] * eye[None, :, None, :]).reshape(3 * (K - 1), 3 * K)
        A = torch.cat([A_ray, A_depth, torch.cat([A_step, zeros(3 * (K - 1))], 1) * math.sqrt(path_l1 * F), A_contact])
        y = torch.cat([y_ray, y_depth, torch.zeros(3 * (K - 1), dtype=torch.float64), y_contact])
        # SVD-based: with size_weight 0 the depth unknown has no equation, and pivoted QR then
        # decides the rank from rounding (run to run, thread to thread).
        theta = torch.linalg.lstsq(A, y, driver="gelsd").solution
        keys = theta[:-1].reshape(K, 3)
        weights = 1.0 / torch.sqrt((step @ keys).norm(dim=1) + eps)
    if float(theta[-1]) > 0:
        radius = float(theta[-1])
    return keys, radius, colour, len(o)


class ObjectTrainer(DynamicTrainer):
    """Dynamic training with each masked object as a rigid body (see the module doc)."""

    coarse_to_fine = False  # its pixel weights and silhouettes are at the training resolution

    def __init__(self, dataset: Dataset, config: TrainConfig | None = None, out=None, masks: ObjectMasks | None = None):
        """masks: where the objects are (default: the dataset's own masks)."""
        masks = masks or ObjectMasks.from_dataset(dataset)
        if masks is None:
            raise InvalidArgumentError(f"{dataset.root}: training objects as rigid bodies needs instance masks; the dataset has none")
        dataset = masks.applied_to(dataset)
        super().__init__(dataset, config, out)
        self.object_masks = masks
        ds = self.train_ds
        self._masks = read_masks(ds, self.indices)  # read once: the paths and the silhouette loss use them
        # Masks found from motion: an object missing from a view's mask only did not stand out
        # there, and the parts of objects (regions not whole) are listed apart.
        self._from_motion = masks.from_motion
        part_paths = [None if masks.parts is None else masks.parts[int(v)] for v in self.view_indices.tolist()]
        self._parts = read_masks(ds.with_masks(part_paths), self.indices) if any(part_paths) else {}
        values = sorted({int(v) for m in self._masks.values() for v in torch.unique(m).tolist()} - {0})
        names = masks.names
        found = []
        # Keyframed poses, one per two capture instants (4..64), linearly interpolated: a path that
        # stops and starts is followed as well as a smooth one.
        unique = len(torch.unique(self.times))
        self.key_times = torch.linspace(self.basis.t0, self.basis.t1, min(MAX_KEYS, max(4, unique // 2 + 1)), dtype=torch.float64)
        options = {}
        if masks.from_motion:
            # Masks of what a still fit cannot explain: their areas are not the object's (no size
            # cue), and the still fit's supporting plane is known.
            options["size_weight"] = 0.0
            if masks.support_plane is not None:
                options["plane"] = masks.support_plane
        for value in values:
            path = mask_path(ds, self._masks, value, self.key_times, **options)
            if path is None:
                log.info("scenegen train: object %d is seen whole in fewer than 3 views; it stays in the background", value)
                continue
            found.append((value, *path))
        self.object_values = [f[0] for f in found]
        self.object_names = [names.get(v, f"object_{n}") for n, v in enumerate(self.object_values, start=1)]
        up = options["plane"][0] if "plane" in options else up_from_cameras(self.cameras)
        self.spins = [self._search_spin(value, keys, radius, up) for value, keys, radius, *_ in found]
        found = [(f[0], f[1] + spin.offset, *f[2:]) for f, spin in zip(found, self.spins)]  # centred on the axis found
        trans = torch.stack([f[1] for f in found]).float() if found else torch.zeros(0, len(self.key_times), 3)
        self.trans = torch.nn.Parameter(trans.to(self.device))
        turns = [spin.rotation_vectors(self.key_times).float() for spin in self.spins]
        self.rot = torch.nn.Parameter((torch.stack(turns) if turns else torch.zeros(0, len(self.key_times), 3)).to(self.device))
        self.reached = torch.zeros(len(self.key_times), dtype=torch.bool)  # keyframes the time window has opened
        c = self.cfg
        self.track_opt = torch.optim.Adam([{"params": [self.trans], "lr": c.lr_object_track * self.extent, "name": "trans"},
                                           {"params": [self.rot], "lr": c.lr_object_rotation, "name": "rot"}], eps=1e-15)
        self._add_object_gaussians(found)
        self._posed = (-1, None)
        self._white_sh = None

    @property
    def motion_rate(self) -> float:
        """Slower than without objects: the Tracks carry the large motions, and per-Gaussian motion
        learned as fast as the means competes with them (tabletop-dynamic without masks at the
        means' rate: the turning block's IoU 0.80 -> 0.77)."""
        return self.cfg.lr_motion_with_objects

    def _learning_rates(self) -> dict:
        return dict(super()._learning_rates(), labels=0.0)

    def _search_spin(self, value: int, keys: Tensor, radius: float, up: Tensor) -> Spin:
        """The object's steady spin from the views whose masks show it (see recon/objects/spin.py)."""
        position = {i: j for j, i in enumerate(self.indices)}
        views = [i for i, m in self._masks.items() if int((m == value).sum()) >= MIN_MASK_PIXELS]
        times = self.train_ds.times[views].double()
        centres = interpolation_matrix(times, self.key_times) @ keys.double()
        masks = torch.stack([self._masks[i] == value for i in views])
        images = torch.stack([self.images[position[i]].cpu() for i in views])
        spin = search_spin(self.train_ds.cameras[views], masks, images, times, centres, radius, up, span=(self.basis.t0, self.basis.t1))
        log.info("scenegen train: object %d turns %.0f degrees over the capture (colour disagreement %.3f, unturned %.3f)",
                 value, math.degrees(spin.turn), spin.score, spin.still_score)
        return spin

    def _add_object_gaussians(self, found):
        p = {name: t.detach().cpu() for name, t in self.params.params.items()}
        n_bg = len(p["means"])
        keep = torch.ones(n_bg, dtype=torch.bool)
        for value, keys, radius, colour, _ in found:
            for centre in keys.float():
                keep &= (p["means"] - centre).norm(dim=1) > 1.2 * radius
        tensors = {name: t[keep] for name, t in p.items()}
        tensors["labels"] = torch.zeros(int(keep.sum()))
        sh_bases = p["shN"].shape[1]
        for label, (value, keys, radius, colour, _) in enumerate(found, start=1):
            n = OBJECT_GAUSSIANS
            hull, voxel = self.spins[label - 1].hull, self.spins[label - 1].voxel
            if len(hull) >= MIN_HULL_VOXELS:
                # its visual hull: voxel centres, jittered within their voxels
                pick = torch.randint(len(hull), (n,), generator=self.generator)
                start = hull[pick] + voxel * (torch.rand(n, 3, generator=self.generator) - 0.5)
            else:
                direction = torch.randn(n, 3, generator=self.generator)
                start = radius * torch.rand(n, 1, generator=self.generator) ** (1 / 3) * direction / direction.norm(dim=1, keepdim=True)
            sh0 = rgb_to_sh_dc(colour.float().clamp(0, 1)).expand(n, 3)[:, None].clone()
            sh0 = sh0 + 0.05 * torch.randn(n, 1, 3, generator=self.generator)
            quats = torch.zeros(n, 4)
            quats[:, 0] = 1
            extra = {"means": start, "scales": torch.full((n, 3), math.log(max(radius, 1e-6) / 8)), "quats": quats,
                     "opacities": torch.full((n,), math.log(self.cfg.init_opacity / (1 - self.cfg.init_opacity))),
                     "sh0": sh0, "shN": torch.zeros(n, sh_bases, 3), "labels": torch.full((n,), float(label))}
            still = GaussianMotion.still(n, self.basis)
            extra.update({name: getattr(still, name) for name in MOTION_PARAMS})
            tensors = {name: torch.cat([tensors[name], extra[name].to(tensors[name].dtype)]) for name in tensors}
            log.info("scenegen train: object %s from masks in %d views, radius %.3g", self.object_names[label - 1], _, radius)
        self.params = ParamSet(tensors, self.base_lrs, self.device)
        self._idx_cache = (None, [])

    def _object_indices(self) -> list[Tensor]:
        labels = self.params.params["labels"].detach()
        if self._idx_cache[0] is not labels:
            rounded = labels.round().long()
            self._idx_cache = (labels, [(rounded == k).nonzero().squeeze(1) for k in range(1, len(self.object_values) + 1)])
        return self._idx_cache[1]

    def pose(self, k: int, t: float) -> tuple[Tensor, Tensor, Tensor]:
        """(R [3, 3], centre [3], quaternion [4]) of object k (0-based) at time t, differentiable."""
        w = interpolation_matrix(torch.tensor([float(t)]), self.key_times)[0].float().to(self.rot.device)
        q = rotation_vector_to_quat(w @ self.rot[k])
        return quat_to_rotmat(q), w @ self.trans[k], q

    def _open_keys(self, reach: float):
        """Keyframes the time window reaches for the first time start from their inner
        neighbours' turn, carried on at the same rate (constant angular velocity)."""
        mid = 0.5 * (self.basis.t0 + self.basis.t1)
        now = (self.key_times - mid).abs() <= reach + 1e-9
        if not self.reached.any():
            self.reached = now.clone()
            return
        new = (now & ~self.reached).nonzero().squeeze(1).tolist()
        mid_key = int(torch.argmin((self.key_times - mid).abs()))
        with torch.no_grad():
            for j in sorted(new, key=lambda j: abs(j - mid_key)):
                step = 1 if j > mid_key else -1
                a, b = j - step, j - 2 * step
                if 0 <= b < len(self.key_times) and self.reached[a] and self.reached[b]:
                    self.rot[:, j] = 2 * self.rot[:, a] - self.rot[:, b]
                elif 0 <= a < len(self.key_times) and self.reached[a]:
                    self.rot[:, j] = self.rot[:, a]
                self.reached[j] = True

    def view_gaussians(self, i: int) -> Gaussians:
        t = float(self.times[i])
        g = self.motion().apply(_gaussians(self.params), t)
        means, quats, sh = g.means.clone(), g.quats.clone(), g.sh
        rotated_sh = sh.shape[1] > 1
        if rotated_sh:
            sh = sh.clone()
        for k, idx in enumerate(self._object_indices()):
            if len(idx) == 0:
                continue
            R, c, q = self.pose(k, t)
            means[idx] = means[idx] @ R.T + c
            quats[idx] = quat_multiply(q.expand(len(idx), 4), quats[idx])
            if rotated_sh:
                sh[idx] = rotate_sh(sh[idx], R)
        world = Gaussians(means, g.scales, quats, g.opacities, sh)
        self._posed = (i, world)
        return world

    def _view_mask(self, i: int) -> Tensor | None:
        return self._masks.get(self.indices[i])

    def regularization(self, i: int):
        """Adds the silhouette loss: each object rendered alone, as white on black, against its
        mask in this view (L1), which pulls its pose straight onto where the mask puts it."""
        loss = super().regularization(i)
        if len(self.object_values) and self.trans.shape[1] >= 3:
            # Keyframes change smoothly (second differences): the ends and instants few views see
            # follow their neighbours instead of wandering.
            for keys, scale in ((self.trans, 1.0 / max(self.extent, 1e-9)), (self.rot, 1.0)):
                bend = keys[:, 2:] - 2 * keys[:, 1:-1] + keys[:, :-2]
                loss = loss + self.cfg.object_smooth * scale * bend.abs().mean()
        mask, parts = self._view_mask(i), self._parts.get(self.indices[i])
        weight = self.cfg.object_mask_weight
        if (mask is None and parts is None) or weight <= 0 or self._posed[0] != i:
            return loss
        world = self._posed[1]
        for k, idx in enumerate(self._object_indices()):
            held = silhouette_target(mask, parts, self.object_values[k], self._from_motion)
            if len(idx) == 0 or held is None:
                continue
            target, one_sided = held
            piece = world[idx]
            white = Gaussians(piece.means, piece.scales, piece.quats, piece.opacities, self._white[: len(idx)])
            alpha = render(white, self.cameras[i], sh_degree=0, background=(0.0, 0.0, 0.0), backend=self.cfg.backend).rgb[0, ..., 0]
            gap = target.to(alpha.device).float() - alpha
            loss = loss + weight * (gap.clamp_min(0) if one_sided else gap.abs()).mean()
        return loss

    @property
    def _white(self) -> Tensor:
        n = len(self.params)
        if self._white_sh is None or len(self._white_sh) < n:
            self._white_sh = rgb_to_sh_dc(torch.ones(3, device=self.device))[None, None].expand(2 * n, 1, 3).contiguous()
        return self._white_sh

    def _schedule(self, step: int):
        super()._schedule(step)
        # Poses move at a steady rate once the warm-up ends, easing off over the last fifth.
        free = step > min(self.cfg.motion_warmup, self.cfg.steps // 3)
        ease = min(1.0, max(0.1, (self.cfg.steps - step) / (0.2 * self.cfg.steps)))
        for group in self.track_opt.param_groups:
            base = self.cfg.lr_object_track * self.extent if group["name"] == "trans" else self.cfg.lr_object_rotation
            group["lr"] = free * base * ease

    def synced_parameters(self) -> list[torch.Tensor]:
        return super().synced_parameters() + [p for group in self.track_opt.param_groups for p in group["params"]]

    def train_step(self) -> dict:
        record = super().train_step()
        self.track_opt.step()
        self.track_opt.zero_grad(set_to_none=True)
        return record

    def make_scene(self, metadata: dict) -> Scene:
        scene = super().make_scene(metadata)
        g = scene.background.gaussians
        motion = scene.background.motion
        labels = self.params.params["labels"].detach().round().long().cpu()
        background = SceneObject(scene.background.name, g[labels == 0], motion=motion[labels == 0])
        objects = []
        with torch.no_grad():
            for k, name in enumerate(self.object_names):
                sel = labels == k + 1
                poses = []
                for t in self.key_times.tolist():
                    R, c, _ = self.pose(k, t)
                    poses.append(make_transform(R.double().cpu(), c.double().cpu()))
                local = g[sel]
                bounds = torch.stack([local.means.amin(0), local.means.amax(0)]) if int(sel.sum()) else torch.zeros(2, 3)
                meta = {"label": int(self.object_values[k]), "source": self.object_masks.source,
                        "gaussians": int(sel.sum()), "bounds": bounds.tolist(), "spin_degrees": round(math.degrees(self.spins[k].turn), 1)}
                objects.append(SceneObject(name, local, Track.from_matrices(self.key_times.tolist(), torch.stack(poses)), metadata=meta,
                                           motion=motion[sel]))
        out = Scene(background, objects, time_range=scene.time_range, cameras=scene.cameras, camera_times=scene.camera_times,
                    metadata=scene.metadata)
        return out

    def state_dict(self) -> dict:
        state = super().state_dict()
        state.update(object_trans=self.trans.detach(), object_rot=self.rot.detach(), object_keys_reached=self.reached,
                     track_optimizer=self.track_opt.state_dict())
        return state

    def restore(self, state: dict) -> None:
        for key, current in (("object_trans", self.trans), ("object_rot", self.rot), ("object_keys_reached", self.reached)):
            value = state[key]  # checked before anything is taken up: a still fit's checkpoint has none of them
            if not isinstance(value, torch.Tensor) or value.shape != current.shape or not torch.isfinite(value.float()).all():
                raise ValueError(f"'{key}' must be finite with shape {list(current.shape)}")
        super().restore(state)
        with torch.no_grad():
            self.reached = state["object_keys_reached"].clone().to(self.reached.device, self.reached.dtype)
            self.trans.copy_(state["object_trans"])
            self.rot.copy_(state["object_rot"])
        self.track_opt.load_state_dict(state["track_optimizer"])
        self._idx_cache = (None, [])


def wants_objects(dataset: Dataset, objects: str) -> bool:
    """Train masked objects as rigid bodies: a timed dataset with masks, objects auto or masks."""
    return objects in ("auto", "masks") and dataset.mask_paths is not None and any(p is not None for p in dataset.mask_paths)


__all__ = ["ObjectTrainer", "mask_path", "read_masks", "silhouette_target", "wants_objects"]
