"""Editing: operations, selections, undo/redo and the journal (scenegen.edit)."""

import dataclasses
import math

import pytest
import torch
import trimesh

from scenegen import Camera, load, save
from scenegen.edit import in_box, in_sphere, replay, session_of, split_selection, where
from scenegen.errors import FormatError, InvalidArgumentError
from scenegen.gaussian_motion import GaussianMotion, MotionBasis
from scenegen.gaussians import Gaussians
from scenegen.geometry import axis_angle_to_quat, make_transform, quat_to_rotmat
from scenegen.io.scene_file import scene_to_files
from scenegen.scene import Scene, SceneObject, Track


def _blob(n, centre, colour, seed, sh_degree=1, spread=0.05):
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor(centre) + spread * torch.randn(n, 3, generator=g)
    sh = torch.zeros(n, (sh_degree + 1) ** 2, 3)
    sh[:, 0] = (torch.tensor(colour) - 0.5) / 0.28209479177387814
    if sh_degree:
        sh[:, 1:] = 0.3 * torch.randn(n, sh.shape[1] - 1, 3, generator=g)
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=1)
    return Gaussians(means, torch.log(torch.full((n, 3), 0.02)) + 0.3 * torch.randn(n, 3, generator=g), quats,
                     torch.full((n,), 2.0), sh)


def _scene() -> Scene:
    """A floor of Gaussians, a box that slides (with a little per-Gaussian motion) and a still ball."""
    floor_g = torch.Generator().manual_seed(0)
    xy = torch.rand(3000, 2, generator=floor_g) * 2 - 1
    floor = _blob(3000, [0, 0, 0], [0.5, 0.4, 0.3], 1)
    floor = Gaussians(torch.cat([xy, torch.zeros(3000, 1)], 1), floor.scales, floor.quats, floor.opacities, floor.sh)
    basis = MotionBasis(0.0, 2.0, 1, 1)
    box = _blob(400, [0, 0, 0], [0.9, 0.2, 0.1], 2)
    wiggle = GaussianMotion.still(len(box), basis)
    wiggle.offsets[:, 0, 2] = 0.01
    track = Track([0.0, 2.0], torch.tensor([[1.0, 0, 0, 0]] * 2), torch.tensor([[-0.3, 0, 0.1], [0.3, 0, 0.1]]))
    ball = _blob(300, [0, 0, 0], [0.2, 0.3, 0.9], 3)
    return Scene(floor, [SceneObject("box", box, track, motion=wiggle),
                         SceneObject("ball", ball, Track([0.0], torch.tensor([[1.0, 0, 0, 0]]), torch.tensor([[0.2, 0.4, 0.1]])))],
                 time_range=(0.0, 2.0))


def _camera(width=96, height=72):
    return Camera.look_at([0.0, -1.6, 1.0], [0.0, 0.0, 0.1], width=width, height=height, fov_deg=60)


def _render(scene, t=0.5, camera=None):
    return scene.render(camera or _camera(), t, backend="torch").rgb[0]


def _same(a: Scene, b: Scene) -> bool:
    return scene_to_files(a) == scene_to_files(b)


def test_a_move_then_its_inverse_renders_the_same():
    scene = _scene()
    before = _render(scene)
    session_of(scene).translate("box", [0.1, -0.2, 0.05]).rotate("box", [0, 0, 1], 35.0, pivot=[0.0, 0.0, 0.0])
    assert (_render(scene) - before).abs().max() > 0.05  # it moved
    session_of(scene).rotate("box", [0, 0, 1], -35.0, pivot=[0.0, 0.0, 0.0]).translate("box", [-0.1, 0.2, -0.05])
    assert torch.allclose(_render(scene), before, atol=1e-4)
    assert len(scene.history) == 4


def test_turning_the_scene_is_turning_the_camera_the_other_way():
    # Objects with view-dependent colour (SH degree 1) turned about the origin look, from a camera
    # turned the same way, exactly as before: the SH turns with them.
    scene = _scene()
    camera = _camera()
    before = _render(scene, camera=camera)
    axis, degrees = [0.3, -0.2, 1.0], 40.0
    for name in ["background", *scene.objects]:
        session_of(scene).rotate(name, axis, degrees, pivot=[0, 0, 0])
    R = quat_to_rotmat(axis_angle_to_quat(torch.tensor(axis, dtype=torch.float64), math.radians(degrees)))
    turned = dataclasses.replace(camera, c2w=make_transform(R, torch.zeros(3, dtype=torch.float64)).float() @ camera.c2w)
    assert torch.allclose(_render(scene, camera=turned), before, atol=2e-3)


