"""Shared fixtures: the real-data folder (optional) and small generated datasets.

Core tests never depend on ../shared/data: every dataset layout the loaders support is
generated here, in tmp_path, with known cameras, images, times, masks and points, so that
tests can compare what is loaded with what was written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

# ---------------------------------------------------------------------------------------------
# Real data (../shared/data): optional, read in place, skipped with a clear reason when absent.
# ---------------------------------------------------------------------------------------------

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
SKIP_REASON = f"real data folder {DATA_DIR} (the repository's ../shared/data) is absent; these tests read it in place"

# `@requires_shared_data` or `pytestmark = requires_shared_data`: skips when ../shared/data is absent.
requires_shared_data = pytest.mark.requires_shared_data


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_shared_data: needs the real data in ../shared/data; skipped when absent")
    config.addinivalue_line("markers", "bounded_memory: runs with at most MEMORY_BUDGET more heap than at its start "
                            "(RLIMIT_DATA); going past it is a MemoryError, which fails the test")


# What a fuzzed reader may allocate beyond what the test process already holds.
MEMORY_BUDGET = 2 << 30


def _data_bytes() -> int | None:
    """This process's data segment (VmData), or None where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@pytest.fixture(autouse=True)
def _bounded_memory(request):
    if request.node.get_closest_marker("bounded_memory") is None:
        yield
        return
    import resource

    used = _data_bytes()
    if used is None:
        pytest.skip("no /proc/self/status here: the memory bound of this test cannot be set")
    before = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (used + MEMORY_BUDGET, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, before)


def pytest_runtest_setup(item):
    if item.get_closest_marker("requires_shared_data") is not None and not DATA_DIR.is_dir():
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repository's ../shared/data (it may be absent: combine with the requires_shared_data marker)."""
    return DATA_DIR


@pytest.fixture(scope="session")
def shared_dataset(data_dir):
    """shared_dataset(name) -> ../shared/data/name, or a skip naming what is missing."""

    def get(name: str) -> Path:
        if not data_dir.is_dir():
            pytest.skip(SKIP_REASON)
        path = data_dir / name
        if not path.exists():
            pytest.skip(f"real dataset {path} is absent from ../shared/data")
        return path

    return get


# ---------------------------------------------------------------------------------------------
# Small helpers for the generated datasets
# ---------------------------------------------------------------------------------------------

W, H = 8, 6  # size of the generated NeRF-style images


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def pose(R: np.ndarray, t) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = R
    m[:3, 3] = t
    return m


def opengl_pose(k: int) -> np.ndarray:
    """A distinct camera-to-world (OpenGL axes) for frame k; frame 0 is the identity."""
    if k == 0:
        return np.eye(4)
    return pose(rot_y(0.3 * k) @ rot_x(-0.1 * k), [0.5 * k, -0.25 * k, 2.0 + 0.1 * k])


def rgba_image(k: int) -> np.ndarray:
    """An 8x6 RGBA uint8 image; pixel (row 0, col 0) is fully transparent red, (0, 1) opaque."""
    rng = np.random.default_rng(100 + k)
    img = rng.integers(0, 256, size=(H, W, 4), dtype=np.uint8)
    img[0, 0] = (255, 0, 0, 0)
    img[0, 1] = (10, 200, 30, 255)
    img[0, 2] = (200, 100, 50, 128)
    return img


def rgb_image(k: int, width: int = W, height: int = H) -> np.ndarray:
    rng = np.random.default_rng(200 + k)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


MASK_VALUES = np.array([0, 1, 2, 7], dtype=np.uint8)


def mask_image(k: int) -> np.ndarray:
    """An 8x6 uint8 mask of object indices drawn from MASK_VALUES."""
    yy, xx = np.mgrid[0:H, 0:W]
    return MASK_VALUES[(xx + 2 * yy + k) % len(MASK_VALUES)]


def write_png(path: Path, array: np.ndarray) -> None:
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, array)


# ---------------------------------------------------------------------------------------------
# (a) NeRF-synthetic / D-NeRF folder
# ---------------------------------------------------------------------------------------------

