"""Dynamic reconstruction: timed datasets get per-Gaussian motion that trains, renders at any
time and saves with the scene."""

import json

import pytest
import torch

from scenegen.cli import main
from scenegen.data import load_dataset
from scenegen.errors import InvalidArgumentError
from scenegen.io import load
from scenegen.recon import TrainConfig, train
from scenegen.recon.dynamic_trainer import DynamicTrainer, wants_motion
from scenegen.synth import generate, load_spec

QUICK = dict(steps=40, densify_from=10, densify_until=30, densify_every=10, sh_degree=1, sh_degree_interval=20,
             init_random_points=2000, checkpoint_every=0)


@pytest.fixture(scope="module")
def moving_tabletop(tmp_path_factory):
    spec = load_spec("tabletop-dynamic")
    spec.camera["fps"] = 2  # 8 frames over 3.5 seconds: the box slides, the block turns
    return generate(spec, tmp_path_factory.mktemp("dyn") / "td", frames=8, size=(48, 36), progress=False, video=False)


def test_timed_datasets_choose_motion(moving_tabletop, nerf_synthetic):
    ds = load_dataset(moving_tabletop)
    assert wants_motion(ds, TrainConfig()) and not wants_motion(ds, TrainConfig(motion="static"))
    assert not wants_motion(nerf_synthetic_dataset(nerf_synthetic), TrainConfig())
    with pytest.raises(InvalidArgumentError, match="several instants"):
        wants_motion(nerf_synthetic_dataset(nerf_synthetic), TrainConfig(motion="dynamic"))


def nerf_synthetic_dataset(fixture):
    return load_dataset(fixture.path)


def test_dynamic_training_saves_a_scene_that_moves(moving_tabletop, tmp_path):
    ds = load_dataset(moving_tabletop)
    scene = train(ds, TrainConfig(**QUICK), out=tmp_path / "run", progress=False)
    # The dataset has instance masks, so the scene comes split into its named objects.
    assert sorted(scene.objects) == sorted(ds.metadata["mask_names"].values())
    assert all(o.metadata["source"] == "masks" and o.motion is not None for o in scene.objects.values())
    motion = scene.background.motion
    assert motion is not None and sum(len(o.motion) for o in scene.all_objects()) == scene.num_gaussians
    assert scene.time_range == (float(ds.times.min()), float(ds.times.max()))
    assert float(motion.offsets.abs().max()) > 0  # the coefficients were trained
    # Any time renders, between training frames too, and the image changes with time.
    cam = ds.cameras[0]
    images = [scene.render(cam, t, background=(0, 0, 0)).rgb[0] for t in (0.0, 0.25, 3.5)]
    assert all(torch.isfinite(im).all() for im in images)
    assert not torch.equal(images[0], images[2])
    back = load(tmp_path / "run" / "scene")
    assert back.background.motion is not None and back.time_range == scene.time_range
    assert sorted(back.objects) == sorted(scene.objects)
    for t in (0.0, 1.7):
        assert back.gaussians_at(t)[0].allclose(scene.gaussians_at(t)[0], atol=1e-5)
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["num_images"] == 1


def test_dynamic_checkpoints_resume(moving_tabletop, tmp_path):
    ds = load_dataset(moving_tabletop)
    cfg = TrainConfig(**{**QUICK, "checkpoint_every": 20})
    trainer = DynamicTrainer(ds, cfg, tmp_path)
    trainer.run(progress=False, stop_after=20)
    resumed = DynamicTrainer(ds, cfg, tmp_path)
    resumed.load_checkpoint(tmp_path / "checkpoint.pt")
    assert resumed.step == 20 and torch.equal(resumed.params.params["offsets"], trainer.params.params["offsets"])
    assert torch.equal(resumed._neighbours, trainer._neighbours)  # the coherence term's neighbours, kept between recomputations
    resumed.run(progress=False)
    straight = DynamicTrainer(ds, cfg)
    straight.run(progress=False)  # resuming repeats the uninterrupted run bit for bit
    assert all(torch.equal(straight.params.params[k], resumed.params.params[k]) for k in straight.params.params)


