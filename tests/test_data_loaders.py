"""scenegen.data on generated datasets: format detection, cameras, intrinsics, images, times,
masks, splits, downscaling, COLMAP models written by pycolmap, and bad input."""

from __future__ import annotations

import json
import math
import shutil
import struct

import numpy as np
import pytest
import torch

from scenegen.data import FORMATS, Dataset, detect_format, load_dataset
from scenegen.errors import DatasetError, InvalidArgumentError

OPENCV_OF_OPENGL_IDENTITY = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


def gl_to_cv(c2w_gl: np.ndarray) -> torch.Tensor:
    """The README's conversion, done independently of the library: c2w[:3, 1:3] *= -1."""
    out = np.array(c2w_gl, dtype=np.float64, copy=True)
    out[..., :3, 1:3] *= -1
    return torch.from_numpy(out).float()


def rewrite_json(path, edit):
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


# ---------------------------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------------------------


def test_detect_format_nerf_synthetic(nerf_synthetic):
    assert detect_format(nerf_synthetic.path) == "nerf-synthetic"


def test_detect_format_transforms_folder_and_file(ngp):
    assert detect_format(ngp.root) == "transforms"
    assert detect_format(ngp.path) == "transforms"
    assert detect_format(str(ngp.path)) == "transforms"


@pytest.mark.parametrize("kind", ["bin", "txt"])
def test_detect_format_colmap_root_and_model_folder(make_colmap, kind):
    c = make_colmap(kind)
    assert detect_format(c.path) == "colmap"
    assert detect_format(c.model) == "colmap"
    # a model directly in sparse/ (no 0/ below it) is found too
    for f in c.model.iterdir():
        f.rename(c.path / "sparse" / f.name)
    c.model.rmdir()
    assert detect_format(c.path) == "colmap"
    assert len(load_dataset(c.path)) == 3


def test_detect_format_image_folder(colmap_bin):
    assert detect_format(colmap_bin.path / "images") == "images"
    ds = load_dataset(colmap_bin.path / "images")
    assert ds.format == "images" and ds.cameras is None and len(ds) == 3


def test_detect_format_empty_folder_is_a_clear_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not a dataset") as exc:
        detect_format(tmp_path)
    assert str(tmp_path) in str(exc.value)
    with pytest.raises(DatasetError, match="not a dataset"):
        load_dataset(tmp_path)


def test_detect_format_folder_without_dataset_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "cameras.bin").write_bytes(b"\0" * 8)  # a lone cameras.bin is not a COLMAP model
    with pytest.raises(DatasetError, match="transforms_train.json"):
        detect_format(tmp_path)


def test_detect_format_missing_path_and_non_json_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        detect_format(tmp_path / "nope")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0\0\0\x18ftypmp42")
    with pytest.raises(DatasetError, match="folder or a transforms.json"):
        detect_format(video)


def test_load_dataset_rejects_unknown_format_and_bad_background(nerf_synthetic):
    with pytest.raises(InvalidArgumentError, match="unknown dataset format"):
        load_dataset(nerf_synthetic.path, format="blender")
    with pytest.raises(InvalidArgumentError, match="background"):
        load_dataset(nerf_synthetic.path, background=(0, 2, 0))
    assert set(FORMATS) == {"nerf-synthetic", "transforms", "colmap", "images"}


# ---------------------------------------------------------------------------------------------
# NeRF-synthetic / D-NeRF
# ---------------------------------------------------------------------------------------------


def test_nerf_synthetic_images_and_splits(nerf_synthetic):
    ds = load_dataset(nerf_synthetic.path)
    assert isinstance(ds, Dataset)
    assert ds.format == "nerf-synthetic"
    assert len(ds) == sum(nerf_synthetic.split_sizes.values()) == 7
    assert ds.image_paths == nerf_synthetic.files
    assert ds.split_names == ["train", "val", "test"]
    for name, idx in nerf_synthetic.splits.items():
        assert ds.splits[name].tolist() == idx
        sub = ds.split(name)
        assert len(sub) == nerf_synthetic.split_sizes[name] == len(idx)
        assert sub.image_paths == [nerf_synthetic.files[i] for i in idx]
        torch.testing.assert_close(sub.cameras.c2w, ds.cameras.c2w[idx])
    assert ds.times is None and not ds.is_timed
    assert ds.mask(0) is None


