"""train(): the front door of reconstruction. It picks the trainer a dataset needs (still, with
motion, or with rigid objects), finds objects without masks from what a still fit cannot explain,
runs the fit, splits the result into objects and writes what a training run leaves behind."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from ..common.atomic import atomic_write_bytes
from ..data.dataset import Dataset
from ..errors import InvalidArgumentError
from ..io import save, write_ply
from ..scene import Scene
from .config import TrainConfig
from .device import training_device
from .distributed import start
from .dynamic_trainer import DynamicTrainer, wants_motion
from .evaluation import evaluate
from .object_trainer import ObjectTrainer, wants_objects
from .objects import describe_objects, find_objects
from .objects.from_still_fit import MASKS_FOLDER, masks_from_still_fit
from .trainer import CHECKPOINT, Trainer, held_out

log = logging.getLogger("scenegen.train")


def train(dataset: Dataset, config: TrainConfig | None = None, *, out: str | Path | None = None, resume: bool = False,
          progress: bool = True, evaluate_split: bool = True, objects: str | None = None) -> Scene:
    """Fit Gaussians to `dataset` and return a Scene. A timed dataset with several times gets
    per-Gaussian motion (recon/dynamic_trainer.py) unless config.motion is "static".

    With `out`: checkpoints while training (`resume=True` continues from OUT/checkpoint.pt), then
    writes OUT/scene (native scene), OUT/point_cloud.ply (3DGS PLY), OUT/train_log.json and, when
    the dataset has held-out views, OUT/eval.json with test renders. The scene is in the dataset's
    own coordinate frame, so its cameras reproduce the dataset's views; its metadata keeps the
    settings ("train", the object method among them) and the training time ("train_seconds").

    objects: how to split the trained scene into objects (config.objects when None; see
    recon/objects): "auto" (the training views' masks when the dataset has them, else motion for a
    dynamic scene, else the clusters on the supporting plane), "masks", "motion", "geometry" or
    "none". A timed dataset without masks, with "auto" or "motion", first gets a still fit whose
    unexplained regions become masks of the moving objects (recon/objects/from_still_fit.py,
    written to OUT/motion_masks); when it finds some, they are trained as rigid bodies as masks
    would be.
    """
    out_dir = None if out is None else Path(out)
    rank, _ = start()  # data-parallel under torchrun (recon/distributed.py): process 0 writes, all train
    write_dir = out_dir if rank == 0 else None
    progress = progress and rank == 0
    config = config or TrainConfig()
    if objects is not None:
        if not isinstance(objects, str):
            raise InvalidArgumentError(f"objects must be a method name, got {objects!r}")
        config = replace(config, objects=objects)  # checked by TrainConfig
    training_device(config.device, config.backend)  # a device that cannot run is refused before any work
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise InvalidArgumentError(f"{out_dir}: is a file; the training output is a folder: give a folder's name")
    method = config.objects
    kind, masks, scratch = Trainer, None, None
    if wants_motion(dataset, config):
        kind = ObjectTrainer if wants_objects(dataset, method) else DynamicTrainer
    if kind is DynamicTrainer and method in ("auto", "motion"):
        # resuming, every process reuses the masks process 0 saved (or all find them again, alike)
        shared = write_dir if write_dir is not None or not resume else out_dir
        if shared is None:
            scratch = tempfile.TemporaryDirectory(prefix="scenegen-motion-masks-")
        folder = shared / MASKS_FOLDER if shared is not None else Path(scratch.name)
        masks = masks_from_still_fit(dataset, config, folder, progress=progress, reuse=resume)
        if masks is not None:
            kind = ObjectTrainer
    trainer = kind(dataset, config, write_dir, masks=masks) if kind is ObjectTrainer else kind(dataset, config, write_dir)
    if scratch is not None:
        scratch.cleanup()  # the trainer has read its masks
    if resume:
        if out_dir is None or not (out_dir / CHECKPOINT).is_file():
            raise InvalidArgumentError(f"resume: no checkpoint at {out_dir / CHECKPOINT if out_dir else '(no output folder)'}")
        trainer.load_checkpoint(out_dir / CHECKPOINT)
    started = time.perf_counter()
    gaussians = trainer.run(progress=progress)
    train_seconds = time.perf_counter() - started
    cfg = trainer.cfg
    scene = trainer.make_scene(metadata={"source": str(dataset.root), "format": dataset.format, "train": cfg.to_dict(),
                                         "gaussians": len(gaussians), "train_seconds": train_seconds})
    # every view's masks: they are input, not held-out truth
    scene = find_objects(scene, dataset if masks is None else masks.applied_to(dataset), method)
    if scene.objects:
        log.info("scenegen train: %s", describe_objects(scene))
    if write_dir is not None:
        write_ply(out_dir / "point_cloud.ply", gaussians)
        log_data = {"train_seconds": train_seconds, "steps": trainer.step, "history": trainer.history}
        atomic_write_bytes(out_dir / "train_log.json", json.dumps(log_data, indent=1).encode())
        test = held_out(dataset) if evaluate_split else None
        if test is not None and len(test):
            if trainer.scale_factor != 1:
                test = test.downscaled(trainer.scale_factor)
            result = evaluate(scene, test, backend=cfg.backend, out_dir=out_dir, device=trainer.device)
            log.info("scenegen train: test PSNR %.2f dB, SSIM %.4f over %d views", result["psnr"], result["ssim"], result["num_images"])
            scene.metadata["eval"] = {k: result[k] for k in ("psnr", "ssim", "num_images")}
        save(scene, out_dir / "scene")  # once, with the evaluation in its metadata
    return scene


__all__ = ["train"]