NERF_SPLIT_SIZES = {"train": 3, "val": 2, "test": 2}
CAMERA_ANGLE_X = 0.7


@pytest.fixture
def make_nerf_synthetic(tmp_path):
    """make_nerf_synthetic(timed=False, name=...) -> namespace(path, c2w_gl [N,4,4], times, rgba, splits, angle)."""

    def make(timed: bool = False, name: str = "nerf_synthetic") -> SimpleNamespace:
        root = tmp_path / name
        root.mkdir()
        c2ws, times, rgbas, files, splits = [], [], [], [], {}
        k = 0
        n_total = sum(NERF_SPLIT_SIZES.values())
        for split, count in NERF_SPLIT_SIZES.items():
            frames = []
            splits[split] = list(range(k, k + count))
            for j in range(count):
                c2w = opengl_pose(k)
                img = rgba_image(k)
                write_png(root / split / f"r_{j}.png", img)
                frame = {"file_path": f"./{split}/r_{j}", "rotation": 0.1, "transform_matrix": c2w.tolist()}
                if timed:
                    t = k / (n_total - 1)
                    frame["time"] = t
                    times.append(t)
                frames.append(frame)
                c2ws.append(c2w)
                rgbas.append(img)
                files.append(root / split / f"r_{j}.png")
                k += 1
            (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": CAMERA_ANGLE_X, "frames": frames}, indent=1))
        return SimpleNamespace(path=root, c2w_gl=np.stack(c2ws), times=np.array(times) if timed else None, rgba=rgbas,
                               files=files, splits=splits, angle=CAMERA_ANGLE_X, width=W, height=H,
                               split_sizes=dict(NERF_SPLIT_SIZES))

    return make


@pytest.fixture
def nerf_synthetic(make_nerf_synthetic):
    return make_nerf_synthetic()


@pytest.fixture
def dnerf(make_nerf_synthetic):
    return make_nerf_synthetic(timed=True, name="dnerf")


# ---------------------------------------------------------------------------------------------
# (b) instant-ngp / nerfstudio transforms.json
# ---------------------------------------------------------------------------------------------

NGP_INTRINSICS = {"fl_x": 7.0, "fl_y": 7.5, "cx": 4.25, "cy": 2.75, "w": W, "h": H,
                  "k1": 0.01, "k2": -0.002, "p1": 0.0003, "p2": -0.0004}
NGP_OVERRIDE_FRAME, NGP_OVERRIDE_FL_X = 1, 9.5


@pytest.fixture
def make_transforms(tmp_path):
    """make_transforms(n_frames=5, splits=True, masks=True, times=True, name=...) -> namespace(path (the json), root, ...).

    Global intrinsics and OPENCV distortion, frame 1 overrides fl_x, per-frame time and mask_path,
    train_filenames/test_filenames (frame 3 is the only test frame), aabb_scale 4."""

    def make(n_frames: int = 5, splits: bool = True, masks: bool = True, times: bool = True,
             name: str = "ngp") -> SimpleNamespace:
        root = tmp_path / name
        root.mkdir()
        frames, c2ws, tlist, mlist, names, rgbs = [], [], [], [], [], []
        for k in range(n_frames):
            rel = f"images/frame_{k:03d}.png"
            rgbs.append(rgb_image(k))
            write_png(root / rel, rgbs[-1])
            c2w = opengl_pose(k)
            frame = {"file_path": rel, "transform_matrix": c2w.tolist()}
            if times:
                frame["time"] = k / max(1, n_frames - 1)
                tlist.append(frame["time"])
            if masks:
                mrel = f"masks/frame_{k:03d}.png"
                m = mask_image(k)
                write_png(root / mrel, m)
                frame["mask_path"] = mrel
                mlist.append(m)
            if k == NGP_OVERRIDE_FRAME:
                frame["fl_x"] = NGP_OVERRIDE_FL_X
            frames.append(frame)
            c2ws.append(c2w)
            names.append(rel)
        meta = {"camera_model": "OPENCV", **NGP_INTRINSICS, "aabb_scale": 4, "frames": frames}
        test_idx = [3] if n_frames > 3 else []
        train_idx = [k for k in range(n_frames) if k not in test_idx]
        if splits:
            meta["train_filenames"] = [names[k] for k in train_idx]
            meta["test_filenames"] = [names[k] for k in test_idx]
        path = root / "transforms.json"
        path.write_text(json.dumps(meta, indent=1))
        return SimpleNamespace(path=path, root=root, meta=meta, c2w_gl=np.stack(c2ws), times=np.array(tlist) if times else None,
                               masks=mlist if masks else None, names=names, train=train_idx, test=test_idx, n=n_frames,
                               rgb=rgbs, intrinsics=dict(NGP_INTRINSICS), width=W, height=H,
                               override_frame=NGP_OVERRIDE_FRAME, override_fl_x=NGP_OVERRIDE_FL_X, mask_values=MASK_VALUES.tolist())

    return make


@pytest.fixture
def ngp(make_transforms):
    return make_transforms()


# ---------------------------------------------------------------------------------------------
# (c) COLMAP model written by pycolmap (binary and text), with an images/ folder
# ---------------------------------------------------------------------------------------------

COLMAP_W, COLMAP_H = 40, 30
COLMAP_CAMERAS = {
    1: ("PINHOLE", [50.0, 52.0, 20.0, 15.0]),
    2: ("OPENCV", [45.0, 46.0, 19.5, 14.5, 0.05, -0.01, 0.001, -0.002]),
}
# name, camera id, world-to-camera rotation, translation (cameras about 4 units from the points)
COLMAP_IMAGES = [
    ("img0.jpg", 1, rot_y(0.0), [0.0, 0.0, 4.0]),
    ("img1.png", 1, rot_y(0.35) @ rot_x(0.1), [0.2, -0.1, 4.2]),
    ("img2.png", 2, rot_y(-0.3) @ rot_z(0.2), [-0.3, 0.15, 3.8]),
]
COLMAP_POINTS = np.array([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1], [-0.4, 0.25, -0.2], [0.1, 0.4, 0.3], [-0.2, -0.3, 0.25]])
COLMAP_COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [12, 34, 56], [200, 150, 100]], dtype=np.uint8)


