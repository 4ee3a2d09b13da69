"""Per-sample gradients through a whole SNN unroll, and DP-SGD-style clipping with them.

``snnfunc.func.per_sample_grads`` is ``vmap(grad(loss))``: the loss is written for ONE example
(its ``[T, 64]`` spike train through the full unroll) and vmap gives one gradient per example,
``[B, *param_shape]``, in one call. We check it against a Python loop of single-example
gradients, then train with DP-SGD's recipe: clip each example's gradient to norm C
(``clip_per_sample_grads``), average, add Gaussian noise of scale sigma * C / B.

    python examples/func_per_sample.py [--quick]
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
from snnfunc.func import clip_per_sample_grads, per_sample_grads


def membrane(params: dict[str, Tensor], spikes: Tensor) -> Tensor:
    """One example's readout membrane ``[T, 10]`` (for evaluation)."""
    net = sf.sequential(
        partial(F.linear, weight=params["w1"]),
        sf.neuron(sf.lif_step, sf.LIFParams(params["beta"], 1.0)),
        partial(F.linear, weight=params["w2"]),
        sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0), reset="none"),
        record_states=True,
    )
    states = (sf.lif_init(params["w1"].shape[0]), sf.lif_init(10))
    (_, layer_states), _ = sf.scan(net, states, spikes)
    return layer_states[1].v


def loss_one(params: dict[str, Tensor], spikes: Tensor, label: Tensor) -> Tensor:
    """One example: rate-coded spikes ``[T, 64]`` -> membrane cross-entropy (scalar)."""
    return F.cross_entropy(membrane(params, spikes).mean(0), label)


def encode(x: Tensor, num_steps: int, generator: torch.Generator) -> Tensor:
    """Rate code: ``[B, 64]`` intensities in [0, 1] -> spikes ``[T, B, 64]``."""
    return (torch.rand((num_steps, *x.shape), generator=generator) < x).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--num-steps", type=int, default=10)
    parser.add_argument("--clip", type=float, default=1.0, help="per-example norm C")
    parser.add_argument("--noise", type=float, default=0.5, help="noise multiplier sigma")
    parser.add_argument("--quick", action="store_true", help="2 epochs (CI)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # one thread is faster on an oversubscribed machine
    epochs = 2 if args.quick else args.epochs
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(x))
    train, test = perm[:1400], perm[1400:]
    params = {
        "w1": torch.randn(64, 64) / 8,
        "w2": torch.randn(10, 64) / 8,
        "beta": torch.tensor(0.9),
    }

    # 1. per-sample gradients == a loop of single-sample gradients
    batch = train[:32]
    spikes = encode(x[batch], args.num_steps, gen)  # [T, 32, 64]
    times_vmap, times_loop = [], []
    for _ in range(3):  # median of 3 (the first call also pays one-time set-up)
        start = time.perf_counter()
        per = per_sample_grads(loss_one, params, spikes, y[batch], in_dims=(1, 0))  # w1: [32, ...]
        times_vmap.append(time.perf_counter() - start)
        start = time.perf_counter()
        loop = [torch.func.grad(loss_one)(params, spikes[:, b], y[batch][b]) for b in range(32)]
        times_loop.append(time.perf_counter() - start)
    t_vmap, t_loop = sorted(times_vmap)[1], sorted(times_loop)[1]
    diff = max(float((per[k][b] - loop[b][k]).abs().max()) for k in params for b in range(32))
    print(
        f"per-sample grads of 32 examples: vmap(grad) {t_vmap * 1e3:.0f} ms, "
        f"loop {t_loop * 1e3:.0f} ms ({t_loop / t_vmap:.1f}x), max |difference| = {diff:.1e}"
    )
    _, norms = clip_per_sample_grads(per, args.clip)
    print(
        f"per-example gradient norms: min {norms.min():.3f} median {norms.median():.3f} "
        f"max {norms.max():.3f}"
    )

    # 2. DP-SGD-style training (no privacy accounting here: that is the optimizer's job)
    for k in ("w1", "w2"):
        params[k].requires_grad_(False)
    lr = 0.5
    for _ in range(epochs):
        for batch in train[torch.randperm(len(train))].split(64):
            spikes = encode(x[batch], args.num_steps, gen)
            per = per_sample_grads(loss_one, params, spikes, y[batch], in_dims=(1, 0))
            mean, _ = clip_per_sample_grads(per, args.clip)
            for k in ("w1", "w2"):  # beta stays fixed
                noise = torch.randn(params[k].shape, generator=gen) * args.noise * args.clip
                params[k] = params[k] - lr * (mean[k] + noise / len(batch))
    with torch.no_grad():
        spikes = encode(x[test], args.num_steps, gen)
        mem = torch.func.vmap(partial(membrane, params), in_dims=1)(spikes)  # [B, T, 10]
        acc = (mem.mean(1).argmax(-1) == y[test]).float().mean()
    print(f"DP-SGD (C={args.clip}, sigma={args.noise}) {epochs} epochs: test_accuracy={acc:.3f}")


if __name__ == "__main__":
    main()
