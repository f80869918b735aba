"""Physics (scenegen.edit.physics): drop, push, stack, with PyBullet."""

import pytest
import torch
import trimesh

from scenegen.edit import ground_plane, replay, session_of
from scenegen.errors import InvalidArgumentError
from scenegen.io.scene_file import scene_to_files
from scenegen.scene import Scene


@pytest.fixture(scope="module")
def crate(tmp_path_factory):
    path = tmp_path_factory.mktemp("physics") / "crate.glb"
    mesh = trimesh.creation.box(extents=[0.2, 0.2, 0.2])
    mesh.visual.face_colors = [200, 120, 40, 255]
    mesh.export(path)
    return path


def _lowest(scene, name, t):
    return float(scene.objects[name].gaussians_at(t).means[:, 2].min())


def test_a_dropped_object_comes_to_rest_on_the_plane(crate):
    scene = Scene(time_range=(0.0, 0.0), metadata={"support_plane": [0.0, 0.0, 1.0, 0.0]})
    session_of(scene).insert_mesh(crate, "crate", position=[0.0, 0.0, 0.6], count=3000)
    session_of(scene).rotate("crate", [1, 0.5, 0], 25)
    start = scene.objects["crate"].pose_at(0.0)
    session_of(scene).simulate(2.0, fps=30)
    obj = scene.objects["crate"]
    assert len(obj.track) == 61 and scene.time_range == (0.0, 2.0)
    assert torch.allclose(obj.pose_at(0.0), start, atol=1e-6)  # no jump at the start
    assert abs(_lowest(scene, "crate", 2.0)) < 0.005  # resting on the plane, within 5 mm
    assert torch.allclose(obj.pose_at(2.0), obj.pose_at(1.9), atol=1e-3)  # at rest
    assert _lowest(scene, "crate", 0.2) > 0.3  # and it fell, not jumped there


def test_a_dropped_object_lands_on_another_instead_of_passing_through(crate):
    scene = Scene(time_range=(0.0, 0.0), metadata={"support_plane": [0.0, 0.0, 1.0, 0.0]})
    session_of(scene).insert_mesh(crate, "below", position=[0.0, 0.0, 0.0], count=3000)
    session_of(scene).insert_mesh(crate, "above", position=[0.02, -0.01, 0.5], count=3000)
    session_of(scene).simulate(1.5, fps=30, objects=["above"])
    assert scene.objects["below"].track.times.tolist() == [0.0]  # an obstacle, not moved
    assert abs(_lowest(scene, "above", 1.5) - 0.2) < 0.01  # stacked on top of the other


def test_an_impulse_pushes_and_the_journal_replays_the_same_motion(crate):
    def build():
        s = Scene(time_range=(0.0, 0.0))
        s.insert_mesh(crate, "crate", position=[0.0, 0.0, 0.0], count=2000)
        return s

    scene = build()
    mass = 500.0 * float(trimesh.creation.box(extents=[0.2, 0.2, 0.2]).volume)
    session_of(scene).simulate(1.0, fps=20, impulses={"crate": [2.0 * mass, 0.0, 0.0]}, plane=[0, 0, 1, 0])
    moved = scene.objects["crate"].pose_at(1.0)[:3, 3]
    assert 0.1 < float(moved[0]) < 2.0 and abs(float(moved[1])) < 0.05  # slid along +x, slowed by friction
    assert scene_to_files(replay(Scene(time_range=(0.0, 0.0)), scene.history)) == scene_to_files(scene)
    session_of(scene).undo()
    assert scene.objects["crate"].pose_at(1.0)[:3, 3].abs().max() < 1e-9


def test_the_ground_is_found_in_the_background_and_bad_input_is_refused(crate):
    from test_edit import _scene

    scene = _scene()  # a floor of Gaussians at z = 0
    normal, d = ground_plane(scene)
    assert float(normal[2]) > 0.99 and abs(d) < 0.02
    empty = Scene(time_range=(0.0, 0.0))
    empty.insert_mesh(crate, "crate", position=[0.0, 0.0, 0.5], count=500)
    with pytest.raises(InvalidArgumentError, match="no supporting plane"):
        empty.simulate(1.0)
    with pytest.raises(InvalidArgumentError, match="impulse for 'box'"):
        empty.simulate(1.0, plane=[0, 0, 1, 0], impulses={"box": [1, 0, 0]})
    with pytest.raises(InvalidArgumentError, match="duration must be > 0"):
        empty.simulate(0.0, plane=[0, 0, 1, 0])
    assert empty.history[-1]["op"] == "insert_mesh"
