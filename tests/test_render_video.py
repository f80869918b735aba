from pathlib import Path

import imageio.v3 as iio
import pytest

from scenegen.errors import InvalidArgumentError
from scenegen.io import load
from scenegen.render.video import render_video
from scenegen.render.views import framing, orbit_cameras

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo_scene.zip"


def test_camera_path_to_mp4_over_time(tmp_path):
    scene = load(DEMO)
    cams = orbit_cameras(*framing(scene.gaussians_at(0.0)[0]), num=4, width=48, height=36).path(6)
    out = render_video(scene, cams, tmp_path / "orbit.mp4", fps=12, times=[0, 0.4, 0.8, 1.2, 1.6, 2.0], progress=False)
    frames = iio.imread(out)
    assert frames.shape == (6, 36, 48, 3)
    assert frames.std() > 5 and not any(p.name.endswith(".tmp.mp4") for p in tmp_path.iterdir())
    with pytest.raises(InvalidArgumentError):
        render_video(scene, cams, tmp_path / "bad.mp4", times=[0.0])
