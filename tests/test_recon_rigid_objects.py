"""Masked objects trained as rigid bodies: paths triangulated from mask centroids, objects with
their own Tracks, checkpoints, and a two-object scene whose moving object separates from the
still one."""

import json

import imageio.v3 as iio
import pytest
import torch

from scenegen.data import load_dataset
from scenegen.errors import TrainingError
from scenegen.recon import TrainConfig, train
from scenegen.recon.object_trainer import ObjectTrainer, interpolation_matrix, mask_path, read_masks, silhouette_target, wants_objects
from scenegen.synth import generate, load_spec


@pytest.fixture(scope="module")
def box_and_ball(tmp_path_factory):
    """tabletop-dynamic without the turning block: a box slides 0.25 m beside a still ball."""
    spec = load_spec("tabletop-dynamic")
    spec.objects = [o for o in spec.objects if o.name != "turning_block"]
    return generate(spec, tmp_path_factory.mktemp("rigid") / "two", frames=24, size=(96, 72), progress=False, video=False)


def _true_path(truth, name):
    obj = next(o for o in truth["objects"] if o["name"] == name)
    return torch.tensor(obj["track"]["times"]), torch.tensor(obj["track"]["translations"], dtype=torch.float64)


def test_mask_centroids_triangulate_the_paths(box_and_ball):
    ds = load_dataset(box_and_ball).split("train")
    truth = json.loads((box_and_ball / "ground_truth.json").read_text())
    key_times = torch.linspace(float(ds.times.min()), float(ds.times.max()), 12, dtype=torch.float64)
    views = read_masks(ds, range(len(ds)))
    for name, value, tolerance in (("still_ball", 2, 0.03), ("sliding_box", 1, 0.08)):
        keys, radius, colour, used = mask_path(ds, views, value, key_times)
        times, true = _true_path(truth, name)
        estimate = interpolation_matrix(times.double(), key_times) @ keys
        assert used >= 10 and float((estimate - true).norm(dim=1).mean()) < tolerance, name
        assert 0.05 < radius < 0.3 and colour.shape == (3,)
        if name == "still_ball":  # its rays meet in one point: it stays there
            assert float((keys - keys[0]).abs().max()) == 0
        else:
            assert float((keys[-1] - keys[0]).norm()) > 0.15  # the box slides 0.25 m
    assert mask_path(ds, views, 9, key_times) is None  # no such object
    # Where the box's mask meets the floor (z = 0) says how far it stands, with no size cue at all.
    floor = (torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), 0.0)
    keys, *_ = mask_path(ds, views, 1, key_times, size_weight=0.0, plane=floor)
    times, true = _true_path(truth, "sliding_box")
    assert float((interpolation_matrix(times.double(), key_times) @ keys - true).norm(dim=1).mean()) < 0.05


def test_an_object_turning_on_the_spot_stays_put(tmp_path):
    """The block's mask area changes by half as it turns; its rays still meet in one point, so it
    is not sent sliding along them."""
    spec = load_spec("tabletop-dynamic")
    spec.objects = [o for o in spec.objects if o.name == "turning_block"]
    ds = load_dataset(generate(spec, tmp_path / "block", frames=20, size=(96, 72), progress=False, video=False))
    key_times = torch.linspace(float(ds.times.min()), float(ds.times.max()), 10, dtype=torch.float64)
    keys, radius, _, used = mask_path(ds, read_masks(ds, range(len(ds))), 1, key_times)
    assert used >= 15 and float((keys - keys[0]).abs().max()) == 0
    assert float((keys[0] - torch.tensor([0.2, 0.3, 0.09], dtype=torch.float64)).norm()) < 0.04
    assert 0.08 < radius < 0.25


