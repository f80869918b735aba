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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..common.progress import Progress
from ..errors import DatasetError, InvalidArgumentError
from .colmap import load_colmap
from .dataset import Dataset

log = logging.getLogger("scenegen.poses")


MAPPERS = ("auto", "both", "incremental", "global")
# COLMAP camera models scenegen can ask for: (focal lengths, distortion parameters)
CAMERA_MODELS = {"SIMPLE_PINHOLE": (1, 0), "PINHOLE": (2, 0), "SIMPLE_RADIAL": (1, 1), "RADIAL": (1, 2), "OPENCV": (2, 4),
                 "FULL_OPENCV": (2, 8), "SIMPLE_RADIAL_FISHEYE": (1, 1), "RADIAL_FISHEYE": (1, 2), "OPENCV_FISHEYE": (2, 4)}


@dataclass
class SfmOptions:
    exhaustive_below: int = 30  # match every pair when there are at most this many images
    overlap: int = 10  # sequential matching: each image with the next `overlap`
    loop_samples: int = 24  # loop pass: this many evenly spread images matched all-to-all (0: off)
    default_focal_factor: float = 1.2  # focal prior without metadata, times the longer side
    # auto: map with SIMPLE_RADIAL (f, cx, cy, k: robust from few images), then free the principal
    # point in a global bundle adjustment and, when every image shares one camera and there are at
    # least `opencv_min_images`, also try OPENCV (fx, fy, cx, cy, k1, k2, p1, p2). A refinement is
    # kept when the frames pin it down: the reprojection error falls (by min_principal_point_gain
    # from the mapped model, by min_camera_model_gain more for OPENCV once the point is refined),
    # the point stays within max_principal_point_shift of the centre, and a second adjustment
    # started from another focal
    # length and point (start_offset) lands on the same camera (within camera_agreement of the
    # frame). Measured: OPENCV with the point held at the centre trades it for tangential
    # distortion (5.8 degree rotation errors on a rendered off-centre lens), and on rendered pinhole
    # photos the principal point drifts without lowering the error (2.4 degrees).
    # Or any COLMAP model name, used from the start (with the principal point refinement only).
    camera_model: str = "auto"
    opencv_min_images: int = 10
    min_camera_model_gain: float = 0.01
    start_offset: float = 0.05
    camera_agreement: float = 0.005
    # both: incremental and global (GLOMAP) mapping, the model with more images registered kept,
    # and of two with as many, the lower mean reprojection error. auto: incremental, and global
    # beside it (kept as in both) only when incremental mapping leaves images unregistered.
    # Measured (benchmarks/poses.py): where incremental registers every image, global's poses
    # were never closer to the truth (statue 0.39 against 0.14 degrees, a lens capture 0.19
    # against 0.10) and it costs as long again. Or one of them alone.
    mapper: str = "auto"
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

    def __post_init__(self):
        if self.mapper not in MAPPERS:
            raise InvalidArgumentError(f"SfM mapper {self.mapper!r}: give one of {', '.join(MAPPERS)}")
        if self.camera_model != "auto" and self.camera_model not in CAMERA_MODELS:
            raise InvalidArgumentError(f"SfM camera model {self.camera_model!r}: give auto or one of {', '.join(CAMERA_MODELS)}")


@dataclass
class SfmReport:
    images: int
    registered: int
    points: int
    mean_reprojection_error: float
    focal_px: float
    principal_point_refined: bool
    seconds: float
    camera_model: str = "SIMPLE_RADIAL"
    mapper: str = "incremental"
    mappers: dict = field(default_factory=dict)  # each mapper tried: registered, reprojection error, seconds
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
    """COLMAP's own log is thousands of lines: errors only, unless scenegen logs at DEBUG."""
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


def _prior_params(model: str, focal: float, width: int, height: int) -> str:
    """COLMAP's parameter string for a focal-length prior, the point at the centre, no distortion."""
    focals, extra = CAMERA_MODELS[model]
    return ",".join([str(focal)] * focals + [str(width / 2), str(height / 2)] + ["0"] * extra)


def _map(pycolmap, mapper: str, database: Path, image_dir: Path, out: Path, options: SfmOptions, bar, images: int):
    """(the mapper's model with the most images registered or None, whether it ran into the time cap)."""
    out.mkdir(parents=True)
    bar.update(0, description=f"SfM: {mapper} mapping (images registered)", total=images if mapper == "incremental" else None)
    started = time.perf_counter()
    if mapper == "incremental":
        mapping = pycolmap.IncrementalPipelineOptions()
        mapping.max_runtime_seconds = max(1, round(options.max_mapping_seconds))
        mapping.random_seed = 0  # the same images give the same model
        mapping.max_num_models = options.max_models
        models = pycolmap.incremental_mapping(database, image_dir, out, options=mapping, next_image_callback=bar.advance)
    else:
        mapping = pycolmap.GlobalPipelineOptions()
        mapping.random_seed = 0
        models = pycolmap.global_mapping(database, image_dir, out, options=mapping)
    _quiet(pycolmap)
    capped = time.perf_counter() - started >= options.max_mapping_seconds
    if not models:
        return None, capped
    return models[max(models, key=lambda k: models[k].num_reg_images())], capped


