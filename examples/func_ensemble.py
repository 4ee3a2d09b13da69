"""Ensembles and sweeps: train 8 digit classifiers with different betas in one vmapped call.

Each model is a quickstart-like network (64 -> 64 LIF -> 10 leaky readout, static input for
T steps) with its own membrane decay ``beta``. The 8 param sets are stacked leafwise
(``snnfunc.func.stack_params``) and ``snnfunc.func.ensemble`` vmaps the loss over them: one
forward, one backward and one Adam step train all 8, and each model's gradient is exactly
its own (the losses are independent). Same initial weights, so only beta differs.

    python examples/func_ensemble.py            # full run
    python examples/func_ensemble.py --quick    # a few epochs (CI)
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor

import snnfunc as sf
from snnfunc.func import ensemble, stack_params

BETAS = (0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)


def membrane(params: dict[str, Tensor], x: Tensor, num_steps: int) -> Tensor:
    """One model: static image ``x [B, 64]`` -> readout membrane ``[T, B, 10]``."""
    lif = sf.LIFParams(params["beta"], 1.0)
    step = sf.sequential(
        sf.neuron(sf.lif_step, lif),
        partial(F.linear, weight=params["w2"]),
        sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0), reset="none"),  # leaky readout
        record_states=True,
    )
    current = F.linear(x, params["w1"])  # static input: computed once, fed every step
    states = (sf.lif_init(current.shape), sf.lif_init((x.shape[0], 10)))
    (_, layer_states), _ = sf.scan(step, states, current, num_steps=num_steps)
    return layer_states[1].v


def loss_fn(params: dict[str, Tensor], x: Tensor, y: Tensor, num_steps: int) -> Tensor:
    return F.cross_entropy(membrane(params, x, num_steps).mean(0), y)


def time_one_batch(
    stacked: dict[str, Tensor], models: list[dict[str, Tensor]], x: Tensor, y: Tensor, t: int
) -> tuple[float, float]:
    """Median of 3: the vmapped ensemble vs a Python loop over the models (same math)."""
    loss = ensemble(partial(loss_fn, num_steps=t))
    loop_models = [
        {k: v.detach().requires_grad_(k != "beta") for k, v in m.items()} for m in models
    ]
    times: dict[str, list[float]] = {"vmap": [], "loop": []}
    for _ in range(3):
        start = time.perf_counter()
        loss(stacked, x, y).sum().backward()
        times["vmap"].append(time.perf_counter() - start)
        start = time.perf_counter()
        sum(loss_fn(m, x, y, t) for m in loop_models).backward()  # type: ignore[union-attr]
        times["loop"].append(time.perf_counter() - start)
    return sorted(times["vmap"])[1], sorted(times["loop"])[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--num-steps", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="5 epochs (CI)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # one thread is faster on an oversubscribed machine
    epochs = 5 if args.quick else args.epochs
    torch.manual_seed(0)

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # [1797, 64]
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(x))
    train, test = perm[:1400], perm[1400:]

    w1, w2 = torch.randn(64, 64) / 8, torch.randn(10, 64) / 8
    models = [{"w1": w1, "w2": w2, "beta": torch.tensor(b)} for b in BETAS]
    stacked = stack_params(models)  # w1: [8, 64, 64], beta: [8]
    stacked["w1"].requires_grad_(True)
    stacked["w2"].requires_grad_(True)  # beta stays fixed: it is the swept hyperparameter

    losses = ensemble(partial(loss_fn, num_steps=args.num_steps))
    opt = torch.optim.Adam([stacked["w1"], stacked["w2"]], lr=5e-3)
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in train[torch.randperm(len(train))].split(128):
            loss = losses(stacked, x[batch], y[batch])  # [8]
            opt.zero_grad()
            loss.sum().backward()  # independent models: each gets its own gradient
            opt.step()
    seconds = time.perf_counter() - start

    with torch.no_grad():
        mem = ensemble(partial(membrane, num_steps=args.num_steps))(stacked, x[test])
        accuracy = (mem.mean(1).argmax(-1) == y[test]).float().mean(-1)  # [8]
    vmapped, looped = time_one_batch(
        stacked, models, x[train[:128]], y[train[:128]], args.num_steps
    )
    print(f"8 models x {epochs} epochs in {seconds:.1f} s (one vmapped call per batch)")
    print(
        f"one batch fwd+bwd: vmap {vmapped * 1e3:.0f} ms, "
        f"python loop over the 8 models {looped * 1e3:.0f} ms ({looped / vmapped:.1f}x)"
    )
    print("beta  test_accuracy")
    for beta, acc in zip(BETAS, accuracy.tolist(), strict=True):
        print(f"{beta:<5} {acc:.3f}")


if __name__ == "__main__":
    main()
