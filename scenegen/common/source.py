"""Reading a file (or bytes already in memory) with a size cap and errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import FormatError


def read_source(source, *, what: str, max_bytes: int | None = None) -> tuple[bytes, str]:
    """Return (data, name) for a path or a bytes-like object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = f"<{what} bytes>"
    else:
        path = Path(os.fspath(source))
        if not path.exists():
            raise FormatError(f"{path}: no such file; check the path")
        if path.is_dir():
            raise FormatError(f"{path}: is a folder, expected a {what} file")
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise FormatError(f"{path}: {path.stat().st_size} bytes is larger than the {max_bytes}-byte limit for a {what} file")
        data = path.read_bytes()
        name = str(path)
    if max_bytes is not None and len(data) > max_bytes:
        raise FormatError(f"{name}: {len(data)} bytes is larger than the {max_bytes}-byte limit for a {what} file")
    return data, name
