import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from scenegen.cli import main
from scenegen.data.video import choose_keyframes, extract_keyframes, iter_frames, probe_video, sharpness
from scenegen.errors import DatasetError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BLURRED = {10, 11, 12}


def box_blur(img: np.ndarray, k: int = 9) -> np.ndarray:
    out = img.astype(np.float32)
    for axis in (0, 1):
        out = sum(np.roll(out, s, axis=axis) for s in range(-(k // 2), k // 2 + 1)) / k
    return out.round().astype(np.uint8)


def make_video(path: Path, frames: int = 40, fps: int = 10) -> Path:
    """A textured pattern sliding sideways, with frames 10-12 motion-blurred."""
    rng = np.random.default_rng(0)
    texture = (rng.random((64, 400, 3)) * 255).astype(np.uint8)
    images = []
    for i in range(frames):
        img = texture[:, i * 4: i * 4 + 96].copy()
        images.append(box_blur(img) if i in BLURRED else img)
    iio.imwrite(path, np.stack(images), fps=fps, codec="libx264", quality=10, macro_block_size=16)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("video") / "slide.mp4")


def test_probe_and_stream_with_timestamps(video):
    info = probe_video(video)
    assert (info.width, info.height) == (96, 64) and info.fps == pytest.approx(10)
    frames = list(iter_frames(video))
    assert len(frames) == 40
    times = [t for _, t, _ in frames]
    assert times[0] == pytest.approx(0.0) and times[-1] == pytest.approx(3.9, abs=1e-3)
    assert frames[0][2].shape == (64, 96, 3)
    assert next(iter_frames(video, width=48))[2].shape == (32, 48, 3)


def test_sharpness_ranks_blurred_frames_lower():
    rng = np.random.default_rng(1)
    img = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
    assert sharpness(box_blur(img)) < 0.2 * sharpness(img)


def test_choose_keyframes_spreads_and_skips_blur():
    scores = np.ones(100)
    scores[40:45] = 0.1
    chosen = choose_keyframes(scores, 10)
    assert len(chosen) == 10 and all(b > a for a, b in zip(chosen, chosen[1:]))
    assert not set(chosen) & set(range(40, 45))
    few = choose_keyframes(scores[:30], 50)
    assert few == list(range(30))
    assert choose_keyframes(np.zeros(50), 5) == []  # featureless frames: nothing sharp to keep


def test_extract_keyframes_skips_blurred_frames(video, tmp_path):
    ds = extract_keyframes(video, tmp_path / "all", max_frames=100, progress=False)
    indices = [r["index"] for r in json.loads((tmp_path / "all" / "frames.json").read_text())["keyframes"]]
    assert not set(indices) & BLURRED and len(indices) >= 34
    assert ds.format == "video" and ds.cameras is None and len(ds.times) == len(ds)
    assert ds.image(0).shape == (64, 96, 3)


def test_extract_keyframes_caps_count_and_size(video, tmp_path):
    ds = extract_keyframes(video, tmp_path / "few", max_frames=8, max_size=48, progress=False)
    assert len(ds) == 8
    assert (ds.times[1:] > ds.times[:-1]).all()
    assert ds.image(0).shape == (32, 48, 3)


def test_bad_videos_raise(tmp_path):
    with pytest.raises(DatasetError, match="no such video"):
        probe_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(DatasetError):
        extract_keyframes(tmp_path / "junk.mp4", tmp_path / "out", progress=False)
    black = tmp_path / "black.mp4"
    iio.imwrite(black, np.zeros((8, 64, 96, 3), np.uint8), fps=10, codec="libx264", macro_block_size=16)
    with pytest.raises(DatasetError, match="blank"):
        extract_keyframes(black, tmp_path / "out", progress=False)


def test_truncated_video_raises_or_keeps_what_decodes(video, tmp_path):
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])  # the index (moov) of this MP4 is at the end: unreadable
    with pytest.raises(DatasetError, match="cut.mp4"):
        extract_keyframes(cut, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "frames.json").exists()


def test_one_frame_video_is_refused_with_advice(tmp_path):
    from scenegen import reconstruct
    from scenegen.errors import ScenegenError

    one = tmp_path / "one.mp4"
    iio.imwrite(one, (np.random.default_rng(0).random((1, 64, 96, 3)) * 255).astype(np.uint8), fps=10, codec="libx264",
                macro_block_size=16)
    with pytest.raises(ScenegenError, match="longer video"):
        reconstruct(one, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "report.json").exists()


@pytest.mark.skipif(not (DATA / "videos" / "apple.mp4").exists(), reason="../shared/data/videos/apple.mp4 is absent")
def test_real_phone_video(tmp_path, capsys):
    assert main(["frames", str(DATA / "videos" / "apple.mp4"), "-o", str(tmp_path / "apple"), "--max-frames", "20",
                 "--max-size", "640"]) == 0
    manifest = json.loads((tmp_path / "apple" / "frames.json").read_text())
    assert manifest["frames_read"] == 50 and 15 <= len(manifest["keyframes"]) <= 20
    times = [k["time"] for k in manifest["keyframes"]]
    assert times == sorted(times) and 0 <= times[0] and times[-1] < 5.0
    height, width, _ = iio.imread(tmp_path / "apple" / manifest["keyframes"][0]["file"]).shape
    assert width == 640 and abs(height - 640 * 720 / 1296) <= 1
    assert "keyframes written" in capsys.readouterr().out


def test_focal_length_from_metadata():
    from scenegen.data.video import focal_from_metadata

    tags = {"com.apple.quicktime.camera.focal_length.35mm_equivalent": "26", "encoder": "Lavf58"}
    assert focal_from_metadata(tags, 1920, 1080) == pytest.approx(26 / 43.27 * (1920 ** 2 + 1080 ** 2) ** 0.5)
    assert focal_from_metadata({"encoder": "Lavf58"}, 1920, 1080) is None
    assert focal_from_metadata({"focal_length_35mm": "n/a"}, 1920, 1080) is None
