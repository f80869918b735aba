"""PlayCanvas's SOG (Spatially Ordered Gaussians): read versions 1 and 2, write version 2.

A SOG is `meta.json` and a few lossless WebP images, either beside each other in a folder or
bundled as one `.sog` (a zip with the files at its root). Splat i sits at pixel i (row-major) of
every per-splat image; the writer puts splats in Morton order first and zero-fills the padding.

Version 2 (meta.json "version": 2, "count" splats):
- means_l / means_u: RGB = low / high byte of x, y, z, each 16 bits of l(p) = sign(p) ln(|p| + 1)
  spread over meta's per-axis [mins, maxs] (which are in that log domain).
- quats: "smallest three" of the (w, x, y, z) quaternion made positive in its largest component:
  RGB = the other three in order as (q sqrt(2)/2 + 0.5) * 255, A = 252 + the largest's index.
- scales: RGB = indices into meta's 256-entry codebook of log-scales (one for all three axes).
- sh0: RGB = indices into a codebook of the DC SH terms, A = sigmoid(opacity) * 255.
- shN (SH degree >= 1): a palette of SH vectors found by k-means. shN_labels holds each splat's
  palette index (16 bits in R, G); shN_centroids is 64 palette entries a row, each entry `coeffs`
  pixels wide (3, 8 or 15: the coefficients of one colour channel per pixel, R, G, B), each byte an
  index into meta's shN codebook.
Version 1 (no "version"): the same images, but scales, the DC term, opacity (a logit) and shN
quantised linearly between meta's mins and maxs, and the count in means.shape[0].

Numbers are the 3DGS PLY's (no change of axes). What is lost: positions to 1/65535 of the log
range per axis; scales, colours and SH to their 256-entry codebooks; rotations to about 1/360 per
component; opacity to 1/255; SH vectors to their palette (a power of two near a sixteenth of the
splats, 1024 to 16384 entries; every splat's own below 1024).
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..common.atomic import atomic_write_bytes
from ..common.members import MemberReader, safe_relpath
from ..common.values import bounded_int
from ..common.json_file import parse_json
from ..errors import FormatError, UnsupportedVersionError
from ..gaussians import Gaussians
from ..version import __version__
from .ply import apply_invalid_policy
from .splat_packing import codebook, from_smallest_three, morton_order, nearest, smallest_three

META = "meta.json"
MAX_META_BYTES = 16 << 20
MAX_IMAGE_BYTES = 1 << 30
MAX_SPLATS = 1 << 28
SPLATS_PER_IMAGE_BYTE = 64  # a count a file's images cannot hold is refused before anything is decoded
PALETTE_ROW = 64
MAX_PALETTE = 65536
MAX_WRITTEN_PALETTE = 16384
_COEFFS = {1: 3, 2: 8, 3: 15}
_BANDS = {3 * 64: 1, 8 * 64: 2, 15 * 64: 3}
IMAGES = ("means_l.webp", "means_u.webp", "quats.webp", "scales.webp", "sh0.webp")
SH_IMAGES = ("shN_centroids.webp", "shN_labels.webp")


# ---------------------------------------------------------------------------------------- read


def read_sog(source, *, on_invalid: str = "raise") -> Gaussians:
    """Read a SOG: a `.sog` bundle (path or bytes), a `meta.json` with its images beside it, or a
    folder holding them; on_invalid as read_ply's."""
    if not isinstance(source, (bytes, bytearray, memoryview)):
        path = Path(os.fspath(source))
        if not path.exists():
            raise FormatError(f"{path}: no such file; check the path")
        if path.is_dir():
            if not (path / META).is_file():
                raise FormatError(f"{path}: a folder without {META} is not a SOG")
            source = path
        elif path.name.lower().endswith(META):
            return _decode(MemberReader(path.parent, kind="SOG", index=META), path.name, str(path), on_invalid)
    reader = MemberReader(source, kind="SOG", index=META)
    return _decode(reader, META, f"{reader.where}/{META}" if reader.zip is None else reader.where, on_invalid)


