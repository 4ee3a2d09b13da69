"""Your own neuron model as a first-class cell: a LIF with an absolute refractory period.

Write the model as snnfunc writes its own -- NamedTuple state and params, ``init`` and a pure
``step`` that uses the shared reset rule -- then ``snnfunc.cell.cell(init, step)`` gives you the
unroll, a ``sequential`` layer and an ``nn.Module``, and ``snnfunc.testing`` property-tests it
(vmap/grad/jacrev/vmap(grad) agree with the batched call; hypothesis invariants). A cell may
carry a fused multi-step path (``scan_fn``); ``assert_scan_equivalent`` checks it against scan.

    python examples/custom_cell.py [--quick]
"""

from __future__ import annotations

import argparse
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from torch import Tensor

import snnfunc as sf
from snnfunc import nn as snn
from snnfunc.cell import cell
from snnfunc.reset import Reset, fire
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn
from snnfunc.testing import assert_scan_equivalent, assert_transform_compatible
from snnfunc.testing import strategies as sst


# --- the model: 20 lines ---------------------------------------------------------------------
class RefracParams(NamedTuple):
    beta: Tensor | float  # membrane decay per step, in [0, 1]
    threshold: Tensor | float  # firing threshold
    period: Tensor | float  # refractory steps after a spike (input ignored meanwhile)


class RefracState(NamedTuple):
    v: Tensor  # membrane potential
    refractory: Tensor  # steps left in the refractory period (0: integrating)


def refrac_init(
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> RefracState:
    zeros = torch.zeros(shape, dtype=dtype, device=device)
    return RefracState(zeros, zeros.clone())


def refrac_step(
    state: RefracState,
    x: Tensor,
    params: RefracParams,
    *,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "zero",
) -> tuple[Tensor, RefracState]:
    """``h = beta v + x * 1[refractory == 0]``; spike and reset; a spike starts the period."""
    open_ = (state.refractory <= 0).to(x.dtype)
    h = params.beta * state.v + open_ * x
    z, v = fire(h, state.v, params.threshold, spike_fn=spike_fn, reset=reset,
                reset_delay=False, detach_reset=True)  # fmt: skip
    refractory = (state.refractory - 1).clamp(min=0) + z.detach() * params.period
    return z, RefracState(v, refractory)


refractory_lif = cell(refrac_init, refrac_step, name="refractory_lif")


# --- property tests (what a user's test file would hold) --------------------------------------
@settings(max_examples=20, deadline=None, derandomize=True)
@given(xs=sst.input_currents((12, 3)), period=st.integers(0, 4), beta=st.floats(0.0, 1.0))
def test_spikes_are_at_least_period_plus_one_steps_apart(
    xs: Tensor, period: int, beta: float
) -> None:
    params = RefracParams(beta, 0.5, float(period))
    spikes, _ = refractory_lif.unroll(refractory_lif.init(3, dtype=xs.dtype), xs, params)
    for n in range(3):
        times = spikes[:, n].nonzero().flatten()
        assert bool((times.diff() > period).all()), (times, period)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(data=st.data(), batch=st.integers(1, 3))
def test_transform_compatible(data: st.DataObject, batch: int) -> None:
    state = RefracState(data.draw(sst.tensors((batch, 4))), data.draw(sst.spike_trains((batch, 4))))
    x = data.draw(sst.input_currents((batch, 4)))
    spike_fn = data.draw(sst.surrogates())
    params = RefracParams(torch.tensor(0.9, dtype=x.dtype), 0.7, 2.0)
    assert_transform_compatible(refrac_step, state, x, params, spike_fn=spike_fn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 epochs (CI)")
    args = parser.parse_args()
    epochs = 5 if args.quick else args.epochs
    torch.manual_seed(0)

    test_spikes_are_at_least_period_plus_one_steps_apart()
    test_transform_compatible()
    print("property tests passed: refractory spacing; vmap/grad/jacrev/vmap(grad) agree")

    # A fused path is checked the same way. Here the "fused" path of the built-in LIF is
    # snnfunc.lif_scan when this snnfunc has it (the fused-scan feature), else scan itself.
    lif_fast = getattr(sf, "lif_scan", None)
    lif = cell(sf.lif_init, sf.lif_step, name="lif", scan_fn=lif_fast)
    xs = torch.rand(20, 4, 8, dtype=torch.float64) * 1.5
    assert_scan_equivalent(lif.unroll, sf.lif_step, sf.lif_init((4, 8), dtype=xs.dtype), xs,
                           sf.LIFParams(0.9, 1.0))  # fmt: skip
    print(f"lif cell unroll ({'lif_scan' if lif_fast else 'scan'}) == scan(lif_step)")

    # Use it like any built-in: a sequential layer ...
    w = torch.randn(8, 16) / 4
    step = sf.sequential(
        partial(F.linear, weight=w), refractory_lif.layer(RefracParams(0.9, 1.0, 3.0))
    )
    spikes, _ = sf.scan(step, (refractory_lif.init((4, 8)),), torch.rand(30, 4, 16) * 2)
    print(f"sequential + scan: {spikes.shape[0]} steps, mean rate {spikes.mean():.3f}")

    # ... or an nn.Module with a learnable beta, trained on the 8x8 digits.
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(x))
    train, test = perm[:1400], perm[1400:]
    hidden = snn.Neuron(refractory_lif, RefracParams(0.9, 1.0, 1.0), learn=("beta",), size=64)
    net = snn.Sequential(torch.nn.Linear(64, 64), hidden, torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)

    def logits(images: Tensor) -> Tensor:
        out, _ = net.unroll(images.expand(8, *images.shape))  # static input, T = 8
        return out.mean(0)

    for _ in range(epochs):
        for batch in train[torch.randperm(len(train))].split(128):
            loss = F.cross_entropy(logits(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (logits(x[test]).argmax(-1) == y[test]).float().mean()
    print(
        f"refractory-LIF network, {epochs} epochs: beta={float(hidden.beta.detach()):.3f} "
        f"test_accuracy={acc:.3f}"
    )


if __name__ == "__main__":
    main()
