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


def test_reconstruct_refuses_other_inputs(tmp_path):
    from scenegen import reconstruct

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidArgumentError, match="video"):
        reconstruct(tmp_path / "notes.txt", tmp_path / "out")
