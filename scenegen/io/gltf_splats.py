"""Splats in glTF 2.0 (`.glb`, `.gltf`) with the KHR_gaussian_splatting extension (Khronos,
release candidate of April 2026): read and write.

Each set of splats is one mesh primitive of mode POINTS (0) holding the extension object
{"kernel": "ellipse", "colorSpace": "srgb_rec709_display", ...} and these attributes, one
accessor each, as many as POSITION has:
- POSITION (VEC3 float, with min and max), the splat centres;
- KHR_gaussian_splatting:ROTATION (VEC4, glTF's x, y, z, w order; a unit quaternion),
  KHR_gaussian_splatting:SCALE (VEC3, linear: exp of the PLY's log-scales),
  KHR_gaussian_splatting:OPACITY (SCALAR, linear in [0, 1]: sigmoid of the PLY's logit);
- KHR_gaussian_splatting:SH_DEGREE_l_COEF_n (VEC3 float, R, G, B), l = 0..3, n = 0..2l in the
  3DGS order (m = -l .. l): the PLY's f_dc and f_rest, per coefficient;
- COLOR_0 (VEC4 unsigned byte, normalised): the base colour (0.5 + C0 * DC, sRGB turned linear)
  and opacity, so a viewer without the extension still draws a coloured point cloud.
The extension is listed in extensionsUsed, not extensionsRequired, and there is no material.
Reading also takes the integer forms the extension allows (normalised BYTE/SHORT rotations,
UNSIGNED_BYTE/SHORT scales and opacities), strided or shared buffer views, external buffers
beside a .gltf, data URIs, every node's transform (a rotation, translation and uniform scale is
applied to the splats; anything else is refused), and the log-space SCALE that splat-transform
wrote before 2.7 (negative values, with a warning).

Axes: glTF's are left-up-front (LUF: +y up, the asset facing +z); scenegen's Gaussians are in the
3DGS PLY's right-down-forward (RDF). Reading and writing turn them a half turn about z (x and y
change sign, with the quaternions and odd SH terms), as splat-transform and the SPZ library do;
`axes="RDF"` keeps the numbers as they are.

What is lost: nothing beyond float32 rounding of the stored linear values (an opacity very near
0 or 1 keeps less of its logit); COLOR_0 is derived and ignored on reading.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import struct
from pathlib import Path

import numpy as np
import torch

from ..common.members import MemberReader, safe_relpath
from ..common.values import bounded_int
from ..common.source import read_source
from ..common.json_file import parse_json
from ..errors import FormatError, InvalidArgumentError, UnsupportedVersionError
from ..gaussians import Gaussians
from ..version import __version__
from .ply import apply_invalid_policy
from .splat_packing import flip_axes

log = logging.getLogger("scenegen.io")
EXTENSION = "KHR_gaussian_splatting"
PREFIX = EXTENSION + ":"
GLB_MAGIC = b"glTF"
JSON_CHUNK, BIN_CHUNK = 0x4E4F534A, 0x004E4942
MAX_FILE_BYTES = 4 << 30
MAX_JSON_BYTES = 256 << 20
MAX_NODES = 1 << 16
C0 = 0.28209479177387814
AXES = ("LUF", "RDF")
_LUF = (-1, -1, 1)  # RDF -> LUF: a half turn about z
_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
# what each attribute may be: (type, allowed component types)
_FLOAT = {5126}
_ALLOWED = {"POSITION": ("VEC3", _FLOAT), "ROTATION": ("VEC4", {5126, 5120, 5122}), "SCALE": ("VEC3", {5126, 5121, 5123}),
            "OPACITY": ("SCALAR", {5126, 5121, 5123})}


def _signs(axes: str) -> tuple[int, int, int]:
    if axes not in AXES:
        raise InvalidArgumentError(f"axes must be one of {AXES} (the axes the glTF file holds), got {axes!r}")
    return _LUF if axes == "LUF" else (1, 1, 1)


# ---------------------------------------------------------------------------------------- read


def read_gltf_splats(source, *, on_invalid: str = "raise", axes: str = "LUF") -> Gaussians:
    """Read the KHR_gaussian_splatting primitives of a .glb or .gltf (path or bytes), every one
    placed by its node, as one set of Gaussians; on_invalid as read_ply's."""
    signs = _signs(axes)
    data, name = read_source(source, what="glTF", max_bytes=MAX_FILE_BYTES)
    folder = None if isinstance(source, (bytes, bytearray, memoryview)) else Path(os.fspath(source)).parent
    doc, binary = _container(data, name)
    buffers = _Buffers(doc, binary, folder, name)
    placed = []
    for prim, matrix in _placed(doc, name):
        g = _primitive(doc, buffers, prim, name)
        if matrix is not None:
            try:
                g = g.transform(torch.from_numpy(matrix).float())
            except InvalidArgumentError:
                raise FormatError(f"{name}: a node places splats with a shear, a reflection or a non-uniform scale, which "
                                  "Gaussians cannot keep; apply it in the tool that wrote the file") from None
        placed.append(g)
    g = Gaussians.cat(placed) if len(placed) > 1 else placed[0]
    means, quats, sh = g.means.double().numpy().copy(), g.quats.double().numpy().copy(), g.sh.double().numpy().copy()
    flip_axes(means, quats, sh, signs)
    g = Gaussians(torch.from_numpy(means).float(), g.scales, torch.from_numpy(quats).float(), g.opacities, torch.from_numpy(sh).float())
    return apply_invalid_policy(g, on_invalid, name)


