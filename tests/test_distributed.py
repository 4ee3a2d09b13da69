"""Two CPU processes on loopback (gloo): DDP over a functional network trains in lockstep."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import Tensor

import snnfunc as sf
from snnfunc.app.distributed import (
    FunctionalModule,
    all_reduce_mean,
    average_gradients,
    check_in_sync,
    cleanup,
    get_info,
    init_distributed,
    is_main_process,
    local_indices,
    wrap_ddp,
)

N, D, H, C, T, BATCH = 128, 16, 32, 2, 8, 16


def _data() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, C, (N,), generator=g)
    centers = torch.randn(C, D, generator=g) * 1.5
    return (centers[labels] + torch.randn(N, D, generator=g)).clamp(min=0), labels


def _apply(params: dict[str, Tensor], x: Tensor) -> Tensor:
    """Spike counts ``[B, C]`` of a 2-layer LIF network on a static input ``[B, D]``."""
    net = sf.sequential(
        partial(F.linear, weight=params["w1"]),
        sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0)),
        partial(F.linear, weight=params["w2"]),
        sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0)),
    )
    state = (sf.lif_init((x.shape[0], H)), sf.lif_init((x.shape[0], C)))
    spikes, _ = sf.scan(net, state, x, num_steps=T)
    return spikes.sum(0)  # type: ignore[no-any-return]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    info = init_distributed("gloo")
    assert get_info() == info and info.is_main == (rank == 0) == is_main_process()
    xs, ys = _data()
    g = torch.Generator().manual_seed(100 + rank)  # different on purpose: DDP broadcasts rank 0's
    params = {
        "w1": torch.randn(H, D, generator=g) * 0.3,
        "w2": torch.randn(C, H, generator=g) * 0.3,
    }
    model = FunctionalModule(params, _apply)
    ddp = wrap_ddp(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)

    # 1. One synced step equals one single-process step on the union of the ranks' batches.
    idx = torch.tensor(local_indices(N, epoch=0)[:BATCH])
    F.cross_entropy(ddp(xs[idx]), ys[idx]).backward()
    synced = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
    everyone = [torch.empty_like(idx) for _ in range(world)]
    dist.all_gather(everyone, idx)
    union = torch.cat(everyone)
    opt.zero_grad()
    F.cross_entropy(model(xs[union]), ys[union]).backward()  # the plain module: no sync
    single = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
    opt.zero_grad()
    F.cross_entropy(model(xs[idx]), ys[idx]).backward()  # local gradient, then sync by hand
    average_gradients(model.parameters())
    by_hand = [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]
    opt.zero_grad()
    grad_err = max(
        float((a - b).abs().max()) for a, b in zip(synced + by_hand, single + single, strict=True)
    )

    # 2. Train a few epochs on disjoint shards.
    losses = []
    for epoch in range(6):
        shard = torch.tensor(local_indices(N, epoch=epoch, seed=1))
        total = torch.zeros(())
        for start in range(0, len(shard), BATCH):
            b = shard[start : start + BATCH]
            loss = F.cross_entropy(ddp(xs[b]), ys[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach()
        losses.append(float(all_reduce_mean(total / (len(shard) // BATCH))))

    check_in_sync(model.parameters())  # raises if the ranks drifted apart
    try:
        check_in_sync([torch.full((3,), float(rank))])
        drift_detected = False
    except RuntimeError:
        drift_detected = True
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    shards = [torch.empty(N // world, dtype=torch.long) for _ in range(world)]
    dist.all_gather(shards, torch.tensor(local_indices(N, epoch=3, seed=1)))
    if info.is_main:  # only rank 0 writes
        torch.save(
            {
                "losses": losses,
                "param_diff": max(float((t - gathered[0]).abs().max()) for t in gathered),
                "grad_err": grad_err,
                "drift_detected": drift_detected,
                "shards": [s.tolist() for s in shards],
            },
            Path(out) / "result.pt",
        )
    del ddp, opt  # DDP's reducer holds the process group: drop it before the teardown
    cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not built")
def test_two_processes_train_in_lockstep(tmp_path: Path) -> None:
    world = 2
    mp.spawn(_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.pt"]
    result: dict[str, Any] = torch.load(tmp_path / "result.pt")
    assert result["param_diff"] == 0.0  # identical parameters on every rank
    assert result["drift_detected"]  # check_in_sync sees ranks that differ
    assert result["grad_err"] < 1e-6  # DDP's (and average_gradients') = the full-batch gradient
    shards = result["shards"]
    assert sorted(shards[0] + shards[1]) == list(range(N))  # disjoint, covering
    losses = result["losses"]
    assert losses[-1] < 0.6 * losses[0], losses


def test_single_process_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_info().world_size == 1 and is_main_process()
    assert local_indices(5, shuffle=False) == [0, 1, 2, 3, 4]
    assert float(all_reduce_mean(2.5)) == 2.5
    w = torch.ones(2)
    model = FunctionalModule({"layer.w": w}, lambda p, x: p["layer.w"] * x)  # dotted names ok
    assert wrap_ddp(model) is model
    model(torch.tensor([2.0, 3.0])).sum().backward()
    torch.optim.SGD(model.parameters(), lr=0.5).step()
    assert w.tolist() == [0.0, -0.5]  # the module's parameters share the dict's storage
    assert list(model.named) == ["layer.w"]
    check_in_sync([w])  # one process: nothing to compare
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="launch with torchrun"):
        init_distributed()


def test_cli_train_distributed_under_torchrun(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node=2 -m snnfunc train --distributed` on the bundled digits."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "snnfunc", "train", "--distributed", "--epochs", "3", "--max-batches", "10"]
    cmd += ["--no-plots", "--no-progress", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("test accuracy") == 1  # rank 0 reports, rank 1 stays quiet
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "metrics.json",
        "model.safetensors",
        "optimizer.safetensors",
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["environment"]["world_size"] == 2
    assert metrics["config"]["distributed"] is True
    losses = [e["train_loss"] for e in metrics["epochs"]]
    assert losses[-1] < 0.6 * losses[0], losses  # mean over both ranks, falling
    assert metrics["test_accuracy"] > 0.5  # 10 classes: chance is 0.1
