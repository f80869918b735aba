"""Edits written as short text, for the command line: `OP [OBJECT] key=value ...`.

    translate box offset=0.1,0,0
    rotate block axis=0,0,1 degrees=90
    duplicate ball name=ball_2 offset=0,0.3,0
    merge objects=box,ball name=pair
    insert_mesh path=chair.glb name=chair position=0.5,0,0 size=0.4

The first bare word after the operation is the object. A value is read as JSON when it is JSON
(numbers, true, null, [..]), as a list when it holds commas (numbers where they are numbers),
else as a string.
"""

from __future__ import annotations

import shlex

from ..common.json_file import parse_json
from ..errors import InvalidArgumentError
from .ops import OPERATIONS


def _value(text: str):
    try:
        return parse_json(text, "an edit's value", error=InvalidArgumentError)
    except InvalidArgumentError:
        pass
    if "," in text:
        return [_value(part) for part in text.split(",")]
    return text


def parse_edit(text: str) -> dict:
    """The journal entry {"op", "args"} that `text` describes (see the module doc)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"cannot read the edit {text!r}: {exc}") from None
    if not words or words[0] not in OPERATIONS:
        raise InvalidArgumentError(f"an edit starts with one of {', '.join(sorted(OPERATIONS))}; got {text!r}")
    args: dict = {}
    for word in words[1:]:
        if "=" in word:
            key, value = word.split("=", 1)
            args[key] = _value(value)
        elif "object" not in args:
            args["object"] = word
        else:
            raise InvalidArgumentError(f"in the edit {text!r}, {word!r} needs a name: write key=value")
    return {"op": words[0], "args": args}


def read_edits(path) -> list[dict]:
    """A JSON file holding a list of edits [{"op": ..., "args": {...}}] (a scene's history)."""
    from ..common.json_file import read_json_file

    edits = read_json_file(path, "edits file")
    if isinstance(edits, dict) and "history" in edits:
        edits = edits["history"]  # a scene.json: its journal
    if not isinstance(edits, list):
        raise InvalidArgumentError(f"{path}: must hold a list of edits [{{\"op\": ..., \"args\": {{...}}}}]")
    return edits


__all__ = ["parse_edit", "read_edits"]