def _container(data: bytes, name: str) -> tuple[dict, bytes | None]:
    """(the JSON document, the GLB's binary chunk or None)."""
    binary = None
    if data[:4] == GLB_MAGIC:
        if len(data) < 20:
            raise FormatError(f"{name}: a GLB of {len(data)} bytes is shorter than its 12-byte header and first chunk")
        _, version, length = struct.unpack_from("<4sII", data, 0)
        if version != 2:
            raise UnsupportedVersionError(f"{name}: GLB container version {version}; scenegen reads version 2")
        if length != len(data):
            raise FormatError(f"{name}: the GLB header says {length} bytes, the file has {len(data)}; it is truncated or damaged")
        chunks, at = [], 12
        while at < len(data):
            if at + 8 > len(data):
                raise FormatError(f"{name}: a GLB chunk header at byte {at} runs past the end of the file")
            size, kind = struct.unpack_from("<II", data, at)
            if at + 8 + size > len(data):
                raise FormatError(f"{name}: a GLB chunk of {size} bytes at byte {at} runs past the end of the file")
            chunks.append((kind, data[at + 8:at + 8 + size]))
            at += 8 + size
        if not chunks or chunks[0][0] != JSON_CHUNK:
            raise FormatError(f"{name}: a GLB starts with its JSON chunk")
        text = chunks[0][1]
        if len(chunks) > 1 and chunks[1][0] == BIN_CHUNK:
            binary = chunks[1][1]
    else:
        text = data
    if len(text) > MAX_JSON_BYTES:
        raise FormatError(f"{name}: {len(text)} bytes of glTF JSON is over the {MAX_JSON_BYTES}-byte limit")
    doc = parse_json(text, f"{name} (neither GLB nor glTF JSON)")
    if not isinstance(doc, dict) or not isinstance(doc.get("asset"), dict):
        raise FormatError(f"{name}: a glTF document is a JSON object with an 'asset'")
    version = str(doc["asset"].get("version", ""))[:20]
    if version.split(".")[0] != "2":
        raise UnsupportedVersionError(f"{name}: glTF version {version!r}; scenegen reads glTF 2.x")
    return doc, binary


def _list(doc: dict, key: str, name: str) -> list:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise FormatError(f"{name}: '{key}' must be a list")
    return value


def _entry(items: list, index, what: str, name: str) -> dict:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(items) or not isinstance(items[index], dict):
        raise FormatError(f"{name}: {what} {str(index)[:20]!r} is not one of the file's {len(items)}")
    return items[index]