def test_cli_static_flag(moving_tabletop, tmp_path, capsys):
    assert main(["train", str(moving_tabletop), "-o", str(tmp_path / "s"), "--steps", "20", "--motion", "static", "--no-eval"]) == 0
    assert load(tmp_path / "s" / "scene").background.motion is None
    assert "object(s) from masks" in capsys.readouterr().out  # the dataset's masks split even a still fit
    assert main(["train", str(moving_tabletop), "-o", str(tmp_path / "n"), "--steps", "20", "--objects", "none", "--no-eval"]) == 0
    assert not load(tmp_path / "n" / "scene").objects
    assert main(["train", str(moving_tabletop), "-o", str(tmp_path / "b"), "--objects", "colour"]) == 2
    assert "objects must be one of" in capsys.readouterr().err


def test_motion_is_held_during_the_warm_up(moving_tabletop):
    ds = load_dataset(moving_tabletop)
    trainer = DynamicTrainer(ds, TrainConfig(**{**QUICK, "steps": 60, "motion_warmup": 15}))
    trainer.run(progress=False, stop_after=15)
    assert float(trainer.params.params["offsets"].detach().abs().max()) == 0
    trainer.run(progress=False, stop_after=30)
    assert float(trainer.params.params["offsets"].detach().abs().max()) > 0


def test_neighbours_are_pulled_to_move_alike(moving_tabletop):
    """The coherence term: after the warm-up, a Gaussian whose motion differs from its
    neighbours' is pulled toward theirs (its gradient points to their mean), and the term is off
    during the warm-up and with motion_coherence=0."""
    ds = load_dataset(moving_tabletop)
    cfg = TrainConfig(**{**QUICK, "steps": 60, "motion_warmup": 15, "motion_l1": 0.0, "opacity_l1": 0.0})
    trainer = DynamicTrainer(ds, cfg)
    offsets = trainer.params.params["offsets"]
    with torch.no_grad():
        offsets.zero_()
        offsets[0, 0] = torch.tensor([1.0, 0.0, 0.0]) * trainer.extent  # one Gaussian moves, its neighbours do not
    trainer.step = 10
    assert float(trainer.regularization(0)) == 0  # warm-up: still held
    trainer.step = 20
    total = 0.0
    for _ in range(20):  # a sample of Gaussians per step: sum the gradients of several
        loss = trainer.regularization(0)
        total = total + float(loss)
        loss.backward()
    grad = offsets.grad[0, 0]
    assert total > 0 and grad[0] > 0 and grad[1:].abs().max() < 1e-9  # descent moves it back toward its neighbours (0)
    offsets.grad = None
    trainer.cfg.motion_coherence = 0.0
    assert float(trainer.regularization(0)) == 0


def test_the_time_window_opens_from_the_middle(moving_tabletop):
    ds = load_dataset(moving_tabletop)
    trainer = DynamicTrainer(ds, TrainConfig(**{**QUICK, "steps": 100, "motion_curriculum": 0.5}))
    mid = 0.5 * (trainer.basis.t0 + trainer.basis.t1)
    trainer.step = 30  # still in the warm-up (a third of the steps): the window stays shut
    early = {trainer._next_view() for _ in range(40)}
    assert len(early) <= 4  # the views nearest the middle
    assert max(abs(float(trainer.times[i]) - mid) for i in early) < 0.5 * (trainer.basis.t1 - trainer.basis.t0) / 2
    trainer.step = 85  # the warm-up's end plus half the remaining steps
    late = {trainer._next_view() for _ in range(200)}
    assert late == set(range(len(trainer.times)))  # the whole capture once the window is open


@pytest.mark.parametrize("field,value", [("motion_l1", -1.0), ("motion_curriculum", 1.5), ("object_mask_weight", -0.1),
                                         ("lr_object_track", 0.0), ("motion_coherence", -1.0), ("opacity_l1", -0.1),
                                         ("lr_motion_with_objects", 0.0)])
def test_motion_settings_are_checked(field, value):
    with pytest.raises(InvalidArgumentError, match=field):
        TrainConfig(**{field: value})
