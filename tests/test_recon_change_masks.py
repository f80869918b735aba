"""Objects without masks: regions a still fit cannot explain, linked over time into instance
masks; on images rendered from known Gaussians, so the true silhouettes are known."""

import math

import pytest
import torch

from scenegen import Camera, Cameras, Gaussians, Scene
from scenegen.recon.objects.from_still_fit import (Region, change_masks, change_masks_and_parts, convex_hull, link, regions_of, shadow_pixels,
                                         whole_and_parts)
from scenegen.scene import SceneObject
from scenegen.sh import rgb_to_sh_dc


def _square(h, w, top, left, size):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[top:top + size, left:left + size] = True
    return m


def test_convex_hull_fills_a_patchy_region():
    ring = _square(40, 40, 10, 10, 12) & ~_square(40, 40, 12, 12, 8)
    ring[10, 10] = False  # a notch in the corner: the hull of the rest still covers the middle
    hull = convex_hull(ring)
    assert hull[14:20, 14:20].all() and not hull[0:9].any() and int(hull.sum()) >= 140
    line = torch.zeros(10, 10, dtype=torch.bool)
    line[5, 2:8] = True  # no area: stays as it is
    assert torch.equal(convex_hull(line), line)


def test_regions_keep_blobs_and_drop_seams_and_specks():
    change = torch.zeros(60, 80)
    change[10:30, 10:30] = 0.5  # a big blob
    change[35:50, 50:62] = 0.4  # a smaller one
    change[55, :] = 0.9  # a one-pixel seam
    change[2, 70] = 1.0  # a speck
    found = regions_of(change, threshold=0.1, smooth=3, min_area=20)
    assert len(found) == 2 and int(found[0].sum()) > int(found[1].sum())
    assert found[0][20, 20] and found[1][42, 56] and not any(r[55].any() or r[2, 70] for r in found)
    # Each is the blob's own outline, not the filter's spread past it (which the regions have when
    # they are too sparse inside to go by their own pixels).
    assert [round(int(r.sum()) / n, 1) for r, n in zip(found, (400, 180))] == [1.0, 1.0]
    spread = regions_of(change, threshold=0.1, smooth=3, min_area=20, min_share_inside=2.0)
    assert all(int(a.sum()) > 1.15 * int(b.sum()) for a, b in zip(spread, found))


def _region(view, t, pixels, centre, radius):
    return Region(view, t, pixels, torch.tensor(centre, dtype=torch.float64), radius)


def test_linking_follows_each_object_and_bridges_a_gap():
    h, w = 50, 100
    regions = []
    for k in range(12):
        t = 0.1 * k
        regions.append(_region(k, t, _square(h, w, 5, 5 + 3 * k, 10), [0.03 * k, 0.0, 0.0], 0.05))  # slides right
        if k not in (5, 6, 7):  # the still one is missed for three views: its track carries on
            regions.append(_region(k, t, _square(h, w, 35, 80, 8), [1.0, 1.0, 0.0], 0.04))
    tracks = link(regions, grow=2)
    assert [len(tr) for tr in tracks] == [12, 9]
    assert all(r.centre[1] == 0 for r in tracks[0]) and all(r.centre[1] == 1 for r in tracks[1])
    # Far apart and of a different size: never the same object.
    far = link([_region(0, 0.0, _square(h, w, 5, 5, 10), [0, 0, 0], 0.05), _region(1, 0.1, _square(h, w, 30, 60, 4), [0, 0, 0.5], 0.01)])
    assert len(far) == 2


def test_a_region_grown_past_its_neighbours_is_neither_whole_nor_a_part():
    h, w = 40, 60
    radii = [1.0, 1.02, 1.04, 1.06, 1.35, 1.33, 1.1, 1.12, 1.14, 1.16, 0.4]  # grows slowly; two views joined to something
    track = [_region(k, 0.1 * k, _square(h, w, 10, 10, 8), [0, 0, 0], r) for k, r in enumerate(radii)]
    track.append(_region(11, 1.1, _square(h, w, 0, 10, 8), [0, 0, 0], 1.15))  # cut by the top border
    whole, parts = whole_and_parts(track)
    assert [r.view for r in whole] == [0, 1, 2, 3, 6, 7, 8, 9]
    assert [r.view for r in parts] == [10, 11]


