"""scenegen.io.gltf_splats: glTF 2.0 with KHR_gaussian_splatting, against the extension's text
and the file three.js ships (tests/fixtures/README.md says where it comes from)."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scenegen import Camera
from scenegen.errors import FormatError, UnsafePathError, UnsupportedVersionError
from scenegen.io import load, read_splat, read_splats, write_splats
from scenegen.io.gltf_splats import EXTENSION, glb_bytes, gltf_bytes, read_gltf_splats, write_gltf_splats
from scenegen.render import render
from splat_format_checks import SPLATS, random_gaussians, render_psnr, unit_quats_alike
from test_io_fuzz import FUZZ, mutated, survive

pytestmark = pytest.mark.bounded_memory  # every reader here runs under a memory limit

FLOWER = Path(__file__).parent / "fixtures" / "threejs-procedural-flower.gltf"
P = EXTENSION + ":"


def glb_parts(data: bytes) -> tuple[dict, bytes]:
    """(JSON, binary chunk) of a GLB, from the container's published layout alone."""
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    size, kind = struct.unpack_from("<II", data, 12)
    assert kind == 0x4E4F534A and size % 4 == 0
    text = data[20:20 + size]
    bsize, bkind = struct.unpack_from("<II", data, 20 + size)
    assert bkind == 0x004E4942 and bsize % 4 == 0 and 28 + size + bsize == len(data)
    return json.loads(text), data[28 + size:]


def values(doc: dict, blob: bytes, semantic: str) -> np.ndarray:
    acc = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"][semantic]]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = {5126: "<f4", 5121: "u1", 5120: "i1", 5123: "<u2", 5122: "<i2"}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
    return np.frombuffer(blob, dtype, acc["count"] * width, view["byteOffset"] + acc.get("byteOffset", 0)).reshape(-1, width)


