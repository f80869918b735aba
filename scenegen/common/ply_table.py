"""Reading the element table of a PLY file (ascii and both binary byte orders) with bounded
header sizes and counts: the part of the format that Gaussian splats and point clouds share."""

from __future__ import annotations

import re

import numpy as np

from ..errors import FormatError

PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
MAX_HEADER_BYTES = 1 << 16
_END_HEADER = re.compile(rb"(?m)^end_header\r?$")
MAX_ELEMENT_COUNT = 1 << 40


class PlyElement:
    def __init__(self, name: str, count: int):
        self.name, self.count = name, count
        self.properties: list[tuple[str, str]] = []  # (name, numpy dtype code)
        self.has_list = False


def parse_header(data: bytes, name: str) -> tuple[str, list[PlyElement], int]:
    if not (data.startswith(b"ply\n") or data.startswith(b"ply\r\n")):
        raise FormatError(f"{name}: not a PLY file (it does not start with 'ply'); check the path or the file type")
    found = _END_HEADER.search(data, 0, MAX_HEADER_BYTES)
    end = found.start() if found else -1
    if end < 0:
        raise FormatError(f"{name}: no 'end_header' in the first {MAX_HEADER_BYTES} bytes; the file is truncated or not a PLY")
    line_end = data.find(b"\n", end)
    if line_end < 0:
        raise FormatError(f"{name}: the header is not terminated by a newline; the file is truncated")
    try:
        header = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise FormatError(f"{name}: the PLY header contains non-ASCII bytes; the file is corrupt") from None
    fmt = None
    elements: list[PlyElement] = []
    for lineno, raw in enumerate(header.splitlines()[1:], start=2):
        parts = raw.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        key = parts[0]
        if key == "format":
            if len(parts) != 3 or parts[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise FormatError(f"{name}: header line {lineno}: unknown format {raw.strip()!r}")
            fmt = parts[1]
        elif key == "element":
            if len(parts) != 3 or not parts[2].isdigit():
                raise FormatError(f"{name}: header line {lineno}: expected 'element NAME COUNT', got {raw.strip()!r}")
            if int(parts[2]) > MAX_ELEMENT_COUNT:
                raise FormatError(f"{name}: header line {lineno}: element count {parts[2]} is beyond any real file; the header is corrupt")
            elements.append(PlyElement(parts[1], int(parts[2])))
        elif key == "property":
            if not elements:
                raise FormatError(f"{name}: header line {lineno}: a property before any element")
            if any(p == parts[-1] for p, _ in elements[-1].properties):
                raise FormatError(f"{name}: header line {lineno}: property {parts[-1]!r} appears twice in element {elements[-1].name!r}")
            if len(parts) == 5 and parts[1] == "list":
                elements[-1].has_list = True
                elements[-1].properties.append((parts[4], "list"))
            elif len(parts) == 3 and parts[1] in PLY_TYPES:
                elements[-1].properties.append((parts[2], PLY_TYPES[parts[1]]))
            else:
                raise FormatError(f"{name}: header line {lineno}: unsupported property {raw.strip()!r}")
        else:
            raise FormatError(f"{name}: header line {lineno}: unknown keyword {key!r}")
    if fmt is None:
        raise FormatError(f"{name}: the PLY header has no 'format' line")
    return fmt, elements, line_end + 1


def vertex_table(data: bytes, name: str) -> dict[str, np.ndarray]:
    fmt, elements, offset = parse_header(data, name)
    if not any(e.name == "vertex" for e in elements):
        raise FormatError(f"{name}: the PLY has no 'vertex' element, so it holds no Gaussians")
    return element_table(data, name, "vertex", parsed=(fmt, elements, offset))


def element_table(data: bytes, name: str, element: str, *, parsed=None) -> dict[str, np.ndarray]:
    """The columns of one element (name -> [count] array) of a PLY; every count is checked
    against the bytes that follow before anything is allocated."""
    fmt, elements, offset = parsed or parse_header(data, name)
    at = next((i for i, e in enumerate(elements) if e.name == element), None)
    if at is None:
        raise FormatError(f"{name}: the PLY has no {element!r} element")
    wanted = elements[at]
    if wanted.has_list:
        raise FormatError(f"{name}: the {element} element has a list property; a splat PLY has scalar properties only")
    names = [p for p, _ in wanted.properties]
    if not names:
        raise FormatError(f"{name}: the {element} element has no properties")
    if fmt == "ascii":
        lines = data[offset:].split(b"\n")
        skip = 0
        for e in elements[:at]:
            skip += e.count
        if len(lines) < skip + wanted.count:
            raise FormatError(f"{name}: the header promises {wanted.count} {'vertices' if element == 'vertex' else element + ' rows'} but the file has only "
                              f"{max(len(lines) - skip, 0)} lines for them; the file is truncated")
        try:
            rows = [line.split() for line in lines[skip : skip + wanted.count]]
            if any(len(r) != len(names) for r in rows):
                raise ValueError("row length")
            table = np.asarray(rows, dtype=np.float64).reshape(wanted.count, len(names))
        except ValueError:
            raise FormatError(f"{name}: an ASCII {element} row does not hold {len(names)} numbers; the file is corrupt") from None
        return {p: table[:, i] for i, p in enumerate(names)}
    order = "<" if fmt == "binary_little_endian" else ">"
    for e in elements[:at]:
        if e.has_list:
            raise FormatError(f"{name}: element {e.name!r} with list properties comes before {element!r}; this reader cannot skip it")
        offset += e.count * np.dtype([(p, t) for p, t in e.properties]).itemsize
    dtype = np.dtype([(p, order + t) for p, t in wanted.properties])
    need = wanted.count * dtype.itemsize
    have = len(data) - offset
    rows = "vertices" if element == "vertex" else f"{element} rows"
    if need > have:
        raise FormatError(
            f"{name}: the header promises {wanted.count} {rows} ({need} bytes) but only {max(have, 0)} bytes follow; "
            "the file is truncated or its header is wrong"
        )
    arr = np.frombuffer(data, dtype=dtype, count=wanted.count, offset=offset)
    return {p: arr[p] for p in names}


__all__ = ["PlyElement", "parse_header", "vertex_table", "element_table", "PLY_TYPES", "MAX_HEADER_BYTES"]
