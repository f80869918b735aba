"""Objects from masks: labels lifted from the synthetic scene's instance masks onto Gaussians
placed on its true surfaces, then the scene split into objects."""

import json

import numpy as np
import pytest
import torch

from scenegen import Gaussians, Scene
from scenegen.data import load_dataset
from scenegen.errors import InvalidArgumentError
from scenegen.recon.objects import split_objects
from scenegen.recon.objects.labels import clean_labels, labels_from_masks
from scenegen.synth import generate, load_spec


@pytest.fixture(scope="module")
def truth_scene(tmp_path_factory):
    """tabletop-static rendered at 96x72 (6 frames), and Gaussians sampled on its true surfaces
    with the true label of each."""
    import trimesh

    out = generate(load_spec("tabletop-static"), tmp_path_factory.mktemp("seg") / "ts", frames=6, size=(96, 72),
                   progress=False, video=False)
    truth = json.loads((out / "ground_truth.json").read_text())
    rng = np.random.default_rng(0)
    points, labels = [], []
    room = trimesh.load(out / "meshes" / "room.ply")
    pts, _ = trimesh.sample.sample_surface(room, 3000, seed=1)
    points.append(pts)
    labels.append(np.zeros(len(pts), int))
    from scenegen.geometry import quat_to_rotmat

    for obj in truth["objects"]:
        mesh = trimesh.load(out / obj["mesh"])
        pts, _ = trimesh.sample.sample_surface(mesh, 1500, seed=int(rng.integers(1000)))
        R = quat_to_rotmat(torch.tensor(obj["track"]["rotations"][0])).numpy()
        points.append(pts @ R.T + np.array(obj["track"]["translations"][0]))
        labels.append(np.full(len(pts), obj["index"]))
    points = torch.tensor(np.concatenate(points), dtype=torch.float32)
    gaussians = Gaussians.from_points(points, torch.full((len(points), 3), 0.5), scale=0.01)
    gaussians.opacities[:] = 5.0
    return out, Scene.from_gaussians(gaussians), torch.tensor(np.concatenate(labels)), truth


def _scores(labels, true_labels, index):
    precision = float((true_labels[labels == index] == index).double().mean())
    recall = float((labels[true_labels == index] == index).double().mean())
    return precision, recall


def test_mask_labels_land_on_the_right_gaussians(truth_scene):
    out, scene, true_labels, truth = truth_scene
    raw = labels_from_masks(scene, load_dataset(out))
    assert (raw == -1).any()  # the undersides of the objects were never seen
    cleaned = clean_labels(scene.background.gaussians.means, raw)
    assert (cleaned >= 0).all()
    for index in range(1, len(truth["objects"]) + 1):
        precision, recall = _scores(raw, true_labels, index)
        assert precision > 0.95 and recall > 0.5, (index, precision, recall)
        # The unseen sides take their neighbours' labels.
        precision_c, recall_c = _scores(cleaned, true_labels, index)
        assert precision_c > 0.9 and recall_c > max(recall, 0.8), (index, precision_c, recall_c)
    assert float((cleaned[true_labels == 0] == 0).double().mean()) > 0.97


def test_a_first_frame_mask_labels_the_whole_object(truth_scene, tmp_path):
    from scenegen.data.masks import object_mask_paths

    out, scene, true_labels, truth = truth_scene
    ds = load_dataset(out)
    ds.mask_paths = object_mask_paths(ds.image_paths, ds.mask_paths[0])
    assert ds.mask_paths[0] is not None and all(p is None for p in ds.mask_paths[1:]) and ds.mask(1) is None
    from scenegen.recon.objects import find_objects

    labels = clean_labels(scene.background.gaussians.means, labels_from_masks(scene, ds, views=[0]))
    for index in range(1, len(truth["objects"]) + 1):
        precision, recall = _scores(labels, true_labels, index)
        # One view sees the front of each object; its neighbours carry the label around part of the back.
        assert precision > 0.9 and recall > 0.5, (index, precision, recall)
    split = find_objects(scene, ds, "masks")
    assert sorted(split.objects) == sorted(o["name"] for o in truth["objects"])  # names from transforms.json
    assert all(o.metadata["source"] == "masks" for o in split.objects.values())
    with pytest.raises(Exception, match="no such mask"):
        object_mask_paths(ds.image_paths, tmp_path / "missing.png")


def test_split_objects_keeps_every_gaussian_in_place(truth_scene):
    out, scene, true_labels, truth = truth_scene
    names = {o["index"]: o["name"] for o in truth["objects"]}
    split = split_objects(scene, true_labels, names)
    assert sorted(split.objects) == sorted(names.values())
    box = split.objects["red_box"]
    assert box.gaussians.means.mean(0).abs().max() < 1e-5  # centred in its own frame
    before, _ = scene.gaussians_at(0.0)
    after, ids = split.gaussians_at(0.0)
    assert len(after) == len(before)
    order = torch.cat([(true_labels == k).nonzero().squeeze(1) for k in range(len(truth["objects"]) + 1)])
    assert torch.allclose(after.means, before.means[order], atol=1e-5)
    assert torch.equal(ids, true_labels[order])
    with pytest.raises(InvalidArgumentError):
        split_objects(scene, true_labels[:5])
    with pytest.raises(InvalidArgumentError, match="no masks"):
        no_masks = load_dataset(out)
        no_masks.mask_paths = None
        labels_from_masks(scene, no_masks)
