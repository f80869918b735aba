"""Data-parallel training over processes and machines with torch.distributed (gloo on the CPU,
NCCL on CUDA). Every process holds the same Gaussians: each renders its share of a step's views,
the gradients are summed across processes (all-reduce) before the optimiser steps, and the
densification statistics are summed before any decision is taken from them, so every process
densifies, prunes and resets alike (they draw the same random numbers from the same seed).

Start with `scenegen train ... --nproc N` (one machine) or torchrun (`torchrun --nproc-per-node N
-m scenegen.cli train ...`, and across machines with its rendezvous options): the process group
is set up from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...). Process 0 writes the
outputs and checkpoints; the others only train.
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist

from ..errors import TrainingError

TIMEOUT_ENV = "SCENEGEN_DIST_TIMEOUT"  # seconds a process waits for the others (default 300)


def world() -> tuple[int, int]:
    """(rank, number of processes); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def start() -> tuple[int, int]:
    """Join the process group torchrun describes in the environment (WORLD_SIZE > 1), once;
    returns world(). Does nothing for a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size > 1 and not (dist.is_available() and dist.is_initialized()):
        if not dist.is_available():
            raise TrainingError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
        timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "300")))
        dist.init_process_group(backend, timeout=timeout)
    return world()


def _collective(fn, what: str):
    try:
        return fn()
    except RuntimeError as exc:  # gloo and NCCL failures (DistBackendError is one)
        rank, size = world()
        raise TrainingError(f"process {rank} of {size}: lost the other processes while {what} ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}); one of them stopped. Resume from the "
                            "last checkpoint with --resume") from None


def sum_gradients(parameters: list[torch.Tensor]) -> None:
    """Sum the gradients of `parameters` over all processes, in place (one all-reduce). A
    parameter that no process touched keeps grad None; one that some touched gets the sum."""
    if world()[1] == 1:
        return
    params = [p for p in parameters if p.requires_grad]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in params]
                     + [torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)])
    _collective(lambda: dist.all_reduce(flat), "summing gradients")
    seen, offset = flat[-len(params):], 0
    for k, p in enumerate(params):
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype) if seen[k] > 0 else None
        offset += n


def sum_tensors(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The sums over all processes of `tensors` (same shapes on every process)."""
    if world()[1] == 1 or not tensors:
        return tensors
    flat = torch.cat([t.reshape(-1).float() for t in tensors])
    _collective(lambda: dist.all_reduce(flat), "summing statistics")
    out, offset = [], 0
    for t in tensors:
        out.append(flat[offset:offset + t.numel()].view_as(t).to(t.dtype))
        offset += t.numel()
    return out


def finish() -> None:
    """Leave the process group at the end of a run, all processes together (one leaving while
    another still talks to it would end that one with an error)."""
    if dist.is_available() and dist.is_initialized():
        _collective(dist.barrier, "finishing")
        dist.destroy_process_group()


__all__ = ["world", "start", "sum_gradients", "sum_tensors", "finish", "TIMEOUT_ENV"]