@pytest.fixture(scope="module")
def floor_and_box():
    """A still textured floor with a ball, and a red box sliding over it; cameras circle it."""
    gen = torch.Generator().manual_seed(1)
    floor = torch.cat([torch.rand(6000, 2, generator=gen) * 2 - 1, torch.zeros(6000, 1)], 1)
    ball = torch.tensor([0.4, 0.4, 0.1]) + (torch.rand(800, 3, generator=gen) - 0.5) * 0.2
    box = (torch.rand(1200, 3, generator=gen) - 0.5) * 0.25 + torch.tensor([0.0, 0.0, 0.125])

    def gaussians(means, colours, scale):
        n = len(means)
        return Gaussians(means, torch.full((n, 3), math.log(scale)), torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
                         torch.full((n,), 4.0), rgb_to_sh_dc(colours)[:, None])

    shade = 0.3 + 0.3 * (torch.sin(8 * floor[:, :1]) > 0).float()
    still = gaussians(torch.cat([floor, ball]), torch.cat([shade * torch.tensor([0.8, 0.6, 0.4]), torch.tensor([[0.2, 0.3, 0.9]]).expand(800, 3)]), 0.03)
    still_scene = Scene(SceneObject("background", still))
    times = torch.linspace(0, 1, 16)
    cams, images, truth = [], [], []
    for k, t in enumerate(times.tolist()):
        angle = 0.6 * t
        cam = Camera.look_at([2.2 * math.cos(angle), 2.2 * math.sin(angle), 1.4], [0, 0, 0], width=80, height=60)
        offset = torch.tensor([-0.5 + 1.0 * t, -0.3, 0.0])
        moving = gaussians(box + offset, torch.tensor([[0.9, 0.1, 0.1]]).expand(len(box), 3), 0.03)
        both = Scene(SceneObject("background", still), [SceneObject("box", moving)])
        with torch.no_grad():
            images.append(both.render(cam).rgb[0])
            truth.append(both.render_object_ids(cam) == 1)
        cams.append(cam)
    return still_scene, Cameras.stack(cams), images, times, truth


def test_a_sliding_box_gets_masks_where_it_is(floor_and_box):
    still, cameras, images, times, truth = floor_and_box
    masks = change_masks(still, cameras, images, times)
    assert all(m is not None for m in masks)
    assert sorted(set(torch.cat([torch.unique(m) for m in masks]).tolist())) == [0, 1]  # the box only, not the ball
    inter = sum(int(((m == 1) & t).sum()) for m, t in zip(masks, truth))
    union = sum(int(((m == 1) | t).sum()) for m, t in zip(masks, truth))
    assert inter / union > 0.6


def test_regions_not_whole_are_kept_apart_as_parts(floor_and_box):
    still, cameras, images, times, _ = floor_and_box

    def linked(masks, parts):  # each view's pixels of every region linked to an object, whole or not
        return [None if m is None and p is None else sum((x > 0).long() for x in (m, p) if x is not None) > 0
                for m, p in zip(masks, parts)]

    loose = change_masks_and_parts(still, cameras, images, times, min_size_share=0.0)
    strict = change_masks_and_parts(still, cameras, images, times, min_size_share=1.0)  # those under the median size fall short
    assert [m is None for m in linked(*loose)] == [m is None for m in linked(*strict)]
    assert all(torch.equal(a, b) for a, b in zip(linked(*loose), linked(*strict)) if a is not None)  # the same regions
    count = lambda masks: sum(int((m > 0).sum()) for m in masks if m is not None)  # noqa: E731
    assert count(strict[1]) > count(loose[1]) and count(strict[0]) < count(loose[0])
    for m, p in zip(*strict):
        if m is not None and p is not None:
            assert not ((m > 0) & (p > 0)).any()  # a view's region is whole or a part, never both


def test_a_shadow_is_the_render_darkened_and_an_object_is_not():
    gen = torch.Generator().manual_seed(2)
    render = 0.3 + 0.5 * torch.rand(30, 40, 3, generator=gen)  # a textured surface
    image = render.clone()
    image[5:15, 5:15] *= 0.6  # a shadow on it: every channel darkened alike, the texture kept
    image[18:28, 20:30] = torch.tensor([0.5, 0.45, 0.4])  # an object of about the same brightness (where the
    # surface under it has its hue, it reads as shadow: the hull of the rest covers those)
    image[0:4, 30:40] = (render[0:4, 30:40] * 1.3).clamp(max=1)  # brighter: not a shadow
    shadow = shadow_pixels(render, image, threshold=0.1)
    assert shadow[5:15, 5:15].all()
    assert float(shadow[18:28, 20:30].float().mean()) < 0.2 and not shadow[0:4, 30:40].any()


