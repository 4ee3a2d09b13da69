"""torch.compile with snnfunc: what works (compile the forward), and the known PyTorch limits.

1. A training step of a ``snnfunc.nn.Sequential`` network: ``torch.compile`` the loss (the
   whole unroll), call ``.backward()`` on it; losses and gradients equal eager.
2. Known PyTorch 2.13 limits (pytorch#193279 and friends), shown live:
   ``compile(grad(f))`` is silently zero when the surrogate Function is applied directly to the
   differentiated input; ``grad(compile(f, fullgraph=True))`` raises ``Unsupported``.

    python examples/func_compile.py            # inductor, with timings
    python examples/func_compile.py --quick    # aot_eager backend: fast to compile (CI)
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import grad

import snnfunc as sf
from snnfunc import nn as snn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="aot_eager backend (CI)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # one thread is faster on an oversubscribed machine
    backend = "aot_eager" if args.quick else "inductor"
    num_steps = 10 if args.quick else 25
    torch.manual_seed(0)

    net = snn.Sequential(
        torch.nn.Linear(64, 128),
        snn.LIF(0.9, learn=("beta",), size=128),
        torch.nn.Linear(128, 10),
        snn.LIF(0.9, size=10, reset="none"),
    )
    x, y = torch.rand(64, 64), torch.randint(0, 10, (64,))

    def loss_fn(x: Tensor, y: Tensor) -> Tensor:
        """Static image for T steps -> time-averaged output spikes -> cross-entropy."""
        spikes, _ = net.unroll(x.expand(num_steps, *x.shape), net.init_state((x.shape[0],)))
        return F.cross_entropy(spikes.mean(0) * 5, y)

    compiled = torch.compile(loss_fn, backend=backend, fullgraph=True)
    start = time.perf_counter()
    loss_c = compiled(x, y)
    loss_c.backward()
    seconds = time.perf_counter() - start
    print(f"[{backend}] first call (compiles forward and backward): {seconds:.1f} s")
    grads_c = [p.grad.clone() for p in net.parameters() if p.grad is not None]
    net.zero_grad()
    loss_e = loss_fn(x, y)
    loss_e.backward()
    grads_e = [p.grad for p in net.parameters() if p.grad is not None]
    same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads_c, grads_e, strict=True))
    print(
        f"compiled loss {loss_c.item():.6f} vs eager {loss_e.item():.6f}; gradients equal: {same}"
    )

    def median_ms(fn: object) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            fn(x, y).backward()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return sorted(times)[2] * 1e3

    eager_ms, compiled_ms = median_ms(loss_fn), median_ms(compiled)
    print(
        f"training step fwd+bwd: eager {eager_ms:.1f} ms, compiled {compiled_ms:.1f} ms "
        f"({eager_ms / compiled_ms:.2f}x)"
    )

    # Known limits (PyTorch 2.13): compile the forward, not torch.func transforms.
    spike = sf.surrogate.atan()
    v = torch.tensor([-0.5, 0.1, 0.8])
    bad = torch.compile(grad(lambda v: spike(v).sum()), backend="aot_eager")(v)
    good = grad(lambda v: spike(v).sum())(v)
    print(f"compile(grad(spike)) = {bad.tolist()}, eager {good.tolist()}: pytorch#193279")
    try:
        grad(torch.compile(lambda v: spike(v - 0.2).sum(), fullgraph=True))(v)
    except Exception as err:  # torch._dynamo.exc.Unsupported
        message = str(err).splitlines()[0]
        print(f"grad(compile(f, fullgraph=True)) raises {type(err).__name__}: {message}")


if __name__ == "__main__":
    main()
