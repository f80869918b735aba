"""Video -> keyframes -> pycolmap poses -> training, on the real phone video."""

import json
from pathlib import Path

import pytest

from scenegen.cli import main
from scenegen.errors import InvalidArgumentError
from scenegen.io import load

APPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "apple.mp4"


@pytest.mark.skipif(not APPLE.exists(), reason="../shared/data/videos/apple.mp4 is absent")
def test_reconstruct_the_apple_video(tmp_path, capsys):
    out = tmp_path / "apple"
    assert main(["reconstruct", str(APPLE), "-o", str(out), "--max-frames", "16", "--max-size", "480", "--steps", "40"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["frames_read"] == 50 and report["keyframes"] == 16
    assert report["registration_rate"] >= 0.9
    assert report["points"] > 500 and report["reprojection_error_px"] < 1.5
    assert 0.3 * 480 < report["focal_px"] < 5 * 480
    scene = load(out / "scene")
    assert scene.num_gaussians > 0 and len(scene.cameras) == report["registered"]
    assert (out / "point_cloud.ply").is_file() and report["eval"]["num_images"] >= 1
    assert "keyframes registered" in capsys.readouterr().out
    import imageio.v3 as iio

    video = iio.imread(out / "trajectory.mp4")
    assert video.shape[0] == 4 * report["registered"] and video.std() > 5
    assert iio.imread(out / "turntable.mp4").shape[0] == 96
    assert not (out / "renders").exists()  # a still scene has no renders over time

    # Again from the trained stage on: with motion, and the apple's first-frame mask as its object.
    assert main(["reconstruct", str(APPLE), "-o", str(out), "--from-stage", "train", "--steps", "40", "--motion", "dynamic",
                 "--object-masks", str(APPLE.with_name("apple_mask.png"))]) == 0
    scene = load(out / "scene")
    assert scene.background.motion is not None and scene.time_range[1] > scene.time_range[0]
    assert list(scene.objects) == ["object_1"] and scene.objects["object_1"].metadata["source"] == "masks"
    stills = sorted((out / "renders").glob("time_*.png"))
    assert len(stills) == 5 and all(iio.imread(p).std() > 5 for p in stills)
    assert "1 object(s) from masks" in capsys.readouterr().out


def test_training_steps_follow_the_capture():
    from scenegen.pipeline import capture_train_config, video_steps
    from scenegen.recon import TrainConfig

    assert [video_steps(n) for n in (10, 50, 67, 500)] == [2000, 3000, 4020, 6000]
    config = capture_train_config({"motion": "dynamic"}, 50)
    assert (config.steps, config.densify_until, config.motion) == (3000, 3000 * 5 // 7, "dynamic")
    assert capture_train_config(None, 67).steps == 4020 and capture_train_config({"steps": 40}, 67).steps == 40
    given = TrainConfig(steps=30)
    assert capture_train_config(given, 67) is given
    with pytest.raises(InvalidArgumentError, match="TrainConfig or a dict"):
        capture_train_config(30, 67)


def test_reconstruct_refuses_other_inputs(tmp_path):
    from scenegen import reconstruct

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidArgumentError, match="video"):
        reconstruct(tmp_path / "notes.txt", tmp_path / "out")


def test_photos_to_scene_in_cached_stages(sfm_photos, tmp_path, capsys):
    import shutil

    import imageio.v3 as iio
    import torch

    from scenegen import reconstruct
    from scenegen.errors import DatasetError
    from scenegen.geometry import transform_points
    from scenegen.io import read_ply
    from scenegen.recon import TrainConfig

    out = tmp_path / "run"
    scene = reconstruct(sfm_photos.folder, out, config=TrainConfig(steps=30), progress=False)
    report = json.loads((out / "report.json").read_text())
    assert report["registered"] == 16 and report["from_stage"] == "frames" and report["train_seconds"] > 0
    assert report["train_steps"] == 30
    stages = report["stage_seconds"]  # where the time went
    assert list(stages) == ["frames", "poses", "train", "export"] and all(v >= 0 for v in stages.values())
    assert abs(sum(stages.values()) - report["total_seconds"]) < 0.5 and stages["poses"] >= report["sfm_seconds"] * 0.99
    assert report["mapper"] in report["mappers"] and report["camera_model"] in ("SIMPLE_RADIAL", "OPENCV")
    for name in ("frames/frames.json", "sfm/sfm_report.json", "train/scene", "scene", "point_cloud.ply"):
        assert (out / name).exists(), name
    # The scene lives in the normalised frame: cameras about 1 from the origin, up along +z.
    positions = scene.cameras.c2w[:, :3, 3]
    assert abs(float(positions.norm(dim=1).median()) - 1) < 1e-3
    up = -scene.cameras.c2w[:, :3, 1].mean(0)
    assert float(up[2] / up.norm()) > 0.99 and scene.metadata["up"] == [0.0, 0.0, 1.0]
    # ... and the PLY goes back to the structure-from-motion frame.
    sfm_from_scene = torch.tensor(scene.metadata["sfm_from_scene"])
    ply = read_ply(out / "point_cloud.ply")
    expected = transform_points(sfm_from_scene.float(), scene.background.gaussians.means)
    assert torch.allclose(ply.means, expected, atol=1e-4 * float(expected.abs().max()))
    for name, frames in (("trajectory.mp4", 64), ("turntable.mp4", 96)):
        video = iio.imread(out / name)
        assert video.shape[0] == frames and video.std() > 5, name

    # Re-running the export stage reuses frames, poses and the trained scene.
    stamp = (out / "sfm" / "database.db").stat().st_mtime_ns
    trained = (out / "train" / "point_cloud.ply").stat().st_mtime_ns
    assert main(["reconstruct", str(sfm_photos.folder), "-o", str(out), "--from-stage", "export"]) == 0
    assert (out / "sfm" / "database.db").stat().st_mtime_ns == stamp
    assert (out / "train" / "point_cloud.ply").stat().st_mtime_ns == trained
    again = json.loads((out / "report.json").read_text())
    assert again["from_stage"] == "export" and again["points"] == report["points"] and again["eval"] == report["eval"]
    assert "16/16 keyframes registered" in capsys.readouterr().out

    # A run that fails leaves no result behind that could pass for its own.
    still = tmp_path / "still"
    still.mkdir()
    for i in range(5):
        shutil.copy(sfm_photos.folder / "000.png", still / f"{i}.png")
    assert main(["reconstruct", str(still), "-o", str(out), "--steps", "5"]) == 2
    assert "structure from motion" in capsys.readouterr().err
    assert not (out / "report.json").exists() and not (out / "scene").exists()

    with pytest.raises(DatasetError, match="frames stage"):
        reconstruct(sfm_photos.folder, tmp_path / "fresh", from_stage="poses", progress=False)
    with pytest.raises(InvalidArgumentError, match="from_stage"):
        reconstruct(sfm_photos.folder, tmp_path / "fresh", from_stage="mesh", progress=False)
