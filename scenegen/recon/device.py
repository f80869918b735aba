"""Where training runs: the CPU (the compiled kernels) or a CUDA GPU (gsplat's rasteriser).

`TrainConfig.device` is "auto" (a CUDA GPU when torch sees one and gsplat imports, else the
CPU), "cpu", "cuda" or "cuda:N". The trainers keep every per-Gaussian tensor, the images and
the optimiser state there; what is done once per run on small data (the point cloud, the
object paths, the random numbers) stays on the CPU, so a run draws the same random numbers on
either device. The trained scene comes back on the CPU and saves as a CPU-trained one does;
checkpoints load onto whichever device the resumed run uses.
"""

from __future__ import annotations

import logging

import torch

from ..errors import BackendUnavailableError, InvalidArgumentError

log = logging.getLogger("scenegen.train")
DEVICES = ("auto", "cpu", "cuda")
BACKENDS_ON = {"cpu": ("auto", "cpu", "torch"), "cuda": ("auto", "gsplat", "torch")}
_CUDA_HINT = ("install a CUDA build of torch (https://pytorch.org/get-started/locally) and gsplat "
              "(pip install 'scenegen[cuda]'), or train on the CPU with --device cpu")
_announced: set[str] = set()


def check_device_name(name: str) -> None:
    """Refuse a device setting that is not auto, cpu, cuda or cuda:N (before any work starts)."""
    if not isinstance(name, str) or not (name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit())):
        raise InvalidArgumentError(f"device must be auto, cpu, cuda or cuda:N; got {name!r}")


def gsplat_imports() -> bool:
    try:
        import gsplat  # noqa: F401
    except Exception:  # a broken CUDA build raises more than ImportError
        return False
    return True


def training_device(name: str = "auto", backend: str = "auto") -> torch.device:
    """The torch.device a run with these settings trains on; says which once (as render does).
    Raises BackendUnavailableError naming the fix when CUDA is asked for and cannot run, and
    InvalidArgumentError when the render backend cannot run on the device."""
    check_device_name(name)
    if name == "auto":
        name = "cuda" if backend in BACKENDS_ON["cuda"] and torch.cuda.is_available() and gsplat_imports() else "cpu"
        if backend == "gsplat" and name == "cpu":
            raise BackendUnavailableError(f"backend gsplat needs a CUDA GPU and gsplat, and this machine has "
                                          f"{'no CUDA GPU' if not torch.cuda.is_available() else 'no gsplat'}: {_CUDA_HINT}")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendUnavailableError(f"device {name!r}: torch {torch.__version__} sees no CUDA GPU here; {_CUDA_HINT}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InvalidArgumentError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s) (cuda:0..)")
        if backend in ("auto", "gsplat") and not gsplat_imports():
            raise BackendUnavailableError(f"device {name!r}: training on CUDA renders with gsplat, which does not import here; "
                                          "pip install 'scenegen[cuda]' (or --backend torch: the PyTorch reference, much slower)")
    if backend not in BACKENDS_ON[device.type]:
        raise InvalidArgumentError(f"backend {backend!r} cannot train on {device.type}: choose one of "
                                   f"{', '.join(BACKENDS_ON[device.type])} (or another --device)")
    key = f"{device}/{backend}"
    if key not in _announced:
        _announced.add(key)
        if device.type == "cuda":
            log.info("scenegen train: training on %s (%s) with %s", device, torch.cuda.get_device_name(device),
                     "gsplat" if backend == "auto" else backend)
        else:
            log.info("scenegen train: training on the CPU (%d threads)", torch.get_num_threads())
    return device


__all__ = ["training_device", "check_device_name", "gsplat_imports", "DEVICES", "BACKENDS_ON"]
