"""Reading the files of a bundle (a folder, a .zip on disk or a zip in memory) that an index file
names: paths that leave the bundle are refused, members are capped in size before they are read,
and every error names the bundle. The native scene (scene.json) and SOG (meta.json) read this way."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import FormatError, UnsafePathError
from .source import read_source

MAX_RATIO = 100  # inflated / compressed size of a member: splats and images compress a few times at most
RATIO_FROM = 16 << 20  # members smaller than this may compress as they like (a long journal of similar edits)


def safe_relpath(rel, where: str, *, index: str = "manifest", kind: str = "scene") -> str:
    """`rel` as a clean relative POSIX path inside the bundle, or a FormatError / UnsafePathError."""
    if not isinstance(rel, str) or not rel:
        raise FormatError(f"{where}: a file path in the {index} is missing or not a string")
    p = PurePosixPath(rel)
    if len(rel) > 1024 or any(ord(ch) < 32 for ch in rel):
        raise FormatError(f"{where}: the {index} names a file path that is too long or holds control characters")
    if "\\" in rel or p.is_absolute() or ".." in p.parts or rel.startswith("~") or ":" in rel:
        raise UnsafePathError(f"{where}: the {index} names {rel!r}, which points outside the {kind}; refusing to read it")
    return str(p)


class MemberReader:
    """The members of a bundle: `source` is a folder, a zip file's path, or a zip's bytes."""

    def __init__(self, source, *, kind: str = "scene", index: str = "manifest"):
        self.kind, self.index = kind, index
        self.zip = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.path, self.where = None, f"<{kind} bytes>"
            self._open_zip(io.BytesIO(bytes(source)))
        else:
            self.path = Path(source)
            self.where = str(self.path)
            if self.path.is_file():
                self._open_zip(self.path)

    def _open_zip(self, file) -> None:
        try:
            self.zip = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise FormatError(f"{self.where}: not a readable zip {self.kind} ({exc})") from None

    def size(self, rel: str) -> int:
        """The size a member claims (its inflated size in a zip), before reading it."""
        if self.zip is not None:
            return self._info(rel).file_size
        return self._target(rel).stat().st_size

    def read(self, rel: str, limit: int) -> bytes:
        where = self.where
        if self.zip is not None:
            info = self._info(rel)
            if info.file_size > limit:
                raise FormatError(f"{where}: member {rel!r} claims {info.file_size} bytes, over the {limit}-byte limit")
            if info.file_size > RATIO_FROM and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise FormatError(f"{where}: member {rel!r} would inflate {info.file_size // max(info.compress_size, 1)} times "
                                  f"(to {info.file_size} bytes); no scene or splat file compresses past {MAX_RATIO} times, so "
                                  "it is refused unread")
            try:
                with self.zip.open(info) as fh:
                    data = fh.read(limit + 1)
            except Exception as exc:  # decompressors raise their own types (zlib.error, lzma.LZMAError, ...)
                raise FormatError(f"{where}: member {rel!r} cannot be read ({type(exc).__name__}: {exc})") from None
            if len(data) > limit:
                raise FormatError(f"{where}: member {rel!r} is over the {limit}-byte limit")
            return data
        return read_source(self._target(rel), what=f"{self.kind} member", max_bytes=limit)[0]

    def _info(self, rel: str) -> zipfile.ZipInfo:
        try:
            return self.zip.getinfo(rel)
        except KeyError:
            raise FormatError(f"{self.where}: the archive has no {rel!r}, which the {self.index} names") from None

    def _target(self, rel: str) -> Path:
        where = self.where
        try:
            target = (self.path / rel).resolve()
            inside = target.is_relative_to(self.path.resolve())
            exists = target.is_file()
        except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a symlink loop
            raise FormatError(f"{where}: the {self.index} names {rel!r}, which cannot be opened ({exc})") from None
        if not inside:
            raise UnsafePathError(f"{where}: {rel!r} resolves outside the {self.kind} folder; refusing to read it")
        if not exists:
            raise FormatError(f"{where}: {rel!r}, which the {self.index} names, is missing")
        return target