def _decode(reader: MemberReader, meta_name: str, where: str, on_invalid: str) -> Gaussians:
    raw = reader.read(meta_name, MAX_META_BYTES)
    meta = parse_json(raw, f"{where} ({meta_name})")
    if not isinstance(meta, dict):
        raise FormatError(f"{where}: {meta_name} must hold a JSON object")
    version = meta.get("version")
    if version is None:
        decoder, count = _Version1(meta, where), _count(_field(meta, "means", where).get("shape"), where)
    elif version == 2 and not isinstance(version, bool):
        decoder, count = _Version2(meta, where), meta.get("count")
    else:
        raise UnsupportedVersionError(f"{where}: SOG version {str(version)[:20]} is not one scenegen reads (1 or 2); "
                                      "convert it with a newer splat-transform or upgrade scenegen")
    n = _integer(count, "count", where, 0, MAX_SPLATS)
    images = _Images(reader, meta, where, n)
    means = _means(meta, images, where)
    quats = _quats(images.get("quats", 0))
    scales, dc, opacities = decoder.scales_colour(images)
    sh = np.zeros((n, 1, 3))
    sh[:, 0] = dc
    if "shN" in meta:
        sh = np.concatenate([sh, decoder.rest(images)], 1)
    g = Gaussians(torch.from_numpy(means).float(), torch.from_numpy(scales).float(), torch.from_numpy(quats).float(),
                  torch.from_numpy(opacities).float(), torch.from_numpy(sh).float())
    return apply_invalid_policy(g, on_invalid, where)


def _field(meta: dict, key: str, where: str) -> dict:
    value = meta.get(key)
    if not isinstance(value, dict):
        raise FormatError(f"{where}: '{key}' is missing or not a JSON object")
    return value


def _integer(value, what: str, where: str, lo: int, hi: int) -> int:
    return bounded_int(value, f"{where}: '{what}'", lo, hi, error=FormatError)


def _count(shape, where: str):
    if not isinstance(shape, list) or not shape:
        raise FormatError(f"{where}: a version-1 SOG gives its count as means.shape [N, 3]")
    return shape[0]


def _floats(value, length: int | None, what: str, where: str) -> np.ndarray:
    """A list of finite numbers (float32) of `length` (or 1..256 when None: a codebook)."""
    ok = isinstance(value, list) and (len(value) == length if length is not None else 1 <= len(value) <= 256)
    if ok and length is None and value[0] is None and len(value) > 2:  # old writers left the first entry empty
        value = [value[1] + (value[1] - value[-1]) / 255] + value[1:]
    if ok:
        ok = all(not isinstance(v, bool) and isinstance(v, (int, float)) for v in value)
    if ok:
        with np.errstate(over="ignore"):
            array = np.array(value, np.float64)
            ok = bool(np.isfinite(array).all() and np.isfinite(array.astype(np.float32)).all())
    if not ok:
        size = f"{length} finite numbers" if length is not None else "1 to 256 finite numbers"
        raise FormatError(f"{where}: '{what}' must be a list of {size}")
    if length is None and len(array) < 256:
        array = np.concatenate([array, np.full(256 - len(array), array[-1])])
    return array


