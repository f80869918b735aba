"""PlayCanvas's compressed PLY (`.compressed.ply`, SuperSplat and splat-transform write it).

A binary little-endian PLY of three elements. `chunk`: one row of 18 float32 per 256 splats,
the chunk's min and max of position, of log-scale (clamped to +-20) and of the base colour
c = 0.5 + C0 * f_dc (older files, SuperSplat before 1.10, have 12: no colour bounds, colour
absolute). `vertex`: four uint32 a splat, packed_position and packed_scale as 11-10-11 bits
(x in the top 11) of the value normalised to its chunk's range, packed_rotation as "smallest
three" (top 2 bits: which of w, x, y, z is largest, made positive; then the other three in
order, 10 bits each, q * sqrt(2)/2 + 0.5), packed_color as 8-8-8-8 (R, G, B normalised to the
chunk's colour range, then sigmoid(opacity)). `sh` (optional): 9, 24 or 45 uint8 f_rest a splat
in the 3DGS order, trunc((f / 8 + 0.5) * 256) clamped to 0..255.

Splats are written in Morton order (neighbours share chunks, so the ranges are tight), and the
last chunk's unused slots repeat its last splat so its ranges cover real splats only. What is
lost: positions to 1/2047 (x, z) and 1/1023 (y) of their chunk's extent, log-scales likewise,
rotations to about 1/1450 per component, colours to 1/255 of the chunk's colour range, opacity
to 1/255, SH to 1/32 (in [-4, 4)).
"""

from __future__ import annotations

import numpy as np
import torch

from ..common.ply_table import element_table, parse_header
from ..common.source import read_source
from ..errors import FormatError
from ..gaussians import Gaussians
from ..version import __version__
from .ply import apply_invalid_policy, decode_ply
from .splat_packing import from_smallest_three, morton_order, smallest_three

C0 = 0.28209479177387814
CHUNK = 256
BOUNDS = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z", "min_scale_x", "min_scale_y", "min_scale_z",
          "max_scale_x", "max_scale_y", "max_scale_z", "min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
PACKED = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]
SCALE_LIMIT = 20.0


def is_compressed_ply(head: bytes) -> bool:
    """Whether a PLY's first bytes declare the compressed layout (a chunk element and packed vertices)."""
    try:
        _, elements, _ = parse_header(head, "PLY")
    except FormatError:
        return False
    names = {e.name: [p for p, _ in e.properties] for e in elements}
    return "chunk" in names and "packed_position" in names.get("vertex", [])


def read_any_ply(source, *, on_invalid: str = "raise") -> Gaussians:
    """A 3DGS PLY or a compressed PLY, told apart by the header."""
    data, name = read_source(source, what="PLY")
    if is_compressed_ply(data[:1 << 16]):
        return _decode(data, name, on_invalid)
    return decode_ply(data, name, on_invalid)


def read_compressed_ply(source, *, on_invalid: str = "raise") -> Gaussians:
    """Read a compressed PLY (path or bytes); on_invalid as read_ply's."""
    data, name = read_source(source, what="compressed PLY")
    return _decode(data, name, on_invalid)


def _unorm(field: np.ndarray, shift: int, bits: int) -> np.ndarray:
    return ((field >> shift) & ((1 << bits) - 1)).astype(np.float64) / ((1 << bits) - 1)


def _lerp(lo: np.ndarray, hi: np.ndarray, t: np.ndarray) -> np.ndarray:
    return lo * (1 - t) + hi * t


