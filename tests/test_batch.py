"""Many captures on a local Ray (scenegen.batch, `scenegen batch`)."""

import json

import pytest

from scenegen.batch import BatchError, BatchSettings, plan, read_inputs, run_batch
from scenegen.cli import main
from test_recon_train import make_dataset

pytest.importorskip("ray", reason="scenegen batch needs Ray (pip install 'scenegen[cluster]')")


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    root = tmp_path_factory.mktemp("captures")
    a = make_dataset(root / "desk", views=6, size=32)
    b = make_dataset(root / "shelf", views=6, size=32)
    broken = root / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    listing = root / "captures.txt"
    listing.write_text(f"# three captures\n{a.name}\n\n{b}\n{broken.name}\n")
    return root, listing


def test_inputs_from_a_list_file_get_one_folder_each(captures, tmp_path):
    root, listing = captures
    assert read_inputs([listing]) == [str(root / "desk"), str(root / "shelf"), str(root / "broken.mp4")]
    names = [(c.name, c.kind) for c in plan([listing, root / "desk" / "transforms.json", tmp_path / "missing"])]
    assert names == [("desk", "dataset"), ("shelf", "dataset"), ("broken", "video"), ("desk_2", "dataset"), ("missing", "unknown")]
    with pytest.raises(BatchError, match="no captures"):
        read_inputs([])


def test_a_batch_on_local_ray_reports_the_broken_capture_and_skips_finished_ones_on_rerun(captures, tmp_path, capsys):
    root, listing = captures
    out = tmp_path / "out"
    seen = []
    settings = BatchSettings(steps=15, objects="none", evaluate=False, extra={"checkpoint_every": 0, "sh_degree": 0})
    entries = run_batch([listing], out, cpus=1, local_cpus=2, settings=settings,
                        on_result=lambda e, done, total: seen.append((e["name"], done, total)))
    status = {e["name"]: e["status"] for e in entries}
    assert status == {"desk": "done", "shelf": "done", "broken": "failed"}
    assert sorted(n for n, _, _ in seen) == ["broken", "desk", "shelf"] and [(d, t) for _, d, t in seen] == [(1, 3), (2, 3), (3, 3)]
    broken = next(e for e in entries if e["name"] == "broken")
    assert "broken.mp4" in broken["error"] or "video" in broken["error"].lower()
    for name in ("desk", "shelf"):
        assert (out / name / "scene").is_dir() and (out / name / "result.json").is_file()
    saved = json.loads((out / "batch.json").read_text())
    assert [e["name"] for e in saved["captures"]] == ["desk", "shelf", "broken"] and saved["total"] == 3
    assert all(e["seconds"] > 0 for e in saved["captures"])

    # the CLI, rerun into the same folder: the finished captures are skipped, the broken one fails again
    rc = main(["batch", str(listing), "-o", str(out), "--cpus", "1", "--steps", "15", "--objects", "none"])
    assert rc == 1
    text = capsys.readouterr().out
    assert "desk (dataset): finished before, skipped" in text and "shelf (dataset): finished before, skipped" in text
    assert "broken (video): FAILED" in text
    again = {e["name"]: e["status"] for e in json.loads((out / "batch.json").read_text())["captures"]}
    assert again == {"desk": "skipped", "shelf": "skipped", "broken": "failed"}


def test_without_ray_or_with_bad_resources_the_batch_says_what_to_do(captures, tmp_path, monkeypatch):
    import sys

    from scenegen.errors import InvalidArgumentError

    root, _ = captures
    with pytest.raises(InvalidArgumentError, match="cpus per capture"):
        run_batch([root / "desk"], tmp_path / "out", cpus=0)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(BatchError, match=r"pip install 'scenegen\[cluster\]'"):
        run_batch([root / "desk"], tmp_path / "out")
