"""Many captures at once on Ray: each capture (a video, a folder of photos, or a posed dataset) is
one Ray task that runs the usual pipeline (`pipeline.reconstruct` for videos and photos,
`recon.train` for datasets) into OUT/<name>, with the resources it asks for.

    from scenegen.batch import run_batch
    results = run_batch(["a.mp4", "b.mp4", "photos/"], "out", steps=3000)

A local Ray is started when no address is given. One failing capture is reported in its entry
and does not stop the others; a rerun skips the captures that finished (their OUT/<name>/result.json);
OUT/batch.json lists every capture's status, time, result and error, rewritten as each ends.
Ray is the optional extra `scenegen[cluster]`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .common.atomic import atomic_write_bytes, output_folder
from .errors import InvalidArgumentError, ScenegenError

BATCH_FILE = "batch.json"
RESULT_FILE = "result.json"
KINDS = ("video", "photos", "dataset")


class BatchError(ScenegenError):
    """A batch could not start (Ray missing or unreachable, no captures)."""


@dataclass
class Capture:
    source: str
    name: str  # its folder under OUT
    kind: str  # one of KINDS, or "unknown" for an input that is none of them


@dataclass
class BatchSettings:
    """What every capture is run with (the `reconstruct` / `train` options that apply to all)."""

    steps: int | None = None  # None: each command's default (from the capture for videos, TrainConfig's)
    motion: str = "auto"
    objects: str = "auto"
    max_frames: int = 120
    max_size: int = 1600
    evaluate: bool = True
    extra: dict = field(default_factory=dict)  # further TrainConfig settings


def read_inputs(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """The captures named by `inputs`: each a video, a folder or a dataset, or a .txt file that
    lists them one per line (blank lines and lines starting with # are skipped; relative paths
    are relative to the list's folder)."""
    out = []
    for item in inputs:
        path = Path(item)
        if path.suffix.lower() == ".txt" and path.is_file():
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    entry = Path(line).expanduser()
                    out.append(str(entry if entry.is_absolute() else path.parent / entry))
        else:
            out.append(str(path))
    if not out:
        raise BatchError("no captures given: name videos, photo folders or datasets, or a .txt file listing them")
    return out


def capture_kind(path: str | os.PathLike) -> str:
    """"video", "photos" or "dataset" for the capture at `path`; "unknown" when it is none (the
    task then fails with the loader's own message)."""
    from .data import detect_format
    from .data.video import VIDEO_EXTENSIONS

    path = Path(path)
    if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
        return "video"
    try:
        fmt = detect_format(path)
    except ScenegenError:
        return "unknown"
    return "photos" if fmt == "images" else "dataset"


def plan(inputs: Sequence[str | os.PathLike]) -> list[Capture]:
    """One Capture per input, each with a folder name of its own (the file or folder's stem,
    numbered when two share one)."""
    captures, used = [], set()
    for source in read_inputs(inputs):
        path = Path(source)
        stem = path.stem if path.suffix and not path.is_dir() else path.name
        if stem in ("transforms", "images", "") and path.parent.name:
            stem = path.parent.name
        stem = stem or "capture"
        name, k = stem, 2
        while name in used:
            name, k = f"{stem}_{k}", k + 1
        used.add(name)
        captures.append(Capture(source, name, capture_kind(path)))
    return captures


def run_capture(capture: dict, out: str, settings: dict) -> dict:
    """Run one capture into `out` (what a Ray task does; also callable directly). Never raises
    for the capture's own failure: returns {"status": "failed", "error": ...} instead."""
    started = time.perf_counter()
    entry = {"source": capture["source"], "name": capture["name"], "kind": capture["kind"]}
    try:
        entry.update(status="done", **_run(Capture(**capture), Path(out), BatchSettings(**settings)))
    except Exception as exc:  # a capture's own failure is its entry, not the batch's
        entry.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    entry["seconds"] = round(time.perf_counter() - started, 2)
    if entry["status"] == "done":
        atomic_write_bytes(Path(out) / RESULT_FILE, json.dumps(entry, indent=1).encode())
    return entry


def _run(capture: Capture, out: Path, s: BatchSettings) -> dict:
    if capture.kind in ("video", "photos"):
        from .pipeline import reconstruct

        config = {"motion": s.motion, **s.extra, **({"steps": s.steps} if s.steps else {})}
        scene = reconstruct(capture.source, out, max_frames=s.max_frames, max_size=s.max_size, config=config,
                            progress=False, objects=s.objects)
        report = json.loads((out / "report.json").read_text())
        return {"gaussians": scene.num_gaussians, "objects": list(scene.object_names),
                "psnr": (report.get("eval") or {}).get("psnr"), "scene": str(out / "scene")}
    from .data import load_dataset
    from .recon import TrainConfig, train

    if capture.kind != "dataset":
        load_dataset(capture.source)  # raises the loader's message: what was looked for
    settings = dict(motion=s.motion, objects=s.objects, **s.extra)
    if s.steps is not None:
        settings["steps"] = s.steps
    scene = train(load_dataset(capture.source), TrainConfig(**settings), out=out, evaluate_split="test" if s.evaluate else None)
    ev = scene.metadata.get("eval") or {}
    return {"gaussians": scene.num_gaussians, "objects": list(scene.object_names), "psnr": ev.get("psnr"),
            "scene": str(out / "scene")}


def finished(out: Path, capture: Capture) -> dict | None:
    """The saved entry of a capture that already finished in an earlier run, or None."""
    try:
        entry = json.loads((out / capture.name / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return entry if entry.get("status") == "done" and entry.get("source") == capture.source else None


def _ray():
    try:
        import ray
    except ImportError:
        raise BatchError("scenegen batch runs on Ray, which is not installed: pip install 'scenegen[cluster]' "
                         "(or pip install ray)") from None
    return ray


def run_batch(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, *, address: str | None = None,
              cpus: float = 2.0, gpus: float = 0.0, settings: BatchSettings | None = None, rerun: bool = False,
              on_result: Callable[[dict, int, int], None] | None = None, local_cpus: int | None = None) -> list[dict]:
    """Run every capture of `inputs` as a Ray task into OUT/<name>; returns their entries (also
    in OUT/batch.json) in input order.

    address: a Ray cluster ("auto", "ray://host:10001", ...); None starts a local Ray with
    `local_cpus` CPUs (default all). cpus, gpus: what each task reserves (torch in a task uses
    that many threads). rerun: run the captures that finished before too. on_result(entry, done,
    total) is called as each capture ends (skipped ones included)."""
    settings = settings or BatchSettings()
    if cpus <= 0 or gpus < 0:
        raise InvalidArgumentError(f"cpus per capture must be > 0 and gpus >= 0; got cpus={cpus}, gpus={gpus}")
    out = Path(out)
    captures = plan(inputs)
    output_folder(out)
    entries: dict[str, dict] = {}
    todo = []
    for capture in captures:
        old = None if rerun else finished(out, capture)
        if old is not None:
            entries[capture.name] = {**old, "status": "skipped", "previous_seconds": old.get("seconds")}
        else:
            todo.append(capture)
    total = len(captures)

    def record(entry: dict) -> None:
        entries[entry["name"]] = entry
        ordered = [entries[c.name] for c in captures if c.name in entries]
        atomic_write_bytes(out / BATCH_FILE, json.dumps({"captures": ordered, "total": total}, indent=1).encode())
        if on_result is not None:
            on_result(entry, len(entries), total)

    for name in list(entries):
        record(entries[name])
    if todo:
        ray = _ray()
        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=address, num_cpus=local_cpus if address is None else None, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BatchError(f"cannot reach Ray at {address or 'a new local instance'}: {exc}") from None
        try:
            task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(run_capture)
            pending = {task.remote(asdict(c), str(out / c.name), asdict(settings)): c for c in todo}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                capture = pending.pop(ready[0])
                try:
                    entry = ray.get(ready[0])
                except Exception as exc:  # the worker died (killed, out of memory)
                    entry = {**asdict(capture), "status": "failed", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
                record(entry)
        finally:
            if started_here:
                ray.shutdown()
    return [entries[c.name] for c in captures]


def summary_table(entries: list[dict]):
    """A rich Table of a batch's entries: capture, kind, status, time, Gaussians, PSNR, error."""
    from rich.table import Table

    table = Table(title="scenegen batch")
    for column in ("capture", "kind", "status", "seconds", "Gaussians", "PSNR", "error"):
        table.add_column(column, overflow="fold")
    for e in entries:
        seconds = e.get("seconds") if e["status"] != "skipped" else e.get("previous_seconds")
        psnr = e.get("psnr")
        table.add_row(e["name"], e["kind"], e["status"], "" if seconds is None else f"{seconds:.1f}",
                      str(e.get("gaussians", "")), "" if psnr is None else f"{psnr:.2f}", e.get("error", ""))
    return table


__all__ = ["BATCH_FILE", "BatchError", "BatchSettings", "Capture", "capture_kind", "plan", "read_inputs", "run_batch",
           "run_capture", "summary_table"]