def _decode(data: bytes, name: str, on_invalid: str) -> Gaussians:
    fmt, elements, offset = parse_header(data, name)
    parsed = (fmt, elements, offset)
    if fmt != "binary_little_endian":
        raise FormatError(f"{name}: a compressed PLY is binary_little_endian, this one is {fmt}")
    by_name = {e.name: e for e in elements}
    chunk, vertex = by_name.get("chunk"), by_name.get("vertex")
    if chunk is None or vertex is None:
        raise FormatError(f"{name}: a compressed PLY has 'chunk' and 'vertex' elements")
    chunk_props = [p for p, _ in chunk.properties]
    if chunk_props not in (BOUNDS, BOUNDS[:12]) or any(t != "f4" for _, t in chunk.properties):
        raise FormatError(f"{name}: the chunk element must hold the 12 or 18 float bounds {', '.join(BOUNDS)}")
    if [p for p, _ in vertex.properties] != PACKED or any(t != "u4" for _, t in vertex.properties):
        raise FormatError(f"{name}: the vertex element must hold the uint fields {', '.join(PACKED)}")
    n = vertex.count
    if chunk.count != -(-n // CHUNK):
        raise FormatError(f"{name}: {n} splats need {-(-n // CHUNK)} chunks of {CHUNK}, the header says {chunk.count}; "
                          "the file is corrupt")
    rest = 0
    if "sh" in by_name:
        sh_el = by_name["sh"]
        rest = len(sh_el.properties)
        if (rest not in (9, 24, 45) or [p for p, _ in sh_el.properties] != [f"f_rest_{i}" for i in range(rest)]
                or any(t != "u1" for _, t in sh_el.properties) or sh_el.count != n):
            raise FormatError(f"{name}: the sh element must hold 9, 24 or 45 uchar f_rest_i for each of the {n} splats")
    extra = set(by_name) - {"chunk", "vertex", "sh"}
    if extra:
        raise FormatError(f"{name}: unexpected elements {sorted(extra)} in a compressed PLY")
    bounds = element_table(data, name, "chunk", parsed=parsed)
    packed = element_table(data, name, "vertex", parsed=parsed)
    idx = np.arange(n) // CHUNK
    b = {k: bounds[k].astype(np.float64)[idx] for k in chunk_props}
    pos, rot, scl, col = (packed[k].astype(np.uint64) for k in PACKED)
    axes = (("x", 21, 11), ("y", 11, 10), ("z", 0, 11))
    means = np.stack([_lerp(b[f"min_{a}"], b[f"max_{a}"], _unorm(pos, s, k)) for a, s, k in axes], 1)
    scales = np.stack([_lerp(b[f"min_scale_{a}"], b[f"max_scale_{a}"], _unorm(scl, s, k)) for a, s, k in axes], 1)
    quats = from_smallest_three((rot >> 30).astype(np.int64), np.stack([_unorm(rot, s, 10) for s in (20, 10, 0)], 1))
    rgb_t = np.stack([_unorm(col, s, 8) for s in (24, 16, 8)], 1)
    if len(chunk_props) == 18:
        rgb = np.stack([_lerp(b[f"min_{c}"], b[f"max_{c}"], rgb_t[:, i]) for i, c in enumerate("rgb")], 1)
    else:
        rgb = rgb_t
    alpha = np.clip(_unorm(col, 0, 8), 1e-4, 1 - 1e-4)
    sh = np.zeros((n, rest // 3 + 1, 3))
    sh[:, 0] = (rgb - 0.5) / C0
    if rest:
        table = element_table(data, name, "sh", parsed=parsed)
        q = np.stack([table[f"f_rest_{i}"] for i in range(rest)], 1).astype(np.float64)
        t = np.where(q == 0, 0.0, np.where(q == 255, 1.0, (q + 0.5) / 256))
        sh[:, 1:] = ((t - 0.5) * 8).reshape(n, 3, rest // 3).transpose(0, 2, 1)
    g = Gaussians(torch.from_numpy(means).float(), torch.from_numpy(scales).float(), torch.from_numpy(quats).float(),
                  torch.from_numpy(np.log(alpha) - np.log1p(-alpha)).float(), torch.from_numpy(sh).float())
    return apply_invalid_policy(g, on_invalid, name)


def _norm(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    span = hi - lo
    t = np.where(span < 1e-5, 0.0, (v - lo) / np.where(span < 1e-5, 1.0, span))
    return np.where(v <= lo, 0.0, np.where(v >= hi, 1.0, t))


def _quantise(t: np.ndarray, bits: int) -> np.ndarray:
    top = (1 << bits) - 1
    return np.clip(np.floor(np.nan_to_num(t, nan=0.0) * top + 0.5), 0, top).astype(np.uint32)


def _pack3(t: np.ndarray) -> np.ndarray:
    return (_quantise(t[:, 0], 11) << 21) | (_quantise(t[:, 1], 10) << 11) | _quantise(t[:, 2], 11)


def compressed_ply_bytes(gaussians: Gaussians) -> bytes:
    """The compressed-PLY encoding of `gaussians` (Morton order: see morton_order)."""
    g = gaussians.detach().to("cpu", torch.float32)
    g = g[morton_order(g.means)]
    n, k = len(g), g.sh.shape[1]
    chunks = -(-n // CHUNK)
    pad = chunks * CHUNK - n
    means = g.means.numpy().astype(np.float64)
    scales = g.scales.numpy().astype(np.float64)
    colour = (g.sh[:, 0].numpy().astype(np.float64) * C0 + 0.5).astype(np.float32).astype(np.float64)

    def padded(a):  # [chunks, CHUNK, d]: the last chunk's empty slots repeat its last splat
        return np.concatenate([a, np.repeat(a[-1:], pad, 0)]).reshape(chunks, CHUNK, -1) if n else a.reshape(0, CHUNK, a.shape[1])

    rows = []
    for values, limit in ((means, None), (scales, SCALE_LIMIT), (colour, None)):
        block = padded(values.astype(np.float32))
        lo, hi = block.min(1), block.max(1)
        if limit is not None:
            lo, hi = np.clip(lo, -limit, limit), np.clip(hi, -limit, limit)
        rows += [lo, hi]
    bounds = np.concatenate(rows, 1).astype("<f4")  # [chunks, 18] in BOUNDS order
    idx = np.arange(n) // CHUNK
    b = bounds.astype(np.float64)[idx]
    position = _pack3(_norm(means, b[:, 0:3], b[:, 3:6]))
    scale = _pack3(_norm(scales, b[:, 6:9], b[:, 9:12]))
    rgb = _norm(colour, b[:, 12:15], b[:, 15:18])
    alpha = 1 / (1 + np.exp(-g.opacities.numpy().astype(np.float64)))
    color = (_quantise(rgb[:, 0], 8) << 24) | (_quantise(rgb[:, 1], 8) << 16) | (_quantise(rgb[:, 2], 8) << 8) | _quantise(alpha, 8)
    largest, three = smallest_three(g.quats.numpy())
    rotation = (largest.astype(np.uint32) << 30) | (_quantise(three[:, 0], 10) << 20) | (_quantise(three[:, 1], 10) << 10) \
        | _quantise(three[:, 2], 10)
    packed = np.stack([position, rotation, scale, color], 1).astype("<u4")
    lines = ["ply", "format binary_little_endian 1.0", f"comment Generated by scenegen {__version__}", f"element chunk {chunks}"]
    lines += [f"property float {p}" for p in BOUNDS]
    lines += [f"element vertex {n}"] + [f"property uint {p}" for p in PACKED]
    body = [bounds.tobytes(), packed.tobytes()]
    if k > 1:
        rest = 3 * (k - 1)
        lines += [f"element sh {n}"] + [f"property uchar f_rest_{i}" for i in range(rest)]
        f = g.sh[:, 1:].permute(0, 2, 1).reshape(n, rest).numpy().astype(np.float64)
        body.append(np.clip(np.trunc(np.nan_to_num((f / 8 + 0.5) * 256, nan=0.0)), 0, 255).astype(np.uint8).tobytes())
    return ("\n".join(lines) + "\nend_header\n").encode("ascii") + b"".join(body)


def write_compressed_ply(path, gaussians: Gaussians) -> None:
    """Write `gaussians` as a PlayCanvas compressed PLY, atomically."""
    from ..common.atomic import atomic_write_bytes

    atomic_write_bytes(path, compressed_ply_bytes(gaussians))


__all__ = ["read_compressed_ply", "write_compressed_ply", "read_any_ply", "compressed_ply_bytes", "is_compressed_ply", "morton_order", "C0"]
