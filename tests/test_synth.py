"""Synthetic scenes: specs, motions, camera paths, textures, and the rendered ground truth."""

import json
import math

import numpy as np
import pytest
import torch

from scenegen.cli import main
from scenegen.errors import DatasetError, FormatError, InvalidArgumentError
from scenegen.synth import builtin_names, generate, load_spec
from scenegen.synth.object_motion import GRAVITY, Motion
from scenegen.synth.paths import camera_path
from scenegen.synth.spec import SceneSpec
from scenegen.synth.textures import KINDS, texture_colours


def small_spec(**camera) -> SceneSpec:
    spec = load_spec("tabletop-dynamic")
    spec.camera.update({"frames": 4, "width": 96, "height": 72, **camera})
    return spec


@pytest.fixture(scope="module")
def tabletop(tmp_path_factory):
    """tabletop-static at 160x120, 4 frames."""
    out = tmp_path_factory.mktemp("synth") / "tabletop"
    generate(load_spec("tabletop-static"), out, frames=4, size=(160, 120), progress=False)
    return out


def test_builtins_load():
    assert {"tabletop-static", "tabletop-dynamic", "room-walk"} <= set(builtin_names())
    for name in builtin_names():
        spec = load_spec(name)
        assert spec.objects and spec.frames >= 30 and spec.fps > 0


@pytest.mark.parametrize("change, message", [
    ({"objects": [{"name": "a", "shape": "blob"}]}, "shape must be one of"),
    ({"objects": [{"name": "a", "shape": "box"}]}, "needs size"),
    ({"objects": [{"name": "a", "shape": "sphere", "radius": -1}]}, "radius must be positive"),
    ({"objects": [{"name": "a", "shape": "sphere", "radius": 1, "texture": "plaid"}]}, "texture must be one of"),
    ({"objects": [{"name": "a", "shape": "sphere", "radius": 1}, {"name": "a", "shape": "sphere", "radius": 1}]}, "used twice"),
    ({"objects": [{"name": "a", "shape": "sphere", "radius": 1, "motion": {"type": "slide", "to": [1, 0, 0]}}]}, "needs an 'end'"),
    ({"objects": [{"name": "a", "shape": "sphere", "radius": 1, "motion": {"type": "warp"}}]}, "motion needs a 'type'"),
    ({"objects": [{"name": "a", "shape": "sphere", "radius": 1, "position": [0, 0]}]}, "expected 3 numbers"),
    ({"room": {"walls": {"sides": ["up"]}}}, "unknown"),
    ({"colour": 1}, "unknown keys"),
])
def test_bad_specs_name_the_field(change, message):
    with pytest.raises((InvalidArgumentError, FormatError), match=message):
        SceneSpec.from_dict({"name": "x", **change})


def test_bad_spec_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FormatError, match="bad.json"):
        load_spec(tmp_path / "bad.json")
    with pytest.raises(InvalidArgumentError, match="built-ins"):
        load_spec("no-such-scene")


