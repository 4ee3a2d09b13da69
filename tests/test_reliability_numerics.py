"""Numerics: surrogate gradients stay finite in low precision, and NaN propagates (not hidden).

Surrogates: for every finite input in float16/bfloat16/float32 (the dtype's extremes included)
the input gradient is finite and matches the float64 formula to the dtype's precision; the
hyperparameter gradient is never NaN, and finite wherever its float64 value fits the dtype.

NaN policy (README, "Reliability"): NaN in an input, a state or a param shows up in the spikes and
the state at that neuron (and, through ``W``, in a recurrent layer's other neurons at the next
step), and stays there; it does not leak into unrelated neurons of an elementwise model, and no
function replaces it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor

import snnfunc as sf
from snnfunc import surrogate as S

F16, BF16, F32, F64 = torch.float16, torch.bfloat16, torch.float32, torch.float64
LOW = [F16, BF16, F32]
TOL = {F16: 2e-3, BF16: 1.6e-2, F32: 2e-6}  # a few ulps of each dtype, relative to the peak

# (name, factory, peak S'(0) as a function of the hyperparameter)
HYPER_SURROGATES: list[tuple[str, Callable[..., S.Surrogate], Callable[[float], float]]] = [
    ("atan", S.atan, lambda a: a / 2),
    ("fast_sigmoid", S.fast_sigmoid, lambda k: 1.0),
    ("superspike", S.superspike, lambda k: 1.0),
    ("sigmoid", S.sigmoid, lambda k: k / 4),
    ("triangle", S.triangle, lambda w: 1 / w),
    ("boxcar", S.boxcar, lambda w: 1 / (2 * w)),
]
HYPERS = [1e-2, 1.0, 1e2]
PLAIN_SURROGATES = [S.straight_through(), S.heaviside(), S.custom(lambda x: torch.exp(-x.abs()))]


def extremes(dtype: torch.dtype) -> Tensor:
    """Finite values of ``dtype`` from the largest to subnormals, both signs, and 0."""
    fi = torch.finfo(dtype)
    mags = torch.logspace(math.log10(fi.smallest_normal), math.log10(fi.max), 200, dtype=F64)
    special = torch.tensor([fi.max, fi.tiny, fi.eps, fi.smallest_normal * fi.eps, 1.0, 0.5, 0.0])
    mags = torch.cat([mags, special.to(F64)]).to(dtype)
    mags = mags[mags.isfinite()]
    return torch.cat([mags, -mags])


@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("hyper", HYPERS)
@pytest.mark.parametrize(
    ("name", "make", "peak"), HYPER_SURROGATES, ids=[c[0] for c in HYPER_SURROGATES]
)
def test_input_gradient_is_finite_and_accurate_at_every_magnitude(
    name: str,
    make: Callable[..., S.Surrogate],
    peak: Callable[[float], float],
    hyper: float,
    dtype: torch.dtype,
) -> None:
    spike = make(hyper)
    x = extremes(dtype).requires_grad_()
    (g,) = torch.autograd.grad(spike(x).sum(), x)
    assert g.dtype == dtype
    assert bool(g.isfinite().all()), f"non-finite gradient at x = {x[~g.isfinite()].tolist()[:5]}"
    want = spike.derivative_fn(x.detach().double(), hyper)
    tol = TOL[dtype] * 4
    torch.testing.assert_close(g.double(), want, atol=tol * peak(hyper), rtol=tol)


@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("hyper", HYPERS)
@pytest.mark.parametrize(
    ("name", "make", "peak"), HYPER_SURROGATES, ids=[c[0] for c in HYPER_SURROGATES]
)
def test_learnable_hyper_gradient_is_never_nan_and_finite_where_representable(
    name: str,
    make: Callable[..., S.Surrogate],
    peak: Callable[[float], float],
    hyper: float,
    dtype: torch.dtype,
) -> None:
    x = extremes(dtype)
    h = torch.tensor(hyper, dtype=dtype)
    spike = make(h)
    assert spike.hyper_derivative_fn is not None
    d = spike.hyper_derivative_fn(x, h)
    want = spike.hyper_derivative_fn(x.double(), h.double())
    assert not bool(d.isnan().any()), f"NaN at x = {x[d.isnan()].tolist()[:5]}"
    fits = want.abs() < torch.finfo(dtype).max / 2
    assert bool(d[fits].isfinite().all()), f"inf at x = {x[fits & ~d.isfinite()].tolist()[:5]}"
    # and through autograd, per element (a sum may overflow honestly in float16)
    hh = h.clone().requires_grad_()
    xs = x.detach().requires_grad_()
    grads = torch.autograd.grad(make(hh)(xs).sum(), (xs, hh))
    assert bool(grads[0].isfinite().all()) and not bool(grads[1].isnan())


@pytest.mark.parametrize("dtype", LOW, ids=str)
@pytest.mark.parametrize("spike", PLAIN_SURROGATES, ids=repr)
def test_plain_surrogates_give_finite_gradients(spike: S.Surrogate, dtype: torch.dtype) -> None:
    x = extremes(dtype).requires_grad_()
    (g,) = torch.autograd.grad(spike(x).sum(), x)
    assert g.dtype == dtype and bool(g.isfinite().all())


@pytest.mark.parametrize("dtype", LOW, ids=str)
@given(data=st.data())
def test_random_finite_inputs_and_hypers_give_finite_input_gradients(
    dtype: torch.dtype, data: st.DataObject
) -> None:
    width = 16 if dtype == F16 else 32
    values = data.draw(
        st.lists(
            st.floats(allow_nan=False, allow_infinity=False, width=width), min_size=1, max_size=16
        )
    )
    x = torch.tensor(values, dtype=F32).to(dtype)
    x = x[x.isfinite()]  # float32 values beyond bfloat16's range round to inf
    name, make, _ = data.draw(st.sampled_from(HYPER_SURROGATES))
    hyper = data.draw(st.floats(1e-2, 1e2))
    learnable = data.draw(st.booleans())
    spike = make(torch.tensor(hyper, dtype=dtype, requires_grad=True) if learnable else hyper)
    xs = x.requires_grad_()
    (g,) = torch.autograd.grad(spike(xs).sum(), xs)
    assert bool(g.isfinite().all()), (name, hyper, x[~g.isfinite()].tolist())


# --- NaN policy -----------------------------------------------------------------------------------
def test_step_and_every_spike_function_propagate_nan() -> None:
    x = torch.tensor([-1.0, float("nan"), 2.0, float("inf"), -float("inf"), -0.0])
    want = torch.tensor([0.0, float("nan"), 1.0, 1.0, 0.0, 0.0])
    torch.testing.assert_close(S.step(x), want, equal_nan=True)
    assert not bool(torch.signbit(S.step(x)[~x.isnan()]).any())  # -0.0 gives +0.0
    for _, make, _ in HYPER_SURROGATES:
        torch.testing.assert_close(make()(x), want, equal_nan=True)
    for spike in PLAIN_SURROGATES:
        torch.testing.assert_close(spike(x), want, equal_nan=True)


MODELS: list[tuple[str, Callable[..., Any], Callable[..., Any], Any]] = [
    ("if", sf.if_init, sf.if_step, sf.IFParams(1.0)),
    ("lif", sf.lif_init, sf.lif_step, sf.LIFParams(0.9, 1.0)),
    ("synaptic", sf.synaptic_init, sf.synaptic_step, sf.SynapticParams(0.5, 0.9, 1.0)),
    ("lapicque", sf.lapicque_init, sf.lapicque_step, sf.LapicqueParams(5.0, 1.0, 1.0, 1.0)),
    ("alpha", sf.alpha_init, sf.alpha_step, sf.AlphaParams(0.9, 0.5, 1.0)),
    ("alif", sf.alif_init, sf.alif_step, sf.ALIFParams(0.9, 1.0, 0.9, 0.5)),
    ("rlif", sf.rlif_init, sf.rlif_step, sf.RLIFParams(0.9, 1.0, torch.full((4, 4), 0.1))),
]
IDS = [m[0] for m in MODELS]


def _xs(t: int = 6) -> Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(t, 2, 4, generator=g) * 1.5


@pytest.mark.parametrize("reset_delay", [False, True])
@pytest.mark.parametrize(("name", "init", "step", "params"), MODELS, ids=IDS)
def test_nan_input_shows_in_spikes_and_state_and_stays(
    name: str, init: Callable[..., Any], step: Callable[..., Any], params: Any, reset_delay: bool
) -> None:
    xs = _xs()
    bad = xs.clone()
    bad[2, 1, 3] = float("nan")
    run = partial(sf.scan, partial(step, params=params, reset_delay=reset_delay), init((2, 4)))
    clean_ys, _ = run(xs)
    ys, final = run(bad)
    assert bool(ys[2:, 1, 3].isnan().all()), "the NaN neuron must spike NaN from then on"
    assert all(bool(leaf[1, 3].isnan()) for leaf in final), "and carry NaN in every state field"
    assert torch.equal(ys[:2], clean_ys[:2]), "steps before the NaN are untouched"
    assert torch.equal(ys[:, 0], clean_ys[:, 0]), "other examples of the batch are untouched"
    if name != "rlif":  # elementwise models: other neurons are untouched
        assert torch.equal(ys[:, 1, :3], clean_ys[:, 1, :3])
    else:  # the NaN spike reaches every neuron through W one step later
        assert bool(ys[3:, 1].isnan().all())


@pytest.mark.parametrize(("name", "init", "step", "params"), MODELS, ids=IDS)
def test_nan_param_gives_nan_spikes(
    name: str, init: Callable[..., Any], step: Callable[..., Any], params: Any
) -> None:
    nan_threshold = torch.tensor([1.0, float("nan"), 1.0, 1.0])
    z, state = step(init((2, 4)), _xs()[0], params._replace(threshold=nan_threshold))
    assert bool(z[:, 1].isnan().all())
    assert not bool(z[:, [0, 2, 3]].isnan().any()) or name == "rlif"


@pytest.mark.parametrize(("name", "init", "step", "params"), MODELS[:-1], ids=IDS[:-1])
def test_nan_makes_the_loss_nan_and_leaves_other_neurons_gradients_alone(
    name: str, init: Callable[..., Any], step: Callable[..., Any], params: Any
) -> None:
    def loss_and_grad(xs: Tensor) -> tuple[Tensor, Tensor]:
        xs = xs.clone().requires_grad_()
        ys, _ = sf.scan(partial(step, params=params), init((2, 4), dtype=xs.dtype), xs)
        (g,) = torch.autograd.grad(ys.sum(), xs)
        return ys.sum().detach(), g

    xs = _xs().double()
    bad = xs.clone()
    bad[2, 1, 3] = float("nan")
    (loss_clean, g_clean), (loss_bad, g_bad) = loss_and_grad(xs), loss_and_grad(bad)
    assert bool(loss_clean.isfinite()) and bool(loss_bad.isnan()), "the NaN must reach the loss"
    keep = torch.ones_like(xs, dtype=torch.bool)
    keep[:, 1, 3] = False
    assert torch.equal(g_bad[keep], g_clean[keep])


def test_infinite_input_is_a_value_not_an_error() -> None:
    x = torch.tensor([float("inf"), -float("inf"), 0.5])
    z, state = sf.lif_step(sf.lif_init(3), x, sf.LIFParams(0.9, 1.0))
    assert z.tolist() == [1.0, 0.0, 0.0]
    assert state.v.tolist() == [float("inf"), -float("inf"), 0.5]  # inf - threshold = inf


# --- parameters out of range: used as given (documented in each neuron module) -------------------
def _membranes(
    init: Callable[..., Any], step: Callable[..., Any], params: Any, xs: Tensor
) -> Tensor:
    def record(state: Any, x: Tensor) -> tuple[Tensor, Any]:
        _, state = step(state, x, params)
        return state.v, state

    vs, _ = sf.scan(record, init(xs.shape[1:], dtype=xs.dtype), xs)
    return vs


@pytest.mark.parametrize("beta", [1.5, -0.5, 0.0, 1.0])
def test_out_of_range_decays_are_used_as_given_not_clamped(beta: float) -> None:
    """Threshold out of reach (no spike, no reset): the membrane is the plain recurrence."""
    xs = torch.tensor([1.0, 0.5, -0.25, 2.0], dtype=F64)[:, None]
    never = 1e9
    want, v = [], 0.0
    for x in xs[:, 0].tolist():
        v = beta * v + x
        want.append(v)
    for init, step, params in [
        (sf.lif_init, sf.lif_step, sf.LIFParams(beta, never)),
        (sf.alif_init, sf.alif_step, sf.ALIFParams(beta, never, beta, 1.0)),
        (sf.rlif_init, sf.rlif_step, sf.RLIFParams(beta, never, torch.ones(1, 1, dtype=F64))),
        (sf.synaptic_init, sf.synaptic_step, sf.SynapticParams(0.0, beta, never)),
    ]:
        got = _membranes(init, step, params, xs)[:, 0]
        torch.testing.assert_close(got, torch.tensor(want, dtype=F64), rtol=0, atol=1e-12)
