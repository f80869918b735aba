"""Camera paths (scenegen.render.paths) and `scenegen render` to video."""

import json
import math
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from scenegen import Camera
from scenegen.camera import Cameras
from scenegen.cli import main
from scenegen.errors import FormatError, InvalidArgumentError
from scenegen.io import load, save
from scenegen.render.paths import camera_path, capture_path, keyframe_path, orbit_path, path_times

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo_scene.zip"


@pytest.fixture(scope="module")
def captured():
    """The bundled scene with three capture cameras, given out of time order."""
    scene = load(DEMO)
    cams = [Camera.look_at([2.0 * math.cos(a), 2.0 * math.sin(a), 1.0], [0, 0, 0], width=64, height=48, fov_deg=60)
            for a in (0.0, 0.5, 1.0)]
    scene.cameras = Cameras.stack([cams[2], cams[0], cams[1]])
    scene.camera_times = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64)
    return scene, cams


def test_orbit_path_circles_the_scene_once():
    scene = load(DEMO)
    cams = orbit_path(scene, frames=12, width=32, height=24)
    assert len(cams) == 12 and int(cams.width[0]) == 32
    distances = cams.positions.norm(dim=1)
    assert torch.allclose(distances, distances[0], rtol=1e-3)
    assert len({tuple(p.round(decimals=3).tolist()) for p in cams.positions}) == 12  # no frame repeats


def test_capture_path_follows_the_capture_in_time_order(captured):
    scene, cams = captured
    path, times = capture_path(scene)
    assert len(path) == 3 and times.tolist() == [0.0, 1.0, 2.0]
    assert torch.allclose(path.positions, torch.stack([c.position for c in cams]), atol=1e-5)
    smooth, times = capture_path(scene, 5, width=32)
    assert len(smooth) == 5 and times.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert int(smooth.width[0]) == 32 and int(smooth.height[0]) == 24
    assert torch.allclose(smooth.positions[2], cams[1].position, atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="no capture cameras"):
        capture_path(load(DEMO))


def test_keyframes_pass_through_their_cameras_and_times(captured, tmp_path):
    scene, _ = captured
    file = tmp_path / "path.json"
    file.write_text(json.dumps({"frames": 5, "width": 40, "height": 30, "keyframes": [
        {"eye": [2, 0, 1], "target": [0, 0, 0], "time": 0.0, "fov": 50},
        {"eye": [0, 2, 1], "target": [0, 0, 0], "time": 2.0, "fov": 50}]}))
    cams, times = keyframe_path(scene, file)
    assert len(cams) == 5 and times.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert torch.allclose(cams.positions[0], torch.tensor([2.0, 0, 1])) and torch.allclose(cams.positions[-1], torch.tensor([0.0, 2, 1]))
    first = Camera.look_at([2, 0, 1], [0, 0, 0], scene.metadata.get("up", (0, 0, 1)), fov_deg=50, width=40, height=30)
    assert torch.allclose(cams.c2w[0], first.c2w, atol=1e-5)


def test_nerfstudio_camera_path_is_read_in_opencv_axes(captured, tmp_path):
    scene, _ = captured
    gl = torch.eye(4)
    gl[:3, 3] = torch.tensor([0.0, 0.0, 3.0])  # OpenGL camera looking down -z at the origin
    file = tmp_path / "camera_path.json"
    file.write_text(json.dumps({"render_width": 64, "render_height": 32, "camera_path": [
        {"camera_to_world": gl.flatten().tolist(), "fov": 60}] * 2}))
    cams, times = keyframe_path(scene, file)
    assert len(cams) == 2 and times is None
    forward = cams.c2w[0, :3, 2]
    assert torch.allclose(forward, torch.tensor([0.0, 0, -1]))  # OpenCV z looks at the origin
    assert math.isclose(float(cams.fy[0]), 16 / math.tan(math.radians(30)), rel_tol=1e-5)  # vertical fov


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "JSON object"),
    ('{"keyframes": []}', "non-empty list"),
    ('{"keyframes": [{"eye": [0, 0, 1]}]}', "needs 'eye' and 'target'"),
    ('{"keyframes": [{"eye": [0, 0, 1], "target": [0, 0, 0], "up": [0, 0, 1]}]}', "parallel"),
    ('{"keyframes": [{"c2w": [1, 2, 3]}]}', "4x4"),
    ('{"keyframes": [{"eye": [1, 0, 1], "target": [0, 0, 0], "fov": 500}]}', "fov"),
    ("{not json", "not valid JSON"),
])
def test_bad_keyframe_files_name_the_file_and_the_problem(captured, tmp_path, content, message):
    file = tmp_path / "bad.json"
    file.write_text(content)
    with pytest.raises(FormatError, match=message) as info:
        keyframe_path(captured[0], file)
    assert "bad.json" in str(info.value)


def test_unknown_paths_and_times_are_refused(captured):
    with pytest.raises(InvalidArgumentError, match="not 'orbit', 'capture'"):
        camera_path(captured[0], "spiral")
    with pytest.raises(InvalidArgumentError, match="finite"):
        path_times(captured[0], 3, float("nan"))


def test_render_command_writes_videos_along_each_path(captured, tmp_path, capsys):
    scene, _ = captured
    save(scene, tmp_path / "scene")
    src = str(tmp_path / "scene")
    assert main(["render", src, "-o", str(tmp_path / "orbit.mp4"), "--frames", "6", "--size", "48x32"]) == 0
    assert iio.imread(tmp_path / "orbit.mp4").shape == (6, 32, 48, 3)
    assert "times 0..2" in capsys.readouterr().out  # an orbit plays the scene's time range
    assert main(["render", src, "-o", str(tmp_path / "capture.mp4"), "--path", "capture", "--size", "32x24",
                 "--start", "0.5", "--end", "1.5"]) == 0
    assert iio.imread(tmp_path / "capture.mp4").shape == (3, 24, 32, 3)
    assert "times 0.5..1.5" in capsys.readouterr().out
    frozen = tmp_path / "frozen.mp4"
    assert main(["render", src, "-o", str(frozen), "--frames", "4", "--size", "32x24", "--time", "1"]) == 0
    assert "times 1..1" in capsys.readouterr().out
    assert main(["render", src, "-o", str(tmp_path / "x.gif")]) == 2
    assert ".png image or a video" in capsys.readouterr().err