def test_a_moving_objects_shadow_is_not_part_of_its_mask(floor_and_box):
    still, cameras, images, times, truth = floor_and_box
    shaded = []
    for image, box in zip(images, truth):
        shadow = torch.zeros_like(box)
        shadow[:, :-12] = box[:, 12:]  # cast to the box's left on the floor, as big as the box
        shaded.append(torch.where((shadow & ~box)[..., None], 0.6 * image, image))

    def share_outside(masks):  # of the mask pixels, the share that is not the box
        outside = sum(int(((m == 1) & ~t).sum()) for m, t in zip(masks, truth) if m is not None)
        return outside / max(1, sum(int((m == 1).sum()) for m in masks if m is not None))

    kept = change_masks(still, cameras, shaded, times, shadows=True)
    assert share_outside(change_masks(still, cameras, shaded, times)) > share_outside(kept) + 0.15  # shadows kept by default
    inter = sum(int(((m == 1) & t).sum()) for m, t in zip(kept, truth) if m is not None)
    union = sum(int(((m == 1) | t).sum()) for m, t in zip(kept, truth) if m is not None)
    assert inter / union > 0.6


def test_a_grey_object_on_a_plain_floor_needs_shadows_kept(monkeypatch, tmp_path):
    """Grey over white is the floor darkened alike in every channel: with shadows left out
    (TrainConfig.motion_mask_shadows, `--leave-out-shadows`), the box is not found; with shadows
    kept, the default, it is."""
    import scenegen.recon.objects.from_still_fit as change

    gen = torch.Generator().manual_seed(3)
    floor = torch.cat([torch.rand(6000, 2, generator=gen) * 2 - 1, torch.zeros(6000, 1)], 1)
    box = (torch.rand(1200, 3, generator=gen) - 0.5) * 0.25 + torch.tensor([0.0, 0.0, 0.125])

    def gaussians(means, grey):
        n = len(means)
        return Gaussians(means, torch.full((n, 3), math.log(0.03)), torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
                         torch.full((n,), 4.0), rgb_to_sh_dc(torch.full((n, 3), grey))[:, None])

    still = Scene(SceneObject("background", gaussians(floor, 0.8)))
    times = torch.linspace(0, 1, 12)
    cams, images = [], []
    for t in times.tolist():
        cam = Camera.look_at([2.2 * math.cos(0.6 * t), 2.2 * math.sin(0.6 * t), 1.4], [0, 0, 0], width=80, height=60)
        moving = SceneObject("box", gaussians(box + torch.tensor([-0.5 + t, -0.3, 0.0]), 0.5))
        with torch.no_grad():
            images.append(Scene(SceneObject("background", still.background.gaussians), [moving]).render(cam).rgb[0])
        cams.append(cam)
    cameras = Cameras.stack(cams)
    found = lambda masks: sum(int((m > 0).sum()) for m in masks if m is not None)  # noqa: E731
    assert found(change_masks(still, cameras, images, times, shadows=True)) < 0.2 * found(change_masks(still, cameras, images, times))

    # The setting reaches the masks from motion.
    seen = {}

    class Still:
        def __init__(self, dataset, config):
            self.cameras, self.images, self.indices, self.view_indices = cameras, images, list(range(len(images))), torch.arange(len(images))
            self.train_ds = type("Timed", (), {"times": times})()

        def run(self, progress=True):
            pass

        def make_scene(self, metadata):
            return still

    def record(*args, **options):
        seen.update(options)
        return [None] * len(images), [None] * len(images)

    monkeypatch.setattr(change, "StillTrainer", Still)
    monkeypatch.setattr(change, "change_masks_and_parts", record)
    from scenegen.recon import TrainConfig

    assert change.masks_from_still_fit(None, TrainConfig(steps=3, motion_mask_shadows=True), tmp_path, progress=False) is None
    assert seen["shadows"] is True


def test_a_still_scene_gets_no_masks(floor_and_box):
    still, cameras, _, times, _ = floor_and_box
    with torch.no_grad():
        images = [still.render(cameras[i]).rgb[0] for i in range(len(cameras))]
    assert all(m is None for m in change_masks(still, cameras, images, times))


def test_pixels_of_weight_zero_do_not_count_in_the_loss():
    from scenegen.recon.losses import photometric_loss

    gen = torch.Generator().manual_seed(0)
    target = torch.rand(32, 40, 3, generator=gen)
    rendered = target.clone()
    rendered[5:15, 5:15] = 1 - rendered[5:15, 5:15]
    weights = torch.ones(32, 40)
    weights[5:15, 5:15] = 0
    assert float(photometric_loss(rendered, target, 0.0, weights)) == 0
    assert float(photometric_loss(rendered, target, 0.0)) > 0.02  # the patch: a tenth of the pixels
    full = photometric_loss(rendered, target, 0.2)
    assert torch.allclose(photometric_loss(rendered, target, 0.2, torch.ones(32, 40)), full, atol=1e-6)