def test_motions():
    rest = [0.0, 0.0, 0.1]
    slide = Motion({"type": "slide", "to": [1.0, 0.0, 0.1], "start": 1.0, "end": 3.0}, rest, "m")
    assert np.allclose(slide.at(0.0)[0], rest) and np.allclose(slide.at(5.0)[0], [1, 0, 0.1])
    assert np.allclose(slide.at(2.0)[0], [0.5, 0, 0.1])  # smoothstep is symmetric
    spin = Motion({"type": "rotate", "axis": [0, 0, 1], "deg_per_s": 90, "start": 0.0, "end": 2.0}, rest, "m")
    assert np.allclose(spin.at(1.0)[1] @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    assert np.allclose(spin.at(9.0)[1] @ [1, 0, 0], [-1, 0, 0], atol=1e-12)  # stops at `end`
    fall = Motion({"type": "fall", "height": 0.5, "start": 1.0}, rest, "m")
    landing = 1.0 + math.sqrt(2 * 0.5 / GRAVITY)
    assert fall.at(0.5)[0][2] == pytest.approx(0.6) and fall.at(landing + 1e-6)[0][2] == pytest.approx(0.1)
    bounce = Motion({"type": "bounce", "height": 0.5, "restitution": 0.5}, rest, "m")
    heights = np.array([bounce.at(t)[0][2] - 0.1 for t in np.linspace(0, 3, 3001)])
    assert heights.min() >= 0 and heights[-1] == 0
    peaks = [heights[i] for i in range(1, 3000) if heights[i - 1] < heights[i] >= heights[i + 1] and heights[i] > 1e-4]
    assert len(peaks) >= 2 and all(b < a for a, b in zip(peaks, peaks[1:]))
    assert peaks[0] == pytest.approx(0.5 * 0.25, rel=0.02)  # height scales with restitution squared
    keys = Motion({"type": "keyframes", "keys": [{"t": 0, "position": [0, 0, 0]}, {"t": 2, "position": [2, 0, 0], "rotation": [0, 0, 90]}]},
                  rest, "m")
    position, R = keys.at(1.0)
    assert np.allclose(position, [1, 0, 0]) and np.allclose(R @ [1, 0, 0], [math.cos(math.pi / 4), math.sin(math.pi / 4), 0])


def test_camera_paths_look_where_they_should():
    cams = camera_path({"path": "orbit", "centre": [0, 0, 0.2], "radius": 1.5, "eye_height": 0.5, "frames": 5,
                        "width": 64, "height": 48, "arc_deg": 90})
    eyes = cams.c2w[:, :3, 3]
    assert torch.allclose(eyes[:, :2].norm(dim=1), torch.full((5,), 1.5)) and torch.allclose(eyes[:, 2], torch.full((5,), 0.7))
    uv, depth = cams.project(torch.tensor([[0.0, 0.0, 0.2]]))
    assert torch.allclose(uv[:, 0], torch.tensor([32.0, 24.0]).expand(5, 2), atol=1e-3) and (depth > 0).all()
    walk = camera_path({"path": "walk", "start": [0, 0, 1.5], "end": [2, 0, 1.5], "bob": 0.0, "frames": 3, "width": 64, "height": 48})
    assert torch.allclose(walk.c2w[:, :3, 3], torch.tensor([[0, 0, 1.5], [1, 0, 1.5], [2, 0, 1.5]]))
    assert torch.allclose(walk.c2w[:, :3, 2], torch.tensor([1.0, 0.0, 0.0]).expand(3, 3))  # looking ahead
    shaky = camera_path({"path": "orbit", "frames": 30, "width": 64, "height": 48, "wobble": 0.02}, seed=4)
    steady = camera_path({"path": "orbit", "frames": 30, "width": 64, "height": 48})
    offset = (shaky.c2w[:, :3, 3] - steady.c2w[:, :3, 3]).norm(dim=1)
    assert 0.005 < float(offset.max()) < 0.1
    with pytest.raises(InvalidArgumentError, match="path"):
        camera_path({"path": "fly"})


def test_textures_are_deterministic_and_in_range():
    pts = np.random.default_rng(0).random((2000, 3))
    for kind in KINDS:
        a = texture_colours(kind, pts, (0.8, 0.2, 0.1), scale=0.05, seed=3)
        assert a.shape == (2000, 3) and a.min() >= 0 and a.max() <= 1
        assert np.array_equal(a, texture_colours(kind, pts, (0.8, 0.2, 0.1), scale=0.05, seed=3))
        assert (a.std(0).max() > 0.02) == (kind != "solid")
    assert not np.array_equal(texture_colours("noise", pts, (1, 1, 1), seed=1), texture_colours("noise", pts, (1, 1, 1), seed=2))
    with pytest.raises(InvalidArgumentError):
        texture_colours("plaid", pts, (1, 1, 1))


def test_depth_and_masks_agree_with_the_meshes(tabletop):
    truth = json.loads((tabletop / "ground_truth.json").read_text())
    box = next(o for o in truth["objects"] if o["name"] == "red_box")
    # The centre of the box's top face, in the world, from its ground-truth pose.
    from scenegen.geometry import quat_to_rotmat

    R = quat_to_rotmat(torch.tensor(box["track"]["rotations"][0])).double()
    top = R @ torch.tensor([0.0, 0.0, box["bounds_local"][1][2]], dtype=torch.float64) + torch.tensor(box["track"]["translations"][0])
    from scenegen.data import load_dataset

    ds = load_dataset(tabletop)
    cams = ds.cameras
    for i in range(len(ds)):
        uv, z = cams[i].project(top.float()[None])
        u, v = (int(c) for c in uv[0].floor())
        mask = ds.mask(i)
        import imageio.v3 as iio

        depth = iio.imread(tabletop / "depth" / f"frame_{i:05d}.png").astype(np.float64) / 1000
        assert truth["mask_values"][str(int(mask[v, u]))] == "red_box"
        assert abs(depth[v, u] - float(z[0])) < 0.01
    # Every mask value is named, and every object is seen.
    values = set(np.unique(np.concatenate([ds.mask(i).numpy().ravel() for i in range(len(ds))])).tolist())
    assert values == {int(k) for k in truth["mask_values"]}


def test_loader_reads_poses_and_times(tabletop):
    from scenegen.data import load_dataset

    truth = json.loads((tabletop / "ground_truth.json").read_text())
    ds = load_dataset(tabletop)
    assert len(ds) == 4 and ds.is_timed
    assert torch.allclose(ds.times, torch.tensor(truth["times"], dtype=torch.float32))
    assert torch.allclose(ds.cameras.c2w, torch.tensor(truth["cameras_c2w_opencv"], dtype=torch.float32), atol=1e-5)
    assert ds.image(0).shape == (120, 160, 3) and float(ds.image(0).std()) > 0.05
    import imageio.v3 as iio

    assert iio.imread(tabletop / "video.mp4").shape[:3] == (4, 120, 160)
    assert (tabletop / "meshes" / "red_box.ply").is_file() and (tabletop / "meshes" / "room.ply").is_file()


def test_generation_is_deterministic_and_tracks_motion(tmp_path):
    import imageio.v3 as iio

    a = generate(small_spec(fps=1), tmp_path / "a", progress=False, video=False)  # 4 frames over 3 seconds
    b = generate(small_spec(fps=1), tmp_path / "b", progress=False, video=False)
    for sub in ("images", "masks", "depth"):
        for name in sorted((a / sub).iterdir()):
            assert np.array_equal(iio.imread(name), iio.imread(b / sub / name.name)), name
    assert (a / "ground_truth.json").read_text() == (b / "ground_truth.json").read_text()
    truth = json.loads((a / "ground_truth.json").read_text())
    box = next(o for o in truth["objects"] if o["name"] == "sliding_box")
    ball = next(o for o in truth["objects"] if o["name"] == "still_ball")
    assert box["moving"] and not ball["moving"]
    moved = np.linalg.norm(np.subtract(box["track"]["translations"][-1], box["track"]["translations"][0]))
    assert moved > 0.001 and np.ptp(np.array(ball["track"]["translations"]), axis=0).max() == 0


def test_mesh_objects_from_files(tmp_path):
    import trimesh

    trimesh.creation.box(extents=[0.2, 0.2, 0.4]).export(tmp_path / "post.obj")
    spec = {"name": "post", "objects": [{"name": "post", "shape": "mesh", "path": "post.obj", "position": [0, 0, 0.2],
                                         "texture": "speckle", "colour": [0.9, 0.1, 0.1]}],
            "camera": {"path": "orbit", "radius": 1.5, "eye_height": 0.5, "frames": 2, "width": 48, "height": 36}}
    (tmp_path / "post.json").write_text(json.dumps(spec))
    out = generate(load_spec(tmp_path / "post.json"), tmp_path / "out", progress=False, video=False)
    import imageio.v3 as iio

    mask = iio.imread(out / "masks" / "frame_00000.png")
    assert mask[18, 24] == 1  # the post stands in the middle of the view
    spec["objects"][0]["path"] = "missing.obj"
    (tmp_path / "post.json").write_text(json.dumps(spec))
    with pytest.raises(DatasetError, match="missing.obj"):
        generate(load_spec(tmp_path / "post.json"), tmp_path / "out2", progress=False)
    assert not (tmp_path / "out2").exists()


def test_cli(tmp_path, capsys):
    assert main(["synth", "--list"]) == 0
    assert "tabletop-dynamic" in capsys.readouterr().out
    assert main(["synth", "tabletop-dynamic", "-o", str(tmp_path / "td"), "--frames", "2", "--size", "64x48", "--no-video"]) == 0
    assert (tmp_path / "td" / "transforms.json").is_file() and not (tmp_path / "td" / "video.mp4").exists()
    assert main(["synth", "tabletop-dynamic", "-o", str(tmp_path / "x"), "--size", "64by48"]) == 2
    assert "--size" in capsys.readouterr().err


def test_a_lens_with_distortion_and_an_off_centre_point_renders_where_it_projects(tmp_path):
    """The same views with and without the lens: a surface point from the pinhole render's depth,
    projected through the loaded OpenCV camera (distortion and principal point read back from
    transforms.json), lands where the lens render sees the same depth, pixels away from where a
    pinhole would put it."""
    import imageio.v3 as iio

    from scenegen.camera import distort_normalized
    from scenegen.data import load_dataset
    from scenegen.synth.raycast import undistort

    lens, centre = [-0.25, 0.06, 0.003, -0.002], (0.58, 0.44)
    spec = load_spec("tabletop-static")
    out = generate(spec, tmp_path / "lens", frames=2, size=(160, 120), progress=False, video=False, principal_point=centre,
                   distortion=lens)
    pinhole = generate(spec, tmp_path / "pinhole", frames=2, size=(160, 120), progress=False, video=False,
                       principal_point=centre)
    cams = load_dataset(out).cameras
    assert torch.allclose(cams.distortion[0, :4], torch.tensor(lens)) and abs(float(cams.cx[0]) - 0.58 * 160) < 1e-4
    errors, shifts = [], []
    for i in range(len(cams)):
        flat = iio.imread(pinhole / "depth" / f"frame_{i:05d}.png").astype(np.float64) / 1000
        bent = iio.imread(out / "depth" / f"frame_{i:05d}.png").astype(np.float64) / 1000
        c = cams[i]
        for v in range(4, 116, 6):
            for u in range(4, 156, 6):
                z = flat[v, u]
                if z == 0 or np.ptp(flat[v - 1:v + 2, u - 1:u + 2]) > 0.02 * z:  # nothing hit, or an edge
                    continue
                local = torch.tensor([(u + 0.5 - c.cx) / c.fx * z, (v + 0.5 - c.cy) / c.fy * z, z], dtype=torch.float64)
                world = (c.c2w[:3, :3].double() @ local + c.c2w[:3, 3].double()).float()
                uv = c.project(world[None])[0][0]
                ud, vd = int(uv[0]), int(uv[1])
                if 0 <= ud < 160 and 0 <= vd < 120 and bent[vd, ud] > 0:
                    errors.append(abs(bent[vd, ud] - z))
                    shifts.append(math.hypot(float(uv[0]) - u - 0.5, float(uv[1]) - v - 0.5))
    assert len(errors) > 200 and np.median(errors) < 0.003 and np.percentile(errors, 90) < 0.02
    assert max(shifts) > 5  # the lens moves the frame's outer points by pixels
    # the renderer's rays invert the distortion the cameras apply
    xy = torch.rand(200, 2, dtype=torch.float64) - 0.5
    assert torch.allclose(torch.as_tensor(undistort(distort_normalized(xy, torch.tensor(lens, dtype=torch.float64)).numpy(),
                                                    lens)), xy, atol=1e-9)
    with pytest.raises(InvalidArgumentError, match="principal_point"):
        generate(spec, tmp_path / "bad", frames=2, size=(32, 24), principal_point=(0.9, 0.5))
    assert main(["synth", "tabletop-static", "-o", str(tmp_path / "cli"), "--distortion", "0.1,x", "--frames", "2"]) == 2
