"""Training on several CPU processes that share every batch (`fabsight train clip --processes`).

Why processes: one training step on 2 cores gains only about 1.6x from its
second thread (small matrices), while two one-thread processes, each
embedding half the batch, finish a step about a fifth sooner timed alone
(1.0x to 1.2x in training, once they gather vectors and sum gradients;
benchmarks/train_processes.py). Why by hand
rather than `DistributedDataParallel`: the contrastive loss needs every
map's and text's vector, so each process gathers them all and computes
the whole (small) loss itself; what is left to share is a sum of
gradients, a few lines on `torch.distributed` (gloo).

The rule that keeps the result a 1-process step's (up to float rounding):
each vector's gradient is counted in the process that computed it (the
other processes' vectors arrive detached), parameters used only by the
loss (the logit scale and bias) are counted in process 0, and the
processes then add their gradients up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shard:
    """This process's place among `world` processes that split every batch."""

    rank: int = 0
    world: int = 1

    def part(self, items: np.ndarray) -> np.ndarray:
        """This process's contiguous part of `items` (sizes differ by at most one)."""
        return np.array_split(items, self.world)[self.rank]

    def gather_rows(self, local, total: int):
        """(total, D): every process's rows in rank order; only this process's own rows carry gradients."""
        if self.world == 1:
            return local
        import torch
        import torch.distributed as dist

        sizes = [len(p) for p in np.array_split(np.arange(total), self.world)]
        padded = local.new_zeros((max(sizes), *local.shape[1:]))
        padded[: len(local)] = local.detach()
        pieces = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(pieces, padded)
        pieces = [piece[:size] for piece, size in zip(pieces, sizes)]
        pieces[self.rank] = local
        return torch.cat(pieces)

    def sum_gradients(self, model, loss_only_prefix: str = "logit_") -> None:
        """Add up all processes' gradients in place; loss-only parameters count in process 0 alone."""
        if self.world == 1:
            return
        import torch.distributed as dist
        from torch.nn.utils import parameters_to_vector, vector_to_parameters

        params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        missing = [name for name, p in params if p.grad is None]
        if missing:  # every parameter takes part in every step; a None would desynchronise AdamW
            raise RuntimeError(f"no gradient for {missing[:3]} in training process {self.rank}")
        if self.rank:
            for name, p in params:
                if name.startswith(loss_only_prefix):
                    p.grad.zero_()
        grads = [p.grad for _, p in params]
        flat = parameters_to_vector(grads)  # one message instead of one per tensor
        dist.all_reduce(flat)
        vector_to_parameters(flat, grads)  # the sums back into the gradients (any tensors, not only parameters)


def run_in_processes(worker, args: tuple, processes: int) -> None:
    """Run `worker(shard, *args)` in `processes` fresh processes joined by a gloo group; raise if one fails."""
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="fabsight-train-") as folder:
        # A file rendezvous: no port to choose, nothing reachable from outside the machine.
        mp.spawn(_start, args=(processes, f"file://{folder}/rendezvous", worker, args), nprocs=processes)


def _start(rank: int, world: int, rendezvous: str, worker, args: tuple) -> None:
    import torch.distributed as dist

    _end_with_parent()
    dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=world)
    try:
        worker(Shard(rank, world), *args)
        # gloo lets a process return from a collective while its peer still receives; one that then closed its
        # connections made the peer's gloo thread abort ("terminate called without an active exception").
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _end_with_parent() -> None:
    """Linux: have this process ended when its parent ends (a killed `fabsight train` must not leave workers)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        set_parent_death_signal = 1  # PR_SET_PDEATHSIG, <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(set_parent_death_signal, signal.SIGTERM)