def _import_pycolmap():
    import zlib  # noqa: F401  (pycolmap 4.x aborts at import unless zlib is loaded first)

    return pytest.importorskip("pycolmap")


@pytest.fixture
def make_colmap(tmp_path):
    """make_colmap(kind="bin"|"txt", name=...) -> namespace(path (project root), model (sparse/0), w2c [3,4,4],
    c2w [3,4,4], centres [3,3], points, colours, uv (pycolmap's projections [3,P,2]), names, camera_ids)."""

    def make(kind: str = "bin", name: str | None = None) -> SimpleNamespace:
        pycolmap = _import_pycolmap()
        root = tmp_path / (name or f"colmap_{kind}")
        model = root / "sparse" / "0"
        model.mkdir(parents=True)
        rec = pycolmap.Reconstruction()
        cams = {}
        for cam_id, (model_name, params) in COLMAP_CAMERAS.items():
            cam = pycolmap.Camera.create_from_model_name(cam_id, model_name, 1.0, COLMAP_W, COLMAP_H)
            cam.params = params
            rec.add_camera_with_trivial_rig(cam)
            cams[cam_id] = cam
        w2cs, uvs, rgbs = [], [], []
        for image_id, (img_name, cam_id, R, t) in enumerate(COLMAP_IMAGES, start=1):
            w2c = pose(R, t)
            cam_pts = COLMAP_POINTS @ R.T + np.asarray(t)
            uv = np.asarray(cams[cam_id].img_from_cam(cam_pts))
            image = pycolmap.Image(name=img_name, keypoints=uv, camera_id=cam_id, image_id=image_id)
            rec.add_image_with_trivial_frame(image, pycolmap.Rigid3d(w2c[:3, :4]))
            w2cs.append(w2c)
            uvs.append(uv)
            rgbs.append(rgb_image(image_id, COLMAP_W, COLMAP_H))
            write_png(root / "images" / img_name, rgbs[-1])
        for p, (xyz, rgb) in enumerate(zip(COLMAP_POINTS, COLMAP_COLOURS)):
            track = pycolmap.Track([pycolmap.TrackElement(image_id, p) for image_id in range(1, len(COLMAP_IMAGES) + 1)])
            rec.add_point3D(xyz, track, rgb)
        if kind == "bin":
            rec.write(str(model))
            assert (model / "images.bin").is_file()
        elif kind == "txt":
            rec.write_text(str(model))
            assert (model / "images.txt").is_file()
        else:
            raise ValueError(kind)
        w2c = np.stack(w2cs)
        centres = np.stack([np.asarray(rec.image(i).projection_center()).reshape(3) for i in range(1, len(COLMAP_IMAGES) + 1)])
        return SimpleNamespace(path=root, model=model, kind=kind, w2c=w2c, c2w=np.linalg.inv(w2c), centres=centres,
                               points=COLMAP_POINTS.copy(), colours=COLMAP_COLOURS.copy(), uv=np.stack(uvs),
                               names=[im[0] for im in COLMAP_IMAGES], camera_ids=[im[1] for im in COLMAP_IMAGES],
                               cameras=dict(COLMAP_CAMERAS), width=COLMAP_W, height=COLMAP_H, rgb=rgbs)

    return make


