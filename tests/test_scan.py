"""scan: the plain loop is the contract; truncation, checkpointing and static input keep it."""

from __future__ import annotations

from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from torch import Tensor

import snnfunc as sf

F64 = torch.float64
PARAMS = sf.SynapticParams(0.7, 0.85, 1.0)
STEP = partial(sf.synaptic_step, params=PARAMS)


def scan_reference(step: Any, state: Any, xs: Tensor) -> tuple[Tensor, Any]:
    """The docstring's loop, written independently."""
    ys = []
    for t in range(xs.shape[0]):
        y, state = step(state, xs[t])
        ys.append(y)
    return torch.stack(ys), state


def _xs(t: int, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(t, 3, 5, generator=g, dtype=F64) * 0.8


@given(t=st.integers(1, 25), seed=st.integers(0, 1000))
def test_equals_hand_loop(t: int, seed: int) -> None:
    xs = _xs(t, seed)
    state = sf.synaptic_init((3, 5), dtype=F64)
    ys, final = sf.scan(STEP, state, xs)
    ys_ref, final_ref = scan_reference(STEP, state, xs)
    assert torch.equal(ys, ys_ref)
    for a, b in zip(final, final_ref, strict=True):
        assert torch.equal(a, b)


def test_pytree_inputs_and_outputs() -> None:
    xs = _xs(6)
    bias = torch.ones(6, 5, dtype=F64) * 0.1

    def step(state: sf.LIFState, inp: tuple[Tensor, Tensor]) -> tuple[Any, sf.LIFState]:
        x, b = inp
        z, state = sf.lif_step(state, x + b, sf.LIFParams(0.9, 1.0))
        return {"z": z, "v": state.v}, state

    ys, _ = sf.scan(step, sf.lif_init((3, 5), dtype=F64), (xs, bias))
    assert ys["z"].shape == (6, 3, 5) and ys["v"].shape == (6, 3, 5)
    ref, _ = sf.scan(
        partial(sf.lif_step, params=sf.LIFParams(0.9, 1.0)),
        sf.lif_init((3, 5), dtype=F64),
        xs + bias[:, None, :],
    )
    assert torch.equal(ys["z"], ref)


@given(t=st.integers(1, 12))
def test_static_input_equals_repeated_input(t: int) -> None:
    x = _xs(1)[0] * 2
    state = sf.synaptic_init((3, 5), dtype=F64)
    ys_static, s1 = sf.scan(STEP, state, x, num_steps=t)
    ys_rep, s2 = sf.scan(STEP, state, x.expand(t, *x.shape))
    assert torch.equal(ys_static, ys_rep)
    assert torch.equal(s1.v, s2.v)


def test_static_input_gradient_sums_over_time() -> None:
    x = (_xs(1)[0] * 2).requires_grad_(True)
    xr = x.detach().clone().requires_grad_(True)
    state = sf.synaptic_init((3, 5), dtype=F64)
    sf.scan(STEP, state, x, num_steps=7)[0].sum().backward()
    sf.scan(STEP, state, xr.expand(7, 3, 5))[0].sum().backward()
    torch.testing.assert_close(x.grad, xr.grad)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 10])