def _node_matrix(node: dict, name: str) -> np.ndarray:
    try:
        if "matrix" in node:
            m = np.array(node["matrix"], np.float64)
            if m.shape != (16,):
                raise ValueError
            return m.reshape(4, 4).T  # column-major
        t = np.array(node.get("translation", [0, 0, 0]), np.float64)
        x, y, z, w = np.array(node.get("rotation", [0, 0, 0, 1]), np.float64)
        s = np.array(node.get("scale", [1, 1, 1]), np.float64)
        if t.shape != (3,) or s.shape != (3,):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise FormatError(f"{name}: a node's matrix, translation, rotation or scale is malformed") from None
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                  [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                  [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    m = np.eye(4)
    m[:3, :3] = r * s
    m[:3, 3] = t
    return m


def _placed(doc: dict, name: str) -> list[tuple[dict, np.ndarray | None]]:
    """Every splat primitive with its node's world matrix (None when it is the identity), in the
    default scene's node order; a file with no scenes or nodes gives its meshes unplaced."""
    meshes, nodes, scenes = _list(doc, "meshes", name), _list(doc, "nodes", name), _list(doc, "scenes", name)

    def splats(mesh_index) -> list[dict]:
        mesh = _entry(meshes, mesh_index, "mesh", name)
        prims = mesh.get("primitives", [])
        if not isinstance(prims, list):
            raise FormatError(f"{name}: a mesh's 'primitives' must be a list")
        return [p for p in prims if isinstance(p, dict) and isinstance(p.get("extensions"), dict) and EXTENSION in p["extensions"]]

    found: list[tuple[dict, np.ndarray | None]] = []
    if nodes and scenes:
        scene = _entry(scenes, doc.get("scene", 0), "scene", name)
        stack = [(n, np.eye(4)) for n in reversed(scene.get("nodes", []) if isinstance(scene.get("nodes"), list) else [])]
        visited = 0
        while stack:
            index, parent = stack.pop()
            visited += 1
            if visited > MAX_NODES:
                raise FormatError(f"{name}: the node hierarchy has a cycle or more than {MAX_NODES} nodes")
            node = _entry(nodes, index, "node", name)
            world = parent @ _node_matrix(node, name)
            if "mesh" in node:
                found += [(p, None if np.allclose(world, np.eye(4), atol=1e-12) else world) for p in splats(node["mesh"])]
            children = node.get("children", [])
            stack += [(c, world) for c in reversed(children if isinstance(children, list) else [])]
    else:
        for index in range(len(meshes)):
            found += [(p, None) for p in splats(index)]
    if not found:
        raise FormatError(f"{name}: holds no {EXTENSION} primitive (a mesh, not splats?); meshes go into a scene with "
                          "insert_mesh, splats are read from glTF files that use the extension")
    return found


class _Buffers:
    """The file's buffers' bytes, read on first use: the GLB chunk, data URIs or files beside it."""

    def __init__(self, doc: dict, binary: bytes | None, folder: Path | None, name: str):
        self.doc, self.binary, self.folder, self.name = doc, binary, folder, name
        self.cache: dict[int, bytes] = {}

    def get(self, index) -> bytes:
        buffers = _list(self.doc, "buffers", self.name)
        buffer = _entry(buffers, index, "buffer", self.name)
        if index in self.cache:
            return self.cache[index]
        length = buffer.get("byteLength")
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise FormatError(f"{self.name}: buffer {index} has no valid byteLength")
        uri = buffer.get("uri")
        if uri is None:
            if index != 0 or self.binary is None:
                raise FormatError(f"{self.name}: buffer {index} has no uri and there is no GLB binary chunk for it")
            data = self.binary
        elif not isinstance(uri, str):
            raise FormatError(f"{self.name}: buffer {index}'s uri must be a string")
        elif uri.startswith("data:"):
            head, _, body = uri.partition(",")
            if not head.endswith(";base64"):
                raise FormatError(f"{self.name}: buffer {index} is a data URI that is not base64")
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise FormatError(f"{self.name}: buffer {index}'s data URI is not valid base64") from None
        else:
            if self.folder is None:
                raise FormatError(f"{self.name}: buffer {index} is the file {uri!r}; read the .gltf from its folder, not from bytes")
            rel = safe_relpath(uri, self.name, index="glTF file", kind="glTF")
            data = MemberReader(self.folder, kind="glTF", index="glTF file").read(rel, MAX_FILE_BYTES)
        if len(data) < length:
            raise FormatError(f"{self.name}: buffer {index} holds {len(data)} bytes, its byteLength says {length}; it is truncated")
        self.cache[index] = data[:length]
        return self.cache[index]


def _accessor(doc: dict, buffers: _Buffers, index, semantic: str, kind: str, allowed: set[int], name: str) -> np.ndarray:
    """[count, width] float64 values of an accessor (normalised integers mapped as glTF says)."""
    accessors = _list(doc, "accessors", name)
    acc = _entry(accessors, index, f"accessor of {semantic}", name)
    where = f"{name}: {semantic} (accessor {index})"
    component, count = acc.get("componentType"), acc.get("count")
    if acc.get("type") != kind or component not in allowed:
        raise FormatError(f"{where} is {acc.get('type')!r} of component type {str(component)[:12]}; the extension asks for "
                          f"{kind} of {sorted(allowed)}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise FormatError(f"{where} has no valid count")
    if "sparse" in acc:
        raise FormatError(f"{where} is sparse, which scenegen does not read for splats; re-export without sparse accessors")
    dtype = np.dtype(_COMPONENTS[component]).newbyteorder("<")
    width = _WIDTH[kind]
    element = dtype.itemsize * width
    if "bufferView" not in acc:
        raise FormatError(f"{where} has no bufferView, so no values; splat attributes hold one value per splat")
    view = _entry(_list(doc, "bufferViews", name), acc["bufferView"], "bufferView", name)
    offset = _integer(view.get("byteOffset", 0), "byteOffset", where) + _integer(acc.get("byteOffset", 0), "byteOffset", where)
    stride = _integer(view.get("byteStride", element), "byteStride", where) or element
    length = _integer(view.get("byteLength"), "byteLength", where)
    data = buffers.get(view.get("buffer"))
    view_start = _integer(view.get("byteOffset", 0), "byteOffset", where)
    if view_start + length > len(data):
        raise FormatError(f"{where}: its buffer view runs past the end of the buffer")
    need = 0 if count == 0 else (count - 1) * stride + element
    if stride < element or offset - view_start + need > length:
        raise FormatError(f"{where}: {count} elements of {element} bytes (stride {stride}) do not fit in its {length}-byte view")
    raw = np.ndarray((count, width), dtype, buffer=data, offset=offset, strides=(stride, dtype.itemsize)) if count else \
        np.zeros((0, width), dtype)
    values = raw.astype(np.float64)
    if acc.get("normalized"):
        if dtype.kind == "f":
            raise FormatError(f"{where}: a float accessor cannot be normalized")
        top = float(np.iinfo(dtype).max)
        values = np.maximum(values / top, -1.0)
    return values


def _integer(value, what: str, where: str) -> int:
    return bounded_int(value, f"{where}: its {what}", 0, MAX_FILE_BYTES, error=FormatError)


def _primitive(doc: dict, buffers: _Buffers, prim: dict, name: str) -> Gaussians:
    ext = prim["extensions"][EXTENSION]
    if not isinstance(ext, dict):
        raise FormatError(f"{name}: the {EXTENSION} object must be a JSON object")
    if prim.get("mode", 4) != 0:
        raise FormatError(f"{name}: a {EXTENSION} primitive must have mode 0 (POINTS), this one has {str(prim.get('mode'))[:12]}")
    kernel = ext.get("kernel")
    if kernel is None:
        raise FormatError(f"{name}: its {EXTENSION} object has no kernel: the file follows a draft of the extension from before "
                          "the release candidate, which scenegen does not read; re-export it with a current tool")
    if kernel != "ellipse":
        raise FormatError(f"{name}: {EXTENSION} kernel {str(kernel)[:40]!r}; scenegen reads the 'ellipse' kernel")
    attributes = prim.get("attributes")
    if not isinstance(attributes, dict) or "POSITION" not in attributes:
        raise FormatError(f"{name}: a splat primitive needs POSITION among its attributes")

    def attribute(semantic: str, kind: str | None = None, allowed: set[int] | None = None) -> np.ndarray:
        key = semantic if semantic == "POSITION" else PREFIX + semantic
        if key not in attributes:
            raise FormatError(f"{name}: a splat primitive needs the {key} attribute")
        if kind is None:
            kind, allowed = _ALLOWED[semantic]
        return _accessor(doc, buffers, attributes[key], key, kind, allowed, name)

    means = attribute("POSITION")
    n = len(means)
    xyzw = attribute("ROTATION")
    scales = attribute("SCALE")
    opacity = attribute("OPACITY")[:, 0]
    degree = 0
    while all(f"{PREFIX}SH_DEGREE_{degree + 1}_COEF_{k}" in attributes for k in range(2 * degree + 3)) and degree < 3:
        degree += 1
    sh = np.stack([attribute(f"SH_DEGREE_{l}_COEF_{k}", "VEC3", _FLOAT) for l in range(degree + 1) for k in range(2 * l + 1)], 1)
    for values, what in ((xyzw, "ROTATION"), (scales, "SCALE"), (opacity, "OPACITY"), (sh, "SH")):
        if len(values) != n:
            raise FormatError(f"{name}: {PREFIX}{what} has {len(values)} elements, POSITION has {n}; every attribute has one per splat")
    with np.errstate(divide="ignore", invalid="ignore"):
        if (scales < 0).any():
            log.warning("scenegen: %s holds negative SCALE values, as splat-transform before 2.7 wrote (log-space); reading them "
                        "as log-scales", name)
            log_scales = scales
        else:
            log_scales = np.log(scales)
        p = np.clip(opacity, 1e-6, 1 - 1e-6)
        logits = np.log(p) - np.log1p(-p)
    quats = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], 1)
    return Gaussians(torch.from_numpy(means).float(), torch.from_numpy(log_scales).float(), torch.from_numpy(quats).float(),
                     torch.from_numpy(logits).float(), torch.from_numpy(sh).float())


# --------------------------------------------------------------------------------------- write


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _document(gaussians: Gaussians, signs) -> tuple[dict, bytes]:
    g = gaussians.detach().to("cpu", torch.float64)
    n = len(g)
    means, quats, sh = g.means.numpy().copy(), g.quats.numpy().copy(), g.sh.numpy().copy()
    norm = np.linalg.norm(quats, axis=1, keepdims=True)
    quats = np.where(norm > 0, quats / np.where(norm > 0, norm, 1), np.array([1.0, 0.0, 0.0, 0.0]))
    flip_axes(means, quats, sh, signs)
    alpha = 1 / (1 + np.exp(-g.opacities.numpy()))
    colour = _srgb_to_linear(np.clip(0.5 + C0 * sh[:, 0], 0, 1))
    attributes: list[tuple[str, np.ndarray, str, int, bool]] = [
        ("POSITION", means.astype("<f4"), "VEC3", 5126, False),
        ("COLOR_0", np.rint(np.concatenate([colour, alpha[:, None]], 1) * 255).astype(np.uint8), "VEC4", 5121, True),
        (PREFIX + "ROTATION", np.concatenate([quats[:, 1:], quats[:, :1]], 1).astype("<f4"), "VEC4", 5126, False),
        (PREFIX + "SCALE", np.exp(g.scales.numpy()).astype("<f4"), "VEC3", 5126, False),
        (PREFIX + "OPACITY", alpha.astype("<f4")[:, None], "SCALAR", 5126, False),
    ]
    for l in range(g.sh_degree + 1):
        for k in range(2 * l + 1):
            attributes.append((f"{PREFIX}SH_DEGREE_{l}_COEF_{k}", sh[:, l * l + k].astype("<f4"), "VEC3", 5126, False))
    blob, views, accessors = bytearray(), [], []
    for index, (semantic, values, kind, component, normalized) in enumerate(attributes):
        raw = np.ascontiguousarray(values).tobytes()
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(raw), "target": 34962})
        accessor = {"bufferView": index, "componentType": component, "count": n, "type": kind}
        if normalized:
            accessor["normalized"] = True
        if semantic == "POSITION":
            f32 = values.astype(np.float32)
            accessor["min"] = (f32.min(0) if n else np.zeros(3)).astype(np.float64).tolist()
            accessor["max"] = (f32.max(0) if n else np.zeros(3)).astype(np.float64).tolist()
        accessors.append(accessor)
        blob += raw + bytes(-len(raw) % 4)
    extension = {"kernel": "ellipse", "colorSpace": "srgb_rec709_display", "projection": "perspective",
                 "sortingMethod": "cameraDistance"}
    doc = {"asset": {"version": "2.0", "generator": f"scenegen {__version__}"}, "extensionsUsed": [EXTENSION],
           "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "splats"}],
           "meshes": [{"name": "splats", "primitives": [{"mode": 0, "attributes": {a[0]: i for i, a in enumerate(attributes)},
                                                          "extensions": {EXTENSION: extension}}]}],
           "accessors": accessors, "bufferViews": views, "buffers": [{"byteLength": len(blob)}]}
    return doc, bytes(blob)


