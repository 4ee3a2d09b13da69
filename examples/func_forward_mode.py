"""Forward-mode AD through an SNN: where it fails, and the spike function that makes it work.

snnfunc's surrogate spikes are ``autograd.Function``s without a ``jvp`` (a ``jvp`` would break
``torch.compile(fullgraph=True)``), so ``torch.func.jvp``/``jacfwd`` raise
``NotImplementedError``. ``snnfunc.func.forward_mode_spike(surrogate)`` computes the same
spikes and the same first derivatives with no Function (the detach trick), so forward mode
works -- e.g. the sensitivity of every neuron's spike count to ``beta`` in one forward pass.

    python examples/func_forward_mode.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Any

import torch
from torch import Tensor
from torch.func import jacfwd, jacrev, jvp

import snnfunc as sf
from snnfunc.func import forward_mode_spike


def spike_counts(beta: Tensor, xs: Tensor, spike_fn: Any) -> Tensor:
    """LIF layer over ``xs [T, N]``; per-neuron spike counts ``[N]`` as a function of beta."""
    step = partial(sf.lif_step, params=sf.LIFParams(beta, 1.0), spike_fn=spike_fn)
    spikes, _ = sf.scan(step, sf.lif_init(xs.shape[1:], dtype=xs.dtype), xs)
    return spikes.sum(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=2000)
    parser.add_argument("--num-steps", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="a small layer (CI)")
    args = parser.parse_args()
    n, t = (200, 20) if args.quick else (args.neurons, args.num_steps)
    torch.manual_seed(0)
    xs = torch.rand(t, n, dtype=torch.float64) * 0.5
    beta = torch.tensor(0.9, dtype=torch.float64)
    atan = sf.surrogate.atan()

    try:
        jacfwd(spike_counts)(beta, xs, atan)
    except NotImplementedError as err:
        print(f"jacfwd with the surrogate Function: NotImplementedError: {str(err)[:70]}...")

    fm = forward_mode_spike(atan)
    assert torch.equal(spike_counts(beta, xs, fm), spike_counts(beta, xs, atan))  # same spikes
    start = time.perf_counter()
    counts, dcounts_dbeta = jvp(
        partial(spike_counts, xs=xs, spike_fn=fm), (beta,), (torch.ones(()),)
    )
    t_fwd = time.perf_counter() - start
    start = time.perf_counter()
    rev = jacrev(spike_counts)(beta, xs, atan)  # [N]: N backward passes, vmapped
    t_rev = time.perf_counter() - start
    diff = float((dcounts_dbeta - rev).abs().max())
    print(f"d(spike count)/d(beta) for {n} neurons over {t} steps:")
    print(f"  forward mode (1 jvp)      {t_fwd * 1e3:7.1f} ms")
    print(f"  reverse mode (jacrev)     {t_rev * 1e3:7.1f} ms  ({t_rev / t_fwd:.1f}x)")
    print(
        f"  max |difference| = {diff:.1e}; mean sensitivity {dcounts_dbeta.mean():.2f} spikes per "
        f"unit beta (mean count {counts.mean():.2f})"
    )

    # the full Jacobian of the counts w.r.t. the first step's input, both ways
    def counts_of_x0(x0: Tensor, spike_fn: Any) -> Tensor:
        return spike_counts(beta, torch.cat([x0[None], xs[1:]]), spike_fn)

    small = xs[0, :50]
    j_fwd = jacfwd(lambda x0: counts_of_x0(torch.cat([x0, xs[0, 50:]]), fm))(small)
    j_rev = jacrev(lambda x0: counts_of_x0(torch.cat([x0, xs[0, 50:]]), atan))(small)
    print(
        f"jacfwd == jacrev on a [{j_fwd.shape[0]}, {j_fwd.shape[1]}] Jacobian: "
        f"{torch.allclose(j_fwd, j_rev)}"
    )


if __name__ == "__main__":
    main()
