"""Static reconstruction on a dataset the tests render themselves from the bundled demo scene."""

import json
import logging
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from scenegen.cli import main
from scenegen.data import load_dataset
from scenegen.errors import DatasetError, InvalidArgumentError, TrainingError
from scenegen.io import load, read_ply
from scenegen.recon import TrainConfig, Trainer, train
from scenegen.render import render
from scenegen.render.views import framing, orbit_cameras

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo_scene.zip"


def make_dataset(root: Path, views: int = 12, size: int = 40) -> Path:
    """Render the demo scene from an orbit and write a transforms.json dataset (OpenGL poses)."""
    scene = load(DEMO)
    gaussians, _ = scene.gaussians_at(0.0)
    centre, radius = framing(gaussians)
    cams = orbit_cameras(centre, radius, num=views, elevation_deg=30, width=size, height=size)
    (root / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    with torch.no_grad():
        for i in range(views):
            rgb = render(gaussians, cams[i], background=(1.0, 1.0, 1.0)).rgb[0]
            name = f"images/{i:03d}.png"
            iio.imwrite(root / name, (rgb.clamp(0, 1) * 255).round().byte().numpy())
            frames.append({"file_path": name, "transform_matrix": cams[i].c2w_opengl.tolist()})
    meta = {"fl_x": float(cams.fx[0]), "fl_y": float(cams.fy[0]), "cx": size / 2, "cy": size / 2, "w": size, "h": size,
            "frames": frames}
    (root / "transforms.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("demo_views"))


def small_config(**kw):
    base = dict(steps=60, init_random_points=2000, densify_from=20, densify_every=20, densify_until=50,
                opacity_reset_every=1000, sh_degree=1, sh_degree_interval=30, checkpoint_every=0)
    base.update(kw)
    return TrainConfig(**base)


def test_training_lowers_the_loss_and_writes_everything(dataset_dir, tmp_path):
    ds = load_dataset(dataset_dir)
    out = tmp_path / "run"
    scene = train(ds, small_config(), out=out, progress=False)
    history = json.loads((out / "train_log.json").read_text())["history"]
    first, last = history[0]["loss"], np.mean([h["loss"] for h in history[-2:]])
    assert last < 0.8 * first
    assert {"scene", "point_cloud.ply", "eval.json", "train_log.json"} <= {p.name for p in out.iterdir()}
    loaded = load(out / "scene")
    assert loaded.num_gaussians == scene.num_gaussians == len(read_ply(out / "point_cloud.ply"))
    assert loaded.cameras is not None and len(loaded.cameras) == len(ds)
    ev = json.loads((out / "eval.json").read_text())
    assert ev["num_images"] == len(ds.split("test")) and 5 < ev["psnr"] < 60
    assert (out / "compare" / "0000.png").is_file()
    # The scene is in the dataset's frame: rendering with its cameras resembles its images.
    test = ds.split("test")
    rgb = scene.render(test.cameras[0], background=tuple(ds.background.tolist())).rgb[0]
    assert (rgb - test.image(0)).abs().mean() < 0.2


def test_densification_changes_the_count_and_respects_the_cap(dataset_dir):
    ds = load_dataset(dataset_dir)
    trainer = Trainer(ds, small_config(densify_grad_threshold=1e-7, max_gaussians=2100))
    start = len(trainer.params)
    trainer.run(progress=False)
    assert len(trainer.params) <= 2100
    assert len(trainer.params) != start


def test_resume_gives_the_same_state_as_an_uninterrupted_run(dataset_dir, tmp_path):
    ds = load_dataset(dataset_dir)
    cfg = small_config(steps=40, checkpoint_every=20)
    straight = Trainer(ds, cfg, tmp_path / "a").run(progress=False)
    interrupted = Trainer(ds, cfg, tmp_path / "b")
    interrupted.run(progress=False, stop_after=20)  # writes b/checkpoint.pt at step 20, then "dies"
    resumed = Trainer(ds, cfg, tmp_path / "b")
    resumed.load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert resumed.step == 20
    final = resumed.run(progress=False)
    assert len(final) == len(straight)
    assert torch.equal(final.means, straight.means) and torch.equal(final.sh, straight.sh)  # bit for bit


def test_black_and_nan_images_are_left_out_and_reported(dataset_dir, tmp_path, caplog):
    root = make_dataset(tmp_path / "bad", views=9)
    iio.imwrite(root / "images" / "001.png", np.zeros((40, 40, 3), np.uint8))
    ds = load_dataset(root)
    with caplog.at_level(logging.WARNING, logger="scenegen.train"):
        trainer = Trainer(ds, small_config(steps=5))
    assert "001.png" in caplog.text
    assert len(trainer.images) == len(ds.split("train")) - 1
    for i in range(9):
        iio.imwrite(root / "images" / f"{i:03d}.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(DatasetError, match="none of the"):
        Trainer(load_dataset(root), small_config(steps=5))


def test_divergence_is_reported(dataset_dir, monkeypatch):
    import scenegen.recon.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "photometric_loss", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(TrainingError, match="diverged"):
        Trainer(load_dataset(dataset_dir), small_config(steps=5)).run(progress=False)


def test_damaged_checkpoint_is_reported(dataset_dir, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="checkpoint"):
        train(load_dataset(dataset_dir), small_config(steps=5), out=tmp_path, resume=True, progress=False)


def test_crafted_checkpoints_are_refused_before_anything_is_used(dataset_dir, tmp_path):
    ds = load_dataset(dataset_dir)
    cfg = small_config(steps=20, checkpoint_every=10)
    Trainer(ds, cfg, tmp_path).run(progress=False, stop_after=10)
    good = torch.load(tmp_path / "checkpoint.pt", weights_only=True)

    def with_(**changes):
        state = {**good, **changes}
        return state

    nan_means = {**good["params"], "means": good["params"]["means"].clone().fill_(float("nan"))}
    inf_scales = {**good["params"], "scales": good["params"]["scales"].clone().fill_(float("inf"))}
    short = {**good["params"], "opacities": good["params"]["opacities"][:3]}
    cases = {"NaN": with_(params=nan_means), "infinite": with_(params=inf_scales), "one row per Gaussian": with_(params=short),
             "'step' must be": with_(step=10 ** 15), "'step'": with_(step=-1000), "'cursor'": with_(cursor=99),
             "permutation": with_(order=good["order"] + 100), "'exposure'": with_(exposure=good["exposure"][:1])}
    for message, state in cases.items():
        torch.save(state, tmp_path / "checkpoint.pt")
        with pytest.raises(TrainingError, match=message):
            Trainer(ds, cfg, tmp_path).load_checkpoint(tmp_path / "checkpoint.pt")


def test_cli_train(dataset_dir, tmp_path, capsys):
    code = main(["train", str(dataset_dir), "-o", str(tmp_path / "cli"), "--steps", "15", "--sh-degree", "0",
                 "--checkpoint-every", "10"])
    assert code == 0
    out = capsys.readouterr().out
    assert "test PSNR" in out and (tmp_path / "cli" / "checkpoint.pt").is_file()
    # stdout is not a terminal here, as in `scenegen train > log`: the log gets progress lines
    assert "train: 0/15 (0%)" in out and "train: 15/15 (100%)  loss " in out and "done in" in out
    assert main(["train", str(dataset_dir), "-o", str(tmp_path / "cli"), "--steps", "20", "--sh-degree", "0", "--resume"]) == 0
    assert json.loads((tmp_path / "cli" / "train_log.json").read_text())["steps"] == 20


def test_held_out_views_fall_back_sensibly(dataset_dir):
    from scenegen.recon.trainer import held_out

    ds = load_dataset(dataset_dir)
    assert len(held_out(ds)) == len(ds.split("test"))  # no splits: every 8th view
    ds.splits = {"train": torch.arange(0, 8), "val": torch.arange(8, 12)}
    assert len(held_out(ds)) == 4
    ds.splits = {"train": torch.arange(0, 12)}
    assert held_out(ds) is None


def test_checkpoint_from_other_settings_is_reported(dataset_dir, tmp_path):
    ds = load_dataset(dataset_dir)
    Trainer(ds, small_config(steps=10, checkpoint_every=10), tmp_path).run(progress=False)
    other = Trainer(ds, small_config(steps=10, sh_degree=3))  # different SH layout than the checkpoint's
    with pytest.raises(TrainingError, match="does not fit"):
        other.load_checkpoint(tmp_path / "checkpoint.pt")


def test_train_config_from_json_and_yaml(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"steps": 120, "lr_means": 1e-4, "objects": "none"}))
    (tmp_path / "b.yaml").write_text("steps: 80\nmotion: static\nopacity_l1: 0\n")
    a = TrainConfig.from_file(tmp_path / "a.json", seed=3)
    assert (a.steps, a.lr_means, a.objects, a.seed) == (120, 1e-4, "none", 3)
    b = TrainConfig.from_file(tmp_path / "b.yaml")
    assert (b.steps, b.motion, b.opacity_l1) == (80, "static", 0.0) and isinstance(b.opacity_l1, float)
    saved = tmp_path / "scene.json"  # a saved scene's settings are under "train"
    saved.write_text(json.dumps({"metadata": {}, "train": a.to_dict()}))
    assert TrainConfig.from_file(saved) == a
    for name, text, match in [("c.json", "{", "not valid JSON"), ("d.json", "[1, 2]", "mapping"), ("e.yaml", "steps: [1", "not valid YAML"),
                              ("f.json", '{"stepz": 3}', "unknown training settings"), ("g.json", '{"steps": "many"}', "number"),
                              ("h.json", '{"objects": "magic"}', "objects must be one of")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(InvalidArgumentError, match=match):
            TrainConfig.from_file(tmp_path / name)
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        TrainConfig.from_file(tmp_path / "missing.yaml")


def test_cli_train_reads_a_config_file_and_records_the_object_method(dataset_dir, tmp_path):
    (tmp_path / "settings.yaml").write_text("steps: 12\nsh_degree: 0\nobjects: none\ncheckpoint_every: 0\n")
    assert main(["train", str(dataset_dir), "-o", str(tmp_path / "run"), "--config", str(tmp_path / "settings.yaml"),
                 "--steps", "10", "--no-eval"]) == 0
    saved = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert saved["steps"] == 10  # the command line wins over the file
    scene = load(tmp_path / "run" / "scene")
    assert scene.metadata["train"]["objects"] == "none" and scene.metadata["train"]["sh_degree"] == 0
    assert scene.metadata["train_seconds"] > 0


def test_deprecated_static_flag_warns(dataset_dir, tmp_path, monkeypatch):
    import scenegen.deprecated as deprecated

    monkeypatch.setattr(deprecated, "_warned", set())
    with pytest.warns(FutureWarning, match="--motion static"):
        assert main(["train", str(dataset_dir), "-o", str(tmp_path / "s"), "--steps", "5", "--static", "--no-eval",
                     "--checkpoint-every", "0", "--objects", "none"]) == 0


def test_training_starts_coarse_to_fine(tmp_path, monkeypatch):
    import scenegen.recon.trainer as trainer_module

    ds = load_dataset(make_dataset(tmp_path / "big", views=6, size=240))
    # 240 px halves once to 120; a second halving (60) would fall below COARSE_MIN_SIDE
    trainer = Trainer(ds, small_config(steps=20, coarse_levels=2, coarse_share=0.25, densify_from=1000))
    assert len(trainer.coarse) == 1
    assert [trainer.level_at(s) for s in (1, 5, 6, 20)] == [1, 1, 0, 0]
    cam, image = trainer.view(0, 1)
    assert (int(cam.width), int(cam.height)) == (120, 120) and image.shape == (120, 120, 3)
    assert float(cam.fx) == pytest.approx(float(trainer.cameras.fx[0]) / 2)
    blocks = trainer.images[0].reshape(120, 2, 120, 2, 3).mean((1, 3))  # each pixel the mean of its 2x2 block
    assert torch.allclose(image, blocks, atol=1e-6)
    widths = []
    real_render = trainer_module.render
    monkeypatch.setattr(trainer_module, "render", lambda g, c, **kw: (widths.append(int(c.width)), real_render(g, c, **kw))[1])
    trainer.run(progress=False, stop_after=8)
    assert widths == [120] * 5 + [240] * 3
    # opted out: no level, and none below the minimum side or with a zero share
    assert not Trainer(ds, small_config(coarse_share=0.0)).coarse
    assert not Trainer(load_dataset(make_dataset(tmp_path / "small", views=6, size=150)), small_config()).coarse
    with pytest.raises(InvalidArgumentError, match="coarse_share"):
        small_config(coarse_levels=4, coarse_share=0.25)