def test_the_moving_object_separates_from_the_still_one(box_and_ball, tmp_path):
    ds = load_dataset(box_and_ball)
    assert wants_objects(ds, "auto") and not wants_objects(ds, "motion")
    cfg = TrainConfig(steps=300, sh_degree=1, sh_degree_interval=100, checkpoint_every=0, motion_warmup=60)
    scene = train(ds, cfg, out=tmp_path / "run", progress=False)
    assert sorted(scene.objects) == ["sliding_box", "still_ball"]
    truth = json.loads((box_and_ball / "ground_truth.json").read_text())
    moved = {}
    for name, obj in scene.objects.items():
        assert obj.metadata["source"] == "masks" and len(obj.track) > 2 and obj.metadata["gaussians"] > 100
        times, true = _true_path(truth, name)
        path = torch.stack([obj.pose_at(float(t))[:3, 3] for t in times])
        moved[name] = float((path[-1] - path[0]).norm())
    true_slide = float((_true_path(truth, "sliding_box")[1][-1] - _true_path(truth, "sliding_box")[1][0]).norm())
    assert moved["sliding_box"] > 0.5 * true_slide and moved["still_ball"] < 0.2 * true_slide, moved
    # Rendering between training frames works, and the saved scene keeps the objects and Tracks.
    from scenegen.io import load

    back = load(tmp_path / "run" / "scene")
    assert sorted(back.objects) == sorted(scene.objects)
    t = float(ds.times[1] + ds.times[2]) / 2
    assert torch.allclose(back.gaussians_at(t)[0].means, scene.gaussians_at(t)[0].means, atol=1e-5)
    assert torch.isfinite(scene.render(ds.cameras[0], t).rgb).all()


def test_without_masks_the_moving_objects_are_found_from_what_moves(tmp_path):
    """No masks: a still fit, the regions it cannot explain as masks, then rigid-body training."""
    root = generate(load_spec("tabletop-dynamic"), tmp_path / "tabletop", frames=24, size=(128, 96), progress=False, video=False)
    ds = load_dataset(root)
    ds.mask_paths = None
    cfg = TrainConfig(steps=600, sh_degree=1, sh_degree_interval=200, checkpoint_every=0, motion_warmup=100)
    scene = train(ds, cfg, out=tmp_path / "run", progress=False, evaluate_split=False, objects="motion")
    listing = json.loads((tmp_path / "run" / "motion_masks" / "masks.json").read_text())
    assert listing["objects"] and len(listing["views"]) >= 10 and "support_plane" in listing
    assert sorted(scene.objects) == [f"moving_{v}" for v in listing["objects"]]
    assert all(o.metadata["source"] == "motion" for o in scene.objects.values())
    # One set of masks lies on the sliding box (value 1 in the true masks) ...
    truth_ds = load_dataset(root)
    hits, total = {}, {}
    for view, name in listing["views"].items():
        found = torch.from_numpy(iio.imread(tmp_path / "run" / "motion_masks" / name)).long()
        true = truth_ds.mask(int(view))
        for v in listing["objects"]:
            hits[v] = hits.get(v, 0) + int(((found == v) & (true == 1)).sum())
            total[v] = total.get(v, 0) + int((found == v).sum())
    box = max(hits, key=lambda v: hits[v] / max(total[v], 1))
    assert hits[box] / total[box] > 0.7
    # ... and the object trained from them slides with it (still objects move 1-2 cm here). At
    # this size a still fit of 200 steps bakes most of the slow box in, and only a tenth of it
    # stands out: it slides about half the way (49-50% in three runs).
    times, true = _true_path(json.loads((root / "ground_truth.json").read_text()), "sliding_box")
    obj = scene.objects[f"moving_{box}"]
    moved = float((obj.pose_at(float(times[-1]))[:3, 3] - obj.pose_at(float(times[0]))[:3, 3]).norm())
    assert moved > 0.3 * float((true[-1] - true[0]).norm())


