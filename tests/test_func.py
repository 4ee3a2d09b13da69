"""snnfunc.func: ensembles, per-sample gradients, dynamics and forward mode, against loops."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.func import grad, jacfwd, jacrev, jvp

import snnfunc as sf
from snnfunc import surrogate
from snnfunc.cell import BUILTIN_CELLS
from snnfunc.func import (
    clip_per_sample_grads,
    ensemble,
    forward_mode_spike,
    grad_norm_through_time,
    per_sample_grads,
    stack_params,
    state_jacobian,
    unstack_params,
)
from snnfunc.testing import assert_transform_compatible, check_surrogate
from snnfunc.testing import strategies as sst

F64 = torch.float64


def _net_loss(params: dict[str, Any], xs: Tensor, label: Tensor) -> Tensor:
    """A 2-layer LIF net on one example: xs [T, 4] -> membrane cross-entropy."""
    net = sf.sequential(
        partial(F.linear, weight=params["w1"]),
        sf.neuron(sf.lif_step, params["lif"]),
        partial(F.linear, weight=params["w2"]),
        sf.neuron(sf.lif_step, params["lif"], reset="none"),
        record_states=True,
    )
    states = (
        sf.lif_init(xs.shape[1:-1] + (5,), dtype=xs.dtype),
        sf.lif_init(xs.shape[1:-1] + (3,), dtype=xs.dtype),
    )
    (_, layer_states), _ = sf.scan(net, states, xs)
    return F.cross_entropy(layer_states[1].v.mean(0), label)


def _params(seed: int, beta: float = 0.9) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    return {
        "w1": torch.randn(5, 4, generator=g, dtype=F64),
        "w2": torch.randn(3, 5, generator=g, dtype=F64),
        "lif": sf.LIFParams(torch.tensor(beta, dtype=F64), torch.tensor(1.0, dtype=F64)),
    }


# --- stacking and ensembles ---------------------------------------------------------------------
def test_stack_and_unstack_round_trip() -> None:
    sets = [_params(k, beta) for k, beta in enumerate((0.5, 0.7, 0.9))]
    stacked = stack_params(sets)
    assert stacked["w1"].shape == (3, 5, 4) and stacked["lif"].beta.shape == (3,)
    for a, b in zip(unstack_params(stacked), sets, strict=True):
        torch.testing.assert_close(a, b)


def test_stack_params_errors() -> None:
    with pytest.raises(ValueError, match="non-empty list"):
        stack_params([])
    with pytest.raises(ValueError, match="structure"):
        stack_params([sf.LIFParams(0.9, 1.0), sf.SynapticParams(0.5, 0.9, 1.0)])
    with pytest.raises(ValueError, match="different shapes"):
        stack_params([sf.LIFParams(torch.ones(3), 1.0), sf.LIFParams(torch.ones(4), 1.0)])
    with pytest.raises(TypeError, match="must be a Tensor or a float"):
        stack_params([sf.LIFParams("a", 1.0), sf.LIFParams("b", 1.0)])  # type: ignore[arg-type]


@settings(max_examples=10)
@given(betas=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4), seed=st.integers(0, 50))
def test_ensemble_equals_a_loop_over_param_sets(betas: list[float], seed: int) -> None:
    sets = [_params(seed + k, b) for k, b in enumerate(betas)]
    g = torch.Generator().manual_seed(seed)
    xs, label = torch.rand(6, 4, generator=g, dtype=F64) * 2, torch.tensor(1)
    losses = ensemble(_net_loss)(stack_params(sets), xs, label)
    torch.testing.assert_close(losses, torch.stack([_net_loss(p, xs, label) for p in sets]))
    # training K models at once: the gradient of the summed losses is each model's own
    stacked = stack_params(sets)
    g_all = grad(lambda s: ensemble(_net_loss)(s, xs, label).sum())(stacked)
    for k, p in enumerate(sets):
        g_k = grad(_net_loss)(p, xs, label)
        torch.testing.assert_close(unstack_params(g_all)[k], g_k)


def test_ensemble_sweeps_surrogate_slope_and_threshold_with_gradients() -> None:
    xs = torch.rand(8, 3, dtype=F64) * 1.5

    def loss(p: dict[str, Tensor], xs: Tensor) -> Tensor:
        spike_fn = surrogate.fast_sigmoid(p["slope"])  # a Tensor hyper: learnable, vmappable
        step = partial(sf.lif_step, params=sf.LIFParams(0.9, p["threshold"]), spike_fn=spike_fn)
        return sf.scan(step, sf.lif_init(3, dtype=F64), xs)[0].sum()

    sets = [
        {"slope": torch.tensor(s, dtype=F64), "threshold": torch.tensor(t, dtype=F64)}
        for s, t in ((5.0, 1.0), (25.0, 0.8), (50.0, 1.2))
    ]
    stacked = stack_params(sets)
    torch.testing.assert_close(
        ensemble(loss)(stacked, xs), torch.stack([loss(p, xs) for p in sets])
    )
    g_all = unstack_params(grad(lambda s: ensemble(loss)(s, xs).sum())(stacked))
    for g, p in zip(g_all, sets, strict=True):
        torch.testing.assert_close(g, grad(loss)(p, xs))
        assert float(g["slope"]) != 0


def test_ensemble_over_another_argument_and_errors() -> None:
    f = ensemble(lambda x, w: (x * w).sum(), argnum=1)
    torch.testing.assert_close(f(torch.ones(3), torch.eye(3)), torch.ones(3))
    with pytest.raises(ValueError, match="argnum=2 but only 2"):
        ensemble(lambda a, b: a, argnum=2)(torch.ones(1), torch.ones(1))
    with pytest.raises(ValueError, match="argnum"):
        ensemble(lambda a: a, argnum=-1)
    with pytest.raises(TypeError, match="fn must be callable"):
        ensemble(3)  # type: ignore[arg-type]


# --- per-sample gradients -----------------------------------------------------------------------
def test_per_sample_grads_equal_a_loop_of_single_sample_grads() -> None:
    params = _params(0)
    g = torch.Generator().manual_seed(1)
    xs = torch.rand(8, 6, 4, generator=g, dtype=F64) * 2  # [T, B, N]
    labels = torch.randint(0, 3, (6,), generator=g)
    per = per_sample_grads(_net_loss, params, xs, labels, in_dims=(1, 0))
    assert per["w1"].shape == (6, 5, 4) and per["lif"].beta.shape == (6,)
    for b in range(6):
        one = grad(_net_loss)(params, xs[:, b], labels[b])
        per_b = {
            "w1": per["w1"][b],
            "w2": per["w2"][b],
            "lif": sf.LIFParams(*(t[b] for t in per["lif"])),
        }
        torch.testing.assert_close(per_b, one)
    # and the batch mean is the gradient of the batch-mean loss (autograd through the batch)
    w = {
        k: (v.clone().requires_grad_(True) if isinstance(v, Tensor) else v)
        for k, v in params.items()
    }
    batch_losses = torch.stack([_net_loss(w, xs[:, b], labels[b]) for b in range(6)])
    (gw1,) = torch.autograd.grad(batch_losses.mean(), w["w1"])
    torch.testing.assert_close(per["w1"].mean(0), gw1)


def test_clip_per_sample_grads() -> None:
    grads = {"a": torch.tensor([[3.0, 0.0], [0.3, 0.0]]), "b": torch.tensor([[4.0], [0.4]])}
    mean, norms = clip_per_sample_grads(grads, max_norm=1.0)
    torch.testing.assert_close(norms, torch.tensor([5.0, 0.5]))
    # first clipped to norm 1 (scaled by 1/5), second kept
    torch.testing.assert_close(mean["a"], torch.tensor([(0.6 + 0.3) / 2, 0.0]))
    torch.testing.assert_close(mean["b"], torch.tensor([(0.8 + 0.4) / 2]))
    with pytest.raises(ValueError, match="max_norm must be a float > 0"):
        clip_per_sample_grads(grads, max_norm=0.0)
    with pytest.raises(ValueError, match="in_dims has 1 entries but 2"):
        per_sample_grads(_net_loss, _params(0), torch.ones(2, 2, 4), torch.ones(2), in_dims=(1,))


# --- dynamics -----------------------------------------------------------------------------------
@pytest.mark.parametrize("model", sst.MODEL_NAMES)
@settings(max_examples=8)
@given(data=st.data(), n=st.integers(1, 3))
def test_state_jacobian_equals_autograd_jacobian(model: str, data: st.DataObject, n: int) -> None:
    params = data.draw(sst.params(model, n))
    state = data.draw(sst.states(model, (n,)))
    x = data.draw(sst.input_currents((n,)))
    step = partial(BUILTIN_CELLS[model].step, params=params, detach_reset=False)
    jac = state_jacobian(step, state, x)
    d = n * len(state)
    assert jac.shape == (d, d)

    def flat(v: Tensor) -> Tensor:
        new = step(type(state)(*v.reshape(len(state), n)), x)[1]
        return torch.cat([t.reshape(-1) for t in new])

    want = torch.autograd.functional.jacobian(flat, torch.cat([t.reshape(-1) for t in state]))
    torch.testing.assert_close(jac, want)


def test_state_jacobian_of_synaptic_is_the_documented_block_matrix() -> None:
    step = partial(sf.synaptic_step, params=sf.SynapticParams(0.6, 0.8, 1e9))
    jac = state_jacobian(step, sf.synaptic_init(2, dtype=F64), torch.zeros(2, dtype=F64))
    eye = torch.eye(2, dtype=F64)
    want = torch.cat([torch.cat([0.6 * eye, 0 * eye], 1), torch.cat([0.6 * eye, 0.8 * eye], 1)])
    torch.testing.assert_close(jac, want)


@given(beta=st.floats(0.05, 1.0), t=st.integers(1, 12))
def test_grad_norm_through_time_decays_as_beta_to_the_lag(beta: float, t: int) -> None:
    step = partial(sf.lif_step, params=sf.LIFParams(beta, 1e9))  # below threshold: linear
    xs = torch.rand(t, 3, dtype=F64)
    lag = torch.arange(t - 1, -1, -1, dtype=F64)
    loss = lambda ys, s: s.v.sum()  # noqa: E731
    by_state = grad_norm_through_time(step, sf.lif_init(3, dtype=F64), xs, loss)
    # d v_T / d v_t (state entering step t) = beta^(T-t), over 3 neurons
    torch.testing.assert_close(by_state, 3**0.5 * torch.tensor(beta, dtype=F64) ** (lag + 1))
    by_input = grad_norm_through_time(step, sf.lif_init(3, dtype=F64), xs, loss, wrt="input")
    torch.testing.assert_close(by_input, 3**0.5 * torch.tensor(beta, dtype=F64) ** lag)


def test_grad_norm_through_time_for_a_network_and_errors() -> None:
    params = _params(3)
    net = sf.sequential(
        partial(F.linear, weight=params["w1"]), sf.neuron(sf.lif_step, params["lif"])
    )
    xs = torch.rand(10, 2, 4, dtype=F64) * 2
    states = (sf.lif_init((2, 5), dtype=F64),)
    norms = grad_norm_through_time(net, states, xs, lambda ys, s: ys[-3:].sum() + s[0].v.sum())
    assert norms.shape == (10,) and bool(torch.isfinite(norms).all()) and float(norms[-1]) > 0
    with pytest.raises(ValueError, match="wrt must be"):
        grad_norm_through_time(net, states, xs, lambda ys, s: ys.sum(), wrt="params")  # type: ignore[arg-type]


# --- forward mode -------------------------------------------------------------------------------
def _unroll(xs: Tensor, spike_fn: Any) -> Tensor:
    step = partial(sf.synaptic_step, params=sf.SynapticParams(0.5, 0.9, 1.0), spike_fn=spike_fn)
    ys, state = sf.scan(step, sf.synaptic_init(xs.shape[1:], dtype=xs.dtype), xs)
    return ys.sum(0) + state.v


SURROGATES = [surrogate.atan(), surrogate.fast_sigmoid(), surrogate.triangle(0.5)]


@pytest.mark.parametrize("spike_fn", SURROGATES, ids=repr)
def test_forward_mode_spike_gives_jacfwd_equal_to_reverse_mode(
    spike_fn: surrogate.Surrogate,
) -> None:
    xs = torch.rand(6, 3, dtype=F64) * 1.5
    rev = jacrev(partial(_unroll, spike_fn=spike_fn))(xs)
    fwd = jacfwd(partial(_unroll, spike_fn=forward_mode_spike(spike_fn)))(xs)
    torch.testing.assert_close(fwd, rev)
    assert torch.equal(_unroll(xs, forward_mode_spike(spike_fn)), _unroll(xs, spike_fn))
    tangent = torch.randn_like(xs)
    _, jv = jvp(partial(_unroll, spike_fn=forward_mode_spike(spike_fn)), (xs,), (tangent,))
    torch.testing.assert_close(jv, torch.einsum("nij,ij->n", rev, tangent))


@pytest.mark.parametrize("spike_fn", SURROGATES, ids=repr)
def test_forward_mode_spike_passes_the_surrogate_checks(spike_fn: surrogate.Surrogate) -> None:
    fm = forward_mode_spike(spike_fn)
    assert check_surrogate(fm).area == pytest.approx(check_surrogate(spike_fn).area)
    state = sf.lif_init((3, 2), dtype=F64)
    x = torch.rand(3, 2, dtype=F64) * 2
    assert_transform_compatible(sf.lif_step, state, x, sf.LIFParams(0.9, 1.0), spike_fn=fm)


def test_documented_forward_mode_failure_of_the_surrogate_function() -> None:
    xs = torch.rand(4, 2, dtype=F64)
    with pytest.raises(NotImplementedError, match="You must implement the jvp function"):
        jacfwd(partial(_unroll, spike_fn=surrogate.atan()))(xs)


def test_documented_differences_of_forward_mode_spike() -> None:
    x = torch.tensor([0.3], dtype=F64)
    spike, fm = surrogate.atan(), forward_mode_spike(surrogate.atan())
    # second derivatives: the Function gives S'', the detach trick 0
    d2_fn = grad(lambda x: grad(lambda x: spike(x).sum())(x).sum())(x)
    d2_fm = grad(lambda x: grad(lambda x: fm(x).sum())(x).sum())(x)
    assert float(d2_fn.abs()) > 0 and float(d2_fm.abs()) == 0
    # a learnable hyperparameter: dS/dalpha from the Function, zero from the detach trick
    alpha = torch.tensor(2.0, dtype=F64, requires_grad=True)
    (g_fn,) = torch.autograd.grad(surrogate.atan(alpha)(x).sum(), alpha)
    (g_fm,) = torch.autograd.grad(forward_mode_spike(surrogate.atan(alpha))(x).sum(), alpha)
    assert float(g_fn.abs()) > 0 and float(g_fm) == 0
    with pytest.raises(TypeError, match="derivative"):
        forward_mode_spike(lambda x: x)


def test_functional_keeps_buffers_fixed_in_the_ensemble_and_per_sample_recipes() -> None:
    import snnfunc.nn as snn
    from snnfunc.func import functional

    torch.manual_seed(0)
    net = snn.Sequential(torch.nn.Linear(4, 3), snn.LIF(0.9, 1.0, size=3))  # fixed beta, thr
    fixed = {name: t.clone() for name, t in net.named_buffers()}
    assert fixed, "the LIF layer's beta and threshold are buffers"
    params, pure = functional(net)
    assert set(params) == {name for name, _ in net.named_parameters()}
    xs, ys = torch.rand(8, 5, 4) * 3, torch.randint(0, 3, (5,))

    def loss(params: dict[str, Tensor], xs: Tensor, ys: Tensor) -> Tensor:
        step = lambda s, x: pure(params, x, s)  # noqa: E731
        spikes = sf.scan(step, net.init_state(xs.shape[1:-1]), xs)[0]
        return F.cross_entropy(spikes.sum(0).reshape(-1, 3), ys.reshape(-1))

    # the ensemble recipe: stack 3 copies, train them all with one optimizer
    stacked = {k: v.requires_grad_() for k, v in stack_params([params] * 3).items()}
    optimizer = torch.optim.SGD(stacked.values(), lr=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        ensemble(loss)(stacked, xs, ys).sum().backward()
        optimizer.step()
    assert not torch.equal(stacked["layers.0.weight"][0], params["layers.0.weight"])
    # per-sample gradients: one per Parameter, none for a buffer
    per = per_sample_grads(loss, params, xs, ys[:, None], in_dims=(1, 0))
    assert set(per) == set(params) and per["layers.0.weight"].shape == (5, 3, 4)
    for name, value in fixed.items():  # the bound copies and the module's own: untouched
        assert torch.equal(dict(net.named_buffers())[name], value)
    # a buffer passed by name replaces the bound value (a threshold sweep)
    high = dict(params, **{"layers.1.threshold": torch.tensor(1e9)})
    spikes = pure(high, xs[0] * 1e3, net.init_state((5,)))[0]
    assert not bool(spikes.any())
