"""Reconstruction: fit Gaussians, their motion and the objects they form to a posed dataset.

Names load on first use, so reading `TrainConfig` (e.g. for CLI defaults) imports no torch.
"""

import importlib

_LAZY = {"TrainConfig": "config", "Trainer": "trainer", "train": "train", "evaluate": "evaluation",
         "DynamicTrainer": "dynamic_trainer", "ObjectTrainer": "object_trainer", "find_objects": "objects", "split_objects": "objects"}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