def test_truncate_keeps_forward_and_cuts_gradient_after_k_steps(k: int) -> None:
    t = 10
    xs = _xs(t).requires_grad_(True)
    state = sf.synaptic_init((3, 5), dtype=F64)
    full, _ = sf.scan(STEP, state, xs)
    trunc, _ = sf.scan(STEP, state, xs, truncate=k)
    assert torch.equal(full, trunc)
    # d y_t / d x_s through the state: nonzero only within the same window of k steps
    last = t - 1
    (g,) = torch.autograd.grad(sf.scan(STEP, state, xs * 3, truncate=k)[0][last].sum(), xs)
    (g_full,) = torch.autograd.grad(sf.scan(STEP, state, xs * 3)[0][last].sum(), xs)
    window_start = (last // k) * k
    for s in range(t):
        if s < window_start:
            assert bool((g[s] == 0).all()), f"gradient leaked from step {last} to {s}"
        else:
            torch.testing.assert_close(g[s], g_full[s])


@pytest.mark.parametrize("k", [1, 3, 4, 12])
def test_checkpoint_gives_same_values_and_gradients(k: int) -> None:
    xs = _xs(12).requires_grad_(True)
    w = torch.linspace(0.1, 1.0, 5, dtype=F64).requires_grad_(True)
    state = sf.synaptic_init((3, 5), dtype=F64)

    def loss(**kw: Any) -> Tensor:
        ys, final = sf.scan(lambda s, x: STEP(s, x * w), state, xs * 2, **kw)
        return (ys * torch.arange(12, dtype=F64)[:, None, None]).sum() + final.v.sum()

    plain = torch.autograd.grad(loss(), (xs, w))
    ckpt = torch.autograd.grad(loss(checkpoint=k), (xs, w))
    both = torch.autograd.grad(loss(checkpoint=k, truncate=5), (xs, w))
    trunc = torch.autograd.grad(loss(truncate=5), (xs, w))
    for a, b in zip(plain, ckpt, strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(trunc, both, strict=True):
        torch.testing.assert_close(a, b)


def test_checkpoint_works_for_static_input_and_nograd() -> None:
    x = _xs(1)[0]
    state = sf.synaptic_init((3, 5), dtype=F64)
    ref, _ = sf.scan(STEP, state, x, num_steps=9)
    got, _ = sf.scan(STEP, state, x.requires_grad_(True), num_steps=9, checkpoint=4)
    assert torch.equal(ref, got)
    with torch.no_grad():
        assert torch.equal(sf.scan(STEP, state, x, num_steps=9, checkpoint=4)[0], ref)


def test_sequential_network_equals_manual_composition() -> None:
    g = torch.Generator().manual_seed(0)
    w1, w2 = torch.randn(8, 5, generator=g, dtype=F64), torch.randn(3, 8, generator=g, dtype=F64)
    p1, p2 = sf.LIFParams(0.9, 1.0), sf.SynapticParams(0.5, 0.8, 1.0)
    net = sf.sequential(
        partial(F.linear, weight=w1),
        sf.neuron(sf.lif_step, p1),
        sf.stateless(partial(F.linear, weight=w2)),
        sf.neuron(sf.synaptic_step, p2, reset="zero"),
        record_states=True,
    )
    xs = _xs(10) * 3
    states = (sf.lif_init((3, 8), dtype=F64), sf.synaptic_init((3, 3), dtype=F64))
    (spikes, recorded), final = sf.scan(net, states, xs)

    s1, s2 = states
    for t in range(10):
        z1, s1 = sf.lif_step(s1, F.linear(xs[t], w1), p1)
        z2, s2 = sf.synaptic_step(s2, F.linear(z1, w2), p2, reset="zero")
        assert torch.equal(spikes[t], z2)
        assert torch.equal(recorded[1].v[t], s2.v)
    assert torch.equal(final[0].v, s1.v) and torch.equal(final[1].i, s2.i)
    assert spikes.sum() > 0


def test_scan_under_vmap_and_grad() -> None:
    from torch.func import grad, vmap

    xs = _xs(8)
    state = sf.synaptic_init(5, dtype=F64)

    def loss(x_tn: Tensor) -> Tensor:  # [T, N] -> scalar
        return sf.scan(STEP, state, x_tn * 2)[0].sum()

    per_example = vmap(grad(loss), in_dims=1, out_dims=1)(xs)
    for b in range(3):
        torch.testing.assert_close(per_example[:, b], grad(loss)(xs[:, b]))


# --- bad input ------------------------------------------------------------------------------
def test_errors_name_the_argument() -> None:
    state = sf.lif_init(2)
    step = partial(sf.lif_step, params=sf.LIFParams(0.9, 1.0))
    with pytest.raises(TypeError, match="step must be callable"):
        sf.scan(3, state, torch.zeros(2, 2))  # type: ignore[arg-type]
    layer = sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0))  # a Layer is no step: say what to do
    with pytest.raises(TypeError, match=r"got Layer: .*sf.sequential\(layer, \.\.\.\).*layer.fn"):
        sf.scan(layer, state, torch.zeros(2, 2))  # type: ignore[arg-type]
    xs = torch.ones(3, 2)
    torch.testing.assert_close(
        sf.scan(sf.sequential(layer), (state,), xs)[0], sf.scan(layer.fn, state, xs)[0]
    )
    with pytest.raises(ValueError, match="num_steps must be >= 1, got 0"):
        sf.scan(step, state, torch.zeros(2), num_steps=0)
    with pytest.raises(TypeError, match="num_steps must be an int"):
        sf.scan(step, state, torch.zeros(2), num_steps=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="truncate must be >= 1"):
        sf.scan(step, state, torch.zeros(3, 2), truncate=0)
    with pytest.raises(ValueError, match="checkpoint must be >= 1"):
        sf.scan(step, state, torch.zeros(3, 2), checkpoint=-1)
    with pytest.raises(ValueError, match="at least one time step"):
        sf.scan(step, state, torch.zeros(0, 2))
    with pytest.raises(ValueError, match="leading time dim"):
        sf.scan(step, state, torch.tensor(1.0))
    with pytest.raises(ValueError, match="same leading time dim"):
        sf.scan(lambda s, x: (x[0], s), state, (torch.zeros(3, 2), torch.zeros(4, 2)))
    net = sf.sequential(sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0)))
    with pytest.raises(ValueError, match="plain tuple of 1 layer states.*wrap a single state"):
        sf.scan(net, state, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"tuple of 1 layer states .* got 2"):
        sf.scan(net, (state, state), torch.zeros(3, 2))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_unroll_then_backward_matches_eager(backend: str) -> None:
    """torch.compile of the forward (a whole network unroll), then plain .backward()."""
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 5, generator=g)
    xs = torch.rand(8, 3, 5, generator=g)
    params = sf.SynapticParams(0.7, torch.full((6,), 0.85), 1.0)

    def loss(w: Tensor, xs: Tensor) -> Tensor:
        net = sf.sequential(partial(F.linear, weight=w), sf.neuron(sf.synaptic_step, params))
        spikes, _ = sf.scan(net, (sf.synaptic_init((3, 6)),), xs * 3)
        return (spikes * torch.arange(6.0)).sum()

    w1, w2 = w.clone().requires_grad_(True), w.clone().requires_grad_(True)
    compiled = torch.compile(loss, backend=backend, fullgraph=True)
    out = compiled(w1, xs)
    out.backward()
    ref = loss(w2, xs)
    ref.backward()
    assert out.item() == ref.item() and ref.item() != 0
    torch.testing.assert_close(w1.grad, w2.grad)


def test_checkpoint_under_torch_func_grad_fails_clearly() -> None:
    from torch.func import grad

    step = partial(sf.lif_step, params=sf.LIFParams(0.9, 1.0))
    with pytest.raises(ValueError, match="checkpoint= is not supported inside torch.func.grad"):
        grad(lambda xs: sf.scan(step, sf.lif_init(4), xs, checkpoint=2)[0].sum())(torch.rand(6, 4))