def test_the_journal_replays_to_the_same_scene_and_undo_redo_restore_it(tmp_path):
    mesh = trimesh.creation.box(extents=[0.2, 0.1, 0.1])
    mesh.visual.face_colors = [30, 200, 40, 255]
    mesh.export(tmp_path / "crate.glb")
    original = _scene()
    save(original, tmp_path / "original")
    scene = load(tmp_path / "original")
    session_of(scene).translate("box", [0.0, 0.1, 0.0]).rotate("ball", [0, 0, 1], 90, t=1.0).scale("ball", 1.5)
    session_of(scene).duplicate("ball", "ball_2", offset=[0.0, -0.3, 0.0]).tint("ball_2", [1.2, 0.5, 0.5]).recolour("ball", [1.0, 1.0, 0.0])
    session_of(scene).set_pose("box", 1.0, make_transform(torch.eye(3, dtype=torch.float64), torch.tensor([0.0, 0.5, 0.1], dtype=torch.float64)))
    session_of(scene).retime("box", speed=2.0, shift=0.1).insert_mesh(tmp_path / "crate.glb", "crate", position=[0.5, -0.3, 0.0], count=500)
    split_selection(scene, in_box(scene, [-1, -1, -0.1], [0, 0, 0.1], objects=["background"]), "floor_corner")
    session_of(scene).merge(["ball", "ball_2"], "balls").hide("crate").delete("floor_corner").rename("balls", "pair")
    assert sorted(scene.objects) == ["box", "crate", "pair"]
    save(scene, tmp_path / "edited")
    reloaded = load(tmp_path / "edited")
    assert reloaded.history == scene.history and len(scene.history) == 14
    assert _same(replay(load(tmp_path / "original"), reloaded.history), scene)
    edited_files = scene_to_files(scene)
    while session_of(scene).undo() is not None:
        pass
    assert _same(scene, original) and scene.history == []
    while session_of(scene).redo() is not None:
        pass
    assert scene_to_files(scene) == edited_files
    session_of(scene).undo()
    session_of(scene).translate("box", [0.1, 0.0, 0.0])  # a new edit drops what was undone
    assert session_of(scene).redo() is None and scene.history[-1]["op"] == "translate"


def test_edits_do_what_they_say():
    scene = _scene()
    box_at = scene.objects["box"].gaussians_at(1.0).means
    session_of(scene).duplicate("box", "box_2", offset=[0.0, 0.5, 0.0])
    assert torch.allclose(scene.objects["box_2"].gaussians_at(1.0).means, box_at + torch.tensor([0.0, 0.5, 0.0]), atol=1e-5)
    assert scene.objects["box_2"].metadata["copy_of"] == "box"
    lo, hi = scene.objects["ball"].gaussians.bounds()
    session_of(scene).scale("ball", 2.0)
    lo2, hi2 = scene.objects["ball"].gaussians.bounds()
    assert torch.allclose(hi2 - lo2, 2 * (hi - lo), atol=1e-5) and torch.allclose(lo2 + hi2, lo + hi, atol=1e-5)
    pose = scene.objects["box"].pose_at(0.5)
    session_of(scene).retime("box", speed=0.5, shift=1.0)  # twice as slow, one second later: t=0.5 is now at 2.0
    assert torch.allclose(scene.objects["box"].pose_at(2.0), pose) and scene.time_range == (0.0, 5.0)
    colour = scene.objects["ball"].gaussians.colours.mean(0)
    session_of(scene).tint("ball", [0.5, 1.0, 1.0])
    assert scene.objects["ball"].gaussians.colours.mean(0)[0] < colour[0] - 0.01
    session_of(scene).hide("ball")
    assert "ball" not in [scene.object_names[i] for i in torch.unique(scene.gaussians_at(0.0)[1]).tolist()]
    n = len(scene.background.gaussians)
    selected = in_sphere(scene, [0.5, 0.5, 0.0], 0.3, objects=["background"])
    session_of(scene).split("background", selected["background"], "patch")
    assert len(scene.background.gaussians) + len(scene.objects["patch"].gaussians) == n
    assert where(scene, lambda g: g.means[:, 2] > 5.0) == {}


def test_deleting_an_object_shows_what_was_behind_it():
    scene = _scene()
    camera = _camera()
    assert session_of(scene).object_at(camera, *_pixel_of(camera, [0.2, 0.4, 0.1]), t=0.0) == "ball"
    session_of(scene).delete("ball")
    assert "ball" not in scene.objects
    u, v = _pixel_of(camera, [0.2, 0.4, 0.1])
    assert session_of(scene).object_at(camera, u, v, t=0.0) == "background"  # the floor behind it


def _pixel_of(camera, point):
    uv, _ = camera.project(torch.tensor([point]))
    return int(uv[0, 0]), int(uv[0, 1])


def test_clicking_a_pixel_picks_the_object_under_it():
    scene = _scene()
    camera = _camera()
    box_centre = scene.objects["box"].pose_at(1.0)[:3, 3].float().tolist()  # the box at t=1 is at the origin, 10 cm up
    assert session_of(scene).object_at(camera, *_pixel_of(camera, box_centre), t=1.0) == "box"
    assert session_of(scene).object_at(camera, 0, 0, t=1.0) is None  # the sky
    with pytest.raises(InvalidArgumentError, match="outside"):
        session_of(scene).object_at(camera, 500, 0)


