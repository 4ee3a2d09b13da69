"""Quickstart: a two-layer spiking network on scikit-learn's 8x8 digits (no download).

Pure functions all the way: params in a dict, a network step built with `sequential`,
unrolled with `scan`, trained with plain autograd. Runs in a few seconds on 2 CPU cores.
"""

from __future__ import annotations

import argparse
from functools import partial

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import snnfunc as sf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-steps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # [1797, 64] in [0, 1]
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(x))
    train, test = perm[:1400], perm[1400:]

    params = {
        "w1": (torch.randn(128, 64) / 8).requires_grad_(),
        "w2": (torch.randn(10, 128) / 11).requires_grad_(),
    }
    lif = sf.LIFParams(beta=0.9, threshold=1.0)

    def net(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """[B, 64] static image -> output membrane [T, B, 10]."""
        current = F.linear(x, params["w1"])  # static input: the first layer runs once
        step = sf.sequential(
            sf.neuron(sf.lif_step, lif),
            partial(F.linear, weight=params["w2"]),
            sf.neuron(sf.lif_step, lif, reset="none"),  # leaky readout
            record_states=True,
        )
        states = (sf.lif_init(current.shape), sf.lif_init((x.shape[0], 10)))
        (_, layer_states), _ = sf.scan(step, states, current, num_steps=args.num_steps)
        return layer_states[1].v  # [T, B, 10]

    opt = torch.optim.Adam(params.values(), lr=5e-3)
    for _ in range(args.epochs):
        for batch in train[torch.randperm(len(train))].split(128):
            mem = net(params, x[batch])
            loss = F.cross_entropy(mem.mean(0), y[batch])  # time-averaged membrane readout
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (net(params, x[test]).mean(0).argmax(-1) == y[test]).float().mean().item()
    print(f"epochs={args.epochs} loss={loss.item():.3f} test_accuracy={acc:.3f}")


if __name__ == "__main__":
    main()
