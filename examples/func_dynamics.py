"""Dynamics analysis: the Jacobian of a step w.r.t. its state, and how far back BPTT reaches.

1. ``state_jacobian`` (``jacrev`` of one step): for a synaptic LIF neuron below threshold the
   state map is linear, ``[[alpha, 0], [alpha, beta]]`` per neuron, so its eigenvalues are
   ``alpha`` and ``beta``; with ``detach_reset=False`` the reset adds the surrogate
   derivative. For a recurrent LIF layer the Jacobian's spectral radius tells whether
   perturbations grow or die out.
2. ``grad_norm_through_time``: ``||dL/ds_t||`` for every step ``t`` of a 2-layer network with
   the loss on the last step. It decays about like ``beta^(T-t)`` (through the membrane) plus
   what the spikes carry; small ``beta`` means BPTT sees only the last few steps.

    python examples/func_dynamics.py [--quick]
"""

from __future__ import annotations

import argparse
from functools import partial

import torch
import torch.nn.functional as F

import snnfunc as sf
from snnfunc.func import grad_norm_through_time, state_jacobian


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-steps", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="20 steps (CI)")
    args = parser.parse_args()
    num_steps = 20 if args.quick else args.num_steps
    torch.manual_seed(0)

    # 1. Jacobians. State (i, v) of 2 neurons, flattened field by field: (i0, i1, v0, v1).
    params = sf.SynapticParams(0.6, 0.85, 1.0)
    state = sf.SynapticState(i=torch.tensor([0.2, 0.5]), v=torch.tensor([0.1, 0.45]))
    x = torch.tensor([0.1, 0.2])  # neuron 0 stays below threshold, neuron 1 spikes
    for detach_reset in (True, False):
        step = partial(sf.synaptic_step, params=params, detach_reset=detach_reset)
        jac = state_jacobian(step, state, x)  # [4, 4]
        print(f"synaptic step Jacobian d(i', v')/d(i, v), detach_reset={detach_reset}:")
        print(jac)
        eig = torch.linalg.eigvals(jac[::2, ::2]).real.tolist()  # neuron 0's (i, v) block
        print(f"  eigenvalues of neuron 0's block: {[round(e, 4) for e in eig]}")
    print("  (detach_reset=True: exactly alpha=0.6 and beta=0.85; False: the reset's surrogate")
    print("   derivative enters, even below threshold, and shrinks dv'/dv)")

    n = 32
    weight = torch.randn(n, n) * 0.3 / n**0.5
    rlif = partial(sf.rlif_step, params=sf.RLIFParams(0.9, 1.0, weight), detach_reset=False)
    j = state_jacobian(rlif, sf.rlif_init(n), torch.rand(n))  # [2n, 2n]: (v, z)
    radius = torch.linalg.eigvals(j).abs().max()
    print(f"recurrent LIF ({n} neurons): spectral radius of the step Jacobian = {radius:.3f}")

    # 2. Gradient norm through time for a 2-layer network, loss on the last step only
    w1, w2 = torch.randn(32, 16) / 4, torch.randn(4, 32) / 5
    xs = torch.rand(num_steps, 8, 16)  # [T, B, 16]
    print(f"\n||dL/d state_t|| for T={num_steps} (loss on the final output), by beta:")
    marks = [0, num_steps // 4, num_steps // 2, 3 * num_steps // 4, num_steps - 1]
    print("beta   " + "  ".join(f"t={t:<6}" for t in marks) + "  reach (norm > 1% of max)")
    for beta in (0.5, 0.8, 0.95, 1.0):
        net = sf.sequential(
            partial(F.linear, weight=w1),
            sf.neuron(sf.lif_step, sf.LIFParams(beta, 1.0)),
            partial(F.linear, weight=w2),
            sf.neuron(sf.lif_step, sf.LIFParams(beta, 1.0), reset="none"),
        )
        states = (sf.lif_init((8, 32)), sf.lif_init((8, 4)))
        norms = grad_norm_through_time(net, states, xs, lambda ys, s: s[1].v.pow(2).sum())
        reach = int((norms > 0.01 * norms.max()).sum())
        print(f"{beta:<6} " + "  ".join(f"{norms[t]:<8.2e}" for t in marks) + f"  {reach} steps")


if __name__ == "__main__":
    main()
