"""scenegen.io.splat: the 32-byte-per-splat `.splat` format of web viewers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scenegen.errors import FormatError, InvalidArgumentError
from scenegen.gaussians import Gaussians
from scenegen.io import read_splat, write_splat
from scenegen.sh import sh_to_colour

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
requires_data = pytest.mark.skipif(not DATA.exists(), reason=f"real data folder {DATA} (the repo's ../shared/data) is absent")
SPLATS = DATA / "splats"

# The layout, written out here independently of the library.
RECORD = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
assert RECORD.itemsize == 32
QUANT = 0.5 / 255 + 1e-6  # half a uint8 step, plus float rounding


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def random_gaussians(n: int, degree: int = 0, seed: int = 0) -> Gaussians:
    gen = torch.Generator().manual_seed(seed)
    return Gaussians(
        means=torch.randn(n, 3, generator=gen) * 2, scales=torch.randn(n, 3, generator=gen) * 0.5 - 3,
        quats=torch.randn(n, 4, generator=gen), opacities=torch.randn(n, generator=gen) * 3,
        sh=torch.randn(n, (degree + 1) ** 2, 3, generator=gen) * 0.8,
    )


def records(positions, scales=None, rgba=None, rot=None) -> bytes:
    """Hand-built .splat bytes; defaults: scale 0.1, opaque grey, identity rotation (255,128,128,128)."""
    positions = np.asarray(positions, np.float32).reshape(-1, 3)
    rec = np.zeros(len(positions), RECORD)
    rec["position"] = positions
    rec["scale"] = 0.1 if scales is None else scales
    rec["rgba"] = (128, 128, 128, 255) if rgba is None else rgba
    rec["rot"] = (255, 128, 128, 128) if rot is None else rot
    return rec.tobytes()


def match_rows(g: Gaussians, positions: torch.Tensor) -> torch.Tensor:
    """Indices into g of each row of `positions` (positions are stored exactly)."""
    lookup = {tuple(p): i for i, p in enumerate(g.means.tolist())}
    assert len(lookup) == len(g), "positions must be unique"
    return torch.tensor([lookup[tuple(p)] for p in positions.tolist()])


def aligned_unit_quats(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = a / a.norm(dim=1, keepdim=True)
    b = b / b.norm(dim=1, keepdim=True)
    sign = torch.where((a * b).sum(1, keepdim=True) < 0, -1.0, 1.0)
    return a, b * sign


def assert_all_finite(g: Gaussians) -> None:
    for f in ("means", "scales", "quats", "opacities", "sh"):
        assert torch.isfinite(getattr(g, f)).all(), f


# ------------------------------------------------------------------------------------------
# round trip, decoding and write order
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("degree", [0, 3])
def test_round_trip_within_quantisation(tmp_path, degree):
    g = random_gaussians(200, degree, seed=degree)
    write_splat(tmp_path / "g.splat", g)
    assert (tmp_path / "g.splat").stat().st_size == 200 * 32
    back = read_splat(tmp_path / "g.splat")
    assert len(back) == 200 and back.sh_degree == 0  # SH beyond DC are dropped
    idx = match_rows(back, g.means)  # positions are exact
    back = back[idx]
    assert torch.equal(back.means, g.means)
    torch.testing.assert_close(back.scales, g.scales, atol=1e-5, rtol=0)
    colour_err = (sh_to_colour(back.sh) - sh_to_colour(g.sh).clamp(0, 1)).abs().max().item()
    assert colour_err <= QUANT
    alpha_err = (torch.sigmoid(back.opacities) - torch.sigmoid(g.opacities)).abs().max().item()
    assert alpha_err <= QUANT
    a, b = aligned_unit_quats(back.quats, g.quats)
    assert (a - b).abs().max().item() < 0.02


def test_decoding_of_hand_built_records():
    data = records([[1, 2, 3], [-4, 5.5, 1e-3]], scales=[[0.5, 1, 2], [1e-3, 3, 7]],
                   rgba=[[255, 0, 51, 128], [0, 255, 102, 0]], rot=[[128, 255, 128, 128], [0, 128, 128, 128]])
    g = read_splat(data)
    assert torch.equal(g.means, torch.tensor([[1, 2, 3], [-4, 5.5, 1e-3]], dtype=torch.float32))
    torch.testing.assert_close(g.scales.exp(), torch.tensor([[0.5, 1, 2], [1e-3, 3, 7]]), rtol=1e-6, atol=0)
    torch.testing.assert_close(sh_to_colour(g.sh), torch.tensor([[1, 0, 0.2], [0, 1, 0.4]]), atol=1e-6, rtol=0)
    # alpha 128/255 as is; alpha 0 is clipped just above 0 so the logit stays finite
    torch.testing.assert_close(g.alphas, torch.tensor([128 / 255, 1e-4]), atol=1e-6, rtol=0)
    assert torch.equal(g.quats, torch.tensor([[0, 127 / 128, 0, 0], [-1.0, 0, 0, 0]]))


def test_written_bytes_follow_the_layout(tmp_path):
    g = Gaussians.from_points(torch.tensor([[1.0, 2, 3]]), torch.tensor([[1.0, 0, 0.2]]), scale=0.25, opacity=0.4)
    write_splat(tmp_path / "one.splat", g)
    rec = np.frombuffer((tmp_path / "one.splat").read_bytes(), RECORD)
    np.testing.assert_array_equal(rec["position"], [[1, 2, 3]])
    np.testing.assert_allclose(rec["scale"], [[0.25] * 3], rtol=1e-6)
    np.testing.assert_array_equal(rec["rgba"], [[255, 0, 51, 102]])
    np.testing.assert_array_equal(rec["rot"], [[255, 128, 128, 128]])


def test_write_order_is_largest_scale_times_opacity_first(tmp_path):
    # row i sits at x = i; importance exp(sum(scales)) * sigmoid(opacity) is chosen per row
    log_volume = torch.tensor([0.0, 3.0, -2.0, 1.0, 2.0])
    opacity = torch.tensor([5.0, -4.0, 5.0, 0.0, 5.0])  # row 1: largest, but faint
    g = random_gaussians(5)
    g.means[:] = torch.arange(5.0)[:, None]
    g.scales[:] = (log_volume / 3)[:, None]
    g.opacities[:] = opacity
    importance = log_volume.exp() * torch.sigmoid(opacity)
    write_splat(tmp_path / "o.splat", g)
    written_x = read_splat(tmp_path / "o.splat").means[:, 0]
    assert written_x.tolist() == torch.argsort(importance, descending=True).float().tolist()
    assert written_x.tolist() == [4.0, 3.0, 0.0, 1.0, 2.0]


def test_ties_keep_their_original_order():
    g = Gaussians.from_points(torch.arange(12.0).reshape(4, 3))
    from scenegen.io.splat import splat_bytes

    assert read_splat(splat_bytes(g)).means[:, 0].tolist() == [0.0, 3.0, 6.0, 9.0]


def test_writing_no_gaussians_is_refused(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no Gaussians"):
        write_splat(tmp_path / "e.splat", Gaussians.empty())
    assert not (tmp_path / "e.splat").exists()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------
# invalid input
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 31, 33, 32 * 5 - 1])
def test_truncated_file_raises(tmp_path, size):
    (tmp_path / "t.splat").write_bytes(records(np.zeros((5, 3)))[:size])
    with pytest.raises(FormatError, match="not a multiple of 32"):
        read_splat(tmp_path / "t.splat")


@pytest.mark.parametrize("on_invalid", ["raise", "drop", "repair"])
def test_empty_file_raises(tmp_path, on_invalid):
    (tmp_path / "e.splat").write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        read_splat(tmp_path / "e.splat", on_invalid=on_invalid)


def test_missing_file_and_unknown_policy_raise(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read_splat(tmp_path / "missing.splat")
    with pytest.raises(FormatError, match="on_invalid"):
        read_splat(records([[0, 0, 0]]), on_invalid="fix")


def test_invalid_rows_raise_drop_or_repair():
    # rows: 0 valid, 1 zero rotation, 2 non-unit rotation, 3 zero scale, 4 NaN position, 5 valid
    data = records(
        [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [np.nan, 0, 0], [5, 0, 0]],
        scales=[[0.1] * 3, [0.1] * 3, [0.1] * 3, [0.1, 0.0, 0.1], [0.1] * 3, [0.1] * 3],
        rot=[[255, 128, 128, 128], [128, 128, 128, 128], [255, 255, 128, 128], [255, 128, 128, 128],
             [255, 128, 128, 128], [128, 128, 255, 128]],
    )
    with pytest.raises(FormatError, match="2 of 6 splats have rotations.*1 have non-positive scales"):
        read_splat(data)
    dropped = read_splat(data, on_invalid="drop")
    assert dropped.means[:, 0].tolist() == [0.0, 5.0]
    repaired = read_splat(data, on_invalid="repair")
    assert repaired.means[:, 0].tolist() == [0.0, 1.0, 2.0, 5.0]  # rotations repaired; bad scale and NaN dropped
    assert torch.equal(repaired.quats[1:3], torch.tensor([[1.0, 0, 0, 0]] * 2))
    assert torch.equal(repaired.quats[3], torch.tensor([0.0, 0, 127 / 128, 0]))
    assert_all_finite(repaired)


# ------------------------------------------------------------------------------------------
# real splats
# ------------------------------------------------------------------------------------------

@requires_data
@pytest.mark.parametrize("name, count", [("lastchance.splat", 14831), ("centered_lastchance.splat", 14831),
                                         ("winter_fountain.splat", 93713)])
def test_real_splats(name, count):
    raw = np.fromfile(SPLATS / name, RECORD)
    g = read_splat(SPLATS / name)
    assert len(g) == count == len(raw) and g.sh_degree == 0
    assert_all_finite(g)
    np.testing.assert_array_equal(g.means.numpy(), raw["position"])
    norms = g.quats.norm(dim=1)
    assert (norms - 1).abs().max().item() < 0.02  # unit quaternions within uint8 rounding
    assert ((g.alphas > 0) & (g.alphas < 1)).all()
    colours = sh_to_colour(g.sh)
    assert colours.min().item() >= 0 and colours.max().item() <= 1 + 1e-6
    np.testing.assert_allclose(g.scales.exp().numpy(), raw["scale"], rtol=1e-6)


@requires_data
def test_real_splat_survives_rewrite(tmp_path):
    g = read_splat(SPLATS / "lastchance.splat")
    write_splat(tmp_path / "again.splat", g)
    back = read_splat(tmp_path / "again.splat")
    back = back[match_rows(back, g.means)]
    assert torch.equal(back.means, g.means)
    assert torch.equal(back.quats, g.quats)  # the decoded uint8 rotations re-encode to themselves
    torch.testing.assert_close(back.sh, g.sh, atol=1e-6, rtol=0)
    assert (back.alphas - g.alphas).abs().max().item() <= QUANT


@requires_data
def test_real_splat_rewrite_keeps_rgba_bytes(tmp_path):
    raw = np.fromfile(SPLATS / "lastchance.splat", RECORD)
    write_splat(tmp_path / "again.splat", read_splat(SPLATS / "lastchance.splat"))
    again = np.fromfile(tmp_path / "again.splat", RECORD)
    order_raw, order_again = np.lexsort(raw["position"].T), np.lexsort(again["position"].T)
    np.testing.assert_array_equal(again["rgba"][order_again], raw["rgba"][order_raw])


@requires_data
def test_plane_splat_has_invalid_rotations():
    path = SPLATS / "plane.splat"
    raw = np.fromfile(path, RECORD)
    assert len(raw) == 441
    with pytest.raises(FormatError, match="441 of 441 splats have rotations"):
        read_splat(path)
    repaired = read_splat(path, on_invalid="repair")
    assert len(repaired) == 441
    assert torch.equal(repaired.quats, torch.tensor([[1.0, 0, 0, 0]]).expand(441, 4))
    np.testing.assert_array_equal(repaired.means.numpy(), raw["position"])
    assert_all_finite(repaired)
    # 'drop' skips every splat whose rotation is not an encoded unit quaternion: all of them
    dropped = read_splat(path, on_invalid="drop")
    assert len(dropped) == 0 and dropped.sh.shape == (0, 1, 3)
