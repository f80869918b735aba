"""The reference SfM the benchmarks compare with: pycolmap's plain pipeline at its defaults."""

from __future__ import annotations

import time
from pathlib import Path


def pycolmap_defaults(images: Path, names: list[str], work: Path):
    """(the model with the most images registered or None, seconds): SIFT, exhaustive matching
    up to 30 images and sequential beyond, incremental mapping, all defaults, as a user would
    run it by hand."""
    import zlib  # noqa: F401  (pycolmap 4.1+ aborts on the next zlib call when imported before zlib)

    import pycolmap

    pycolmap.logging.minloglevel = 2
    work.mkdir(parents=True)
    started = time.perf_counter()
    pycolmap.extract_features(work / "db.db", images, image_names=names, device=pycolmap.Device.cpu)
    if len(names) <= 30:
        pycolmap.match_exhaustive(work / "db.db", device=pycolmap.Device.cpu)
    else:
        pycolmap.match_sequential(work / "db.db", device=pycolmap.Device.cpu)
    models = pycolmap.incremental_mapping(work / "db.db", images, work)
    seconds = time.perf_counter() - started
    pycolmap.logging.minloglevel = 2
    if not models:
        return None, seconds
    return models[max(models, key=lambda k: models[k].num_reg_images())], seconds