def _camera_as(pycolmap, c, model: str, scale: float = 1.0, shift: float = 0.0):
    """Camera `c` as `model` (SIMPLE_RADIAL -> OPENCV: fx = fy = f, k1 = k), its focal length times
    `scale` and its principal point moved by `shift` of the frame (right and up)."""
    params = list(c.params)
    if model != c.model.name:
        if (c.model.name, model) != ("SIMPLE_RADIAL", "OPENCV"):
            raise InvalidArgumentError(f"no conversion from the {c.model.name} camera model to {model}")
        f, cx, cy, k = params
        params = [f, f, cx, cy, k, 0.0, 0.0, 0.0]
    out = pycolmap.Camera(model=model, width=c.width, height=c.height, params=params, camera_id=c.camera_id)
    p = list(out.params)
    for i in out.focal_length_idxs():
        p[i] *= scale
    ix, iy = out.principal_point_idxs()
    p[ix] += shift * c.width
    p[iy] -= shift * c.height
    out.params = p
    return out


def _adjusted(pycolmap, model, camera_model: str, scale: float = 1.0, shift: float = 0.0):
    """A copy of `model` with its cameras as `camera_model` (see _camera_as), after a global bundle
    adjustment that frees the focal length, the distortion and the principal point."""
    refined = pycolmap.Reconstruction(model)
    for camera_id, c in list(refined.cameras.items()):
        refined.cameras[camera_id] = _camera_as(pycolmap, c, camera_model, scale, shift)
    ba = pycolmap.BundleAdjustmentOptions()
    ba.refine_principal_point = True
    ba.print_summary = False
    # The adjuster itself, as pycolmap.bundle_adjustment sets it up (every registered image, two
    # cameras fixing the gauge), without that controller's reset of COLMAP's log level.
    config = pycolmap.BundleAdjustmentConfig()
    for image_id in refined.reg_image_ids():
        config.add_image(image_id)
    config.fix_gauge(pycolmap.BundleAdjustmentGauge.TWO_CAMS_FROM_WORLD)
    pycolmap.create_default_bundle_adjuster(ba, config, refined).solve()
    refined.update_point_3d_errors()
    return refined


def _camera_gap(a, b) -> float:
    """How far two adjusted models' cameras differ: the largest focal-length ratio change and
    principal-point move (as a fraction of the frame) over the cameras."""
    gap = 0.0
    for ca, cb in zip(a.cameras.values(), b.cameras.values()):
        gap = max(gap, abs(ca.mean_focal_length() / cb.mean_focal_length() - 1),
                  abs(ca.principal_point_x - cb.principal_point_x) / ca.width,
                  abs(ca.principal_point_y - cb.principal_point_y) / ca.height)
    return gap