def gltf_with(doc: dict, blob: bytes) -> bytes:
    doc = json.loads(json.dumps(doc))
    doc["buffers"] = [{"byteLength": len(blob), "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}]
    return json.dumps(doc).encode()


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_exact_but_for_float32(degree):
    g = random_gaussians(300, degree, seed=degree)
    for data in (glb_bytes(g), gltf_bytes(g), glb_bytes(g, axes="RDF")):
        back = read_gltf_splats(data, axes="RDF" if data == glb_bytes(g, axes="RDF") else "LUF")
        assert torch.equal(back.means, g.means) and torch.equal(back.sh, g.sh) and back.sh_degree == degree
        assert float((back.scales - g.scales).abs().max()) < 1e-5
        assert float(unit_quats_alike(back.quats, g.quats).max()) < 1e-6
        assert torch.allclose(torch.sigmoid(back.opacities), torch.sigmoid(g.opacities), atol=1e-7)


def test_the_layout_is_the_published_one():
    g = random_gaussians(50, 2, seed=7)
    doc, blob = glb_parts(glb_bytes(g))
    prim = doc["meshes"][0]["primitives"][0]
    assert prim["mode"] == 0 and "material" not in prim and "materials" not in doc
    assert prim["extensions"][EXTENSION]["kernel"] == "ellipse" and prim["extensions"][EXTENSION]["colorSpace"] == "srgb_rec709_display"
    assert doc["extensionsUsed"] == [EXTENSION] and "extensionsRequired" not in doc  # viewers without it draw points
    assert doc["asset"]["version"] == "2.0" and "buffers" in doc and "uri" not in doc["buffers"][0]
    expected = {"POSITION", "COLOR_0", P + "ROTATION", P + "SCALE", P + "OPACITY"} | {
        f"{P}SH_DEGREE_{l}_COEF_{k}" for l in range(3) for k in range(2 * l + 1)}
    assert set(prim["attributes"]) == expected
    assert all(v["byteOffset"] % 4 == 0 for v in doc["bufferViews"])
    # the numbers, turned from our right-down-forward to glTF's left-up-front (a half turn about z)
    flip = np.array([-1, -1, 1])
    position = values(doc, blob, "POSITION")
    assert np.array_equal(position, g.means.numpy() * flip)
    acc = doc["accessors"][prim["attributes"]["POSITION"]]
    assert np.allclose(acc["min"], position.min(0)) and np.allclose(acc["max"], position.max(0))
    q = torch.nn.functional.normalize(g.quats, dim=1).numpy()
    assert np.allclose(values(doc, blob, P + "ROTATION"), np.c_[-q[:, 1], -q[:, 2], q[:, 3], q[:, 0]], atol=1e-7)  # x, y, z, w
    assert np.allclose(values(doc, blob, P + "SCALE"), np.exp(g.scales.numpy()), rtol=1e-6)  # linear
    assert np.allclose(values(doc, blob, P + "OPACITY")[:, 0], torch.sigmoid(g.opacities).numpy(), atol=1e-7)  # linear
    assert np.array_equal(values(doc, blob, P + "SH_DEGREE_0_COEF_0"), g.sh[:, 0].numpy())
    signs = [-1, 1, -1, 1, -1, 1, -1, 1]  # y and x terms of band 1, yz and xz of band 2 change sign
    for l, k in ((1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 3), (2, 4)):
        assert np.array_equal(values(doc, blob, f"{P}SH_DEGREE_{l}_COEF_{k}"), signs[l * l + k - 1] * g.sh[:, l * l + k].numpy())
    colour = values(doc, blob, "COLOR_0") / 255
    srgb = np.clip(0.5 + 0.28209479177387814 * g.sh[:, 0].numpy(), 0, 1)
    assert np.allclose(colour[:, :3], np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4), atol=0.5 / 255)


def test_the_half_turn_renders_the_same_from_the_turned_camera():
    g = random_gaussians(200, 3, seed=1, sh_range=0.5)
    g = type(g)(g.means * 0.3, g.scales - 1, g.quats, g.opacities, g.sh)
    stored = read_gltf_splats(glb_bytes(g), axes="RDF")  # the glTF numbers as they are
    cam = Camera.look_at(torch.tensor([2.0, 1.0, -2.5]), torch.zeros(3), fov_deg=50.0, width=96, height=72)
    turn = torch.diag(torch.tensor([-1.0, -1.0, 1.0, 1.0]))
    turned = dataclasses.replace(cam, c2w=turn @ cam.c2w)
    with torch.no_grad():
        a = render(g, cam).rgb[0]
        b = render(stored, turned).rgb[0]
    assert float((a - b).abs().max()) < 1e-4


def test_the_file_three_js_ships_reads_as_its_bytes_say():
    g = read_gltf_splats(FLOWER, axes="RDF")
    doc = json.loads(FLOWER.read_text())
    blob = base64.b64decode(doc["buffers"][0]["uri"].split(",", 1)[1])
    assert len(g) == 25 and g.sh_degree == 0
    assert np.array_equal(g.means.numpy(), values(doc, blob, "POSITION"))
    rotation = np.maximum(values(doc, blob, P + "ROTATION") / 127.0, -1)  # normalised BYTE
    assert np.allclose(g.quats.numpy(), np.c_[rotation[:, 3], rotation[:, :3]], atol=1e-6)
    assert np.allclose(torch.sigmoid(g.opacities).numpy(), values(doc, blob, P + "OPACITY")[:, 0] / 255, atol=1e-6)
    assert np.allclose(g.scales.exp().numpy(), values(doc, blob, P + "SCALE"), rtol=1e-6)
    assert torch.equal(read_splats(FLOWER).means * torch.tensor([-1.0, -1.0, 1.0]), g.means)  # by default, turned to ours


def test_nodes_place_their_splats_and_views_may_be_strided(tmp_path):
    g = random_gaussians(40, 1, seed=3)
    doc, blob = glb_parts(glb_bytes(g, axes="RDF"))
    angle = math.radians(30)
    doc["nodes"] = [{"children": [1], "translation": [1.0, 2.0, 3.0]},
                    {"mesh": 0, "rotation": [0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2)], "scale": [2.0, 2.0, 2.0]}]
    moved = read_gltf_splats(gltf_with(doc, blob), axes="RDF")
    c, s = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(moved.means, 2 * g.means @ rot.T + torch.tensor([1.0, 2.0, 3.0]), atol=1e-5)
    assert torch.allclose(moved.scales, g.scales + math.log(2), atol=1e-5)
    doc["nodes"][1]["scale"] = [1.0, 2.0, 1.0]
    with pytest.raises(FormatError, match="non-uniform scale"):
        read_gltf_splats(gltf_with(doc, blob))
    # one interleaved view (POSITION and OPACITY), normalised UNSIGNED_SHORT opacities, and an external buffer
    doc, blob = glb_parts(glb_bytes(g, axes="RDF"))
    n = len(g)
    opacity16 = np.rint(torch.sigmoid(g.opacities).numpy() * 65535).astype("<u2")
    interleaved = np.zeros(n, dtype=[("p", "<f4", 3), ("o", "<u2"), ("pad", "<u2")])
    interleaved["p"], interleaved["o"] = g.means.numpy(), opacity16
    extra = interleaved.tobytes()
    doc["bufferViews"].append({"buffer": 1, "byteOffset": 0, "byteLength": len(extra), "byteStride": 16})
    view = len(doc["bufferViews"]) - 1
    attrs = doc["meshes"][0]["primitives"][0]["attributes"]
    doc["accessors"][attrs["POSITION"]].update(bufferView=view, byteOffset=0)
    doc["accessors"][attrs[P + "OPACITY"]].update(bufferView=view, byteOffset=12, componentType=5123, normalized=True)
    (tmp_path / "splats.bin").write_bytes(blob)
    (tmp_path / "extra.bin").write_bytes(extra)
    doc["buffers"] = [{"byteLength": len(blob), "uri": "splats.bin"}, {"byteLength": len(extra), "uri": "extra.bin"}]
    (tmp_path / "a.gltf").write_text(json.dumps(doc))
    back = read_gltf_splats(tmp_path / "a.gltf", axes="RDF")
    assert torch.equal(back.means, g.means)
    assert torch.allclose(torch.sigmoid(back.opacities), torch.from_numpy(opacity16 / 65535).float(), atol=1e-6)
    doc["buffers"][1]["uri"] = "../outside.bin"
    (tmp_path / "a.gltf").write_text(json.dumps(doc))
    with pytest.raises(UnsafePathError, match="outside"):
        read_gltf_splats(tmp_path / "a.gltf")


