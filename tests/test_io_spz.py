"""scenegen.io.spz: Niantic's SPZ, against its published layout and files that other tools wrote
(tests/fixtures/README.md says where they come from)."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from scenegen.errors import FormatError, InvalidArgumentError, UnsupportedVersionError
from scenegen.io import load, read_splat, read_splats, write_splats
from scenegen.io.spz import fractional_bits, read_spz, spz_bytes
from splat_format_checks import SPLATS, random_gaussians, render_psnr, unit_quats_alike
from test_io_fuzz import FUZZ, mutated, survive

pytestmark = pytest.mark.bounded_memory  # every reader here runs under a memory limit

FIXTURES = Path(__file__).parent / "fixtures"


def streams_of(data: bytes) -> tuple[tuple, list[bytes]]:
    """(header fields, the decompressed streams) of a version 4 file, from the layout alone."""
    import zstandard

    fields = struct.unpack_from("<4sIIBBBBI", data)
    count, toc = fields[6], fields[7]
    table = [struct.unpack_from("<QQ", data, toc + 16 * i) for i in range(count)]
    at, out = toc + 16 * count, []
    for packed, unpacked in table:
        out.append(zstandard.ZstdDecompressor().decompress(data[at:at + packed], max_output_size=unpacked))
        at += packed
    assert at == len(data)
    return fields, out


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_within_each_fields_quantisation_step(degree):
    g = random_gaussians(500, degree, seed=degree)
    g.scales.clamp_(-9.5, 5.5)  # inside the 8-bit log-scale range [-10, 5.94]
    back = read_spz(spz_bytes(g))
    assert len(back) == len(g) and back.sh_degree == degree
    assert float((back.means - g.means).abs().max()) <= 0.5 / 4096 + 1e-6  # 12 fractional bits
    assert float((back.scales - g.scales).abs().max()) <= 0.5 / 16 + 1e-6
    assert float((torch.sigmoid(back.opacities) - torch.sigmoid(g.opacities)).abs().max()) <= 0.5 / 255 + 1e-6
    assert float((back.sh[:, 0] - g.sh[:, 0]).abs().max()) <= 0.5 / (0.15 * 255) + 1e-5
    assert float(unit_quats_alike(back.quats, g.quats).max()) < 2e-3  # 9 bits of |q| / sqrt(1/2)
    if degree:
        band1 = (back.sh[:, 1:4] - g.sh[:, 1:4]).abs().max()
        assert float(band1) <= (4 + 0.5) / 128 + 1e-5  # 5 bits: buckets of 8 steps of 1/128
    if degree > 1:
        assert float((back.sh[:, 4:] - g.sh[:, 4:]).abs().max()) <= (8 + 0.5) / 128 + 1e-5  # 4 bits


def test_the_layout_is_the_published_one():
    g = random_gaussians(40, 1, seed=4)
    data = spz_bytes(g)
    fields, streams = streams_of(data)
    magic, version, n, degree, fractional, flags, count, toc = fields
    assert (magic, version, n, degree, fractional, flags, count, toc) == (b"NGSP", 4, 40, 1, 12, 0, 6, 32)
    assert data[20:32] == bytes(12)
    assert [len(s) for s in streams] == [9 * 40, 40, 3 * 40, 3 * 40, 4 * 40, 9 * 40]
    # positions: signed 24-bit, little endian; SPZ's axes are right-up-back: y and z are turned over
    first = streams[0][:9]
    fixed = [int.from_bytes(first[3 * j:3 * j + 3], "little", signed=True) / 4096 for j in range(3)]
    assert np.allclose(fixed, [float(g.means[0, 0]), -float(g.means[0, 1]), -float(g.means[0, 2])], atol=1.5e-4)
    # SH: coefficient by coefficient, red green blue inside; band 1 in buckets of 8
    sh = np.frombuffer(streams[5], np.uint8).reshape(40, 3, 3)
    assert (sh % 8 == 0).all() or ((sh == 255) | (sh % 8 == 0)).all()
    # rotations: the largest of x, y, z, w in the top 2 bits
    word = struct.unpack_from("<I", streams[4], 0)[0]
    q = g.quats[0] / g.quats[0].norm()
    xyzw = torch.cat([q[1:] * torch.tensor([1.0, -1.0, -1.0]), q[:1]])
    assert word >> 30 == int(xyzw.abs().argmax())


def test_the_axes_can_be_taken_as_stored():
    g = random_gaussians(30, 2, seed=7)
    as_is = read_spz(spz_bytes(g, axes="RDF"), axes="RDF")
    assert float((as_is.means - g.means).abs().max()) < 1e-3
    turned = read_spz(spz_bytes(g, axes="RDF"))  # read as RUB: a half turn about x
    assert torch.allclose(turned.means[:, 0], as_is.means[:, 0]) and torch.allclose(turned.means[:, 1:], -as_is.means[:, 1:])
    with pytest.raises(InvalidArgumentError, match="axes must be one of"):
        spz_bytes(g, axes="LUF")


def test_files_other_tools_wrote_decode_to_what_they_hold():
    # splat-transform's generator wrote the same 4 splats by hand (v2, numbers as given, RDF) and
    # through the reference library (v3 and v4, converted to SPZ's RUB): all three read alike
    hand = read_spz(FIXTURES / "playcanvas-minimal-v2.spz", axes="RDF")
    for version in (3, 4):
        ref = read_spz(FIXTURES / f"playcanvas-minimal-v{version}.spz")
        assert torch.allclose(ref.means, hand.means, atol=1e-3), version
        assert torch.allclose(ref.scales, hand.scales, atol=1e-6) and torch.allclose(ref.opacities, hand.opacities, atol=1e-5)
    # (the generator's hand-built colours use another scale than the reference's 0.15: compare those two)
    assert torch.allclose(read_spz(FIXTURES / "playcanvas-minimal-v3.spz").sh, read_spz(FIXTURES / "playcanvas-minimal-v4.spz").sh)
    v4 = read_spz(FIXTURES / "playcanvas-minimal-v4.spz", axes="RDF")
    assert v4.means[0].tolist() == [-1.0, 0.0, 1.0] and math.isclose(float(torch.sigmoid(v4.opacities[0])), 230 / 255, rel_tol=1e-4)
    assert math.isclose(float(v4.scales[0, 0]), 123 / 16 - 10) and v4.quats[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    adobe = read_spz(FIXTURES / "adobe-SanitySplats.spz", axes="RDF")  # v2, SH degree 3, 3-byte rotations
    assert len(adobe) == 10 and adobe.sh_degree == 3
    assert math.isclose(float(adobe.means[1, 0]), 3277 / 4096)
    x, y, z = (b / 127.5 - 1 for b in (0x6E, 0xA2, 0x4C))
    assert np.allclose(adobe.quats[7].numpy(), [math.sqrt(1 - x * x - y * y - z * z), x, y, z], atol=1e-6)


def test_every_version_reads(tmp_path):
    g = random_gaussians(20, 1, seed=9)
    g.scales.clamp_(-9.5, 5.5)
    fields, streams = streams_of(spz_bytes(g))
    payload = struct.pack("<4sIIBBBB", b"NGSP", 3, 20, 1, 12, 0, 0) + b"".join(streams)
    v3 = read_spz(gzip.compress(payload))
    assert float(unit_quats_alike(v3.quats, g.quats).max()) < 2e-3
    # version 2: three rotation bytes (x, y, z with w >= 0)
    q = read_spz(spz_bytes(g)).quats.numpy()
    xyzw = np.concatenate([q[:, 1:] * [1, -1, -1], q[:, :1]], 1)
    xyzw *= np.where(xyzw[:, 3:] < 0, -1, 1)
    rot2 = np.clip(np.round(xyzw[:, :3] * 127.5 + 127.5), 0, 255).astype(np.uint8).tobytes()
    payload = struct.pack("<4sIIBBBB", b"NGSP", 2, 20, 1, 12, 0, 0) + b"".join(streams[:4]) + rot2 + streams[5]
    # 8 bits a component, w derived: coarse where w is small
    assert float(unit_quats_alike(read_spz(gzip.compress(payload)).quats, g.quats).max()) < 5e-2
    # version 1: float16 positions
    half = torch.stack([g.means[:, 0], -g.means[:, 1], -g.means[:, 2]], 1).numpy().astype("<f2").tobytes()
    payload = struct.pack("<4sIIBBBB", b"NGSP", 1, 20, 1, 12, 0, 0) + half + b"".join(streams[1:4]) + rot2 + streams[5]
    assert float((read_spz(gzip.compress(payload)).means - g.means).abs().max()) < 5e-3


def test_large_scenes_keep_their_positions():
    g = random_gaussians(10, 0)
    g.means[0] = torch.tensor([5000.0, -3000.0, 20.0])  # past 12 fractional bits' 2048
    back = read_spz(spz_bytes(g))
    assert fractional_bits(g.means.numpy()) < 12
    assert float((back.means - g.means).abs().max()) < 0.5 / 2**fractional_bits(g.means.numpy()) + 1e-3


def test_every_front_door_reads_and_writes_it(tmp_path):
    g = random_gaussians(25, 1)
    path = write_splats(tmp_path / "a.spz", g)
    assert len(read_splats(path)) == 25 and load(path).num_gaussians == 25


@pytest.mark.skipif(not SPLATS.exists(), reason=f"real splats {SPLATS} (../shared/data) are absent")
def test_a_real_scene_renders_the_same_after_a_round_trip():
    g = read_splat(SPLATS / "winter_fountain.splat")
    value = render_psnr(g, read_spz(spz_bytes(g)))
    assert value >= 40.0, value


def test_bad_files_are_refused_with_the_file_named(tmp_path):
    good = spz_bytes(random_gaussians(30, 1))
    payload = struct.pack("<4sIIBBBB", b"NGSP", 2, 30, 0, 12, 0, 0) + bytes(30 * 19)
    cases = {
        "truncated": good[:-7],
        "trailing bytes": good + b"\0",
        "not spz": b"hello world" * 4,
        "huge count": good[:8] + struct.pack("<I", 2**31 - 1) + good[12:],
        "bad degree": good[:12] + bytes([9]) + good[13:],
        "gzip truncated": gzip.compress(payload)[:-20],
        "gzip count": gzip.compress(payload[:8] + struct.pack("<I", 4000) + payload[12:]),
    }
    path = tmp_path / "bad.spz"
    for what, data in cases.items():
        path.write_bytes(data)
        with pytest.raises(FormatError, match=str(path)):
            read_spz(path)
    path.write_bytes(good[:4] + struct.pack("<I", 7) + good[8:])
    with pytest.raises(UnsupportedVersionError, match="version 7"):
        read_spz(path)
    with pytest.raises(InvalidArgumentError, match="no Gaussians"):
        spz_bytes(random_gaussians(0))


def test_a_stream_claiming_gigabytes_is_refused_unallocated():
    """A ZSTD frame header may declare any content size, and the decompressor allocates it: one
    claiming 4 GiB, in place of the first stream, is refused before (the memory bound of this
    module turns an allocation into a MemoryError)."""
    good = spz_bytes(random_gaussians(12, 1, seed=2))
    fields = struct.unpack_from("<4sIIBBBBI", good)
    count, toc = fields[6], fields[7]
    table = [struct.unpack_from("<QQ", good, toc + 16 * i) for i in range(count)]
    at = toc + 16 * count
    raw = bytes(table[0][1])
    # magic, a header with an 8-byte content size and a single segment, then one raw last block
    frame = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", 4 << 30) + (1 | len(raw) << 3).to_bytes(3, "little") + raw
    toc_bytes = struct.pack("<QQ", len(frame), table[0][1]) + good[toc + 16:at]
    bad = good[:toc] + toc_bytes + frame + good[at + table[0][0]:]
    with pytest.raises(FormatError, match="says it holds 4294967296 bytes"):
        read_spz(bad)


BASE_V4 = spz_bytes(random_gaussians(12, 1, seed=2))
BASE_V2 = gzip.compress(struct.pack("<4sIIBBBB", b"NGSP", 2, 12, 1, 12, 0, 0) + bytes(12 * (9 + 1 + 3 + 3 + 3 + 9)))


@FUZZ
@given(st.sampled_from([BASE_V4, BASE_V2]).flatmap(mutated))
def test_damaged_files_give_project_errors_or_clean_splats(data):
    g = survive(read_spz, data)
    if g is not None:
        assert len(g) <= 12 * 1032 and bool(torch.isfinite(g.means).all())


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_give_project_errors(data):
    for prefix in (b"", b"NGSP", b"\x1f\x8b"):
        survive(read_spz, prefix + data)
