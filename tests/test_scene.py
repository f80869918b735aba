import math

import pytest
import torch

from scenegen import Gaussians, Scene, SceneObject, Track
from scenegen.errors import InvalidArgumentError
from scenegen.geometry import axis_angle_to_quat, make_transform, quat_to_rotmat
from scenegen.render.picking import object_ids

Z = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)


def blob(n=4, offset=0.0):
    return Gaussians.from_points(torch.arange(n * 3, dtype=torch.float32).reshape(n, 3) * 0.1 + offset)


def spin_track(interpolation="linear"):
    times = [0.0, 1.0, 2.0]
    rots = torch.stack([axis_angle_to_quat(Z, a) for a in (0.0, math.pi / 2, math.pi)])
    return Track(times, rots, [[0.0, 0, 0], [1.0, 0, 0], [1.0, 1.0, 0]], interpolation)


def test_track_interpolates_rotation_and_translation_and_holds_outside():
    tr = spin_track()
    mid = tr.pose_at(0.5)
    assert torch.allclose(mid[:3, :3], quat_to_rotmat(axis_angle_to_quat(Z, math.pi / 4)), atol=1e-12)
    assert torch.allclose(mid[:3, 3], torch.tensor([0.5, 0.0, 0.0], dtype=torch.float64))
    assert torch.allclose(tr.pose_at(-5.0), tr.pose_at(0.0)) and torch.allclose(tr.pose_at(9.0), tr.pose_at(2.0))
    assert torch.allclose(tr.pose_at(1.0)[:3, 3], torch.tensor([1.0, 0, 0], dtype=torch.float64))


def test_cubic_track_passes_through_keys_and_is_smooth():
    tr = spin_track("cubic")
    for t, p in [(0.0, [0.0, 0, 0]), (1.0, [1.0, 0, 0]), (2.0, [1.0, 1.0, 0])]:
        assert torch.allclose(tr.pose_at(t)[:3, 3], torch.tensor(p, dtype=torch.float64), atol=1e-12)
    # Velocity is continuous across the middle key (linear interpolation would jump there).
    eps = 1e-5
    pos = lambda t: tr.pose_at(t)[:3, 3]  # noqa: E731
    v_before = (pos(1.0) - pos(1.0 - eps)) / eps
    v_after = (pos(1.0 + eps) - pos(1.0)) / eps
    assert torch.allclose(v_before, v_after, atol=1e-3)
    lin = spin_track("linear")
    assert not torch.allclose(lin.pose_at(1.5)[:3, 3], tr.pose_at(1.5)[:3, 3])


def test_track_unsorted_keys_identity_and_set_keyframe():
    tr = Track([2.0, 0.0], [[1.0, 0, 0, 0], [1.0, 0, 0, 0]], [[2.0, 0, 0], [0.0, 0, 0]])
    assert torch.allclose(tr.pose_at(1.0)[:3, 3], torch.tensor([1.0, 0, 0], dtype=torch.float64))
    assert Track().is_identity and torch.equal(Track().pose_at(3.0), torch.eye(4, dtype=torch.float64))
    tr2 = tr.set_keyframe(1.0, make_transform(torch.eye(3, dtype=torch.float64), torch.tensor([5.0, 0, 0], dtype=torch.float64)))
    assert len(tr2) == 3 and torch.allclose(tr2.pose_at(1.0)[:3, 3], torch.tensor([5.0, 0, 0], dtype=torch.float64))
    assert len(tr2.set_keyframe(1.0, torch.eye(4))) == 3  # replaces, does not duplicate
    assert Track.from_dict(tr2.to_dict()) == tr2
    poses = tr2.poses_at([0.0, 0.5, 1.0])
    again = Track.from_matrices([0.0, 0.5, 1.0], poses)
    assert torch.allclose(again.poses_at([0.25]), tr2.poses_at([0.25]), atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    dict(times=[0.0, 0.0], rotations=[[1.0, 0, 0, 0]] * 2, translations=[[0.0, 0, 0]] * 2),
    dict(times=[0.0], rotations=[[0.0, 0, 0, 0]], translations=[[0.0, 0, 0]]),
    dict(times=[0.0], rotations=[[1.0, 0, 0, 0]], translations=[[float("nan"), 0, 0]]),
    dict(times=[0.0, 1.0], rotations=[[1.0, 0, 0, 0]], translations=[[0.0, 0, 0]] * 2),
    dict(interpolation="spline"),
])
def test_bad_tracks_raise(kwargs):
    with pytest.raises(InvalidArgumentError):
        Track(**kwargs)


