"""Train a small rate-coded LIF classifier on sklearn's digits, then attack it (FGSM and PGD).

    python examples/attack_digits.py [--steps 400] [--num-steps 16] [--seed 0] [--out PNG]

Prints the robust-accuracy table (held-out digits, accuracy vs the L-inf budget eps on inputs in
[0, 1]) and saves the plot to ``--out`` (default ``attack_digits.png`` in the system's temp
directory, never the current one). About 10 s on one CPU
thread (the default: tiny ops gain nothing from a second thread on a shared machine).

The attack's gradient reaches the input because :func:`snnfunc.rate` is straight-through; with
``torch.bernoulli`` (snnTorch's ``spikegen.rate``) it would be zero.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

import snnfunc
from snnfunc import LIFParams, lif_init, lif_step, neuron, scan, sequential
from snnfunc.app.plot import plot_robustness
from snnfunc.attacks import robust_accuracy


def load(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from sklearn.datasets import load_digits

    x_np, y_np = load_digits(return_X_y=True)
    x = torch.tensor(x_np, dtype=torch.float32) / 16.0  # [1797, 64] in [0, 1]
    y = torch.tensor(y_np)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def make_model(hidden: int, seed: int) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(hidden, 64, generator=g) * (2.0 / 64) ** 0.5
    w2 = torch.randn(10, hidden, generator=g) * (2.0 / hidden) ** 0.5
    return {"w1": w1.requires_grad_(), "w2": w2.requires_grad_()}


def scores(params: dict[str, Tensor], x: Tensor, num_steps: int, gen: torch.Generator) -> Tensor:
    """Spike counts of the output layer, ``[B, 10]``: rate-encode, run, count."""
    lif = LIFParams(beta=0.9, threshold=1.0)
    net = sequential(
        partial(F.linear, weight=params["w1"]),
        neuron(lif_step, lif),
        partial(F.linear, weight=params["w2"]),
        neuron(lif_step, lif),
    )
    spikes_in = snnfunc.rate(x, num_steps, generator=gen)  # [T, B, 64], straight-through
    b = x.shape[0]
    out, _ = scan(net, (lif_init((b, params["w1"].shape[0])), lif_init((b, 10))), spikes_in)
    return out.sum(0)


def train(
    params: dict[str, Tensor], x: Tensor, y: Tensor, steps: int, num_steps: int, seed: int
) -> None:
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(params.values(), lr=1e-2)
    for _ in range(steps):
        idx = torch.randint(len(y), (128,), generator=gen)
        loss = F.cross_entropy(scores(params, x[idx], num_steps, gen), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="training steps (batch 128)")
    parser.add_argument("--num-steps", type=int, default=16, help="time steps T")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eps", default="0,0.02,0.05,0.1,0.2")
    parser.add_argument(
        "--out",
        default=str(Path(tempfile.gettempdir()) / "attack_digits.png"),
        help="plot path (default: attack_digits.png in the temp directory)",
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    t0 = time.perf_counter()
    x_train, y_train, x_test, y_test = load(args.seed)
    params = make_model(args.hidden, args.seed)
    train(params, x_train, y_train, args.steps, args.num_steps, args.seed)
    for p in params.values():
        p.requires_grad_(False)
    t_train = time.perf_counter() - t0

    gen = torch.Generator().manual_seed(args.seed + 2)
    eps = [float(e) for e in args.eps.split(",")]

    def predict(x: Tensor) -> Tensor:
        return scores(params, x, args.num_steps, gen)

    def loss(x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(scores(params, x, args.num_steps, gen), y)

    t1 = time.perf_counter()
    acc = {}
    for name, options in (("FGSM", {}), ("PGD-10", {"attack": "pgd", "steps": 10})):
        gen.manual_seed(args.seed + 2)  # the same encoder noise stream for every attack
        acc[name] = robust_accuracy(predict, loss, (x_test, y_test), eps, **options)
    t_attack = time.perf_counter() - t1

    print(f"digits test set: {len(y_test)} examples, T={args.num_steps}, hidden={args.hidden}")
    print(f"train {t_train:.1f} s, attacks {t_attack:.1f} s")
    print("| eps | " + " | ".join(acc) + " |")
    print("|---|" + "---|" * len(acc))
    for i, e in enumerate(eps):
        print(f"| {e:g} | " + " | ".join(f"{100 * a[i]:.1f}%" for a in acc.values()) + " |")
    plot_robustness(eps, acc, title="digits, rate-coded LIF").savefig(args.out)
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