def test_log_space_scales_of_older_writers_are_read_as_such(caplog):
    g = random_gaussians(20, 0, seed=5)
    doc, blob = glb_parts(glb_bytes(g, axes="RDF"))
    acc = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"][P + "SCALE"]]
    start = doc["bufferViews"][acc["bufferView"]]["byteOffset"]
    blob = blob[:start] + g.scales.numpy().astype("<f4").tobytes() + blob[start + 20 * 12:]
    with caplog.at_level(logging.WARNING, logger="scenegen.io"):
        back = read_gltf_splats(gltf_with(doc, blob), axes="RDF")
    assert torch.allclose(back.scales, g.scales) and "log-space" in caplog.text


def test_every_front_door_reads_and_writes_it(tmp_path):
    g = random_gaussians(30, 1)
    for name in ("a.glb", "a.gltf"):
        path = write_splats(tmp_path / name, g)
        assert len(read_splats(path)) == 30 and load(path).num_gaussians == 30
    assert (tmp_path / "a.gltf").read_bytes()[:1] == b"{" and (tmp_path / "a.glb").read_bytes()[:4] == b"glTF"
    write_gltf_splats(tmp_path / "b.glb", g, axes="RDF")
    assert torch.equal(read_gltf_splats(tmp_path / "b.glb", axes="RDF").means, g.means)


@pytest.mark.skipif(not SPLATS.exists(), reason=f"real splats {SPLATS} (../shared/data) are absent")
def test_a_real_scene_renders_the_same_after_a_round_trip():
    g = read_splat(SPLATS / "winter_fountain.splat")
    assert render_psnr(g, read_gltf_splats(glb_bytes(g))) >= 80.0


def test_bad_files_are_refused_with_the_file_named(tmp_path):
    good = glb_bytes(random_gaussians(10, 1))
    doc, blob = glb_parts(good)

    def changed(edit):
        d = json.loads(json.dumps(doc))
        edit(d)
        return gltf_with(d, blob)

    attrs = lambda d: d["meshes"][0]["primitives"][0]["attributes"]  # noqa: E731
    cases = {
        "truncated glb": good[:-9],
        "glb length": good[:8] + struct.pack("<I", len(good) + 4) + good[12:],
        "chunk past the end": good[:12] + struct.pack("<I", 2**31) + good[16:],
        "not gltf": b"hello world",
        "deep json": b"[" * 100000,
        "no asset": json.dumps({"meshes": []}).encode(),
        "a mesh": changed(lambda d: d["meshes"][0]["primitives"][0].pop("extensions")),
        "not points": changed(lambda d: d["meshes"][0]["primitives"][0].update(mode=4)),
        "draft": changed(lambda d: d["meshes"][0]["primitives"][0].update(extensions={EXTENSION: {}})),
        "missing scale": changed(lambda d: attrs(d).pop(P + "SCALE")),
        "count over the view": changed(lambda d: d["accessors"][0].update(count=10**9)),
        "wrong type": changed(lambda d: d["accessors"][attrs(d)[P + "ROTATION"]].update(type="VEC3")),
        "bad accessor index": changed(lambda d: attrs(d).update(POSITION=99)),
        "counts differ": changed(lambda d: d["accessors"][attrs(d)[P + "OPACITY"]].update(count=3)),
        "node cycle": changed(lambda d: d.update(nodes=[{"mesh": 0, "children": [0]}])),
        "bad base64": changed(lambda d: None).replace(b"base64,", b"base64,!!"),
        "sparse": changed(lambda d: d["accessors"][0].update(sparse={"count": 1})),
    }
    path = tmp_path / "bad.gltf"
    for what, data in cases.items():
        path.write_bytes(data)
        with pytest.raises(FormatError, match=str(path)):
            read_gltf_splats(path)
    path.write_bytes(changed(lambda d: d["asset"].update(version="3.0")))
    with pytest.raises(UnsupportedVersionError, match="3.0"):
        read_gltf_splats(path)


BASE_GLB = glb_bytes(random_gaussians(8, 1, seed=2))
BASE_GLTF = gltf_bytes(random_gaussians(8, 1, seed=2))


@FUZZ
@given(st.sampled_from([BASE_GLB, BASE_GLTF]).flatmap(mutated))
def test_damaged_files_give_project_errors_or_clean_splats(data):
    g = survive(read_gltf_splats, data)
    if g is not None:
        assert len(g) <= 64 and bool(torch.isfinite(g.means).all())


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_give_project_errors(data):
    for prefix in (b"", b"glTF\x02\x00\x00\x00", b'{"asset": {"version": "2.0"}, '):
        survive(read_gltf_splats, prefix + data)
