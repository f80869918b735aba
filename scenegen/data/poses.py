"""Camera poses for unposed images by structure from motion with pycolmap (SIFT on the CPU).

- One shared camera (SIMPLE_RADIAL) for the whole capture. Its focal length starts from a prior:
  the one the video's metadata gives, else 1.2 times the longer side of the frame (COLMAP's
  usual guess for an unknown lens).
- Matching is exhaustive for small sets. Longer videos are matched sequentially (each frame with
  the next `overlap`), plus a loop pass that matches a sparse, even sample of frames with each
  other, so a capture that comes back to its start closes the loop.
- Incremental mapping stops at a time cap. Then a global bundle adjustment refines the
  principal point too, kept only when the images pin it down: it stays near the frame centre
  and the reprojection error falls by at least 3% (freeing it without that gain only adds error:
  on a rendered orbit with a centred principal point it moved 5% and the rotation error rose from
  0.4 to 2 degrees).
- Images are undistorted to pinhole, and the points keep their colours.
- Optional per-image masks (non-zero = leave out: moving objects) keep features off moving things.

The result checks itself. Too few registered images, almost no 3D points, or a focal length far
from the frame size (what a pure rotation or pan produces) end in a DatasetError, never in a scene.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..common.progress import Progress
from ..errors import DatasetError, InvalidArgumentError
from .colmap import load_colmap
from .dataset import Dataset

log = logging.getLogger("scenegen.poses")


@dataclass
class SfmOptions:
    exhaustive_below: int = 30  # match every pair when there are at most this many images
    overlap: int = 10  # sequential matching: each image with the next `overlap`
    loop_samples: int = 24  # loop pass: this many evenly spread images matched all-to-all (0: off)
    default_focal_factor: float = 1.2  # focal prior without metadata, times the longer side
    refine_principal_point: bool = True
    max_principal_point_shift: float = 0.1  # of the frame size, for the refined point to be kept
    min_principal_point_gain: float = 0.03  # ... and the reprojection error must fall by this fraction
    max_mapping_seconds: float = 600.0
    max_models: int = 3  # the largest is used; more attempts only cost time when the capture is poor
    min_registration: float = 0.5
    min_points: int = 50
    # Fail when the camera centres spread less than this times the scene depth: a pan. Measured:
    # 0.013-0.016 on a rendered pan, 0.15-0.22 on handheld clips; a pan's triangulation angles
    # are noise (2 to over 3 degrees here, run to run), so they are reported, not tested.
    min_baseline_ratio: float = 0.05
    focal_range: tuple = (0.45, 5.0)  # focal length over the longer side: 0.45 is a 96-degree field of view


@dataclass
class SfmReport:
    images: int
    registered: int
    points: int
    mean_reprojection_error: float
    focal_px: float
    principal_point_refined: bool
    seconds: float
    triangulation_angle_deg: float = 0.0  # median over points
    baseline_ratio: float = 0.0  # camera spread / scene depth

    @property
    def registration_rate(self) -> float:
        return self.registered / max(self.images, 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "registration_rate": self.registration_rate}


def _pycolmap():
    import zlib  # noqa: F401  (pycolmap 4.1+ aborts on the next zlib call when imported before zlib)

    from ..errors import require

    return _quiet(require("pycolmap", "structure from motion", "pycolmap"))


def _quiet(pycolmap):
    """COLMAP's own log is thousands of lines: errors only, unless scenegen logs at DEBUG.
    (pycolmap's bundle_adjustment resets the level, so this runs again after it.)"""
    pycolmap.logging.minloglevel = 0 if log.isEnabledFor(logging.DEBUG) else 2
    return pycolmap


def _write_colmap_masks(dataset: Dataset, names: list[str], folder: Path) -> None:
    """COLMAP masks: white where features may be found, black where the user's mask is set."""
    from PIL import Image

    folder.mkdir(parents=True)
    for i, name in enumerate(names):
        width, height = dataset.image_size(i)
        mask = dataset.mask(i)
        if mask.shape != (height, width):
            raise DatasetError(f"{dataset.mask_paths[i]}: mask size does not fit image {name}")
        Image.fromarray(np.where(mask.numpy() == 0, 255, 0).astype(np.uint8)).save(folder / f"{name}.png")


def _loop_pairs(names: list[str], samples: int, overlap: int) -> list[tuple[str, str]]:
    idx = sorted(set(np.linspace(0, len(names) - 1, samples).round().astype(int).tolist()))
    return [(names[a], names[b]) for k, a in enumerate(idx) for b in idx[k + 1:] if b - a > overlap]


def _match(pycolmap, database: Path, names: list[str], options: SfmOptions, work: Path) -> None:
    cpu = pycolmap.Device.cpu
    if len(names) <= options.exhaustive_below:
        pycolmap.match_exhaustive(database, device=cpu)
        return
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = options.overlap
    pycolmap.match_sequential(database, pairing_options=pairing, device=cpu)
    pairs = _loop_pairs(names, options.loop_samples, options.overlap) if options.loop_samples > 1 else []
    if pairs:
        pair_file = work / "loop_pairs.txt"
        pair_file.write_text("".join(f"{a} {b}\n" for a, b in pairs))
        imported = pycolmap.ImportedPairingOptions()
        imported.match_list_path = str(pair_file)
        pycolmap.match_image_pairs(database, pairing_options=imported, device=cpu)


def _refine_principal_point(pycolmap, model, options: SfmOptions):
    """(model, kept): a global bundle adjustment that also frees the principal point, kept only
    when the point stays within `max_principal_point_shift` of the centre and the reprojection
    error does not grow; otherwise the model as it was."""
    before_error = model.compute_mean_reprojection_error()
    refined = pycolmap.Reconstruction(model)
    ba = pycolmap.BundleAdjustmentOptions()
    ba.refine_principal_point = True
    ba.print_summary = False
    pycolmap.bundle_adjustment(refined, ba)
    _quiet(pycolmap)
    shift = max(max(abs(c.principal_point_x - c.width / 2) / c.width, abs(c.principal_point_y - c.height / 2) / c.height)
                for c in refined.cameras.values())
    error = refined.compute_mean_reprojection_error()
    log.info("scenegen poses: principal point refinement moves it %.3f of the frame, reprojection error %.4f -> %.4f px",
             shift, before_error, error)
    if shift <= options.max_principal_point_shift and error <= before_error * (1 - options.min_principal_point_gain):
        return refined, True
    log.info("scenegen poses: principal point not refined; the images do not pin it down")
    return model, False


def parallax(model) -> tuple[float, float]:
    """(median triangulation angle in degrees, baseline / depth) of a pycolmap model: the widest
    angle between the rays that see each 3D point, and the spread of the camera centres over the
    median distance from a camera to the points it sees. The spread is near zero when the camera
    only turned; the angle is then noise, from the few spurious points a pan reconstructs."""
    centres = {i: np.asarray(img.projection_center()) for i, img in model.images.items() if img.has_pose}
    angles, depths = [], []
    for point in model.points3D.values():
        ids = [el.image_id for el in point.track.elements if el.image_id in centres]
        if len(ids) < 2:
            continue
        rays = point.xyz[None] - np.stack([centres[i] for i in ids])
        lengths = np.linalg.norm(rays, axis=1)
        unit = rays / np.maximum(lengths, 1e-12)[:, None]
        angles.append(np.degrees(np.arccos(np.clip((unit @ unit.T).min(), -1.0, 1.0))))
        depths.append(np.median(lengths))
    if not angles or len(centres) < 2:
        return 0.0, 0.0
    c = np.stack(list(centres.values()))
    baseline = float(np.median(np.linalg.norm(c - c.mean(0), axis=1)))
    return float(np.median(angles)), baseline / max(float(np.median(depths)), 1e-12)


def estimate_poses(dataset: Dataset, work_dir: str | os.PathLike, options: SfmOptions | None = None, *,
                   focal_px: float | None = None, progress: bool = True) -> tuple[Dataset, SfmReport]:
    """Poses for the images of `dataset` (all in one folder; `dataset.mask_paths`, when set, mark
    what to leave out). Writes work_dir/database.db, work_dir/sparse/model, the undistorted images
    in work_dir/undistorted and work_dir/sfm_report.json; returns the posed, undistorted Dataset
    (times carried over, SfM points with colours) and a report. `focal_px`: a focal-length prior
    in pixels (default: dataset.metadata["focal_px"], else from the frame size)."""
    pycolmap = _pycolmap()
    options = options or SfmOptions()
    if len(dataset) < 3:
        raise InvalidArgumentError(f"structure from motion needs at least 3 images, got {len(dataset)}; use a longer "
                                   "video, more photos or a higher --max-frames")
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
    reader.default_focal_length_factor = options.default_focal_factor
    sizes = {dataset.image_size(i) for i in range(len(dataset))}
    # One camera for a video or a photo set from one camera; photos of several sizes get one each.
    camera_mode = pycolmap.CameraMode.SINGLE if len(sizes) == 1 else pycolmap.CameraMode.PER_IMAGE
    focal_px = focal_px or dataset.metadata.get("focal_px")
    if focal_px and len(sizes) == 1:
        width, height = sizes.pop()
        reader.camera_params = f"{focal_px},{width / 2},{height / 2},0"
    if dataset.mask_paths is not None:
        _write_colmap_masks(dataset, names, work / "masks")
        reader.mask_path = str(work / "masks")
    mapping = pycolmap.IncrementalPipelineOptions()
    mapping.max_runtime_seconds = max(1, round(options.max_mapping_seconds))
    mapping.random_seed = 0  # the same images give the same model
    mapping.max_num_models = options.max_models
    with Progress(f"SfM: SIFT features of {len(names)} images", enabled=progress) as bar:
        pycolmap.extract_features(database, image_dir, image_names=names, camera_mode=camera_mode,
                                  reader_options=reader, device=pycolmap.Device.cpu)
        bar.update(description="SfM: matching")
        _match(pycolmap, database, names, options, work)
        bar.update(0, description="SfM: mapping (images registered)", total=len(names))
        mapping_started = time.perf_counter()
        models = pycolmap.incremental_mapping(database, image_dir, work / "sparse", options=mapping,
                                              next_image_callback=bar.advance)
        capped = time.perf_counter() - mapping_started >= options.max_mapping_seconds
    if not models:
        raise DatasetError(f"{image_dir}: structure from motion registered no images; the capture needs more overlap "
                           "and camera translation (walk around the subject rather than turning on the spot)")
    model = models[max(models, key=lambda k: models[k].num_reg_images())]
    refined = False
    if options.refine_principal_point and model.num_reg_images() >= 3:
        model, refined = _refine_principal_point(pycolmap, model, options)
    cams = [model.cameras[img.camera_id] for img in model.images.values() if img.has_pose]
    focal_ratio = np.array([c.mean_focal_length() / max(c.width, c.height) for c in cams])
    median = int(np.argsort(focal_ratio)[len(cams) // 2])
    report = SfmReport(images=len(dataset), registered=model.num_reg_images(), points=model.num_points3D(),
                       mean_reprojection_error=float(model.compute_mean_reprojection_error()),
                       focal_px=float(cams[median].mean_focal_length()), principal_point_refined=refined,
                       seconds=time.perf_counter() - started)
    report.triangulation_angle_deg, report.baseline_ratio = parallax(model)
    problems = []
    if report.registration_rate < options.min_registration:
        problems.append(f"only {report.registered} of {report.images} images registered"
                        + (f" before the {options.max_mapping_seconds:.0f} s mapping cap" if capped else ""))
    if report.points < options.min_points:
        problems.append(f"only {report.points} 3D points")
    if report.baseline_ratio < options.min_baseline_ratio:
        problems.append(f"the camera centres spread only {report.baseline_ratio:.3f} of the scene depth and the median "
                        f"triangulation angle is {report.triangulation_angle_deg:.1f} degrees")
    lo, hi = options.focal_range
    bad = (focal_ratio < lo) | (focal_ratio > hi)
    if bad.any():
        worst = int(np.argmax(np.abs(np.log(focal_ratio))))
        fov = 2 * np.degrees(np.arctan(0.5 / focal_ratio[worst]))
        problems.append(f"focal length {cams[worst].mean_focal_length():.0f} px for a {max(cams[worst].width, cams[worst].height)} px "
                        f"frame, a {fov:.0f}-degree field of view")
    if problems:
        raise DatasetError(f"{image_dir}: structure from motion failed its checks ({'; '.join(problems)}). The camera did "
                           "not move enough: a pan or a turn on the spot gives this. Record while walking around the "
                           "subject, move more slowly, or mask moving objects (--masks)")
    model_dir = work / "sparse" / "model"
    model_dir.mkdir()
    model.write(model_dir)
    pycolmap.undistort_images(work / "undistorted", model_dir, image_dir)
    (work / "sfm_report.json").write_text(json.dumps(report.to_dict(), indent=1))
    log.info("scenegen poses: %d/%d images registered, %d points, reprojection error %.2f px, %.0f s",
             report.registered, report.images, report.points, report.mean_reprojection_error, report.seconds)
    return load_poses(work, dataset)


def load_poses(work_dir: str | os.PathLike, frames: Dataset) -> tuple[Dataset, SfmReport]:
    """The result `estimate_poses` left in work_dir, for the images of `frames` (the cached stage)."""
    work = Path(work_dir)
    report_path = work / "sfm_report.json"
    if not report_path.is_file() or not (work / "undistorted").is_dir():
        raise DatasetError(f"{work}: no finished structure-from-motion result here; run the poses stage first")
    try:
        fields = json.loads(report_path.read_text())
        fields.pop("registration_rate", None)
        report = SfmReport(**fields)
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{report_path}: not a structure-from-motion report ({exc}); run the poses stage again") from None
    posed = load_colmap(work / "undistorted")
    if frames.times is not None:
        by_name = dict(zip((p.name for p in frames.image_paths), frames.times.tolist()))
        posed.times = torch.tensor([by_name[p.name] for p in posed.image_paths], dtype=torch.float32)
    posed.metadata.update({k: frames.metadata.get(k) for k in ("video", "fps", "frames_read")})
    return posed, report