def test_an_inserted_mesh_renders_where_it_was_placed(tmp_path):
    mesh = trimesh.creation.box(extents=[0.3, 0.3, 0.3])
    mesh.visual.face_colors = [220, 30, 30, 255]
    mesh.export(tmp_path / "red.obj")
    scene = Scene(time_range=(0.0, 1.0))
    session_of(scene).insert_mesh(tmp_path / "red.obj", "red", position=[0.2, 0.1, 0.0], count=6000)
    camera = _camera()
    out = scene.render(camera, 0.5, backend="torch")
    u, v = _pixel_of(camera, [0.2, 0.1, 0.15])  # the middle of the placed box
    assert out.alpha[0, v, u, 0] > 0.95
    assert torch.allclose(out.rgb[0, v, u], torch.tensor([220 / 255, 30 / 255, 30 / 255]), atol=0.08)
    u2, v2 = _pixel_of(camera, [-0.4, 0.1, 0.15])
    assert out.alpha[0, v2, u2, 0] < 0.05
    assert scene.history[0]["args"]["sha256"]
    mesh.visual.face_colors = [20, 30, 220, 255]
    mesh.export(tmp_path / "red.obj")  # the file changes: replaying the journal refuses it
    with pytest.raises(InvalidArgumentError, match="changed"):
        replay(Scene(time_range=(0.0, 1.0)), scene.history)


def test_bad_edits_say_what_is_wrong_and_change_nothing(tmp_path):
    scene = _scene()
    files = scene_to_files(scene)
    with pytest.raises(InvalidArgumentError, match="no object named 'cube'.*box, ball"):
        session_of(scene).translate("cube", [1, 0, 0])
    with pytest.raises(InvalidArgumentError, match="translate.*finite numbers"):
        session_of(scene).translate("box", [1, 0, float("nan")])
    with pytest.raises(InvalidArgumentError, match="unknown edit 'explode'"):
        session_of(scene).apply("explode", object="box")
    with pytest.raises(InvalidArgumentError, match="unexpected keyword"):
        session_of(scene).apply("translate", object="box", offset=[0, 0, 0], speed=2)
    with pytest.raises(InvalidArgumentError, match="rigid transform"):
        session_of(scene).set_pose("box", 0.0, torch.eye(4) * 2)
    with pytest.raises(InvalidArgumentError, match="already exists"):
        session_of(scene).duplicate("box", "ball")
    with pytest.raises(InvalidArgumentError, match="background cannot be deleted"):
        session_of(scene).delete("background")
    with pytest.raises(InvalidArgumentError, match="no such mesh"):
        session_of(scene).insert_mesh(tmp_path / "none.glb", "thing")
    (tmp_path / "junk.glb").write_bytes(b"not a mesh")
    with pytest.raises(FormatError, match="junk.glb"):
        session_of(scene).insert_mesh(tmp_path / "junk.glb", "thing")
    with pytest.raises(InvalidArgumentError, match="spans"):
        split_selection(scene, in_box(scene, [-2, -2, -2], [2, 2, 2]), "all")
    assert scene_to_files(scene) == files and scene.history == []


def test_edits_written_as_text(tmp_path):
    from scenegen.edit.command import parse_edit, read_edits

    with pytest.raises(InvalidArgumentError, match="no such edits file"):
        read_edits(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(FormatError, match="bad.json: not valid JSON"):
        read_edits(tmp_path / "bad.json")

    assert parse_edit("translate box offset=0.1,0,-2") == {"op": "translate", "args": {"object": "box", "offset": [0.1, 0, -2]}}
    assert parse_edit("merge objects=box,ball name=pair t=null") == {
        "op": "merge", "args": {"objects": ["box", "ball"], "name": "pair", "t": None}}
    assert parse_edit("insert_mesh path='my chair.glb' name=chair size=0.4")["args"]["path"] == "my chair.glb"
    with pytest.raises(InvalidArgumentError, match="starts with one of"):
        parse_edit("teleport box")
    with pytest.raises(InvalidArgumentError, match="key=value"):
        parse_edit("rotate box 90")


def test_the_edit_command_applies_lists_and_previews(tmp_path, capsys):
    from scenegen.cli import main

    save(_scene(), tmp_path / "scene")
    assert main(["edit", str(tmp_path / "scene")]) == 0
    assert "box: 400 Gaussians" in capsys.readouterr().out
    (tmp_path / "edits.json").write_text('[{"op": "hide", "args": {"object": "ball"}}]')
    assert main(["edit", str(tmp_path / "scene"), "--edits", str(tmp_path / "edits.json"), "--do", "duplicate box name=box_2 offset=0,0.4,0",
                 "-o", str(tmp_path / "edited.zip"), "--preview", str(tmp_path / "preview.png"), "--backend", "torch"]) == 0
    edited = load(tmp_path / "edited.zip")
    assert [e["op"] for e in edited.history] == ["hide", "duplicate"] and not edited.objects["ball"].visible
    import imageio.v3 as iio

    picture = iio.imread(tmp_path / "preview.png")
    assert picture.shape[1] == 2 * picture.shape[0] * 4 // 3  # before | after, each 4:3
    assert main(["edit", str(tmp_path / "scene"), "--do", "delete cube", "-o", str(tmp_path / "bad")]) == 2
    assert "no object named 'cube'" in capsys.readouterr().err and not (tmp_path / "bad").exists()
