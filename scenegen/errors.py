"""The exceptions scenegen raises on bad input.

Every message names the file, field or argument at fault and says how to fix it. Each class
also derives from the matching built-in exception so that generic handlers keep working.
"""

from __future__ import annotations


class ScenegenError(Exception):
    """Base class of every error scenegen raises on purpose."""


class InvalidArgumentError(ScenegenError, ValueError):
    """An argument has the wrong shape, type or value."""


class FormatError(ScenegenError, ValueError):
    """A file is malformed: truncated, inconsistent, or not the format it claims to be."""


class UnsupportedVersionError(FormatError):
    """A scene file was written by a newer scenegen than this one."""


class UnsafePathError(FormatError):
    """A manifest names a path outside its own folder or archive."""


class DatasetError(ScenegenError, ValueError):
    """A dataset folder cannot be read: missing images, unknown layout, bad metadata."""


class MissingDependencyError(ScenegenError, ImportError):
    """An optional dependency needed for this feature is not installed."""


class BackendUnavailableError(ScenegenError, RuntimeError):
    """A rendering backend was named that cannot run here."""


def require(module: str, feature: str, install: str):
    """Import an optional dependency or raise with the install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{feature} needs the '{module}' package, which is not importable ({exc}). "
            f"Install it with: pip install {install}"
        ) from exc


class TrainingError(ScenegenError, RuntimeError):
    """Training cannot go on: unusable input images, or the optimisation diverged."""