def test_scene_gaussians_at_places_objects_and_labels_them():
    bg = blob(5)
    mover = SceneObject("box", blob(3), Track([0.0, 1.0], [[1.0, 0, 0, 0]] * 2, [[0.0, 0, 0], [0.0, 0, 2.0]]))
    hidden = SceneObject("ghost", blob(2), visible=False)
    scene = Scene(bg, [mover, hidden], time_range=(0.0, 1.0))
    g, ids = scene.gaussians_at(0.5)
    assert len(g) == 8 and ids.tolist() == [0] * 5 + [1] * 3
    assert torch.allclose(g.means[5:], mover.gaussians.means + torch.tensor([0.0, 0, 1.0]))
    assert scene.object_names == ["background", "box", "ghost"]
    g0, _ = scene.gaussians_at()
    assert torch.allclose(g0.means[5:], mover.gaussians.means)
    hidden.visible = True
    assert scene.gaussians_at(0.0)[1].tolist()[-2:] == [2, 2]


def test_scene_from_gaussians_and_name_clashes():
    s = Scene.from_gaussians(blob(3))
    assert len(s.objects) == 0 and s.num_gaussians == 3
    s.add(SceneObject("a", blob(1)))
    with pytest.raises(InvalidArgumentError, match="already exists"):
        s.add(SceneObject("a", blob(1)))
    with pytest.raises(InvalidArgumentError):
        s.add(SceneObject("background", blob(1)))
    with pytest.raises(InvalidArgumentError):
        Scene(time_range=(2.0, 1.0))
    with pytest.raises(InvalidArgumentError):
        SceneObject("", blob(1))


def test_empty_scene_gaussians_at():
    g, ids = Scene().gaussians_at(0.0)
    assert len(g) == 0 and len(ids) == 0


def test_object_ids_by_accumulated_weight_prefer_a_faint_surface_over_one_strong_gaussian():
    """Object 1 is a wall of faint Gaussians in front; object 2 one strong Gaussian behind it.
    The single heaviest Gaussian is object 2's, yet object 1 carries most of the weight."""
    import math

    from scenegen import Camera, Gaussians, Scene, SceneObject

    cam = Camera.look_at([0.0, 0.0, -3.0], [0.0, 0.0, 0.0], up=(0.0, 1.0, 0.0), fov_deg=30, width=24, height=24)
    n = 20  # faint layers stacked in depth, each 0.1 opaque
    front = Gaussians.from_points(torch.tensor([[0.0, 0.0, -0.5 - 0.01 * k] for k in range(n)]), scale=2.0, opacity=0.1)
    back = Gaussians.from_points(torch.tensor([[0.0, 0.0, 1.0]]), scale=2.0, opacity=0.99)
    scene = Scene(objects=[SceneObject("front", front), SceneObject("back", back)])
    ids = object_ids(scene, cam)
    assert ids.shape == (24, 24) and (ids[12, 12] == 1)
    heaviest = scene.render(cam).object_id[0]
    assert heaviest[12, 12] == 2  # what RenderOutput.object_id reports
    empty = Scene(objects=[SceneObject("front", Gaussians.from_points(torch.tensor([[5.0, 5.0, 0.0]]), scale=0.01))])
    assert (object_ids(empty, cam) == -1).all()
    assert math.isfinite(float(ids.float().mean()))
