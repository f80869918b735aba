"""Reading a small JSON file a user names (a scene spec, a journal of edits)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import FormatError, InvalidArgumentError


def read_json_file(path: str | os.PathLike, what: str):
    """The parsed contents of `path`: InvalidArgumentError when it is missing (naming it as
    `what`), FormatError when it is not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidArgumentError(f"{path}: no such {what}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: not valid JSON ({exc})") from None
