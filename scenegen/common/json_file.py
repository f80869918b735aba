"""Reading JSON that comes from outside (a scene spec, a journal of edits, a dataset's
transforms.json, a camera path, a format's index): size and nesting bounded, integers too large
for any field read as infinite floats (so number checks refuse them by name instead of raising
OverflowError deep inside), and every failure a project error naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import FormatError, InvalidArgumentError

MAX_DEPTH = 64
MAX_JSON_BYTES = 64 << 20


def _integer(text: str):
    value = int(text)
    return value if abs(value) < 2 ** 63 else float("inf") if value > 0 else float("-inf")


def depth(value) -> int:
    """How deeply lists and objects nest in `value` (0 for a number or a string), counted without
    recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def parse_json(data: bytes | str, where: str, *, error=FormatError, max_depth: int = MAX_DEPTH):
    """The value of the JSON text `data`; `error(...)` naming `where` when it is not JSON or nests
    deeper than `max_depth`."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
        value = json.loads(text, parse_int=_integer)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise error(f"{where}: not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if depth(value) > max_depth:
        raise error(f"{where}: lists and objects nest deeper than {max_depth} levels; this is not a file scenegen wrote or reads")
    return value


def read_json_file(path: str | os.PathLike, what: str, *, error=FormatError, max_bytes: int = MAX_JSON_BYTES):
    """The parsed contents of `path`: InvalidArgumentError when it is missing or a folder (naming it
    as `what`), `error` when it is too large or not JSON."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise InvalidArgumentError(f"{path}: is a folder, not a {what}")
        if size > max_bytes:
            raise error(f"{path}: {size} bytes is over the {max_bytes}-byte limit for a {what}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidArgumentError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise InvalidArgumentError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    return parse_json(data, str(path), error=error)