class _Images:
    """The images meta.json names, decoded to RGBA bytes on first use, their sizes checked."""

    def __init__(self, reader: MemberReader, meta: dict, where: str, n: int):
        self.reader, self.meta, self.where, self.n = reader, meta, where, n
        self.shape = None
        names = []
        for key in ("means", "quats", "scales", "sh0") + (("shN",) if "shN" in meta else ()):
            files = _field(meta, key, where).get("files")
            if not isinstance(files, list) or len(files) < (2 if key in ("means", "shN") else 1):
                raise FormatError(f"{where}: '{key}.files' must list its image{'s' if key in ('means', 'shN') else ''}")
            names += [safe_relpath(f, where, index=META, kind="SOG") for f in files[:2 if key in ("means", "shN") else 1]]
        stored = sum(reader.size(name) for name in set(names))
        if n > SPLATS_PER_IMAGE_BYTE * stored + 65536:
            raise FormatError(f"{where}: {n} splats cannot fit in {stored} bytes of images; the file is damaged")

    def get(self, key: str, index: int, per_splat: bool = True) -> np.ndarray:
        """[count, 4] uint8 for a per-splat image, else the whole [H, W, 4]."""
        from PIL import Image

        name = safe_relpath(self.meta[key]["files"][index], self.where, index=META, kind="SOG")
        data = self.reader.read(name, MAX_IMAGE_BYTES)
        limit = self.n + 64 * math.isqrt(self.n) + 4096 if per_splat else PALETTE_ROW * 15 * (MAX_PALETTE // PALETTE_ROW)
        try:
            with Image.open(io.BytesIO(data), formats=["WEBP", "PNG"]) as image:
                w, h = image.size
                if w * h > limit:
                    raise FormatError(f"{self.where}: {name} is {w}x{h} pixels, more than {self.n} splats need")
                pixels = np.asarray(image.convert("RGBA"))
        except FormatError:
            raise
        except Exception as exc:  # Pillow raises its own types (UnidentifiedImageError, DecompressionBombError, ...)
            raise FormatError(f"{self.where}: {name} is not a readable image ({type(exc).__name__}: {str(exc)[:200]})") from None
        if not per_splat:
            return pixels
        if self.shape is None:
            self.shape = pixels.shape
        if pixels.shape != self.shape or w * h < self.n:
            raise FormatError(f"{self.where}: {name} is {w}x{h}; every per-splat image is one size with room for {self.n} splats")
        return pixels.reshape(-1, 4)[: self.n]


def _means(meta: dict, images: _Images, where: str) -> np.ndarray:
    means = _field(meta, "means", where)
    lo, hi = _floats(means.get("mins"), 3, "means.mins", where), _floats(means.get("maxs"), 3, "means.maxs", where)
    q = images.get("means", 0)[:, :3].astype(np.float64) + images.get("means", 1)[:, :3].astype(np.float64) * 256
    span = np.where(hi - lo == 0, 1.0, hi - lo)
    log = lo + span * (q / 65535)
    with np.errstate(over="ignore"):
        return np.sign(log) * np.expm1(np.abs(log))


def _quats(pixels: np.ndarray) -> np.ndarray:
    tag = pixels[:, 3].astype(np.int64) - 252
    valid = (tag >= 0) & (tag <= 3)
    quats = from_smallest_three(np.where(valid, tag, 0), pixels[:, :3] / 255.0)
    quats[~valid] = (1.0, 0.0, 0.0, 0.0)
    return quats


def _logit(alpha: np.ndarray) -> np.ndarray:
    a = np.clip(alpha, 1e-6, 1 - 1e-6)
    return np.log(a) - np.log1p(-a)


def _rest_layout(coeffs: int, labels: np.ndarray, centroids: np.ndarray, palette: int, where: str) -> np.ndarray:
    """[N, coeffs, 3] palette bytes of each splat's SH beyond DC (zeros for a label past the palette)."""
    h, w = centroids.shape[:2]
    if w != PALETTE_ROW * coeffs:
        raise FormatError(f"{where}: shN_centroids is {w} pixels wide; {coeffs} coefficients a colour need {PALETTE_ROW * coeffs}")
    flat = centroids.reshape(h, PALETTE_ROW, coeffs, 4).reshape(h * PALETTE_ROW, coeffs, 4)[:, :, :3]
    label = labels[:, 0].astype(np.int64) | labels[:, 1].astype(np.int64) << 8
    valid = label < min(palette, len(flat))
    out = np.zeros((len(label), coeffs, 3), np.uint8)
    out[valid] = flat[label[valid]]
    return out


class _Version2:
    def __init__(self, meta: dict, where: str):
        self.meta, self.where = meta, where

    def scales_colour(self, images: _Images):
        scales_book = _floats(_field(self.meta, "scales", self.where).get("codebook"), None, "scales.codebook", self.where)
        colour_book = _floats(_field(self.meta, "sh0", self.where).get("codebook"), None, "sh0.codebook", self.where)
        s, c = images.get("scales", 0), images.get("sh0", 0)
        return scales_book[s[:, :3]], colour_book[c[:, :3]], _logit(c[:, 3] / 255.0)

    def rest(self, images: _Images) -> np.ndarray:
        shn = self.meta["shN"]
        bands = _integer(shn.get("bands"), "shN.bands", self.where, 1, 3)
        palette = _integer(shn.get("count"), "shN.count", self.where, 1, MAX_PALETTE)
        book = _floats(shn.get("codebook"), None, "shN.codebook", self.where)
        coeffs = _COEFFS[bands]
        return book[_rest_layout(coeffs, images.get("shN", 1), images.get("shN", 0, per_splat=False), palette, self.where)]


class _Version1:
    def __init__(self, meta: dict, where: str):
        self.meta, self.where = meta, where

    def _range(self, key: str, length: int | None):
        field = _field(self.meta, key, self.where)
        if length is None:
            lo, hi = (_floats([field.get(k)], 1, f"{key}.{k}", self.where)[0] for k in ("mins", "maxs"))
            return lo, hi
        return _floats(field.get("mins"), length, f"{key}.mins", self.where), _floats(field.get("maxs"), length, f"{key}.maxs", self.where)

    def scales_colour(self, images: _Images):
        (slo, shi), (clo, chi) = self._range("scales", 3), self._range("sh0", 4)
        s, c = images.get("scales", 0)[:, :3] / 255.0, images.get("sh0", 0) / 255.0
        colour = clo + (chi - clo) * c
        return slo + (shi - slo) * s, colour[:, :3], colour[:, 3]

    def rest(self, images: _Images) -> np.ndarray:
        lo, hi = self._range("shN", None)
        centroids = images.get("shN", 0, per_splat=False)
        coeffs = _BANDS.get(centroids.shape[1])
        if coeffs is None:
            raise FormatError(f"{self.where}: shN_centroids is {centroids.shape[1]} pixels wide, not 192, 512 or 960")
        coeffs = _COEFFS[coeffs]
        palette = (centroids.shape[1] // coeffs) * centroids.shape[0]
        return lo + (hi - lo) * _rest_layout(coeffs, images.get("shN", 1), centroids, palette, self.where) / 255.0


# --------------------------------------------------------------------------------------- write


def _image_size(n: int) -> tuple[int, int]:
    w = max(4, math.ceil(math.sqrt(n) / 4) * 4)
    return w, max(4, math.ceil(n / w / 4) * 4)


def _webp(rgba: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, np.uint8), "RGBA").save(out, "WEBP", lossless=True, quality=70, method=4, exact=True)
    return out.getvalue()


def _per_splat(rows: np.ndarray, size: tuple[int, int]) -> bytes:
    w, h = size
    image = np.zeros((w * h, 4), np.uint8)
    image[: len(rows), : rows.shape[1]] = rows
    if rows.shape[1] == 3:
        image[: len(rows), 3] = 255
    return _webp(image.reshape(h, w, 4))


def palette_size(n: int) -> int:
    """The SH palette of n splats: every splat up to 1024, else the largest power of two up to
    n / 16, from 1024 to MAX_WRITTEN_PALETTE."""
    if n <= 1024:
        return n
    return min(MAX_WRITTEN_PALETTE, max(1024, 1 << int(math.floor(math.log2(n / 16)))))


def sh_palette(rows: np.ndarray, k: int, iterations: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(k centroids [k, D], a label per row): k-means of the rows of SH coefficients (Lloyd's on
    at most 16 rows a centroid drawn with a fixed seed, from k distinct rows, empty clusters
    re-seeded), then every row labelled with its nearest centroid."""
    x = torch.from_numpy(np.ascontiguousarray(rows, np.float32))
    n = len(x)
    if n <= k:
        return rows.astype(np.float32), np.arange(n)
    gen = torch.Generator().manual_seed(seed)
    sample = x[torch.randperm(n, generator=gen)[: min(n, 16 * k)]]
    centres = sample[:k].clone()
    for _ in range(iterations):
        labels = _nearest_rows(sample, centres)
        sums = torch.zeros_like(centres).index_add_(0, labels, sample)
        counts = torch.bincount(labels, minlength=k)
        empty = counts == 0
        centres = torch.where(empty[:, None], centres, sums / counts.clamp(min=1)[:, None].float())
        if empty.any():
            centres[empty] = sample[torch.randint(len(sample), (int(empty.sum()),), generator=gen)]
    return centres.numpy(), _nearest_rows(x, centres).numpy()


def _nearest_rows(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    norms = (centres * centres).sum(1)
    labels = torch.empty(len(x), dtype=torch.long)
    for start in range(0, len(x), 8192):
        labels[start:start + 8192] = torch.addmm(norms, x[start:start + 8192], centres.T, alpha=-2.0).argmin(1)
    return labels


def sog_files(gaussians: Gaussians, *, prefix: str = "") -> dict[str, bytes]:
    """meta.json and the WebP images (their names starting with `prefix`) of the version-2 SOG of
    `gaussians` (Morton order), by name."""
    g = gaussians.detach().to("cpu", torch.float32)
    g = g[morton_order(g.means)]
    n = len(g)
    if n > MAX_SPLATS:
        raise FormatError(f"a SOG holds at most {MAX_SPLATS} splats, these are {n}")
    size = _image_size(n)
    p = g.means.numpy().astype(np.float64)
    log = np.sign(p) * np.log1p(np.abs(p))
    lo, hi = (log.min(0), log.max(0)) if n else (np.zeros(3), np.zeros(3))
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    q16 = np.clip(np.rint((log - lo) / span * 65535), 0, 65535).astype(np.uint32)
    files = {"means_l.webp": _per_splat((q16 & 0xFF).astype(np.uint8), size),
             "means_u.webp": _per_splat((q16 >> 8).astype(np.uint8), size)}
    largest, three = smallest_three(g.quats.numpy())
    files["quats.webp"] = _per_splat(np.concatenate([np.clip(np.rint(three * 255), 0, 255), 252 + largest[:, None]], 1)
                                     .astype(np.uint8), size)
    scale_book, scale_labels = codebook(g.scales.numpy())
    files["scales.webp"] = _per_splat(scale_labels.reshape(n, 3), size)
    colour_book, colour_labels = codebook(g.sh[:, 0].numpy())
    alpha = np.clip(np.rint(torch.sigmoid(g.opacities.double()).numpy() * 255), 0, 255).astype(np.uint8)
    files["sh0.webp"] = _per_splat(np.concatenate([colour_labels.reshape(n, 3), alpha[:, None]], 1), size)
    meta = {"version": 2, "asset": {"generator": f"scenegen {__version__}"}, "count": n,
            "means": {"mins": lo.tolist(), "maxs": hi.tolist(), "files": list(IMAGES[:2])},
            "scales": {"codebook": scale_book.tolist(), "files": ["scales.webp"]},
            "quats": {"files": ["quats.webp"]},
            "sh0": {"codebook": colour_book.tolist(), "files": ["sh0.webp"]}}
    bands = g.sh_degree
    if bands and n:
        coeffs = _COEFFS[bands]
        rows = g.sh[:, 1:].permute(0, 2, 1).reshape(n, 3 * coeffs).numpy()  # R's coefficients, then G's, then B's
        centres, labels = sh_palette(rows, palette_size(n))
        k = len(centres)
        rest_book, _ = codebook(centres)
        indices = nearest(rest_book, centres).reshape(k, 3, coeffs).transpose(0, 2, 1)  # [k, coeffs, RGB]
        rows_of_palette = -(-k // PALETTE_ROW)
        atlas = np.zeros((rows_of_palette * PALETTE_ROW, coeffs, 4), np.uint8)
        atlas[:k, :, :3] = indices
        atlas[:k, :, 3] = 255
        files["shN_centroids.webp"] = _webp(atlas.reshape(rows_of_palette, PALETTE_ROW * coeffs, 4))
        files["shN_labels.webp"] = _per_splat(np.stack([labels & 0xFF, labels >> 8, np.zeros_like(labels)], 1).astype(np.uint8), size)
        meta["shN"] = {"count": k, "bands": bands, "codebook": rest_book.tolist(), "files": list(SH_IMAGES)}
    if prefix:
        files = {prefix + name: data for name, data in files.items()}
        for entry in meta.values():
            if isinstance(entry, dict) and "files" in entry:
                entry["files"] = [prefix + name for name in entry["files"]]
    files[META] = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    return files


def sog_bytes(gaussians: Gaussians) -> bytes:
    """The bundled `.sog` of `gaussians`: a zip (stored, no comment) of sog_files, meta.json last."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        files = sog_files(gaussians)
        for name in [n for n in files if n != META] + [META]:
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), files[name])
    return out.getvalue()


def write_sog(path, gaussians: Gaussians) -> Path:
    """Write `gaussians` as a SOG: bundled when `path` ends in .sog; as `path` (a name ending in
    meta.json) and its images beside it otherwise. Each file is written atomically, meta.json
    last, so a reader never finds a meta.json naming images that are not there."""
    path = Path(path)
    if path.name.lower().endswith(".sog"):
        atomic_write_bytes(path, sog_bytes(gaussians))
        return path
    if not path.name.lower().endswith(META):
        raise FormatError(f"{path}: a SOG is written as NAME.sog (bundled) or as a meta.json with its images beside it")
    prefix = path.name[: -len(META)]  # foo.meta.json keeps its images as foo.means_l.webp, ...
    files = sog_files(gaussians, prefix=prefix)
    for name, data in files.items():
        if name != META:
            atomic_write_bytes(path.parent / name, data)
    atomic_write_bytes(path, files[META])
    return path


__all__ = ["read_sog", "write_sog", "sog_bytes", "sog_files", "palette_size", "sh_palette"]
