"""Camera poses for unposed images by structure from motion with pycolmap (SIFT on the CPU).

One shared camera (SIMPLE_RADIAL) for the whole capture, exhaustive matching for small sets and
sequential matching for longer videos, incremental mapping, then undistortion to pinhole images.
The result checks itself: too few registered images, no 3D points or a focal length far from
the frame size (what a pure rotation or pan produces) end in a DatasetError, never in a scene.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import DatasetError, InvalidArgumentError
from .colmap import load_colmap
from .dataset import Dataset

log = logging.getLogger("scenegen.poses")


@dataclass
class SfmReport:
    images: int
    registered: int
    points: int
    mean_reprojection_error: float
    focal_px: float
    seconds: float

    @property
    def registration_rate(self) -> float:
        return self.registered / max(self.images, 1)


def _pycolmap():
    import zlib  # noqa: F401  (pycolmap 4.1+ aborts on the next zlib call when imported before zlib)

    from ..errors import require

    return require("pycolmap", "structure from motion", "pycolmap")


def estimate_poses(dataset: Dataset, work_dir: str | os.PathLike, *, exhaustive_below: int = 60, overlap: int = 10,
                   min_registration: float = 0.5) -> tuple[Dataset, SfmReport]:
    """Poses for the images of `dataset` (all in one folder). Writes work_dir/database.db,
    work_dir/sparse/0 and the undistorted images in work_dir/undistorted; returns the posed,
    undistorted Dataset (times carried over) and a report."""
    pycolmap = _pycolmap()
    if len(dataset) < 3:
        raise InvalidArgumentError(f"structure from motion needs at least 3 images, got {len(dataset)}")
    folders = {p.parent for p in dataset.image_paths}
    if len(folders) != 1:
        raise InvalidArgumentError("estimate_poses: the images must all be in one folder")
    image_dir = folders.pop()
    names = [p.name for p in dataset.image_paths]
    work = Path(work_dir)
    if work.exists():
        shutil.rmtree(work)
    (work / "sparse").mkdir(parents=True)
    database = work / "database.db"
    started = time.perf_counter()

    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "SIMPLE_RADIAL"
    pycolmap.extract_features(database, image_dir, image_names=names, camera_mode=pycolmap.CameraMode.SINGLE,
                              reader_options=reader, device=pycolmap.Device.cpu)
    if len(dataset) <= exhaustive_below:
        pycolmap.match_exhaustive(database, device=pycolmap.Device.cpu)
    else:
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = overlap
        pycolmap.match_sequential(database, pairing_options=pairing, device=pycolmap.Device.cpu)
    models = pycolmap.incremental_mapping(database, image_dir, work / "sparse")
    if not models:
        raise DatasetError(f"{image_dir}: structure from motion registered no images; the capture needs more overlap "
                           "and camera translation (walk around the subject rather than turning on the spot)")
    best_id = max(models, key=lambda k: models[k].num_reg_images())
    model = models[best_id]
    cam = next(iter(model.cameras.values()))
    report = SfmReport(images=len(dataset), registered=model.num_reg_images(), points=model.num_points3D(),
                       mean_reprojection_error=float(model.compute_mean_reprojection_error()),
                       focal_px=float(cam.mean_focal_length()), seconds=time.perf_counter() - started)
    longest = max(cam.width, cam.height)
    problems = []
    if report.registration_rate < min_registration:
        problems.append(f"only {report.registered} of {report.images} images registered")
    if report.points < 50:
        problems.append(f"only {report.points} 3D points")
    if not 0.3 * longest <= report.focal_px <= 5 * longest:
        problems.append(f"focal length {report.focal_px:.0f} px for a {longest} px frame")
    if problems:
        raise DatasetError(f"{image_dir}: structure from motion failed its checks ({'; '.join(problems)}); a pure pan or "
                           "rotation gives this: record while moving around the subject")
    model_dir = work / "sparse" / "model"
    model_dir.mkdir()
    model.write(model_dir)
    undistorted = work / "undistorted"
    pycolmap.undistort_images(undistorted, model_dir, image_dir)
    posed = load_colmap(undistorted)
    if dataset.times is not None:
        by_name = dict(zip(names, dataset.times.tolist()))
        posed.times = torch.tensor([by_name[p.name] for p in posed.image_paths], dtype=torch.float32)
    (work / "sfm_report.json").write_text(json.dumps({**report.__dict__, "registration_rate": report.registration_rate}, indent=1))
    log.info("scenegen poses: %d/%d images registered, %d points, reprojection error %.2f px, %.0f s",
             report.registered, report.images, report.points, report.mean_reprojection_error, report.seconds)
    return posed, report