def test_object_checkpoints_resume(box_and_ball, tmp_path):
    ds = load_dataset(box_and_ball)
    cfg = TrainConfig(steps=40, sh_degree=0, checkpoint_every=20, motion_warmup=5)
    trainer = ObjectTrainer(ds, cfg, tmp_path)
    trainer.run(progress=False, stop_after=20)
    resumed = ObjectTrainer(ds, cfg, tmp_path)
    resumed.load_checkpoint(tmp_path / "checkpoint.pt")
    assert resumed.step == 20 and torch.equal(resumed.trans.detach(), trainer.trans.detach())
    assert torch.equal(resumed.params.params["labels"], trainer.params.params["labels"])
    resumed.run(progress=False)
    assert resumed.step == 40
    straight = ObjectTrainer(ds, cfg, tmp_path / "straight")
    straight.run(progress=False)  # resuming repeats the uninterrupted run bit for bit
    assert all(torch.equal(straight.params.params[k], resumed.params.params[k]) for k in straight.params.params)
    assert torch.equal(straight.trans, resumed.trans) and torch.equal(straight.rot, resumed.rot)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    for key in ("object_trans", "object_keys_reached"):  # a still fit's checkpoint, or a damaged one
        for bad in ({k: v for k, v in state.items() if k != key}, {**state, key: state[key][:1]}):
            torch.save(bad, tmp_path / "checkpoint.pt")
            with pytest.raises(TrainingError, match=key):
                ObjectTrainer(ds, cfg, tmp_path).load_checkpoint(tmp_path / "checkpoint.pt")


def test_silhouettes_follow_what_the_masks_say():
    mask = torch.zeros(4, 4, dtype=torch.uint8)
    mask[0, 0] = 1
    part = torch.zeros(4, 4, dtype=torch.uint8)
    part[3, 3] = 2
    for from_motion in (False, True):  # shown whole: its mask, both ways
        target, one_sided = silhouette_target(mask, part, 1, from_motion)
        assert torch.equal(target, mask == 1) and not one_sided
    target, one_sided = silhouette_target(mask, part, 2, False)  # a user's mask without it: not in the view
    assert not target.any() and not one_sided
    target, one_sided = silhouette_target(mask, part, 2, True)  # from motion: only its part, one-sided
    assert torch.equal(target, part == 2) and one_sided
    assert silhouette_target(mask, None, 2, True) is None and silhouette_target(None, part, 3, True) is None
    assert silhouette_target(None, None, 1, False) is None


def test_per_gaussian_motion_learns_slower_beside_rigid_objects(box_and_ball):
    from scenegen.recon.dynamic_trainer import DynamicTrainer

    ds = load_dataset(box_and_ball)
    cfg = TrainConfig(steps=40, sh_degree=0, checkpoint_every=0, motion_warmup=5, lr_motion=3e-4, lr_motion_with_objects=2e-5)
    for kind, rate in ((DynamicTrainer, cfg.lr_motion), (ObjectTrainer, cfg.lr_motion_with_objects)):
        trainer = kind(ds, cfg)
        trainer.run(progress=False, stop_after=6)  # past the warm-up: the displacements learn
        ratio = trainer.params.group("offsets")["lr"] / trainer.params.group("means")["lr"]
        assert ratio == pytest.approx(rate / cfg.lr_means), kind.__name__


def test_a_single_masked_view_still_trains_and_labels(box_and_ball):
    from scenegen.data.masks import object_mask_paths

    ds = load_dataset(box_and_ball)
    ds.mask_paths = object_mask_paths(ds.image_paths, ds.mask_paths[0])  # too few views to triangulate a path
    trainer = ObjectTrainer(ds, TrainConfig(steps=10, sh_degree=0, checkpoint_every=0))
    assert trainer.object_values == []
    trainer.run(progress=False)  # no NaN from the empty keyframe set
    scene = train(ds, TrainConfig(steps=10, sh_degree=0, checkpoint_every=0), progress=False, evaluate_split=False)
    assert sorted(scene.objects) == ["sliding_box", "still_ball"]  # labelled from the one mask after training
