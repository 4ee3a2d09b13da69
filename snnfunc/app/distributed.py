"""Multi-process data-parallel training on ``torch.distributed`` (launch with ``torchrun``).

The pieces a training loop needs, usable without the CLI::

    info = init_distributed()                     # reads RANK / WORLD_SIZE / LOCAL_RANK (torchrun)
    model = FunctionalModule(params, apply)       # the functional network as one nn.Module
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=...)   # or wrap_ddp(model)
    for epoch in range(epochs):
        for idx in batches(local_indices(n, epoch=epoch), batch_size):
            loss = loss_fn(ddp(xs[idx]), ys[idx]); loss.backward(); opt.step()   # grads averaged
        loss_all = all_reduce_mean(loss.detach())  # the same number on every rank
        if info.is_main: save(...)                 # only rank 0 writes

A functional network keeps its params outside any Module: a dict of tensors passed to the pure
network (``torch.func.functional_call`` style). DDP syncs gradients through hooks on a Module's
parameters that it arms in ``forward``, so :class:`FunctionalModule` holds the dict's tensors as
``nn.Parameter`` objects and calls ``apply(params, *inputs)`` in its ``forward``. FSDP shards the
same Module the same way. Without DDP, :func:`average_gradients` all-reduces the gradients of any
list of tensors after ``backward`` (the same result, one collective per tensor).

Nothing here runs collectives unless a process group is initialised: on one process every
function is the identity, so the same script runs with or without ``torchrun``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = [
    "DistInfo",
    "init_distributed",
    "get_info",
    "is_main_process",
    "local_indices",
    "all_reduce_mean",
    "average_gradients",
    "FunctionalModule",
    "check_in_sync",
    "wrap_ddp",
    "cleanup",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, GPU ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: not distributed
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes files and prints."""
        return self.rank == 0


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise RuntimeError(
            f"environment variable {name} is not set: launch with torchrun "
            "(e.g. torchrun --nproc_per_node=2 -m snnfunc train --distributed ...), "
            "which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT"
        )
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be an int, got {value!r}") from None


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment.

    Args:
        backend: ``"gloo"`` or ``"nccl"``; default ``"nccl"`` when CUDA is available, else
            ``"gloo"``. With NCCL each process uses GPU ``LOCAL_RANK``.
    Returns:
        This process's :class:`DistInfo` (also returned later by :func:`get_info`).
    Raises:
        RuntimeError: not launched by torchrun (``RANK``/``WORLD_SIZE``/... missing).
    """
    rank, world, local = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    device = torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local, backend, device)


def get_info() -> DistInfo:
    """The current :class:`DistInfo`; rank 0 of 1 when no process group is initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    backend = str(dist.get_backend())
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if backend == "nccl" else torch.device("cpu")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, backend, device)


def is_main_process() -> bool:
    """True on rank 0 (and when not distributed): guard every write with this."""
    return get_info().is_main


def local_indices(
    num_examples: int,
    *,
    epoch: int = 0,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
) -> list[int]:
    """This rank's example indices for ``epoch``, exactly as ``DistributedSampler`` deals them.

    Every rank gets ``ceil(num_examples / world_size)`` indices (padded by repeating, or
    ``floor`` with ``drop_last``); together the ranks cover the (shuffled) dataset once.
    Use it for tensor datasets; with a ``DataLoader`` pass ``DistributedSampler`` directly.
    """
    from torch.utils.data.distributed import DistributedSampler

    info = get_info()
    sampler: DistributedSampler[int] = DistributedSampler(
        range(num_examples),  # type: ignore[arg-type]
        num_replicas=info.world_size,
        rank=info.rank,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )
    sampler.set_epoch(epoch)
    return list(sampler)


def all_reduce_mean(value: Tensor | float) -> Tensor:
    """Mean of ``value`` over ranks (a metric: loss, accuracy), the same on every rank.

    Not differentiable; a no-op copy when not distributed.
    """
    info = get_info()
    t = torch.as_tensor(value, dtype=torch.float64).detach().clone().to(info.device)
    if info.backend is not None and info.world_size > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= info.world_size
    return t.cpu()


def average_gradients(params: Iterable[Tensor]) -> None:
    """All-reduce-average ``.grad`` of each tensor in place (DDP by hand, for plain dicts)."""
    info = get_info()
    if info.backend is None or info.world_size == 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= info.world_size


class FunctionalModule(nn.Module):
    """A functional network as one ``nn.Module``: ``forward(*inputs) = apply(params, *inputs)``.

    Args:
        params: name -> tensor (e.g. ``{"fc1.weight": W1, "beta": beta}``; any names). Each
            becomes an ``nn.Parameter`` sharing the tensor's storage: no copy, so an optimizer
            step on the module's parameters shows in the dict's tensors too. To keep one set of
            tensors, put :attr:`named` back into your dict: ``params.update(module.named)``.
        apply: the pure network, ``apply(params_dict, *inputs) -> outputs``, e.g. a function that
            builds ``sequential(...)`` from the dict and runs :func:`snnfunc.scan`.
    """

    def __init__(self, params: Mapping[str, Tensor], apply: Callable[..., Any]) -> None:
        super().__init__()
        if not callable(apply):
            raise TypeError(f"apply must be callable, got {type(apply).__name__}")
        for name, value in params.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"params[{name!r}] must be a Tensor, got {type(value).__name__}")
        self.names = tuple(params)
        self.values = nn.ParameterList(
            [
                v if isinstance(v, nn.Parameter) else nn.Parameter(v.detach())
                for v in params.values()
            ]
        )
        self.apply_fn = apply

    @property
    def named(self) -> dict[str, Tensor]:
        """The parameters under their original names (what ``apply`` receives)."""
        return dict(zip(self.names, self.values, strict=True))

    def forward(self, *inputs: Any) -> Any:
        return self.apply_fn(self.named, *inputs)


def check_in_sync(tensors: Iterable[Tensor]) -> None:
    """Raise RuntimeError unless every rank holds bit-identical ``tensors`` (no-op on one process).

    One all-reduce of ``max - min`` over ranks, elementwise: cheap enough to run after training.
    """
    info = get_info()
    if info.backend is None or info.world_size == 1:
        return
    flat = torch.cat([t.detach().reshape(-1).to(info.device, torch.float64) for t in tensors])
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    gap = float((high - low).abs().max()) if flat.numel() else 0.0
    if gap != 0.0:
        raise RuntimeError(f"parameters differ across ranks (max gap {gap:.3g}): not in sync")


def wrap_ddp(module: nn.Module) -> nn.Module:
    """``DistributedDataParallel(module)`` on this rank's device; ``module`` itself on one process.

    DDP broadcasts rank 0's parameters at construction, so every rank starts identical.
    """
    info = get_info()
    if info.backend is None:
        return module
    module = module.to(info.device)
    if info.device.type == "cuda":
        return nn.parallel.DistributedDataParallel(module, device_ids=[info.device.index])
    return nn.parallel.DistributedDataParallel(module)


def cleanup() -> None:
    """Leave the process group (call once at the end of a distributed run).

    Drop DDP wrappers before calling it (their reducers hold the group). Every rank then waits
    at a barrier: a rank that tears gloo down while another is still finishing (rank 0 writing
    its outputs, say) can abort the other process at exit.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # finalise dropped DDP wrappers (their reducers hold the group) first
        dist.barrier()
        dist.destroy_process_group()
