"""Rendering a synthetic scene spec to a dataset with ground truth.

OUT/
  transforms.json     nerfstudio-style: OpenGL camera-to-world, per-frame `time` (seconds),
                      `mask_path` and `depth_file_path` (depth_unit_scale_factor 0.001)
  images/  masks/  depth/   frame_NNNNN.png: RGB; object indices (uint8, 0 = background);
                      z-depth in millimetres (uint16, 0 = nothing hit)
  video.mp4           the frames as an H.264 video at the spec's frame rate
  ground_truth.json   mask index -> object name, each object's track (per frame) and mesh,
                      the cameras in OpenCV axes, the light
  meshes/             each object's mesh in its own frame, and the room in world coordinates (PLY)
  spec.json           the spec that made it
The folder is written beside OUT and renamed into place when complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from .paths import camera_path
from .raycast import SyntheticRenderer
from .spec import SceneSpec

GROUND_TRUTH_FORMAT = "scenegen-synth-ground-truth"


def _track(obj, times: np.ndarray) -> dict:
    import torch

    from ..geometry import rotmat_to_quat

    poses = np.stack([obj.pose_at(float(t)) for t in times])
    quats = rotmat_to_quat(torch.from_numpy(poses[:, :3, :3])).numpy()
    return {"times": times.tolist(), "translations": poses[:, :3, 3].tolist(), "rotations": quats.tolist()}


def generate(spec: SceneSpec, out: str | os.PathLike, *, frames: int | None = None, size: tuple[int, int] | None = None,
             supersample: int = 2, video: bool = True, progress: bool = True, principal_point=None,
             distortion=None) -> Path:
    """Render `spec` into the dataset folder `out` (see the module doc); returns `out`.
    frames / size override the spec's camera frame count and (width, height); principal_point
    ([x, y], fractions of the frame) and distortion (OpenCV [k1, k2, p1, p2]) its lens."""
    import imageio.v2 as imageio
    from PIL import Image

    from ..common.atomic import atomic_path
    from ..common.progress import track

    camera = dict(spec.camera)
    if principal_point is not None:
        camera["principal_point"] = list(principal_point)
    if distortion is not None:
        camera["distortion"] = list(distortion)
    if frames is not None:
        if frames < 2:
            raise InvalidArgumentError(f"frames must be >= 2, got {frames}")
        camera["frames"] = frames
    if size is not None:
        camera["width"], camera["height"] = int(size[0]), int(size[1])
    spec = dataclasses.replace(spec, camera=camera)  # the caller's spec stays as it was
    cams = camera_path(camera, seed=spec.seed)
    times = spec.times()
    renderer = SyntheticRenderer(spec, supersample=supersample)
    out = Path(out)
    with atomic_path(out, directory=True) as tmp:
        for sub in ("images", "masks", "depth", "meshes"):
            (tmp / sub).mkdir()
        writer = imageio.get_writer(tmp / "video.mp4", format="FFMPEG", fps=spec.fps, codec="libx264",
                                    macro_block_size=1) if video else None
        records = []
        try:
            for i in track(range(len(cams)), description=f"rendering {spec.name}", enabled=progress):
                frame = renderer.render(cams[i], float(times[i]))
                name = f"frame_{i:05d}.png"
                rgb8 = (frame.rgb * 255).round().astype(np.uint8)
                Image.fromarray(rgb8).save(tmp / "images" / name)
                Image.fromarray(frame.mask).save(tmp / "masks" / name)
                depth_mm = np.clip(np.round(frame.depth * 1000), 0, 65535).astype(np.uint16)
                Image.fromarray(depth_mm).save(tmp / "depth" / name)
                if writer is not None:
                    h, w = rgb8.shape[:2]
                    writer.append_data(np.pad(rgb8, ((0, h % 2), (0, w % 2), (0, 0))))
                records.append({"file_path": f"images/{name}", "mask_path": f"masks/{name}", "depth_file_path": f"depth/{name}",
                                "time": float(times[i]), "transform_matrix": cams[i].c2w_opengl.double().tolist()})
        finally:
            if writer is not None:
                writer.close()
        c = cams[0]
        lens = {} if c.distortion is None else dict(zip(("k1", "k2", "p1", "p2"), c.distortion.tolist()))
        transforms = {"camera_model": "OPENCV", "fl_x": float(c.fx), "fl_y": float(c.fy), "cx": float(c.cx), "cy": float(c.cy), **lens,
                      "w": int(c.width), "h": int(c.height), "depth_unit_scale_factor": 0.001,
                      "mask_names": {str(i): obj.name for i, obj in enumerate(spec.objects, start=1)}, "frames": records}
        (tmp / "transforms.json").write_text(json.dumps(transforms, indent=1))
        objects = []
        for index, (obj, mesh) in enumerate(zip(spec.objects, renderer.meshes), start=1):
            mesh.export(tmp / "meshes" / f"{obj.name}.ply")
            objects.append({"index": index, "name": obj.name, "shape": obj.shape, "mesh": f"meshes/{obj.name}.ply",
                            "bounds_local": mesh.bounds.tolist(), "moving": obj.motion is not None,
                            "colour": list(obj.surface.colour), "track": _track(obj, times)})
        import trimesh

        room = [m for _, m, _ in renderer.room]
        if room:
            trimesh.util.concatenate(room).export(tmp / "meshes" / "room.ply")
        truth = {"format": GROUND_TRUTH_FORMAT, "version": 1, "name": spec.name, "fps": spec.fps, "times": times.tolist(),
                 "mask_values": {"0": "background", **{str(o["index"]): o["name"] for o in objects}},
                 "objects": objects, "room_mesh": "meshes/room.ply" if room else None, "floor_z": 0.0, "up": [0.0, 0.0, 1.0],
                 "cameras_c2w_opencv": cams.c2w.double().tolist(), "light": spec.light,
                 "depth": {"unit": "millimetre", "kind": "z in the camera frame", "zero": "nothing hit"}}
        (tmp / "ground_truth.json").write_text(json.dumps(truth, indent=1))
        (tmp / "spec.json").write_text(json.dumps({**spec.raw, "camera": camera}, indent=1))
    return out