def test_nerf_synthetic_opengl_identity_becomes_opencv_flip(nerf_synthetic):
    ds = load_dataset(nerf_synthetic.path)
    torch.testing.assert_close(ds.cameras.c2w[0], OPENCV_OF_OPENGL_IDENTITY)
    # every pose: the columns for y and z flip, the position is kept
    torch.testing.assert_close(ds.cameras.c2w, gl_to_cv(nerf_synthetic.c2w_gl), atol=1e-6, rtol=0)
    torch.testing.assert_close(ds.cameras.c2w_opengl, torch.from_numpy(nerf_synthetic.c2w_gl).float(), atol=1e-6, rtol=0)
    # OpenGL cameras look down -z: the OpenCV forward axis (+z column) is the OpenGL -z column
    fwd_cv = ds.cameras.c2w[:, :3, 2]
    torch.testing.assert_close(fwd_cv, -torch.from_numpy(nerf_synthetic.c2w_gl[:, :3, 2]).float(), atol=1e-6, rtol=0)


def test_nerf_synthetic_intrinsics_from_camera_angle_x(nerf_synthetic):
    ds = load_dataset(nerf_synthetic.path)
    W, H = nerf_synthetic.width, nerf_synthetic.height
    fx = 0.5 * W / math.tan(0.5 * nerf_synthetic.angle)
    cams = ds.cameras
    assert cams.width.tolist() == [W] * 7 and cams.height.tolist() == [H] * 7
    torch.testing.assert_close(cams.fx, torch.full((7,), fx))
    torch.testing.assert_close(cams.fy, torch.full((7,), fx))  # square pixels when only the x angle is given
    torch.testing.assert_close(cams.cx, torch.full((7,), W / 2))
    torch.testing.assert_close(cams.cy, torch.full((7,), H / 2))
    assert cams.distortion is None


def test_nerf_synthetic_rgba_composited_on_white_by_default(nerf_synthetic):
    ds = load_dataset(nerf_synthetic.path)
    torch.testing.assert_close(ds.background, torch.ones(3))
    W, H = nerf_synthetic.width, nerf_synthetic.height
    img = ds.image(0)
    assert img.shape == (H, W, 3) and img.dtype == torch.float32
    torch.testing.assert_close(img[0, 0], torch.ones(3))  # alpha 0: the background
    torch.testing.assert_close(img[0, 1], torch.tensor([10, 200, 30]) / 255.0)  # alpha 1: the colour
    # the whole image follows rgb * a + (1 - a) * background
    rgba = nerf_synthetic.rgba[0].astype(np.float32) / 255
    expected = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:]) * 1.0
    torch.testing.assert_close(img, torch.from_numpy(expected), atol=1e-6, rtol=0)
    alpha = ds.alpha(0)
    assert alpha.shape == (H, W, 1)
    assert alpha[0, 0, 0] == 0 and alpha[0, 1, 0] == 1


@pytest.mark.parametrize("background", [(0.0, 0.0, 0.0), (0.2, 0.4, 0.6)])
def test_nerf_synthetic_rgba_composited_on_given_background(nerf_synthetic, background):
    ds = load_dataset(nerf_synthetic.path, background=background)
    bg = torch.tensor(background)
    torch.testing.assert_close(ds.background, bg)
    img = ds.image(2)
    torch.testing.assert_close(img[0, 0], bg)
    torch.testing.assert_close(img[0, 1], torch.tensor([10, 200, 30]) / 255.0)
    a = 128 / 255
    torch.testing.assert_close(img[0, 2], torch.tensor([200, 100, 50]) / 255.0 * a + (1 - a) * bg)
    # with_background changes the compositing afterwards
    torch.testing.assert_close(ds.with_background((1.0, 1.0, 1.0)).image(2)[0, 0], torch.ones(3))