def _refine_camera(pycolmap, model, options: SfmOptions, richer: tuple[str, ...]):
    """(model, camera model name, principal point refined): the mapped model, or one adjusted with
    its principal point free (as mapped, then as each model in `richer`), whichever the frames pin
    down with the lowest error (see SfmOptions.camera_model)."""
    first = next(iter(model.cameras.values())).model.name
    kept, kept_name, kept_error = model, first, model.compute_mean_reprojection_error()
    for name in (first, *richer):
        # from the mapped model the error must fall by min_principal_point_gain; a richer model
        # must then lower it by min_camera_model_gain more
        gain = options.min_principal_point_gain if kept is model else options.min_camera_model_gain
        refined = _adjusted(pycolmap, model, name)
        error = refined.compute_mean_reprojection_error()
        shift = max(max(abs(c.principal_point_x - c.width / 2) / c.width, abs(c.principal_point_y - c.height / 2) / c.height)
                    for c in refined.cameras.values())
        verdict = "kept"
        if error > kept_error * (1 - gain):
            verdict = f"not kept: the error must fall by {gain:.0%}"
        elif shift > options.max_principal_point_shift:
            verdict = f"not kept: the point is more than {options.max_principal_point_shift:.0%} of the frame off centre"
        else:
            other = _adjusted(pycolmap, model, name, 1 + options.start_offset, options.start_offset)
            gap = _camera_gap(refined, other)
            if gap > options.camera_agreement:
                verdict = f"not kept: started elsewhere it lands {gap:.2%} of the frame away"
        log.info("scenegen poses: %s camera with its principal point free: moved %.3f of the frame, reprojection error "
                 "%.4f -> %.4f px; %s", name, shift, kept_error, error, verdict)
        if verdict == "kept":
            kept, kept_name, kept_error = refined, name, error
    if kept is model:
        log.info("scenegen poses: principal point not refined; the images do not pin it down")
    return kept, kept_name, kept is not model


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
    options = options or SfmOptions()
    pycolmap = _pycolmap()
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

    sizes = {dataset.image_size(i) for i in range(len(dataset))}
    # One camera for a video or a photo set from one camera; photos of several sizes get one each.
    camera_mode = pycolmap.CameraMode.SINGLE if len(sizes) == 1 else pycolmap.CameraMode.PER_IMAGE
    shared = len(sizes) == 1
    camera_model = "SIMPLE_RADIAL" if options.camera_model == "auto" else options.camera_model
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = camera_model
    reader.default_focal_length_factor = options.default_focal_factor
    focal_px = focal_px or dataset.metadata.get("focal_px")
    if focal_px and len(sizes) == 1:
        width, height = sizes.pop()
        reader.camera_params = _prior_params(camera_model, float(focal_px), width, height)
    if dataset.mask_paths is not None:
        _write_colmap_masks(dataset, names, work / "masks")
        reader.mask_path = str(work / "masks")
    mappers = {"auto": ["incremental"], "both": ["incremental", "global"]}.get(options.mapper, [options.mapper])
    tried, capped = {}, False
    with Progress(f"SfM: SIFT features of {len(names)} images", enabled=progress) as bar:
        pycolmap.extract_features(database, image_dir, image_names=names, camera_mode=camera_mode,
                                  reader_options=reader, device=pycolmap.Device.cpu)
        bar.update(description="SfM: matching")
        _match(pycolmap, database, names, options, work)
        for mapper in mappers:
            mapping_started = time.perf_counter()
            model, capped_here = _map(pycolmap, mapper, database, image_dir, work / "sparse" / mapper, options, bar, len(names))
            lens, pp_refined = camera_model, False
            if model is not None and options.refine_principal_point and model.num_reg_images() >= 3:
                bar.update(description=f"SfM: {mapper} mapping: refining the camera")
                richer = options.camera_model == "auto" and shared and model.num_reg_images() >= options.opencv_min_images
                model, lens, pp_refined = _refine_camera(pycolmap, model, options, ("OPENCV",) if richer else ())
            tried[mapper] = (model, lens, pp_refined, time.perf_counter() - mapping_started)
            capped = capped or capped_here
            if options.mapper == "auto" and mapper == "incremental" and (model is None or model.num_reg_images() < len(names)):
                mappers.append("global")
    found = {name: t for name, t in tried.items() if t[0] is not None}
    if not found:
        raise DatasetError(f"{image_dir}: structure from motion registered no images; the capture needs more overlap "
                           "and camera translation (walk around the subject rather than turning on the spot)")
    # more images registered wins; of as many, the lower mean reprojection error
    mapper = min(found, key=lambda k: (-found[k][0].num_reg_images(), found[k][0].compute_mean_reprojection_error()))
    model, camera_model, refined, _ = found[mapper]
    summary = {name: {"registered": 0 if m is None else m.num_reg_images(),
                      "reprojection_error_px": None if m is None else float(m.compute_mean_reprojection_error()),
                      "camera_model": lens, "principal_point_refined": pp, "seconds": round(seconds, 2)}
               for name, (m, lens, pp, seconds) in tried.items()}
    log.info("scenegen poses: %s kept (%s)", mapper, "; ".join(
        f"{k}: {v['registered']} images, {v['reprojection_error_px'] or float('nan'):.3f} px, {v['seconds']:.0f} s" for k, v in summary.items()))
    cams = [model.cameras[img.camera_id] for img in model.images.values() if img.has_pose]
    focal_ratio = np.array([c.mean_focal_length() / max(c.width, c.height) for c in cams])
    median = int(np.argsort(focal_ratio)[len(cams) // 2])
    report = SfmReport(images=len(dataset), registered=model.num_reg_images(), points=model.num_points3D(),
                       mean_reprojection_error=float(model.compute_mean_reprojection_error()),
                       focal_px=float(cams[median].mean_focal_length()), principal_point_refined=refined,
                       seconds=time.perf_counter() - started, camera_model=camera_model, mapper=mapper, mappers=summary)
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
