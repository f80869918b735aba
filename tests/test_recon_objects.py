"""Objects from motion and from geometry, and the rigid Tracks objects get: on scenes built from
known Gaussians and motions, so every expected label is known."""

import math

import numpy as np
import pytest
import torch

from scenegen import Gaussians, Scene
from scenegen.errors import InvalidArgumentError
from scenegen.gaussian_motion import GaussianMotion, MotionBasis
from scenegen.geometry import axis_angle_to_quat, quat_to_rotmat
from scenegen.recon.objects.from_motion import motion_labels
from scenegen.common.points import solid_points
from scenegen.common.views import scene_up
from scenegen.recon.objects import find_objects, split_objects
from scenegen.recon.objects.from_geometry import plane_labels
from scenegen.recon.objects.labels import sample_times
from scenegen.scene import SceneObject

T0, T1 = 0.0, 2.0
SLIDE = 0.3  # the box slides this far along x over the time range


def _blob(centre, n, size, generator):
    return torch.tensor(centre) + (torch.rand(n, 3, generator=generator) - 0.5) * torch.as_tensor(size)


def _gaussians(means, generator):
    n = len(means)
    return Gaussians(means, torch.full((n, 3), math.log(0.01)), torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
                     torch.full((n,), 3.0), torch.rand(n, 1, 3, generator=generator))


def _fit_motion(basis, times, displacements):
    zeros = torch.zeros_like(displacements)
    n = displacements.shape[1]
    return GaussianMotion.fit(basis, times, displacements, zeros, torch.zeros(n), torch.zeros(n))


@pytest.fixture(scope="module")
def tabletop():
    """A floor, a box that slides, a block that turns about its vertical axis and a still ball;
    labels 0 floor, 1 box, 2 block, 3 ball. Motion is fitted to the true paths on the scene's basis."""
    gen = torch.Generator().manual_seed(0)
    floor = torch.cat([torch.rand(4000, 2, generator=gen) * 2 - 1, torch.zeros(4000, 1)], 1)
    box = _blob([0.3, -0.3, 0.1], 600, 0.2, gen)
    block = _blob([-0.4, 0.3, 0.1], 600, [0.3, 0.1, 0.2], gen)
    ball = _blob([0.3, 0.4, 0.1], 600, 0.2, gen)
    means = torch.cat([floor, box, block, ball])
    labels = torch.cat([torch.full((len(p),), i) for i, p in enumerate((floor, box, block, ball))])
    basis = MotionBasis(T0, T1, 2, 2)
    times = torch.linspace(T0, T1, 21, dtype=torch.float64)
    mid = 0.5 * (T0 + T1)
    displacement = torch.zeros(len(times), len(means), 3)
    for k, t in enumerate(times.tolist()):
        displacement[k, labels == 1, 0] = SLIDE * (t - mid) / (T1 - T0)
        angle = 0.8 * (t - mid) / (T1 - T0)  # radians about z through the block's centre
        R = quat_to_rotmat(axis_angle_to_quat(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(angle)))
        c = torch.tensor([-0.4, 0.3, 0.1])
        p = means[labels == 2]
        displacement[k, labels == 2] = (p - c) @ R.T + c - p
    motion = _fit_motion(basis, times, displacement)
    scene = Scene(SceneObject("background", _gaussians(means, gen), motion=motion), time_range=(T0, T1))
    return scene, labels, displacement, times


def test_motion_groups_are_the_moving_objects(tabletop):
    scene, truth, _, _ = tabletop
    labels = motion_labels(scene)
    assert set(labels.tolist()) == {0, 1, 2}
    for true_label in (1, 2):
        found = labels[truth == true_label]
        assert float((found == found.mode().values).double().mean()) > 0.98 and int(found.mode().values) > 0
    assert float((labels[(truth == 0) | (truth == 3)] == 0).double().mean()) > 0.99  # the floor and the ball stay


def test_moving_objects_get_rigid_tracks_that_reproduce_the_motion(tabletop):
    scene, truth, displacement, times = tabletop
    split = find_objects(scene, method="motion")
    assert sorted(split.objects) == ["moving_1", "moving_2"]
    box = next(o for o in split.objects.values() if abs(o.metadata["gaussians"] - 600) < 30 and
               float(o.track.translations[:, 1].mean()) < 0)
    assert box.metadata["source"] == "motion" and len(box.track) == len(sample_times(split))
    path = box.track.translations[-1] - box.track.translations[0]
    assert torch.allclose(path.float(), torch.tensor([SLIDE, 0.0, 0.0]), atol=0.01)
    assert box.metadata["rigid_residual"] < 1e-3
    assert box.gaussians.means.mean(0).abs().max() < 0.02  # centred in its own frame
    # The split scene places every Gaussian where the per-Gaussian motion did, at any time.
    for t in (T0, 0.7, 1.234, T1):
        before, _ = scene.gaussians_at(t)
        after, _ = split.gaussians_at(t)
        a = torch.sort(before.means.double().sum(1)).values
        b = torch.sort(after.means.double().sum(1)).values
        assert (a - b).abs().max() < 5e-3, t


def test_a_still_scene_has_no_moving_objects(tabletop):
    scene, *_ = tabletop
    still = Scene(SceneObject("background", scene.background.gaussians,
                              motion=GaussianMotion.still(scene.num_gaussians, scene.background.motion.basis)),
                  time_range=(T0, T1))
    assert (motion_labels(still) == 0).all()
    assert not find_objects(still, method="motion").objects


