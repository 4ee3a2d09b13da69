"""Parity with snnTorch 1.0's ``Leaky`` and ``Synaptic`` (options mapped in snnfunc.reset).

Skipped without snnTorch, except under CI (``CI=true``), which installs it: there it fails.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from _ci import import_peer
from hypothesis import given
from torch import Tensor

import snnfunc as sf

snn = import_peer("snntorch")


def _inputs(seed: int, scale: float, t: int = 30, b: int = 4, n: int = 16) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, n, generator=g) * 2 - 0.5) * scale


def _snntorch_run(layer: Any, xs: Tensor, synaptic: bool) -> tuple[Tensor, Tensor]:
    spikes, mems = [], []
    if synaptic:
        syn, mem = layer.reset_mem()
        for x in xs.unbind(0):
            spk, syn, mem = layer(x, syn, mem)
            spikes.append(spk)
            mems.append(mem)
    else:
        mem = layer.reset_mem()
        for x in xs.unbind(0):
            spk, mem = layer(x, mem)
            spikes.append(spk)
            mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def _ours(step: Any, init: Any, params: Any, xs: Tensor, **opts: Any) -> tuple[Tensor, Tensor]:
    def record(state: Any, x: Tensor) -> tuple[tuple[Tensor, Tensor], Any]:
        z, state = step(state, x, params, **opts)
        return (z, state.v), state

    (spikes, mems), _ = sf.scan(record, init(xs.shape[1:]), xs)
    return spikes, mems


scales = st.floats(0.5, 3.0)
seeds = st.integers(0, 2**16)


@pytest.mark.parametrize("reset", ["subtract", "none"])
@given(seed=seeds, scale=scales, beta=st.floats(0.5, 0.99))
def test_leaky_default_reset_delay(reset: str, seed: int, scale: float, beta: float) -> None:
    xs = _inputs(seed, scale)
    theirs = _snntorch_run(snn.Leaky(beta=beta, reset_mechanism=reset), xs, synaptic=False)
    ours = _ours(
        sf.lif_step, sf.lif_init, sf.LIFParams(beta, 1.0), xs, reset=reset, reset_delay=True
    )
    assert torch.equal(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@given(seed=seeds, scale=scales, alpha=st.floats(0.3, 0.9), beta=st.floats(0.5, 0.95))
def test_synaptic_default_reset_delay(
    reset: str, seed: int, scale: float, alpha: float, beta: float
) -> None:
    xs = _inputs(seed, scale)
    layer = snn.Synaptic(alpha=alpha, beta=beta, reset_mechanism=reset)
    theirs = _snntorch_run(layer, xs, synaptic=True)
    ours = _ours(
        sf.synaptic_step,
        sf.synaptic_init,
        sf.SynapticParams(alpha, beta, 1.0),
        xs,
        reset=reset,
        reset_delay=True,
    )
    assert torch.equal(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1], rtol=0, atol=1e-6)


@given(seed=seeds, scale=scales)
def test_leaky_zero_reset_is_our_same_step_zero_reset(seed: int, scale: float) -> None:
    """snnTorch's Leaky zeroes the *old* membrane: same spikes as our same-step zero reset;
    it reports the pre-reset membrane where we report 0 (documented in snnfunc.reset)."""
    xs = _inputs(seed, scale)
    spikes, mems = _snntorch_run(snn.Leaky(beta=0.9, reset_mechanism="zero"), xs, synaptic=False)
    ours = _ours(sf.lif_step, sf.lif_init, sf.LIFParams(0.9, 1.0), xs, reset="zero")
    assert torch.equal(ours[0], spikes)
    torch.testing.assert_close(ours[1], mems * (1 - spikes), rtol=0, atol=1e-6)


@pytest.mark.parametrize("synaptic", [False, True], ids=["leaky", "synaptic"])
@given(seed=seeds, fraction=st.floats(0.3, 1.0))
def test_same_step_reset(synaptic: bool, seed: int, fraction: float) -> None:
    """reset_delay=False matches while a reset membrane stays below threshold. snnTorch's
    reset_delay=False also applies its delayed reset when the membrane is still above threshold
    after a reset, and then fires later; we don't (hypothesis found it at input ~1.1 x thr).
    Inputs < 1.5 * scale keep h < 2 * thr: Leaky h <= 0.9 + 1.5 s; Synaptic h <= 0.8 + 3 s."""
    scale = fraction * (0.73 if not synaptic else 0.39)
    xs = _inputs(seed, scale)
    if synaptic:
        layer = snn.Synaptic(alpha=0.5, beta=0.8, reset_delay=False)
        ours = _ours(sf.synaptic_step, sf.synaptic_init, sf.SynapticParams(0.5, 0.8, 1.0), xs)
    else:
        layer = snn.Leaky(beta=0.9, reset_delay=False)
        ours = _ours(sf.lif_step, sf.lif_init, sf.LIFParams(0.9, 1.0), xs)
    theirs = _snntorch_run(layer, xs, synaptic=synaptic)
    assert bool((ours[1] < 1.0).all()), "precondition: reset membranes stay below threshold"
    assert torch.equal(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("reset_delay", "detach_reset"),
    [(True, True), (False, False)],
    ids=["snntorch-default", "snntorch-reset_delay=False"],
)
def test_gradients_match(reset_delay: bool, detach_reset: bool) -> None:
    """snnTorch's default detaches the delayed reset; its same-step reset keeps the spike's
    gradient (our detach_reset=False). Both use atan(alpha=2)."""
    xs = _inputs(7, 0.35)  # keeps reset membranes below threshold (see test_same_step_reset)
    w = torch.linspace(-1, 1, 16)
    x1, x2 = xs.clone().requires_grad_(True), xs.clone().requires_grad_(True)
    layer = snn.Synaptic(alpha=0.5, beta=0.8, reset_delay=reset_delay)
    spikes, mems = _snntorch_run(layer, x1, synaptic=True)
    ((spikes * w).sum() + mems.sum()).backward()
    ours = _ours(
        partial(sf.synaptic_step, spike_fn=sf.surrogate.atan(2.0)),
        sf.synaptic_init,
        sf.SynapticParams(0.5, 0.8, 1.0),
        x2,
        reset_delay=reset_delay,
        detach_reset=detach_reset,
    )
    ((ours[0] * w).sum() + ours[1].sum()).backward()
    assert torch.equal(ours[0], spikes)
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-5, atol=1e-6)