def test_nerf_synthetic_downscale_halves_size_and_intrinsics(nerf_synthetic):
    full = load_dataset(nerf_synthetic.path)
    half = load_dataset(nerf_synthetic.path, downscale=2)
    W, H = nerf_synthetic.width, nerf_synthetic.height
    assert half.cameras.width.tolist() == [W // 2] * 7
    assert half.cameras.height.tolist() == [H // 2] * 7
    torch.testing.assert_close(half.cameras.fx, full.cameras.fx / 2)
    torch.testing.assert_close(half.cameras.cx, full.cameras.cx / 2)
    torch.testing.assert_close(half.cameras.cy, full.cameras.cy / 2)
    torch.testing.assert_close(half.cameras.c2w, full.cameras.c2w)
    img = half.image(1)
    assert img.shape == (H // 2, W // 2, 3)
    assert img.min() >= 0 and img.max() <= 1
    assert half.alpha(1).shape == (H // 2, W // 2, 1)
    with pytest.raises(InvalidArgumentError):
        load_dataset(nerf_synthetic.path, downscale=0.5)


def test_nerf_synthetic_downscaled_image_is_the_downscaled_composite(nerf_synthetic):
    full = load_dataset(nerf_synthetic.path).image(0)  # pixel (0, 0): transparent red, composited to white
    half = load_dataset(nerf_synthetic.path, downscale=2).image(0)
    expected = torch.nn.functional.avg_pool2d(full.permute(2, 0, 1)[None], 2)[0].permute(1, 2, 0)
    torch.testing.assert_close(half, expected, atol=1e-5, rtol=0)


def test_dnerf_times(dnerf):
    ds = load_dataset(dnerf.path)
    assert ds.format == "dnerf"
    assert ds.is_timed
    torch.testing.assert_close(ds.times, torch.from_numpy(dnerf.times).float())
    assert ds.times.min() == 0 and ds.times.max() == 1
    # times follow their images into splits
    test = ds.split("test")
    torch.testing.assert_close(test.times, torch.from_numpy(dnerf.times[dnerf.splits["test"]]).float())


def test_dnerf_some_splits_timed_and_some_not_is_an_error(dnerf):
    rewrite_json(dnerf.path / "transforms_test.json", lambda m: [f.pop("time") for f in m["frames"]])
    with pytest.raises(DatasetError, match="times"):
        load_dataset(dnerf.path)


def test_nerf_synthetic_missing_image_names_the_file(nerf_synthetic):
    (nerf_synthetic.path / "val" / "r_1.png").unlink()
    with pytest.raises(DatasetError, match="missing") as exc:
        load_dataset(nerf_synthetic.path)
    assert "r_1" in str(exc.value) and "transforms_val.json" in str(exc.value)


# ---------------------------------------------------------------------------------------------
# instant-ngp / nerfstudio transforms.json
# ---------------------------------------------------------------------------------------------


def test_transforms_images_metadata_and_paths(ngp):
    ds = load_dataset(ngp.root)
    assert ds.format == "transforms"
    assert len(ds) == ngp.n == 5
    assert [p.relative_to(ngp.root).as_posix() for p in ds.image_paths] == ngp.names
    assert ds.metadata.get("aabb_scale") == 4
    # the json file itself loads the same dataset
    same = load_dataset(ngp.path)
    assert same.image_paths == ds.image_paths
    torch.testing.assert_close(same.cameras.c2w, ds.cameras.c2w)
    # RGB images (no alpha) come back unchanged
    torch.testing.assert_close(ds.image(2), torch.from_numpy(ngp.rgb[2]).float() / 255, atol=1e-6, rtol=0)
    assert ds.alpha(2) is None


def test_transforms_cameras_opengl_to_opencv(ngp):
    ds = load_dataset(ngp.path)
    torch.testing.assert_close(ds.cameras.c2w[0], OPENCV_OF_OPENGL_IDENTITY)
    torch.testing.assert_close(ds.cameras.c2w, gl_to_cv(ngp.c2w_gl), atol=1e-6, rtol=0)


def test_transforms_global_intrinsics_and_per_frame_override(ngp):
    cams = load_dataset(ngp.path).cameras
    intr, W, H = ngp.intrinsics, ngp.width, ngp.height
    fx = [intr["fl_x"]] * ngp.n
    fx[ngp.override_frame] = ngp.override_fl_x
    assert ngp.override_fl_x != intr["fl_x"]
    torch.testing.assert_close(cams.fx, torch.tensor(fx))
    torch.testing.assert_close(cams.fy, torch.full((ngp.n,), intr["fl_y"]))  # not overridden
    torch.testing.assert_close(cams.cx, torch.full((ngp.n,), intr["cx"]))
    torch.testing.assert_close(cams.cy, torch.full((ngp.n,), intr["cy"]))
    assert cams.width.tolist() == [W] * ngp.n and cams.height.tolist() == [H] * ngp.n


def test_transforms_distortion(ngp):
    cams = load_dataset(ngp.path).cameras
    assert cams.distortion is not None and cams.distortion.shape[0] == ngp.n
    want = torch.tensor([ngp.intrinsics[k] for k in ("k1", "k2", "p1", "p2")])
    for i in range(ngp.n):
        torch.testing.assert_close(cams.distortion[i, :4], want)
        assert not cams.distortion[i, 4:].any()  # k3, k4... not given: zero


def test_transforms_times(ngp):
    ds = load_dataset(ngp.path)
    assert ds.is_timed
    torch.testing.assert_close(ds.times, torch.from_numpy(ngp.times).float())


def test_transforms_masks_hold_the_integer_values_written(ngp):
    ds = load_dataset(ngp.path)
    assert ds.mask_paths is not None and len(ds.mask_paths) == ngp.n
    for i in range(ngp.n):
        m = ds.mask(i)
        assert m.shape == (ngp.height, ngp.width)
        assert not m.is_floating_point()
        assert torch.equal(m, torch.from_numpy(ngp.masks[i].astype(np.int64)))
    assert set(ds.mask(0).unique().tolist()) == set(ngp.mask_values) == {0, 1, 2, 7}


def test_transforms_splits_from_filename_lists(ngp):
    ds = load_dataset(ngp.path)
    assert ds.splits["train"].tolist() == ngp.train == [0, 1, 2, 4]
    assert ds.splits["test"].tolist() == ngp.test == [3]
    test = ds.split("test")
    assert [p.name for p in test.image_paths] == ["frame_003.png"]
    torch.testing.assert_close(test.cameras.c2w[0], gl_to_cv(ngp.c2w_gl[3]), atol=1e-6, rtol=0)
    torch.testing.assert_close(test.times, torch.tensor([ngp.times[3]], dtype=torch.float32))
    assert torch.equal(test.mask(0), torch.from_numpy(ngp.masks[3].astype(np.int64)))
    with pytest.raises(InvalidArgumentError, match="split"):
        ds.split("val")  # the file names train and test only


def test_transforms_without_splits_holds_out_every_8th_image(make_transforms):
    t = make_transforms(n_frames=17, splits=False)
    ds = load_dataset(t.path)
    assert ds.splits == {}
    test = ds.split("test")
    assert [p.name for p in test.image_paths] == ["frame_000.png", "frame_008.png", "frame_016.png"]
    train = ds.split("train")
    assert len(train) == 14
    assert not {p.name for p in train.image_paths} & {p.name for p in test.image_paths}
    torch.testing.assert_close(test.times, torch.from_numpy(t.times[[0, 8, 16]]).float())
    with pytest.raises(InvalidArgumentError, match="unknown split"):
        ds.split("holdout")


def test_transforms_downscale(ngp):
    full = load_dataset(ngp.path)
    half = load_dataset(ngp.path, downscale=2)
    W, H = ngp.width, ngp.height
    assert half.cameras.width.tolist() == [W // 2] * ngp.n
    assert half.cameras.height.tolist() == [H // 2] * ngp.n
    torch.testing.assert_close(half.cameras.fx, full.cameras.fx / 2)
    torch.testing.assert_close(half.cameras.fy, full.cameras.fy / 2)
    torch.testing.assert_close(half.cameras.cx, full.cameras.cx / 2)
    torch.testing.assert_close(half.cameras.cy, full.cameras.cy / 2)
    assert half.image(0).shape == (H // 2, W // 2, 3)
    m = half.mask(0)
    assert m.shape == (H // 2, W // 2)
    assert set(m.unique().tolist()) <= {0, 1, 2, 7}  # nearest: no blended object indices
    assert half.image_size(0) == (W // 2, H // 2)


def test_transforms_without_masks_or_times(make_transforms):
    t = make_transforms(masks=False, times=False)
    ds = load_dataset(t.path)
    assert ds.times is None and not ds.is_timed
    assert ds.mask_paths is None and ds.mask(0) is None


def test_transforms_image_size_disagreeing_with_its_camera(ngp):
    rewrite_json(ngp.path, lambda m: m.update(w=2 * ngp.width, h=2 * ngp.height))
    ds = load_dataset(ngp.path)
    assert ds.cameras.width[0] == 2 * ngp.width
    with pytest.raises(DatasetError, match="camera says"):
        ds.image(0)


# bad input --------------------------------------------------------------------------------------


def test_transforms_missing_image_names_the_file(ngp):
    (ngp.root / "images" / "frame_002.png").unlink()
    with pytest.raises(DatasetError, match="missing") as exc:
        load_dataset(ngp.path)
    assert "frame_002.png" in str(exc.value)
    assert "frame_001.png" not in str(exc.value)


def test_transforms_missing_mask_names_the_file(ngp):
    (ngp.root / "masks" / "frame_004.png").unlink()
    with pytest.raises(DatasetError, match="frame_004.png"):
        load_dataset(ngp.path)


def test_transforms_nan_transform_matrix(ngp):
    def edit(meta):
        meta["frames"][2]["transform_matrix"][0][3] = float("nan")

    rewrite_json(ngp.path, edit)
    assert "NaN" in ngp.path.read_text()
    with pytest.raises(DatasetError, match="transform_matrix"):
        load_dataset(ngp.path)


@pytest.mark.parametrize("matrix", ["abc", [[1, 0], [0]], [[1, 2, 3]]], ids=["string", "ragged", "wrong-shape"])
def test_transforms_malformed_transform_matrix(ngp, matrix):
    rewrite_json(ngp.path, lambda m: m["frames"][0].update(transform_matrix=matrix))
    with pytest.raises(DatasetError, match="transform_matrix"):
        load_dataset(ngp.path)


def test_transforms_bad_json(ngp):
    text = ngp.path.read_text()
    ngp.path.write_text(text[: len(text) // 2])
    with pytest.raises(DatasetError, match="not valid JSON") as exc:
        load_dataset(ngp.path)
    assert "transforms.json" in str(exc.value)


def test_transforms_top_level_not_an_object(ngp):
    ngp.path.write_text("[1, 2, 3]")
    with pytest.raises(DatasetError, match="JSON object"):
        load_dataset(ngp.path)


def test_transforms_some_frames_timed_and_some_not(ngp):
    rewrite_json(ngp.path, lambda m: m["frames"][1].pop("time"))
    with pytest.raises(DatasetError, match="4 of 5 frames have a 'time'"):
        load_dataset(ngp.path)


def test_transforms_non_numeric_time(ngp):
    rewrite_json(ngp.path, lambda m: m["frames"][1].update(time="0.5"))
    with pytest.raises(DatasetError, match="'time' must be a finite number"):
        load_dataset(ngp.path)


def test_transforms_some_frames_masked_and_some_not(ngp):
    rewrite_json(ngp.path, lambda m: m["frames"][0].pop("mask_path"))
    with pytest.raises(DatasetError, match="mask_path"):
        load_dataset(ngp.path)


@pytest.mark.parametrize("model", ["OPENCV_FISHEYE", "EQUIRECTANGULAR"])
def test_transforms_unsupported_camera_model(ngp, model):
    rewrite_json(ngp.path, lambda m: m.update(camera_model=model))
    with pytest.raises(DatasetError, match=f"camera_model '{model}' is not supported"):
        load_dataset(ngp.path)


def test_transforms_without_frames_or_focal_length(ngp):
    meta = json.loads(ngp.path.read_text())
    ngp.path.write_text(json.dumps({**meta, "frames": []}))
    with pytest.raises(DatasetError, match="'frames' is missing or empty"):
        load_dataset(ngp.path)
    for key in ("fl_x", "fl_y"):
        meta.pop(key)
    for frame in meta["frames"]:
        frame.pop("fl_x", None)
    ngp.path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="no focal length"):
        load_dataset(ngp.path)


def test_transforms_zero_camera_angle_is_a_dataset_error(nerf_synthetic):
    rewrite_json(nerf_synthetic.path / "transforms_train.json", lambda m: m.update(camera_angle_x=0.0))
    with pytest.raises(DatasetError, match="camera_angle_x"):
        load_dataset(nerf_synthetic.path)


@pytest.mark.parametrize("edit", [{"fl_x": -7.0}, {"w": 0}], ids=["negative-focal", "zero-width"])
def test_transforms_invalid_intrinsics_is_a_dataset_error_naming_the_file(ngp, edit):
    rewrite_json(ngp.path, lambda m: m.update(edit))
    with pytest.raises(DatasetError, match="transforms.json"):
        load_dataset(ngp.path)


# ---------------------------------------------------------------------------------------------
# COLMAP (models written by pycolmap)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bin", "txt"])
def test_colmap_images_and_poses(make_colmap, kind):
    c = make_colmap(kind)
    ds = load_dataset(c.path)
    assert ds.format == "colmap"
    assert len(ds) == 3
    assert [p.name for p in ds.image_paths] == c.names
    assert all(p.parent == c.path / "images" for p in ds.image_paths)
    torch.testing.assert_close(ds.cameras.c2w, torch.from_numpy(c.c2w).float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.cameras.w2c, torch.from_numpy(c.w2c).float(), atol=1e-5, rtol=0)
    # pycolmap's own camera centres
    torch.testing.assert_close(ds.cameras.positions, torch.from_numpy(c.centres).float(), atol=1e-5, rtol=0)
    assert ds.splits == {}
    assert len(ds.split("test")) == 1 and len(ds.split("train")) == 2


@pytest.mark.parametrize("kind", ["bin", "txt"])
def test_colmap_intrinsics_and_distortion(make_colmap, kind):
    c = make_colmap(kind)
    cams = load_dataset(c.path).cameras
    assert cams.width.tolist() == [c.width] * 3 and cams.height.tolist() == [c.height] * 3
    for i, cam_id in enumerate(c.camera_ids):
        model, params = c.cameras[cam_id]
        assert [cams.fx[i].item(), cams.fy[i].item(), cams.cx[i].item(), cams.cy[i].item()] == pytest.approx(params[:4])
        if model == "OPENCV":
            assert cams.distortion[i, :4].tolist() == pytest.approx(params[4:])
        elif cams.distortion is not None:
            assert not cams.distortion[i].any()
    assert cams.distortion is not None  # the OPENCV camera carries its coefficients


@pytest.mark.parametrize("kind", ["bin", "txt"])
def test_colmap_points_and_colours(make_colmap, kind):
    c = make_colmap(kind)
    ds = load_dataset(c.path)
    torch.testing.assert_close(ds.points, torch.from_numpy(c.points).float())
    torch.testing.assert_close(ds.point_colours, torch.from_numpy(c.colours).float() / 255)
    assert ds.point_colours.min() >= 0 and ds.point_colours.max() <= 1


@pytest.mark.parametrize("kind", ["bin", "txt"])
def test_colmap_projection_agrees_with_pycolmap(make_colmap, kind):
    c = make_colmap(kind)
    ds = load_dataset(c.path)
    uv, depth = ds.cameras.project(ds.points)
    assert (depth > 0).all()
    # pycolmap's projections (with the OPENCV distortion) were stored as the keypoints
    torch.testing.assert_close(uv, torch.from_numpy(c.uv).float(), atol=1e-3, rtol=0)


def test_colmap_text_and_binary_give_the_same_dataset(colmap_bin, colmap_txt):
    a, b = load_dataset(colmap_bin.path), load_dataset(colmap_txt.path)
    assert [p.name for p in a.image_paths] == [p.name for p in b.image_paths]
    for name in ("fx", "fy", "cx", "cy", "width", "height", "c2w", "distortion"):
        torch.testing.assert_close(getattr(a.cameras, name), getattr(b.cameras, name), atol=1e-6, rtol=0)
    torch.testing.assert_close(a.points, b.points)
    torch.testing.assert_close(a.point_colours, b.point_colours)
    torch.testing.assert_close(a.background, b.background)


def test_colmap_model_folder_path_and_images(colmap_bin):
    by_root = load_dataset(colmap_bin.path)
    by_model = load_dataset(colmap_bin.model)
    assert by_model.image_paths == by_root.image_paths
    torch.testing.assert_close(by_model.cameras.c2w, by_root.cameras.c2w)
    torch.testing.assert_close(by_root.background, torch.zeros(3))
    img = by_root.image(0)  # the JPEG
    assert img.shape == (colmap_bin.height, colmap_bin.width, 3)
    assert 0 <= img.min() and img.max() <= 1
    torch.testing.assert_close(by_root.image(1), torch.from_numpy(colmap_bin.rgb[1]).float() / 255)
    half = load_dataset(colmap_bin.path, downscale=2)
    assert half.image(2).shape == (colmap_bin.height // 2, colmap_bin.width // 2, 3)
    torch.testing.assert_close(half.cameras.fx, by_root.cameras.fx / 2)


def test_colmap_without_points3d(colmap_bin):
    (colmap_bin.model / "points3D.bin").unlink()
    ds = load_dataset(colmap_bin.path)
    assert ds.points is None and ds.point_colours is None
    assert len(ds) == 3


# bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cameras.bin", "images.bin", "points3D.bin"])
@pytest.mark.parametrize("keep", [0.5, 0.97], ids=["half", "last-bytes-cut"])
def test_colmap_truncated_binary_files(colmap_bin, name, keep):
    path = colmap_bin.model / name
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DatasetError, match=name) as exc:
        load_dataset(colmap_bin.path)
    assert "truncated" in str(exc.value) or "corrupt" in str(exc.value)


@pytest.mark.parametrize("name", ["cameras.bin", "images.bin", "points3D.bin"])
@pytest.mark.parametrize("count", [2**40, 2**63 + 5], ids=["huge", "top-bit"])
def test_colmap_huge_count_field_is_a_dataset_error_not_a_memory_error(colmap_bin, name, count):
    path = colmap_bin.model / name
    data = bytearray(path.read_bytes())
    struct.pack_into("<Q", data, 0, count)
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=f"says {count}"):
        load_dataset(colmap_bin.path)


def test_colmap_binary_image_with_undefined_camera(colmap_bin):
    path = colmap_bin.model / "images.bin"
    data = bytearray(path.read_bytes())
    # first record: image_id (i4) qvec (4 d) tvec (3 d) camera_id (i4), after the 8-byte count
    assert struct.unpack_from("<i", data, 8 + 4 + 56)[0] == 1
    struct.pack_into("<i", data, 8 + 4 + 56, 99)
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="camera 99") as exc:
        load_dataset(colmap_bin.path)
    assert "img0.jpg" in str(exc.value)


def test_colmap_text_image_with_undefined_camera(colmap_txt):
    path = colmap_txt.model / "images.txt"
    text = path.read_text()
    assert " 1 img1.png" in text
    path.write_text(text.replace(" 1 img1.png", " 7 img1.png"))
    with pytest.raises(DatasetError, match="camera 7"):
        load_dataset(colmap_txt.path)


def test_colmap_missing_image_file(colmap_bin):
    (colmap_bin.path / "images" / "img2.png").unlink()
    with pytest.raises(DatasetError, match="img2.png"):
        load_dataset(colmap_bin.path)


def test_colmap_missing_images_folder(colmap_bin):
    shutil.rmtree(colmap_bin.path / "images")
    with pytest.raises(DatasetError, match="images"):
        load_dataset(colmap_bin.path)


def test_colmap_unknown_model_id(colmap_bin):
    path = colmap_bin.model / "cameras.bin"
    data = bytearray(path.read_bytes())
    struct.pack_into("<i", data, 8 + 4, 77)  # model id of the first camera
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="unknown camera model id 77"):
        load_dataset(colmap_bin.path)


@pytest.mark.parametrize(
    "line, message",
    [
        ("1 PINHOLE 40 30 50 52 20", "malformed"),  # a parameter short
        ("1 PINHOLE 40 thirty 50 52 20 15", "malformed"),
        ("1 OPENCV_FISHEYE 40 30 50 52 20 15 0.1 0 0 0", "not supported"),
    ],
    ids=["param-count", "not-a-number", "fisheye"],
)
def test_colmap_text_bad_cameras(colmap_txt, line, message):
    path = colmap_txt.model / "cameras.txt"
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("1 ")]
    path.write_text("\n".join([*lines, line]) + "\n")
    with pytest.raises(DatasetError, match=message):
        load_dataset(colmap_txt.path)


def test_colmap_text_bad_points(colmap_txt):
    path = colmap_txt.model / "points3D.txt"
    path.write_text(path.read_text() + "99 0.1 0.2 0.3 300 0 0 0.5\n")  # colour out of range
    with pytest.raises(DatasetError, match="points3D.txt"):
        load_dataset(colmap_txt.path)


def test_colmap_nan_pose(colmap_bin):
    path = colmap_bin.model / "images.bin"
    data = bytearray(path.read_bytes())
    struct.pack_into("<d", data, 8 + 4 + 32, float("nan"))  # tx of the first image
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="img0.jpg"):
        load_dataset(colmap_bin.path)


def test_colmap_binary_short_image_names_are_valid(tmp_path):
    import zlib  # noqa: F401

    pycolmap = pytest.importorskip("pycolmap")
    from scenegen.data.colmap import read_images_binary

    rec = pycolmap.Reconstruction()
    rec.add_camera_with_trivial_rig(pycolmap.Camera.create_from_model_name(1, "PINHOLE", 50.0, 40, 30))
    rec.add_image_with_trivial_frame(pycolmap.Image(name="a.p", camera_id=1, image_id=1), pycolmap.Rigid3d())
    rec.write(str(tmp_path))
    images = read_images_binary(tmp_path / "images.bin")
    assert [im.name for im in images.values()] == ["a.p"]


# ---------------------------------------------------------------------------------------------
# Poses that are not rigid, and model paths given at the sparse/ level
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [2.0, -1.0], ids=["scaled", "mirrored"])
def test_transforms_non_rigid_pose_is_a_dataset_error(nerf_synthetic, factor):
    def edit(meta):
        m = np.asarray(meta["frames"][0]["transform_matrix"], dtype=float)
        m[:3, 0] *= factor
        meta["frames"][0]["transform_matrix"] = m.tolist()

    rewrite_json(nerf_synthetic.path / "transforms_train.json", edit)
    with pytest.raises(DatasetError, match="not a rotation"):
        load_dataset(nerf_synthetic.path)


def test_colmap_zero_quaternion_is_a_dataset_error(colmap_txt):
    images_txt = colmap_txt.model / "images.txt"
    lines = images_txt.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    parts = lines[first].split()
    parts[1:5] = ["0", "0", "0", "0"]
    lines[first] = " ".join(parts)
    images_txt.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="quaternion"):
        load_dataset(colmap_txt.path)


def test_colmap_detected_from_the_sparse_folder(colmap_bin):
    ds = load_dataset(colmap_bin.path / "sparse")
    assert ds.format == "colmap" and len(ds) == len(colmap_bin.names)
