"""W3: rate-encode a [128, 784] batch in [0, 1] for 25 steps (../shared/BENCHMARKS.md).

    python benchmarks/bench_encode_rate.py [--batch 128] [--features 784] [--steps 25]
                                           [--threads 2] [--reps 30]

Times each encoder in the same process, interleaved rep by rep after a warm-up, and prints a
markdown table with min and median (ms) and the ratio of each median to snnfunc's. Before timing it
checks that every encoder's spike rate matches the probabilities. Peers are used where installed:
snnTorch's ``spikegen.rate`` and Norse's ``poisson_encode``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import snnfunc


def peers(x: torch.Tensor, steps: int) -> dict[str, Callable[[], torch.Tensor]]:
    out: dict[str, Callable[[], torch.Tensor]] = {}
    try:
        from snntorch import spikegen

        out["snnTorch spikegen.rate"] = lambda: spikegen.rate(x, num_steps=steps)
    except ImportError:
        pass
    try:
        from norse.torch.functional.encode import poisson_encode

        # Norse's rate is in Hz over dt: f_max * dt = 1 gives probability x per step.
        out["Norse poisson_encode"] = lambda: poisson_encode(x, steps, f_max=1000.0, dt=1e-3)
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, args.features, generator=g)
    xg = x.clone().requires_grad_(True)
    shape = (args.steps, *x.shape)
    cases: dict[str, Callable[[], torch.Tensor]] = {
        "snnfunc.rate (float32, differentiable)": lambda: snnfunc.rate(xg, args.steps, generator=g),
        "snnfunc.rate (out_dtype=bool)": lambda: snnfunc.rate(
            x, args.steps, generator=g, out_dtype=torch.bool
        ),
        "snnfunc.rate (out_dtype=uint8)": lambda: snnfunc.rate(
            x, args.steps, generator=g, out_dtype=torch.uint8
        ),
        "torch.rand(...) < p (bool)": lambda: torch.rand(shape, generator=g) < x,
        "(torch.rand(...) < p).float()": lambda: (torch.rand(shape, generator=g) < x).float(),
        "torch.bernoulli(p.expand(T, ...))": lambda: torch.bernoulli(x.expand(shape), generator=g),
    }
    cases.update(peers(x, args.steps))

    for name, fn in cases.items():  # check before timing: the spike rate matches p
        z = fn().detach().float()
        assert z.shape == shape, (name, z.shape)
        err = float((z.mean(0) - x).abs().mean())
        assert err < 0.2, (name, err)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(3):
        for fn in cases.values():
            fn()
    for _ in range(args.reps):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    ref = statistics.median(times["snnfunc.rate (out_dtype=bool)"])
    print(
        f"W3 rate encoding [{args.batch}, {args.features}] x {args.steps}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, {args.reps} reps"
    )
    print("| encoder | min ms | median ms | median / snnfunc bool |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {1e3 * min(ts):.2f} | {1e3 * med:.2f} | {med / ref:.2f}x |")


if __name__ == "__main__":
    main()
