"""Niantic's SPZ: read versions 1 to 4, write version 4.

Versions 1-3 are one gzip stream of a 16-byte header (magic "NGSP", version, count, SH degree,
fractional bits, flags, a reserved byte) and the attributes one after another; version 4 is a
32-byte header (the same fields, the number of streams and the offset of a table of contents),
optional extension records, the table (compressed and uncompressed size of each stream) and one
ZSTD stream per attribute. The attributes, in this order, each for every splat in turn:
positions (v1: float16; v2+: signed 24-bit fixed point with the header's fractional bits),
opacities (sigmoid to 8 bits), colours (the SH DC term d as d * 0.15 * 255 + 127.5 in 8 bits),
log-scales ((s + 10) * 16 in 8 bits), rotations (v1-2: x, y, z of the quaternion with w >= 0, as
q * 127.5 + 127.5; v3+: "smallest three" in 32 bits: the index of the largest of x, y, z, w in
the top 2 bits, then the others in order, each a sign bit and 9 bits of |q| / sqrt(1/2)) and the
SH beyond DC (coefficient by coefficient, red, green, blue, as (x * 128) + 128 in 8 bits; the
writer rounds band 1 to 5 bits and the higher bands to 4, as the reference does).

Axes: SPZ documents right-up-back (RUB, OpenGL's); scenegen's Gaussians are in the 3DGS PLY's
right-down-forward (RDF). Reading and writing turn y and z over (a half turn about x: positions,
quaternions and the odd SH terms change sign). Files that hold PLY numbers unchanged (the
reference tools' own default) read right with `axes="RDF"`; a file's coordinate-system extension
record, when it has one, decides over the argument.
"""

from __future__ import annotations

import logging
import math
import struct
import zlib

import numpy as np
import torch

from ..common.source import read_source
from ..errors import FormatError, InvalidArgumentError, UnsupportedVersionError
from ..gaussians import Gaussians
from .ply import apply_invalid_policy
from .splat_packing import flip_axes

log = logging.getLogger("scenegen.io")
MAGIC = b"NGSP"
WRITE_VERSION = 4
COLOUR_SCALE = 0.15
SH_BITS = (5, 4)  # band 1, higher bands
MAX_COMPRESSION = 1032  # what deflate and ZSTD can reach at most on these streams: bounds a header's count
_COEFFS = {0: 0, 1: 3, 2: 8, 3: 15, 4: 24}
# the SPZ_ADOBE_coordinate_system extension: 1..8 name the axis-aligned systems by their signs
_EXT_COORDINATES = 0xADBE0003
AXES = ("RUB", "RDF")


def _system_signs(value: int) -> tuple[int, int, int] | None:
    """(sx, sy, sz) of a coordinate-system code 1..8 against RDF, or None for the rotated ones."""
    if not 1 <= value <= 8:
        return None
    bits = value - 1
    right, up, front = bits & 1, bits >> 1 & 1, bits >> 2 & 1
    return (1 if right else -1, -1 if up else 1, 1 if front else -1)


def _signs_for(axes: str) -> tuple[int, int, int]:
    if axes not in AXES:
        raise InvalidArgumentError(f"axes must be one of {AXES} (the axes the SPZ file holds), got {axes!r}")
    return (1, 1, 1) if axes == "RDF" else (1, -1, -1)


def read_spz(source, *, on_invalid: str = "raise", axes: str = "RUB") -> Gaussians:
    """Read an SPZ file (path or bytes), versions 1-4, into Gaussians in scenegen's axes.
    axes: what the file holds when it carries no coordinate-system record ("RUB", as the format
    documents, or "RDF" for files that hold PLY numbers unchanged). on_invalid as read_ply's."""
    signs = _signs_for(axes)
    data, name = read_source(source, what="SPZ")
    if data[:4] == MAGIC and len(data) >= 8 and struct.unpack_from("<I", data, 4)[0] >= 4:
        fields, streams, extensions = _container_v4(data, name)
    elif data[:2] == b"\x1f\x8b":
        fields, streams, extensions = _legacy(_gunzip_payload(data, name), name)
    elif data[:4] == MAGIC:  # an un-gzipped version 1-3 payload (some tools write these)
        fields, streams, extensions = _legacy(data, name)
    else:
        raise FormatError(f"{name}: not an SPZ file (it is neither gzip nor starts with 'NGSP'); check the path or the file type")
    version, n, degree, fractional, flags = fields
    system = _coordinate_record(extensions, name)
    if system is not None:
        found = _system_signs(system)
        if found is None:
            raise FormatError(f"{name}: its coordinate-system record ({system}) names a rotated system, which scenegen does not read")
        signs = found
    return apply_invalid_policy(_decode(streams, version, n, degree, fractional, signs, name), on_invalid, name)


