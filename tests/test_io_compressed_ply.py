"""scenegen.io.compressed_ply: PlayCanvas's chunked compressed PLY, against its published layout
and a file SuperSplat wrote (tests/fixtures/README.md says where it comes from)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scenegen.common.ply_table import element_table, parse_header
from scenegen.errors import FormatError, ScenegenError
from scenegen.io import load, read_splat, read_splats, write_splats
from scenegen.io.compressed_ply import C0, compressed_ply_bytes, morton_order, read_compressed_ply
from scenegen.io.ply import ply_bytes
from splat_format_checks import SPLATS, random_gaussians, render_psnr, unit_quats_alike
from test_io_fuzz import FUZZ, mutated, survive

pytestmark = pytest.mark.bounded_memory  # every reader here runs under a memory limit

SUPERSPLAT = Path(__file__).parent / "fixtures" / "playcanvas-engine-test.compressed.ply"


def chunk_bounds(data: bytes) -> dict[str, np.ndarray]:
    return element_table(data, "test", "chunk")


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_within_each_fields_quantisation_step(degree, tmp_path):
    g = random_gaussians(700, degree, seed=degree, sh_range=3.0)  # 700: two full chunks and a partial one
    data = compressed_ply_bytes(g)
    back = read_compressed_ply(data)
    ref = g[morton_order(g.means)]  # the order the file holds
    assert len(back) == len(g) and back.sh_degree == degree
    b = {k: torch.from_numpy(v.astype(np.float64)).repeat_interleave(256)[: len(g)] for k, v in chunk_bounds(data).items()}
    for field, prefix in (("means", ""), ("scales", "scale_")):
        for axis, (name, bits) in enumerate((("x", 11), ("y", 10), ("z", 11))):
            step = (b[f"max_{prefix}{name}"] - b[f"min_{prefix}{name}"]) / (2**bits - 1)
            err = (getattr(back, field)[:, axis].double() - getattr(ref, field)[:, axis].double()).abs()
            assert bool((err <= step / 2 + 1e-5).all()), (field, name, float((err - step / 2).max()))
    assert float((torch.sigmoid(back.opacities) - torch.sigmoid(ref.opacities)).abs().max()) <= 0.5 / 255 + 1e-6
    assert float(unit_quats_alike(back.quats, ref.quats).max()) < 2.5e-3  # 10 bits of q * sqrt(2)/2
    colour_step = torch.stack([(b[f"max_{c}"] - b[f"min_{c}"]) / 255 for c in "rgb"], 1)
    colour_err = ((back.sh[:, 0] - ref.sh[:, 0]).double() * C0).abs()
    assert bool((colour_err <= colour_step / 2 + 1e-5).all())
    if degree:
        assert float((back.sh[:, 1:] - ref.sh[:, 1:]).abs().max()) <= 8 / 256 / 2 + 1e-5


def test_the_layout_is_the_published_one():
    g = random_gaussians(300, 1, seed=5)
    data = compressed_ply_bytes(g)
    fmt, elements, offset = parse_header(data, "test")
    assert fmt == "binary_little_endian" and [e.name for e in elements] == ["chunk", "vertex", "sh"]
    assert [e.count for e in elements] == [2, 300, 300]
    assert [t for _, t in elements[0].properties] == ["f4"] * 18 and [t for _, t in elements[1].properties] == ["u4"] * 4
    assert [p for p, _ in elements[2].properties] == [f"f_rest_{i}" for i in range(9)]
    assert len(data) == offset + 2 * 72 + 300 * 16 + 300 * 9
    header = data[:offset].decode()
    assert all(line.split()[0] in ("ply", "format", "comment", "element", "property", "end_header") for line in header.splitlines())
    # the last chunk's bounds cover real splats only: its unused slots repeat its last splat
    ref = g[morton_order(g.means)]
    last = ref.means[256:]
    bounds = chunk_bounds(data)
    assert np.allclose([bounds["min_x"][1], bounds["max_x"][1]], [float(last[:, 0].min()), float(last[:, 0].max())])


def _decode_by_hand(data: bytes, i: int) -> dict:
    """Splat i of a compressed PLY, decoded from the format's description alone."""
    fmt, elements, offset = parse_header(data, "by hand")
    chunks, n = elements[0].count, elements[1].count
    bounds = struct.unpack_from("<18f", data, offset + 72 * (i // 256))
    pos, rot, scl, col = struct.unpack_from("<4I", data, offset + 72 * chunks + 16 * i)

    def field(word, shift, bits):
        return ((word >> shift) & ((1 << bits) - 1)) / ((1 << bits) - 1)

    def lerp(lo, hi, t):
        return lo * (1 - t) + hi * t

    xyz = [lerp(bounds[a], bounds[a + 3], field(pos, s, k)) for a, (s, k) in enumerate(((21, 11), (11, 10), (0, 11)))]
    log_scale = [lerp(bounds[6 + a], bounds[9 + a], field(scl, s, k)) for a, (s, k) in enumerate(((21, 11), (11, 10), (0, 11)))]
    largest = rot >> 30
    small = [(field(rot, s, 10) - 0.5) * math.sqrt(2) for s in (20, 10, 0)]
    q = small[:largest] + [math.sqrt(max(0.0, 1 - sum(v * v for v in small)))] + small[largest:]
    rgb = [lerp(bounds[12 + c], bounds[15 + c], field(col, 24 - 8 * c, 8)) for c in range(3)]
    alpha = field(col, 0, 8)
    k = len(elements[2].properties) // 3 if len(elements) > 2 else 0
    rest = data[offset + 72 * chunks + 16 * n + 3 * k * i: offset + 72 * chunks + 16 * n + 3 * k * (i + 1)]
    return {"xyz": xyz, "log_scale": log_scale, "quat": q, "dc": [(c - 0.5) / C0 for c in rgb], "alpha": alpha,
            "rest": [[((b + 0.5) / 256 - 0.5) * 8 for b in rest[ch * k:(ch + 1) * k]] for ch in range(3)]}


def test_a_file_supersplat_wrote_reads_as_its_bytes_say():
    data = SUPERSPLAT.read_bytes()
    assert b"Generated by SuperSplat" in data[:200]
    g = read_compressed_ply(SUPERSPLAT)
    assert len(g) == 64 and g.sh_degree == 3
    for i in (0, 17, 63):
        want = _decode_by_hand(data, i)
        assert np.allclose(g.means[i].numpy(), want["xyz"], atol=1e-6)
        assert np.allclose(g.scales[i].numpy(), want["log_scale"], atol=1e-5)
        assert np.allclose(g.quats[i].numpy(), want["quat"], atol=1e-6)
        assert np.allclose(g.sh[i, 0].numpy(), want["dc"], atol=1e-5)
        assert abs(float(torch.sigmoid(g.opacities[i])) - want["alpha"]) < 2e-4  # 0 and 255 held just inside (0, 1)
        assert np.allclose(g.sh[i, 1:].numpy().T, want["rest"], atol=1e-5)
    # what scenegen writes from it reads back within the steps, and the SH bytes are the same
    again = read_compressed_ply(compressed_ply_bytes(g))
    assert float(unit_quats_alike(again.quats, g[morton_order(g.means)].quats).max()) < 2.5e-3


def test_every_front_door_reads_and_writes_it(tmp_path):
    g = random_gaussians(50, 2)
    path = write_splats(tmp_path / "a.compressed.ply", g)
    assert read_compressed_ply(path).sh_degree == 2
    plain_name = tmp_path / "b.ply"  # SuperSplat's files are often just .ply: told apart by the header
    plain_name.write_bytes(path.read_bytes())
    assert len(read_splats(plain_name)) == 50 and load(plain_name).num_gaussians == 50
    write_splats(tmp_path / "c.ply", g)  # a 3DGS PLY still is one
    assert b"packed_position" not in (tmp_path / "c.ply").read_bytes()[:2000] and len(read_splats(tmp_path / "c.ply")) == 50


@pytest.mark.skipif(not SPLATS.exists(), reason=f"real splats {SPLATS} (../shared/data) are absent")
def test_a_real_scene_renders_the_same_after_a_round_trip():
    g = read_splat(SPLATS / "winter_fountain.splat")
    back = read_compressed_ply(compressed_ply_bytes(g))
    value = render_psnr(g[morton_order(g.means)], back)
    assert value >= 40.0, value


def test_bad_files_are_refused_with_the_file_named(tmp_path):
    good = compressed_ply_bytes(random_gaussians(300, 1))
    path = tmp_path / "bad.compressed.ply"
    cases = {
        "truncated": good[: len(good) - 100],
        "chunk count": good.replace(b"element chunk 2", b"element chunk 3"),
        "huge count": good.replace(b"element vertex 300", b"element vertex 99999999999"),
        "ascii": good.replace(b"binary_little_endian", b"ascii"),
        "wrong type": good.replace(b"property uint packed_color", b"property float packed_color"),
        "sh count": good.replace(b"element sh 300", b"element sh 299"),
    }
    for what, data in cases.items():
        path.write_bytes(data)
        with pytest.raises(FormatError, match=str(path)):
            read_compressed_ply(path)
    path.write_bytes(ply_bytes(random_gaussians(3)))
    with pytest.raises(FormatError, match="chunk"):
        read_compressed_ply(path)


BASE = compressed_ply_bytes(random_gaussians(260, 1, seed=3))


@FUZZ
@given(mutated(BASE))
def test_damaged_files_give_project_errors_or_clean_splats(data):
    g = survive(read_compressed_ply, data)
    if g is not None:
        assert len(g) <= 260 * 2 and bool(torch.isfinite(g.means).all())


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_give_project_errors(data):
    try:
        read_compressed_ply(b"ply\nformat binary_little_endian 1.0\n" + data)
    except ScenegenError:
        pass