@pytest.fixture
def colmap_bin(make_colmap):
    return make_colmap("bin")


@pytest.fixture
def colmap_txt(make_colmap):
    return make_colmap("txt")


# ---------------------------------------------------------------------------------------------
# (d) Photos for structure from motion: a textured floor, wall and box rendered along an arc
# ---------------------------------------------------------------------------------------------

SFM_W, SFM_H, SFM_FOV = 320, 240, 60.0


def _textured_room():
    import torch

    from scenegen import Gaussians

    g = torch.Generator().manual_seed(0)

    def plane(n, origin, u, v):
        a = torch.rand(n, 2, generator=g)
        return torch.tensor(origin) + a[:, :1] * torch.tensor(u) + a[:, 1:] * torch.tensor(v)

    points = torch.cat([plane(20000, [-1.5, -1.5, 0], [3, 0, 0], [0, 3, 0]), plane(8000, [-1.5, 1.5, 0], [3, 0, 0], [0, 0, 1.5]),
                        plane(4000, [-0.3, -0.3, 0.6], [0.6, 0, 0], [0, 0.6, 0]), plane(4000, [-0.3, -0.3, 0], [0.6, 0, 0], [0, 0, 0.6]),
                        plane(4000, [0.3, -0.3, 0], [0, 0.6, 0], [0, 0, 0.6])])
    gaussians = Gaussians.from_points(points, torch.rand(len(points), 3, generator=g), scale=0.012)
    gaussians.opacities[:] = 4.0
    return gaussians


def render_photos(folder: Path, cameras) -> None:
    from scenegen import render

    out = render(_textured_room(), cameras, background=(0.5, 0.5, 0.5))
    for i in range(len(cameras)):
        write_png(folder / f"{i:03d}.png", (out.rgb[i].clamp(0, 1) * 255).round().byte().numpy())


@pytest.fixture(scope="session")
def sfm_photos(tmp_path_factory) -> SimpleNamespace:
    """16 photos (320x240, 60 degree field of view) along a 120-degree arc around a textured box
    on a floor by a wall: folder, true cameras (OpenCV c2w) and focal length in pixels."""
    import torch

    from scenegen.render.views import orbit_cameras

    folder = tmp_path_factory.mktemp("sfm") / "images"
    cameras = orbit_cameras(torch.tensor([0.0, 0.0, 0.3]), 1.2, num=48, elevation_deg=30, width=SFM_W, height=SFM_H,
                            fov_deg=SFM_FOV)[torch.arange(16)]
    render_photos(folder, cameras)
    return SimpleNamespace(folder=folder, cameras=cameras, focal=float(cameras.fx[0]))