def _check_counts(version: int, n: int, degree: int, name: str, room: int) -> None:
    if version > 4:
        raise UnsupportedVersionError(f"{name}: SPZ version {version}; scenegen reads versions 1 to 4")
    if version < 1:
        raise FormatError(f"{name}: SPZ version {version} is not valid")
    if degree > 4:
        raise FormatError(f"{name}: SH degree {degree} in the header; SPZ holds degrees 0 to 4")
    if n < 1 or n > 2**31 - 1:
        raise FormatError(f"{name}: the header says {n} splats; an SPZ file holds 1 to 2^31-1")
    if n * 9 > room:
        raise FormatError(f"{name}: the header says {n} splats, more than {room} bytes can hold; the file is corrupt or truncated")


def _sizes(version: int, n: int, degree: int) -> list[int]:
    """Bytes of positions, opacities, colours, scales, rotations and SH."""
    return [(6 if version == 1 else 9) * n, n, 3 * n, 3 * n, (3 if version < 3 else 4) * n, 3 * _COEFFS[degree] * n]


def _gunzip_payload(data: bytes, name: str) -> bytes:
    """The gzip payload of a version 1-3 file, inflated no further than its header allows."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        head = inflater.decompress(data, 16)
        if len(head) < 16:
            raise FormatError(f"{name}: the gzip stream ends before the 16-byte SPZ header; the file is truncated")
        magic, version, n, degree = struct.unpack_from("<4sIIB", head)
        if magic != MAGIC:
            raise FormatError(f"{name}: gzip, but not SPZ inside (no 'NGSP' magic)")
        _check_counts(version, n, degree, name, len(data) * MAX_COMPRESSION)
        body = inflater.decompress(inflater.unconsumed_tail, sum(_sizes(version, n, degree)) + (1 << 20))
    except zlib.error as exc:
        raise FormatError(f"{name}: the gzip stream is damaged ({exc})") from None
    return head + body


def _legacy(payload: bytes, name: str):
    if len(payload) < 16:
        raise FormatError(f"{name}: {len(payload)} bytes is shorter than the 16-byte SPZ header; the file is truncated")
    magic, version, n, degree, fractional, flags, _ = struct.unpack_from("<4sIIBBBB", payload)
    if magic != MAGIC:
        raise FormatError(f"{name}: not SPZ (no 'NGSP' magic)")
    _check_counts(version, n, degree, name, len(payload) * MAX_COMPRESSION)
    sizes = _sizes(version, n, degree)
    if 16 + sum(sizes) > len(payload):
        raise FormatError(f"{name}: the header says {n} splats of SH degree {degree}, which need {16 + sum(sizes)} bytes; "
                          f"the file holds {len(payload)}: it is truncated")
    streams, at = [], 16
    for size in sizes:
        streams.append(payload[at:at + size])
        at += size
    extensions = payload[at:] if flags & 2 else b""
    return (version, n, degree, fractional, flags), streams, extensions


def _container_v4(data: bytes, name: str):
    import zstandard

    if len(data) < 32:
        raise FormatError(f"{name}: {len(data)} bytes is shorter than the 32-byte SPZ header; the file is truncated")
    _, version, n, degree, fractional, flags, count, toc = struct.unpack_from("<4sIIBBBBI", data)
    _check_counts(version, n, degree, name, len(data) * MAX_COMPRESSION)
    sizes = _sizes(version, n, degree)
    wanted = [s for s in sizes if s]
    if count != len(wanted):
        raise FormatError(f"{name}: {count} streams in the header; {len(wanted)} are needed for SH degree {degree}")
    if toc < 32 or toc + 16 * count > len(data):
        raise FormatError(f"{name}: its table of contents lies outside the file; the file is truncated or corrupt")
    table = [struct.unpack_from("<QQ", data, toc + 16 * i) for i in range(count)]
    at = toc + 16 * count
    streams, decompressor = [], zstandard.ZstdDecompressor()
    for (packed, unpacked), size in zip(table, wanted):
        if unpacked != size:
            raise FormatError(f"{name}: a stream holds {unpacked} bytes where {size} are needed; the file is corrupt")
        if at + packed > len(data):
            raise FormatError(f"{name}: a stream runs past the end of the file; it is truncated")
        try:
            frame = data[at:at + packed]
            # the frame's header may claim any size, and the decompressor allocates what it claims
            declared = zstandard.get_frame_parameters(frame).content_size
            if declared not in (size, zstandard.CONTENTSIZE_UNKNOWN):
                raise FormatError(f"{name}: a ZSTD stream says it holds {declared} bytes where {size} are needed; "
                                  "the file is corrupt")
            raw = decompressor.decompress(frame, max_output_size=size)
        except zstandard.ZstdError as exc:
            raise FormatError(f"{name}: a ZSTD stream is damaged ({exc})") from None
        if len(raw) != size:
            raise FormatError(f"{name}: a stream inflates to {len(raw)} bytes where {size} are needed; the file is corrupt")
        streams.append(raw)
        at += packed
    if at != len(data):
        raise FormatError(f"{name}: {len(data) - at} bytes follow the last stream; the file is corrupt")
    it = iter(streams)
    streams = [next(it) if s else b"" for s in sizes]
    extensions = data[32:toc] if flags & 2 else b""
    return (version, n, degree, fractional, flags), streams, extensions


def _coordinate_record(extensions: bytes, name: str) -> int | None:
    """The coordinate system an extension record names, if any; other records are skipped."""
    at, found = 0, None
    while at + 8 <= len(extensions):
        kind, length = struct.unpack_from("<II", extensions, at)
        if at + 8 + length > len(extensions):
            raise FormatError(f"{name}: an extension record runs past its block; the file is corrupt")
        if kind == _EXT_COORDINATES and length >= 4:
            value = struct.unpack_from("<I", extensions, at + 8)[0]
            found = value if value else None
        at += 8 + length
    return found


def _decode(streams, version, n, degree, fractional, signs, name) -> Gaussians:
    positions, alphas, colours, scales, rotations, sh_bytes = streams
    if version == 1:
        means = np.frombuffer(positions, "<f2").reshape(n, 3).astype(np.float64)
    else:
        b = np.frombuffer(positions, np.uint8).reshape(n, 3, 3).astype(np.int64)
        fixed = b[..., 0] | b[..., 1] << 8 | b[..., 2] << 16
        fixed = np.where(fixed & 0x800000, fixed - (1 << 24), fixed)
        means = fixed / float(1 << fractional)
    p = np.clip(np.frombuffer(alphas, np.uint8).astype(np.float64) / 255, 1e-4, 1 - 1e-4)
    dc = (np.frombuffer(colours, np.uint8).reshape(n, 3) / 255 - 0.5) / COLOUR_SCALE
    log_scales = np.frombuffer(scales, np.uint8).reshape(n, 3) / 16 - 10
    if version < 3:
        xyz = np.frombuffer(rotations, np.uint8).reshape(n, 3) / 127.5 - 1
        w = np.sqrt(np.clip(1 - (xyz ** 2).sum(1), 0, None))
        xyzw = np.concatenate([xyz, w[:, None]], 1)
    else:
        word = np.frombuffer(rotations, "<u4").astype(np.int64)
        largest = word >> 30
        xyzw = np.zeros((n, 4))
        rest = word.copy()
        for i in (3, 2, 1, 0):  # the highest-index component sits in the lowest bits
            here = largest != i
            field = rest & 0x3FF
            value = math.sqrt(0.5) * (field & 0x1FF) / 511 * np.where(field & 0x200, -1.0, 1.0)
            xyzw[:, i] = np.where(here, value, xyzw[:, i])
            rest = np.where(here, rest >> 10, rest)
        xyzw[np.arange(n), largest] = np.sqrt(np.clip(1 - (xyzw ** 2).sum(1), 0, None))
    quats = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], 1)  # (w, x, y, z)
    coeffs = _COEFFS[degree]
    kept = min(coeffs, 15)
    if coeffs > 15:
        log.warning("scenegen: %s holds SH of degree 4; scenegen keeps degrees 0 to 3 and drops band 4", name)
    sh = np.zeros((n, kept + 1, 3))
    sh[:, 0] = dc
    if coeffs:
        sh[:, 1:] = ((np.frombuffer(sh_bytes, np.uint8).reshape(n, coeffs, 3).astype(np.float64) - 128) / 128)[:, :kept]
    flip_axes(means, quats, sh, signs)
    return Gaussians(torch.from_numpy(means).float(), torch.from_numpy(log_scales).float(), torch.from_numpy(quats).float(),
                     torch.from_numpy(np.log(p) - np.log1p(-p)).float(), torch.from_numpy(sh).float())


def _round(x: np.ndarray) -> np.ndarray:
    """Half away from zero, as C's round (the reference's)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _byte(x: np.ndarray) -> np.ndarray:
    return np.clip(_round(np.nan_to_num(x, nan=0.0)), 0, 255).astype(np.uint8)


