"""Data-parallel training (recon/distributed.py): two processes with gloo hold identical Gaussians
and match one process that renders both views of each step."""

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from scenegen.cli import main
from scenegen.data import load_dataset
from scenegen.recon import TrainConfig, Trainer
from scenegen.recon.distributed import sum_gradients, sum_tensors, world
from test_recon_train import make_dataset

CONFIG = dict(steps=150, init_random_points=1500, densify_from=20, densify_every=30, densify_until=120, opacity_reset_every=100,
              sh_degree=1, sh_degree_interval=50, checkpoint_every=0)


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("dp_views"), views=8, size=32)


def _worker(rank: int, size: int, init: str, dataset: str, out: str):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=size)
    try:
        assert world() == (rank, size)
        trainer = Trainer(load_dataset(dataset), TrainConfig(**CONFIG))
        trainer.run(progress=False)
        torch.save({k: v.detach() for k, v in trainer.params.params.items()} | {"psnr": torch.tensor(
            [r["psnr"] for r in trainer.history[-5:]])}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_processes_hold_the_same_gaussians_and_match_one_process_with_both_views(views, tmp_path):
    mp.spawn(_worker, args=(2, f"file://{tmp_path / 'rendezvous'}", str(views), str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for name in a:
        if name != "psnr":
            assert torch.equal(a[name], b[name]), name
    single = Trainer(load_dataset(views), TrainConfig(**CONFIG, views_per_step=2))
    single.run(progress=False)
    n_dp, n_single = len(a["means"]), len(single.params)
    assert abs(n_dp - n_single) <= 0.05 * n_single  # the same densification, up to rounding in the sums
    psnr_single = sum(r["psnr"] for r in single.history[-5:]) / 5
    assert abs(float(a["psnr"].mean()) - psnr_single) < 1.0  # each process logs its own views; the fit is the same


def test_the_sums_are_plain_for_one_process():
    t = torch.ones(3, requires_grad=True)
    (t * 2).sum().backward()
    sum_gradients([t])
    assert torch.equal(t.grad, torch.full((3,), 2.0)) and sum_tensors([t.detach()])[0] is not None


def test_nproc_runs_the_training_under_torchrun(views, tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(views), "-o", str(out), "--nproc", "2", "--steps", "40", "--no-eval", "--objects", "none",
                 "--checkpoint-every", "20", "--sh-degree", "0"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert log["steps"] == 40 and (out / "scene").is_dir() and (out / "checkpoint.pt").is_file()
    assert main(["train", str(views), "-o", str(out), "--nproc", "2", "--steps", "60", "--no-eval", "--objects", "none",
                 "--checkpoint-every", "20", "--sh-degree", "0", "--resume"]) == 0
    assert json.loads((out / "train_log.json").read_text())["steps"] == 60


def _dying_worker(rank: int, size: int, init: str, dataset: str, out: str):
    from scenegen.errors import TrainingError

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=size)
    trainer = Trainer(load_dataset(dataset), TrainConfig(**CONFIG))
    if rank == 1:
        trainer.run(progress=False, stop_after=5)
        os._exit(3)  # killed mid-run
    try:
        trainer.run(progress=False)
    except TrainingError as exc:
        with open(os.path.join(out, "error.txt"), "w") as f:
            f.write(str(exc))


def test_a_process_that_dies_ends_the_others_with_a_clear_error(views, tmp_path):
    ctx = mp.get_context("spawn")
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [ctx.Process(target=_dying_worker, args=(r, 2, init, str(views), str(tmp_path))) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 3]
    message = (tmp_path / "error.txt").read_text()
    assert "process 0 of 2: lost the other processes" in message and "--resume" in message
