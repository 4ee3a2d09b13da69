"""snnfunc.nn: Module wrappers call the pure steps, keep no hidden state, and are functional."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.func import functional_call, grad, vmap

import snnfunc as sf
from snnfunc import nn as snn
from snnfunc import surrogate
from snnfunc.cell import BUILTIN_CELLS, cell
from snnfunc.func import functional, stack_params
from snnfunc.testing import assert_transform_compatible

F64 = torch.float64

WRAPPERS = [
    ("lif", lambda: snn.LIF(0.85, 0.9), sf.LIFParams(0.85, 0.9)),
    ("synaptic", lambda: snn.Synaptic(0.6, 0.85, 0.9), sf.SynapticParams(0.6, 0.85, 0.9)),
    ("if", lambda: snn.IF(1.1), sf.IFParams(1.1)),
    ("alif", lambda: snn.ALIF(0.9, 0.8, 0.7, 0.3), sf.ALIFParams(0.9, 0.8, 0.7, 0.3)),
]


@pytest.mark.parametrize(("model", "make", "params"), WRAPPERS, ids=[w[0] for w in WRAPPERS])
@settings(max_examples=10)
@given(
    options=st.fixed_dictionaries(
        {"reset": st.sampled_from(["subtract", "zero", "none"]), "reset_delay": st.booleans()}
    ),
    seed=st.integers(0, 100),
)
def test_wrapper_unroll_equals_pure_scan(
    model: str, make: Any, params: Any, options: dict[str, Any], seed: int
) -> None:
    module = type(make())(*(torch.tensor(v, dtype=F64) for v in params), **options)
    xs = torch.rand(7, 3, 4, dtype=F64, generator=torch.Generator().manual_seed(seed)) * 1.5
    got, got_state = module.unroll(xs)
    step = partial(BUILTIN_CELLS[model].step, params=params, **options)
    want, want_state = sf.scan(step, BUILTIN_CELLS[model].init((3, 4), dtype=F64), xs)
    assert torch.equal(got, want)
    torch.testing.assert_close(got_state, want_state)
    # one step at a time through forward(), state passed in and returned
    state = module.init_state((3, 4))
    for t in range(xs.shape[0]):
        z, state = module(xs[t], state)
        assert torch.equal(z, want[t])


def test_learn_flags_make_parameters_and_the_rest_buffers() -> None:
    lif = snn.LIF(0.9, 1.0, learn=("beta",))
    assert [n for n, _ in lif.named_parameters()] == ["beta"]
    assert [n for n, _ in lif.named_buffers()] == ["threshold"]
    assert set(lif.state_dict()) == {"beta", "threshold"}
    both = snn.Synaptic(0.5, 0.9, learn=True)
    assert {n for n, _ in both.named_parameters()} == {"alpha", "beta", "threshold"}
    per_neuron = snn.LIF(torch.full((5,), 0.9), learn="beta")
    assert per_neuron.beta.shape == (5,) and isinstance(per_neuron.beta, torch.nn.Parameter)


def test_learnable_params_get_gradients_and_state_is_explicit() -> None:
    torch.manual_seed(0)
    net = snn.Sequential(
        torch.nn.Linear(6, 8), snn.LIF(0.8, learn=True, size=8), torch.nn.Linear(8, 3)
    )
    xs = torch.rand(5, 2, 6) * 2
    before = {k: v.clone() for k, v in net.state_dict().items()}
    ys, states = net.unroll(xs, net.init_state((2,)))
    ys.sum().backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads.values())
    assert float(grads["layers.1.beta"].abs()) > 0
    # no hidden state: the module's tensors are untouched and a second run gives the same
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert torch.equal(net.unroll(xs)[0], ys)
    assert states[0].v.shape == (2, 8)


def test_sequential_equals_functional_sequential() -> None:
    torch.manual_seed(1)
    lin1, lin2 = torch.nn.Linear(4, 6), torch.nn.Linear(6, 2)
    net = snn.Sequential(lin1, snn.Synaptic(0.5, 0.9, size=6), lin2, snn.LIF(0.9, size=2))
    pure = sf.sequential(
        lin1,
        sf.neuron(sf.synaptic_step, sf.SynapticParams(0.5, 0.9, 1.0)),
        lin2,
        sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0)),
    )
    xs = torch.rand(6, 3, 4) * 3
    states = net.init_state((3,))
    got, got_states = net.unroll(xs, states)
    want, want_states = sf.scan(pure, (sf.synaptic_init((3, 6)), sf.lif_init((3, 2))), xs)
    assert torch.equal(got, want)
    torch.testing.assert_close(got_states, want_states)
    # with scan directly, and with states=None (rest) as the start
    again, _ = sf.scan(lambda s, x: net(x, s), None, xs)
    assert torch.equal(again, want)


def test_nested_sequential_and_explicit_states() -> None:
    inner = snn.Sequential(torch.nn.Linear(3, 3), snn.LIF(0.9, size=3))
    outer = snn.Sequential(inner, snn.IF(size=3))
    states = outer.init_state((2,))
    assert len(states) == 2 and len(states[0]) == 1 and states[1].v.shape == (2, 3)
    y, new_states = outer(torch.rand(2, 3), states)
    assert y.shape == (2, 3) and len(new_states) == 2


def test_functional_call_is_pure_and_batches_under_vmap() -> None:
    torch.manual_seed(2)
    net = snn.Sequential(torch.nn.Linear(5, 4), snn.LIF(0.9, learn=True, size=4))
    params, pure = functional(net)
    xs = torch.rand(6, 3, 5) * 2

    def loss(params: dict[str, Tensor], xs: Tensor) -> Tensor:
        step = lambda s, x: pure(params, x, s)  # noqa: E731
        return sf.scan(step, net.init_state(xs.shape[1:-1]), xs)[0].sum()

    g = grad(loss)(params, xs)
    net.zero_grad()
    sf.scan(lambda s, x: net(x, s), net.init_state((3,)), xs)[0].sum().backward()
    for name, p in net.named_parameters():
        torch.testing.assert_close(g[name], p.grad)
    # an ensemble: 3 copies with different beta, vmapped over stacked params
    sets = [dict(params, **{"layers.1.beta": torch.tensor(b)}) for b in (0.0, 0.5, 0.95)]
    many = vmap(loss, in_dims=(0, None))(stack_params(sets), xs)
    one_by_one = torch.stack([loss(p, xs) for p in sets])
    torch.testing.assert_close(many, one_by_one)


def test_module_step_is_transform_compatible() -> None:
    lif = snn.LIF(torch.full((3,), 0.9, dtype=F64), 0.8, learn=True, detach_reset=False)

    def step(state: Any, x: Tensor, params: dict[str, Tensor]) -> Any:
        return functional_call(lif, params, (x, state))

    params = {k: v.detach() for k, v in lif.named_parameters()}
    x = torch.rand(4, 3, dtype=F64) * 2
    assert_transform_compatible(step, lif.init_state((4, 3)), x, params)


def test_custom_cell_as_a_module() -> None:
    from typing import NamedTuple

    class QState(NamedTuple):
        v: Tensor

    class QParams(NamedTuple):
        gain: Tensor

    def q_init(shape: Any, *, dtype: torch.dtype = torch.float32, device: Any = None) -> QState:
        return QState(torch.zeros(shape, dtype=dtype, device=device))

    def q_step(
        state: QState, x: Tensor, params: QParams, *, spike_fn: Any = sf.surrogate.DEFAULT_SPIKE
    ) -> Any:
        v = state.v + params.gain * state.v**2 + x
        z = spike_fn(v - 1.0)
        return z, QState(v * (1 - z.detach()))

    q = snn.Neuron(cell(q_init, q_step, name="qif"), QParams(torch.tensor(0.1)), learn=True, size=3)
    net = snn.Sequential(torch.nn.Linear(2, 3), q)
    ys, _ = net.unroll(torch.rand(4, 5, 2), net.init_state((5,)))
    ys.sum().backward()
    assert q.gain.grad is not None and "qif" in repr(q)


def test_dtype_and_device_follow_the_module() -> None:
    lif = snn.LIF(0.9).double()
    assert lif.beta.dtype == F64 and lif.init_state((2, 3)).v.dtype == F64
    z, s = lif(torch.rand(2, 3, dtype=F64))
    assert z.dtype == F64


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="learn names unknown params"):
        snn.LIF(0.9, learn=("tau",))
    with pytest.raises(ValueError, match="reset must be one of"):
        snn.LIF(0.9, reset="soft")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="spike_fn must be callable"):
        snn.LIF(0.9, spike_fn="atan")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params.beta must be a float or a Tensor"):
        snn.LIF("0.9")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params must be a NamedTuple"):
        snn.Neuron(BUILTIN_CELLS["lif"], (0.9, 1.0))
    with pytest.raises(TypeError, match="cell must be a snnfunc.cell.Cell"):
        snn.Neuron(sf.lif_step, sf.LIFParams(0.9, 1.0))  # type: ignore[arg-type]
    net = snn.Sequential(torch.nn.Linear(2, 2), snn.LIF(0.9))
    with pytest.raises(ValueError, match="has no size"):
        net.init_state((3,))
    with pytest.raises(ValueError, match="states must hold 1 layer states"):
        net(torch.rand(3, 2), ())
    with pytest.raises(TypeError, match="states must be a tuple"):
        net(torch.rand(3, 2), sf.lif_init((3, 2)))
    with pytest.raises(TypeError, match="layer 0 must be an nn.Module"):
        snn.Sequential(F.relu)  # type: ignore[arg-type]


def test_surrogate_option_is_used() -> None:
    xs = torch.linspace(0.5, 1.5, 12).reshape(3, 4).requires_grad_(True)
    a = snn.LIF(0.9, spike_fn=surrogate.boxcar(0.1)).unroll(xs)[0].sum()
    (ga,) = torch.autograd.grad(a, xs)
    b = snn.LIF(0.9).unroll(xs)[0].sum()
    (gb,) = torch.autograd.grad(b, xs)
    assert not torch.allclose(ga, gb)


def test_builtin_cells_take_a_fused_path_when_snnfunc_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []

    def spy_scan(state: Any, xs: Tensor, params: Any, **options: Any) -> Any:
        calls.append(options)
        return sf.scan(partial(sf.lif_step, params=params, **options), state, xs)

    xs = torch.rand(5, 2, 3) * 2
    want = snn.LIF(0.9, reset="zero").unroll(xs)[0]
    monkeypatch.setattr(sf.cell, "FUSED", {"lif": spy_scan})
    got = snn.LIF(0.9, reset="zero").unroll(xs)[0]
    assert torch.equal(got, want) and len(calls) == 1 and calls[0]["reset"] == "zero"