def test_geometry_finds_the_objects_on_the_floor(tabletop):
    scene, truth, _, _ = tabletop
    static = Scene.from_gaussians(scene.background.gaussians, metadata={"up": [0.0, 0.0, 1.0]})
    labels = plane_labels(static)
    plane = torch.tensor(static.metadata["support_plane"])
    assert torch.allclose(plane[:3].abs(), torch.tensor([0.0, 0.0, 1.0]), atol=0.01) and abs(float(plane[3])) < 0.02
    for true_label in (1, 2, 3):
        found = labels[truth == true_label]
        mode = int(found.mode().values)
        assert mode > 0 and float((found == mode).double().mean()) > 0.8  # the base ring may join the floor
    assert len(set(labels.tolist())) == 4
    assert float((labels[truth == 0] == 0).double().mean()) > 0.99
    split = find_objects(static)  # auto: no masks, no motion -> geometry
    assert len(split.objects) == 3 and all(o.metadata["source"] == "geometry" for o in split.objects.values())


def test_objects_found_from_motion_are_joined_by_the_still_ones(tabletop):
    """With "auto", a scene whose objects all came from motion also gets the still clusters on
    its floor; asked for "motion" only, or with objects from masks, it stays as it is."""
    scene, truth, _, _ = tabletop
    static = Scene.from_gaussians(scene.background.gaussians, metadata={"up": [0.0, 0.0, 1.0]})
    moving = split_objects(static, (truth == 1).long(), {1: "moving_1"}, source="motion")
    found = find_objects(moving)
    assert sorted(found.objects) == ["moving_1", "still_1", "still_2"]
    assert {o.metadata["source"] for n, o in found.objects.items() if n != "moving_1"} == {"geometry"}
    for name in ("still_1", "still_2"):  # the block and the ball (600 Gaussians each), whole
        assert 400 < len(found.objects[name].gaussians) < 800
    assert sorted(find_objects(moving, method="motion").objects) == ["moving_1"]
    masked = split_objects(static, (truth == 1).long(), {1: "box"}, source="masks")
    assert sorted(find_objects(masked).objects) == ["box"]


def test_up_comes_from_metadata_or_cameras():
    from scenegen.camera import Camera, Cameras

    cams = Cameras.stack([Camera.look_at([2.0, 0.0, 1.0], [0.0, 0.0, 0.0]), Camera.look_at([0.0, 2.0, 1.0], [0.0, 0.0, 0.0])])
    up = scene_up(Scene(cameras=cams))
    assert float(up[2]) > 0.9
    assert torch.allclose(scene_up(Scene(metadata={"up": [0, 2, 0]})), torch.tensor([0.0, 1.0, 0.0]))


def test_bad_requests_are_named(tabletop):
    scene, truth, _, _ = tabletop
    with pytest.raises(InvalidArgumentError, match="unknown object method"):
        find_objects(scene, method="colour")
    with pytest.raises(InvalidArgumentError, match="needs the dataset"):
        find_objects(scene, method="masks")
    with pytest.raises(InvalidArgumentError, match="trained with motion"):
        find_objects(Scene.from_gaussians(scene.background.gaussians), method="motion")
    with pytest.raises(InvalidArgumentError, match=">= 0"):
        split_objects(scene, truth - 1)
    assert find_objects(scene, method="none") is scene


def test_an_object_in_touching_pieces_is_one_object():
    """A ball whose opaque Gaussians are thin along a band (two caps and a few points between):
    DBSCAN makes two clusters of it, which touch, so it is one object; a second ball farther
    away stays its own. A few Gaussians inside the ball, too sparse for DBSCAN (its noise), join
    it through their neighbours."""
    import open3d as o3d

    gen = torch.Generator().manual_seed(1)
    floor = torch.cat([torch.rand(4000, 2, generator=gen) * 2 - 1, torch.zeros(4000, 1)], 1)
    eps = 0.0507  # the cluster radius plane_labels derives for this scene (4 x its spacing; checked below)
    radius, gap = 0.15, 1.8 * eps
    shell = torch.randn(4000, 3, generator=gen)
    shell = radius * shell / shell.norm(dim=1, keepdim=True)
    caps = shell[shell[:, 0].abs() > gap / 2][:700]
    angle = torch.linspace(0, 2 * math.pi, 9)[:-1]
    band = torch.stack([torch.zeros(8), radius * torch.cos(angle), radius * torch.sin(angle)], 1)
    inside = torch.tensor([[0.0, 0.0, 0.0], [0.03, 0.0, 0.0], [0.0, 0.03, 0.0], [0.0, 0.0, 0.03], [-0.03, 0.0, 0.0]])
    thin = torch.cat([caps, band, inside]) + torch.tensor([0.4, 0.4, radius])
    whole = shell[:700] + torch.tensor([-0.4, -0.4, radius])
    means = torch.cat([floor, thin, whole])
    truth = torch.cat([torch.zeros(len(floor)), torch.ones(len(thin)), torch.full((len(whole),), 2)]).long()
    scene = Scene.from_gaussians(_gaussians(means, gen), metadata={"up": [0.0, 0.0, 1.0]})
    assert abs(4 * solid_points(scene, 0.3)[3] - eps) < 0.05 * eps
    clusters = torch.as_tensor(np.asarray(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(thin.double().numpy()))
                                          .cluster_dbscan(eps=eps, min_points=10)))
    assert len(set(clusters.tolist()) - {-1}) == 2 and (clusters[-len(inside):] == -1).all()  # DBSCAN: two pieces, noise
    labels = plane_labels(scene)
    for value in (1, 2):
        found = labels[truth == value]
        mode = int(found.mode().values)
        assert mode > 0 and float((found == mode).double().mean()) > 0.95
    assert (labels[len(floor) + len(thin) - len(inside): len(floor) + len(thin)] == labels[truth == 1].mode().values).all()
    assert len(set(labels.tolist())) == 3
