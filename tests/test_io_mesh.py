"""Meshes, point clouds and exports (scenegen.export, scenegen.io.mesh, `scenegen export`)."""

import json

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from scenegen.cli import main
from scenegen.edit.insert import mesh_gaussians
from scenegen.errors import InvalidArgumentError
from scenegen.geometry import axis_angle_to_quat, make_transform
from scenegen.io import read_ply, read_splat
from scenegen.export import export, export_kind, extract_mesh, extract_meshes, sphere_views
from scenegen.io import point_cloud, write_mesh
from scenegen.scene import Scene, SceneObject, Track

FAST = dict(num_views=24, size=128)
BOX = (0.3, 0.2, 0.16)


def _chamfer(a, b, n=20000) -> float:
    """Mean symmetric distance between the surfaces of two meshes (sampled)."""
    pa, pb = a.sample(n, seed=0), b.sample(n, seed=1)
    return 0.5 * (cKDTree(pb).query(pa)[0].mean() + cKDTree(pa).query(pb)[0].mean())


def _true_box():
    box = trimesh.creation.box(extents=BOX)
    box.apply_translation([0, 0, BOX[2] / 2])  # base at the origin, as mesh_gaussians places it
    return box


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A red box that turns and slides on a floor of Gaussians, and a blue ball."""
    folder = tmp_path_factory.mktemp("meshes")
    box = trimesh.creation.box(extents=BOX)
    box.visual.face_colors = [220, 40, 30, 255]
    box.export(folder / "box.ply")
    ball = trimesh.creation.icosphere(subdivisions=4, radius=0.1)
    ball.visual.vertex_colors = [40, 60, 220, 255]
    ball.export(folder / "ball.ply")
    floor = trimesh.creation.box(extents=(2.0, 2.0, 0.02))
    floor.visual.face_colors = [150, 140, 120, 255]
    floor.export(folder / "floor.ply")
    q = axis_angle_to_quat(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(0.6))
    track = Track([0.0, 1.0], torch.stack([torch.tensor([1.0, 0, 0, 0]), q]), torch.tensor([[-0.3, 0.0, 0.0], [0.2, 0.1, 0.0]]))
    return Scene(mesh_gaussians(folder / "floor.ply", count=20000).transform(make_transform(torch.eye(3), torch.tensor([0, 0, -0.02]))),
                 [SceneObject("box", mesh_gaussians(folder / "box.ply", count=15000), track),
                  SceneObject("ball", mesh_gaussians(folder / "ball.ply", count=8000),
                              Track([0.0], torch.tensor([[1.0, 0, 0, 0]]), torch.tensor([[0.3, -0.3, 0.0]])))],
                 time_range=(0.0, 1.0))


def test_mesh_of_an_object_is_close_to_its_true_mesh_at_any_time(scene):
    t = 0.7
    mesh = extract_mesh(scene, "box", t, **FAST)
    truth = _true_box()
    truth.apply_transform(scene.objects["box"].pose_at(t).double().numpy())
    size = float(np.linalg.norm(BOX))
    assert _chamfer(mesh, truth) < 0.015 * size
    # Meshed alone: no floor and no ball in it, and it carries the box's colour.
    assert np.all(mesh.bounds[0] > truth.bounds[0] - 0.02) and np.all(mesh.bounds[1] < truth.bounds[1] + 0.02)
    colour = mesh.visual.vertex_colors[:, :3].mean(0)
    assert colour[0] > 170 and colour[1] < 90 and colour[2] < 90
    # In its own frame it is the untransformed box.
    local = extract_mesh(scene, "box", t, frame="object", **FAST)
    assert _chamfer(local, _true_box()) < 0.015 * size


def test_whole_scene_meshes_every_object_by_name(scene):
    meshes = extract_meshes(scene, **FAST)
    assert list(meshes) == ["background", "box", "ball"]
    ball_true = trimesh.creation.icosphere(subdivisions=4, radius=0.1)
    ball_true.apply_translation([0.3, -0.3, 0.1])
    assert _chamfer(meshes["ball"], ball_true) < 0.004
    floor_true = trimesh.creation.box(extents=(2.0, 2.0, 0.02))
    floor_true.apply_translation([0, 0, -0.01])
    # The floor's splats are 2 cm apart: its surface is as sharp as that.
    assert _chamfer(meshes["background"], floor_true) < 0.015 * 2.83


def test_mesh_files_keep_objects_apart_in_glb_and_join_them_elsewhere(scene, tmp_path):
    meshes = extract_meshes(scene, ["box", "ball"], 0.0, **FAST)
    glb = write_mesh(tmp_path / "objects.glb", meshes)
    loaded = trimesh.load(glb)
    assert isinstance(loaded, trimesh.Scene) and set(loaded.geometry) == {"box", "ball"}
    for suffix in (".obj", ".ply"):
        joined = trimesh.load(write_mesh(tmp_path / f"joined{suffix}", meshes), force="mesh")
        assert len(joined.faces) == sum(len(m.faces) for m in meshes.values())
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    with pytest.raises(InvalidArgumentError, match="extensions"):
        write_mesh(tmp_path / "x.fbx", meshes)


def test_point_cloud_keeps_opaque_centres_with_their_colours(scene):
    cloud = point_cloud(scene, "ball", 0.0)
    assert len(cloud.vertices) == 8000
    assert np.allclose(cloud.vertices.mean(0), [0.3, -0.3, 0.1], atol=0.01)
    assert cloud.colors[:, 2].mean() > 180
    with pytest.raises(InvalidArgumentError, match="min_opacity"):
        point_cloud(scene, "ball", min_opacity=0.999)


def test_export_writes_each_kind(scene, tmp_path):
    assert export_kind(tmp_path / "a.splat") == "splats" and export_kind(tmp_path / "a.glb") == "mesh"
    assert export_kind(tmp_path / "frames") == "sequence" and export_kind(tmp_path / "a.ply", "points") == "points"
    out = export(scene, tmp_path / "box.ply", objects=["box"], t=1.0)
    assert out["gaussians"] == 15000 and len(read_ply(tmp_path / "box.ply")) == 15000
    assert len(read_splat(export(scene, tmp_path / "all.splat")["path"])) == scene.num_gaussians
    seq = export(scene, tmp_path / "frames", frames=3, objects=["box"])
    frames = json.loads((tmp_path / "frames" / "sequence.json").read_text())["frames"]
    assert seq["frames"] == 3 and [f["time"] for f in frames] == [0.0, 0.5, 1.0]
    first, last = (read_ply(tmp_path / "frames" / f["file"]).means.mean(0) for f in (frames[0], frames[-1]))
    assert torch.allclose(last - first, torch.tensor([0.5, 0.1, 0.0]), atol=2e-3)  # the box slid (and turned)
    split = export(scene, tmp_path / "meshes.obj", objects=["box", "ball"], separate=True, **FAST)
    assert sorted(p.rsplit("/", 1)[-1] for p in split["files"]) == ["ball.obj", "box.obj"]


def test_bad_exports_are_refused_clearly(scene, tmp_path):
    with pytest.raises(InvalidArgumentError, match="no object named 'chair'"):
        export(scene, tmp_path / "x.glb", objects=["chair"])
    with pytest.raises(InvalidArgumentError, match="export kind"):
        export(scene, tmp_path / "x.glb", kind="voxels")
    with pytest.raises(InvalidArgumentError, match="extension"):
        export(scene, tmp_path / "x.abc")
    with pytest.raises(InvalidArgumentError, match="folder"):
        export(scene, tmp_path / "x.zip", kind="sequence")
    with pytest.raises(InvalidArgumentError, match="frame='object' needs exactly one"):
        extract_mesh(scene, ["box", "ball"], frame="object")
    far_away = sphere_views(torch.tensor([50.0, 0, 0]), 0.1, num=4, size=32)
    with pytest.raises(InvalidArgumentError, match="no view saw"):
        extract_mesh(scene, "ball", views=far_away)


def test_export_command_writes_a_glb_of_the_objects(scene, tmp_path, capsys):
    from scenegen.io import save

    save(scene, tmp_path / "scene")
    code = main(["export", str(tmp_path / "scene"), str(tmp_path / "ball.glb"), "--object", "ball",
                 "--num-views", "16", "--time", "0.5"])
    assert code == 0
    assert "ball:" in capsys.readouterr().out
    assert set(trimesh.load(tmp_path / "ball.glb").geometry) == {"ball"}
    assert main(["export", str(tmp_path / "scene"), str(tmp_path / "x.glb"), "--object", "chair"]) == 2
    assert "no object named 'chair'" in capsys.readouterr().err