def glb_bytes(gaussians: Gaussians, *, axes: str = "LUF") -> bytes:
    """A GLB of `gaussians` as one KHR_gaussian_splatting primitive (see the module's notes)."""
    doc, blob = _document(gaussians, _signs(axes))
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), JSON_CHUNK) + text + struct.pack("<II", len(blob), BIN_CHUNK) + blob
    return struct.pack("<4sII", GLB_MAGIC, 2, 12 + len(chunks)) + chunks


def gltf_bytes(gaussians: Gaussians, *, axes: str = "LUF") -> bytes:
    """A self-contained .gltf (JSON, its buffer as a base64 data URI) of `gaussians`."""
    doc, blob = _document(gaussians, _signs(axes))
    doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(blob).decode("ascii")
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def write_gltf_splats(path, gaussians: Gaussians, *, axes: str = "LUF") -> Path:
    """Write `gaussians` as a .glb, or a .gltf with its buffer inside, atomically."""
    from ..common.atomic import atomic_write_bytes

    path = Path(path)
    data = gltf_bytes(gaussians, axes=axes) if path.suffix.lower() == ".gltf" else glb_bytes(gaussians, axes=axes)
    atomic_write_bytes(path, data)
    return path


__all__ = ["read_gltf_splats", "write_gltf_splats", "glb_bytes", "gltf_bytes", "EXTENSION"]
