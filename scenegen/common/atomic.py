"""Atomic writes: write beside the destination, then rename over it, so a crash never leaves half a file."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvalidArgumentError


@contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    With directory=True the temporary path is an empty folder, and an existing folder at `path`
    is swapped out and removed only after the new one is in place.
    """
    path = Path(path)
    if not directory and path.is_dir():
        raise InvalidArgumentError(f"{path}: is a folder; give the name of a file to write")
    if directory and path.exists() and not path.is_dir():
        raise InvalidArgumentError(f"{path}: is a file; give the name of a folder to write, or remove the file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidArgumentError(f"{path}: a part of the path above it is a file, not a folder") from None
    recover(path)
    prefix = f".{path.name}.{os.getpid()}-"  # the writer's process id: recover() tells a dead writer's leftovers
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
    else:
        # The temporary name ends with the real suffix, for writers that pick a format by extension.
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        if directory:
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.{os.getpid()}-old")
                os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                if old is not None:
                    os.replace(old, path)  # put the previous folder back
                raise
            if old is not None:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _remove(p: Path) -> None:
    shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)


def recover(path: str | os.PathLike) -> bool:
    """Tidy what a writer of `path` that died mid-save left beside it: its temporary files and
    folders go, and a previous folder it had moved aside comes back when nothing took its
    place (so a save killed between its two renames loses nothing). True when one came back."""
    path = Path(path)
    restored = False
    try:
        leftovers = sorted(path.parent.glob(f".{glob.escape(path.name)}.*-*"))
    except OSError:
        return False
    for p in leftovers:
        pid, _, rest = p.name[len(path.name) + 2:].partition("-")
        if not pid.isdigit() or _alive(int(pid)) or not (rest.endswith("old") or ".tmp" in rest):
            continue
        if rest == "old" and not os.path.lexists(path):
            os.replace(p, path)
            restored = True
        else:
            _remove(p)
    return restored


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_png(path: str | os.PathLike, image) -> None:
    """An RGB image (float tensor [H, W, 3] in [0, 1], clamped) as an 8-bit PNG, written atomically."""
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, (image.clamp(0, 1) * 255).round().byte().numpy(), extension=".png")


def check_output_folder(path: str | os.PathLike) -> Path:
    """`path`, or an InvalidArgumentError when it is a file where a folder is wanted (nothing made)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidArgumentError(f"{path}: is a file; the output is a folder: give a folder's name")
    return path


def output_folder(path: str | os.PathLike) -> Path:
    """`path` as a folder to write into, made when missing; an InvalidArgumentError when it (or a
    part of the path above it) is a file, before any work is done."""
    path = check_output_folder(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidArgumentError(f"{path}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise InvalidArgumentError(f"{path}: cannot make the output folder ({exc.strerror or exc})") from None
    return path