def fractional_bits(means: np.ndarray) -> int:
    """12, the reference's, unless the scene is too large for 24 bits with 12 (|x| >= 2048): then
    as many as keep the largest coordinate inside them."""
    largest = float(np.abs(means).max()) if means.size else 0.0
    if not math.isfinite(largest):
        raise InvalidArgumentError("SPZ: positions must be finite")
    bits = 12
    while bits > 0 and largest * (1 << bits) >= (1 << 23) - 1:
        bits -= 1
    if largest * (1 << bits) >= (1 << 23) - 1:
        raise InvalidArgumentError(f"SPZ: a coordinate of {largest:g} does not fit the format's 24-bit positions")
    return bits


def spz_bytes(gaussians: Gaussians, *, axes: str = "RUB") -> bytes:
    """The SPZ version 4 encoding of `gaussians` (SH up to degree 3), in `axes` (see the module doc)."""
    import zstandard

    g = gaussians.detach().to("cpu", torch.float32)
    n = len(g)
    if n == 0:
        raise InvalidArgumentError("cannot write an SPZ with no Gaussians (the format holds 1 splat at least)")
    means = g.means.numpy().astype(np.float64)
    quats = g.quats.numpy().astype(np.float64)
    sh = g.sh.numpy().astype(np.float64)
    flip_axes(means, quats, sh, _signs_for(axes))  # a half turn is its own inverse
    fractional = fractional_bits(means)
    fixed = _round(means * (1 << fractional)).astype(np.int64) & 0xFFFFFF
    positions = np.stack([fixed & 0xFF, fixed >> 8 & 0xFF, fixed >> 16], -1).astype(np.uint8)
    alpha = _byte(255 / (1 + np.exp(-g.opacities.numpy().astype(np.float64))))
    colours = _byte(sh[:, 0] * (COLOUR_SCALE * 255) + 127.5)
    scales = _byte((g.scales.numpy().astype(np.float64) + 10) * 16)
    norm = np.linalg.norm(quats, axis=1, keepdims=True)
    q = np.where(norm > 0, quats / np.where(norm > 0, norm, 1), np.array([1.0, 0.0, 0.0, 0.0]))
    xyzw = np.concatenate([q[:, 1:], q[:, :1]], 1)
    largest = np.argmax(np.abs(xyzw), axis=1)
    negative = xyzw[np.arange(n), largest] < 0
    word = largest.astype(np.int64)
    for i in range(4):
        here = largest != i
        c = xyzw[:, i]
        magnitude = np.minimum(np.floor(511 * np.abs(c) / math.sqrt(0.5) + 0.5), 511).astype(np.int64)
        field = ((c < 0) ^ negative).astype(np.int64) << 9 | magnitude
        word = np.where(here, word << 10 | field, word)
    rotations = word.astype("<u4")
    coeffs = sh.shape[1] - 1
    streams = [positions.tobytes(), alpha.tobytes(), colours.tobytes(), scales.tobytes(), rotations.tobytes()]
    if coeffs:
        q8 = _round(sh[:, 1:] * 128) + 128
        bucket = np.where(np.arange(coeffs) < 3, 2 ** (8 - SH_BITS[0]), 2 ** (8 - SH_BITS[1])).astype(np.float64)[None, :, None]
        q8 = np.trunc((np.nan_to_num(q8, nan=128.0) + bucket / 2) / bucket) * bucket
        streams.append(np.clip(q8, 0, 255).astype(np.uint8).tobytes())
    compressor = zstandard.ZstdCompressor(level=12)
    packed = [compressor.compress(s) for s in streams]
    degree = {0: 0, 3: 1, 8: 2, 15: 3}[coeffs]
    header = struct.pack("<4sIIBBBBI12x", MAGIC, WRITE_VERSION, n, degree, fractional, 0, len(packed), 32)
    table = b"".join(struct.pack("<QQ", len(p), len(s)) for p, s in zip(packed, streams))
    return header + table + b"".join(packed)


def write_spz(path, gaussians: Gaussians, *, axes: str = "RUB") -> None:
    """Write `gaussians` as SPZ version 4, atomically."""
    from ..common.atomic import atomic_write_bytes

    atomic_write_bytes(path, spz_bytes(gaussians, axes=axes))


__all__ = ["read_spz", "write_spz", "spz_bytes", "fractional_bits", "AXES"]
