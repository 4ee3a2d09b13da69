"""Contract test over every neuron model, then model-specific closed forms and invariants."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor
from torch.func import grad, vmap

import snnfunc as sf
from snnfunc import surrogate

F64 = torch.float64


def _lin(lo: float, hi: float, n: int) -> Tensor:
    return torch.linspace(lo, hi, n, dtype=F64)


def _full(value: float, n: int) -> Tensor:
    return torch.full((n,), value, dtype=F64)


# Per-neuron float64 params for n neurons, chosen so every model spikes on _inputs(); one entry
# per registered model (test_every_registered_model_is_covered keeps this table complete).
PARAMS: dict[str, Callable[[int], Any]] = {
    "if": lambda n: sf.IFParams(_lin(0.8, 1.2, n)),
    "lif": lambda n: sf.LIFParams(_lin(0.6, 0.95, n), _full(1.0, n)),
    "synaptic": lambda n: sf.SynapticParams(_lin(0.5, 0.8, n), _full(0.8, n), _full(1.0, n)),
    "lapicque": lambda n: sf.LapicqueParams(
        _lin(4.0, 6.0, n), _full(1.0, n), _full(1.0, n), _full(1.0, n)
    ),
    "alpha": lambda n: sf.AlphaParams(_lin(0.85, 0.95, n), _full(0.5, n), _full(0.5, n)),
    "alif": lambda n: sf.ALIFParams(_lin(0.7, 0.9, n), _full(1.0, n), _full(0.9, n), _full(0.3, n)),
    "rlif": lambda n: sf.RLIFParams(
        _lin(0.7, 0.9, n), _full(1.0, n), torch.linspace(-0.4, 0.4, n * n, dtype=F64).reshape(n, n)
    ),
    "adlif": lambda n: sf.AdLIFParams(
        _lin(0.3, 0.5, n), _full(0.9, n), _full(0.3, n), _full(0.5, n), _full(0.5, n)
    ),
    "rsynaptic": lambda n: sf.neurons.RSynapticParams(
        *PARAMS["synaptic"](n), torch.linspace(-0.4, 0.4, n * n, dtype=F64).reshape(n, n)
    ),
    "radlif": lambda n: sf.neurons.RAdLIFParams(
        *PARAMS["adlif"](n), torch.linspace(-0.4, 0.4, n * n, dtype=F64).reshape(n, n)
    ),
}
# The threshold a spike is compared with at the next step, where it is not params.threshold.
EFFECTIVE_THRESHOLD: dict[str, Callable[[Any, Any], Tensor]] = {
    "alif": lambda s, p: p.threshold + s.a,
}


@dataclass(frozen=True)
class Model:
    """A registered model (:data:`snnfunc.neurons.MODELS`) with this file's test params."""

    name: str

    @property
    def spec(self) -> Any:
        return sf.neurons.MODELS[self.name]

    def init(self, *args: Any, **kwargs: Any) -> Any:
        return self.spec.init(*args, **kwargs)

    def step(self, *args: Any, **kwargs: Any) -> tuple[Tensor, Any]:
        result: tuple[Tensor, Any] = self.spec.step(*args, **kwargs)
        return result

    def params(self, n: int) -> Any:
        return PARAMS[self.name](n)

    def membrane(self, state: Any) -> Tensor:
        membrane: Tensor = self.spec.membrane(state)
        return membrane

    def threshold(self, state: Any, params: Any) -> Tensor:
        rule = EFFECTIVE_THRESHOLD.get(self.name)
        return rule(state, params) if rule else torch.as_tensor(params.threshold, dtype=F64)

    def __str__(self) -> str:
        return self.name


MODELS = [Model(name) for name in sf.neurons.MODELS]


def test_every_registered_model_is_covered() -> None:
    assert set(PARAMS) == set(sf.neurons.MODELS) == set(CLOSED)


RESETS = ["subtract", "zero", "none"]


def _inputs(t: int, b: int, n: int, seed: int = 0, scale: float = 1.0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.rand(t, b, n, generator=g, dtype=F64) * 1.2 - 0.1


def _run(model: Model, xs: Tensor, params: Any, **opts: Any) -> tuple[Tensor, Any]:
    state = model.init(xs.shape[1:], dtype=xs.dtype)
    return sf.scan(partial(model.step, params=params, **opts), state, xs)


@pytest.mark.parametrize("model", MODELS, ids=str)
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("reset_delay", [False, True])
def test_rest_is_a_fixed_point(model: Model, reset: str, reset_delay: bool) -> None:
    state = model.init((3, 5), dtype=F64)
    z, new = model.step(
        state, torch.zeros(3, 5, dtype=F64), model.params(5), reset=reset, reset_delay=reset_delay
    )
    assert torch.equal(z, torch.zeros(3, 5, dtype=F64))
    for before, after in zip(state, new, strict=True):
        assert torch.equal(before, after)


@pytest.mark.parametrize("model", MODELS, ids=str)
@given(
    seed=st.integers(0, 2**16),
    scale=st.floats(0.0, 4.0),
    reset=st.sampled_from(RESETS),
    reset_delay=st.booleans(),
)
def test_spikes_are_binary_in_input_dtype(
    model: Model, seed: int, scale: float, reset: str, reset_delay: bool
) -> None:
    xs = _inputs(12, 2, 4, seed, scale)
    spikes, _ = _run(model, xs, model.params(4), reset=reset, reset_delay=reset_delay)
    assert spikes.shape == xs.shape and spikes.dtype == xs.dtype
    assert bool(((spikes == 0) | (spikes == 1)).all())


@pytest.mark.parametrize("model", MODELS, ids=str)
@pytest.mark.parametrize("reset_delay", [False, True])
def test_reset_rules_hold(model: Model, reset_delay: bool) -> None:
    """Against the same step with reset="none" (which gives the membrane h before any reset)."""
    n = 6
    params = model.params(n)
    xs = _inputs(15, 3, n, seed=1, scale=2.0)
    state = model.init((3, n), dtype=F64)
    saw_reset = False
    for x in xs.unbind(0):
        _, s_none = model.step(state, x, params, reset="none", reset_delay=reset_delay)
        z, s_sub = model.step(state, x, params, reset="subtract", reset_delay=reset_delay)
        _, s_zero = model.step(state, x, params, reset="zero", reset_delay=reset_delay)
        h = model.membrane(s_none)
        theta = model.threshold(state, params)
        if reset_delay:  # the previous step's reset lands now
            r = (model.membrane(state) - theta > 0).to(F64)
        else:
            r = z
            assert torch.equal(z, (h - theta > 0).to(F64))
        torch.testing.assert_close(model.membrane(s_sub), h - r * theta)
        torch.testing.assert_close(model.membrane(s_zero), h * (1 - r))
        saw_reset |= bool(r.any())
        state = s_sub
    assert saw_reset, "the test input must make neurons fire"


@pytest.mark.parametrize("model", MODELS, ids=str)
@pytest.mark.parametrize("reset_delay", [False, True])
def test_vmap_over_batch_equals_batched_call(model: Model, reset_delay: bool) -> None:
    params = model.params(5)
    xs = _inputs(10, 4, 5, seed=2, scale=2.0)
    batched, _ = _run(model, xs, params, reset_delay=reset_delay)

    def one(x_tn: Tensor) -> Tensor:  # [T, N] -> [T, N]
        return _run(model, x_tn.unsqueeze(1), params, reset_delay=reset_delay)[0].squeeze(1)

    per_example = vmap(one, in_dims=1, out_dims=1)(xs)
    assert torch.equal(per_example, batched)
    # the per-example step itself, vmapped over [B, N] with a per-example state
    state = model.init(5, dtype=F64)
    z_v, _ = vmap(lambda x: model.step(state, x, params), in_dims=0)(xs[0])
    z_b, _ = model.step(model.init((4, 5), dtype=F64), xs[0], params)
    assert torch.equal(z_v, z_b)


@pytest.mark.parametrize("model", MODELS, ids=str)
def test_grad_wrt_every_param_field_is_finite_and_reaches_it(model: Model) -> None:
    params = model.params(5)
    xs = _inputs(20, 3, 5, seed=3, scale=2.0)
    w = torch.linspace(-1.0, 1.0, 5, dtype=F64)

    def loss(p: Any) -> Tensor:
        spikes, state = _run(model, xs, p)
        return (spikes * w).sum() + model.membrane(state).sum()

    grads = grad(loss)(params)
    for name, g in zip(type(params)._fields, grads, strict=True):
        assert torch.isfinite(g).all(), name
        assert bool((g != 0).any()), f"no gradient reaches params.{name}"


@pytest.mark.parametrize("model", MODELS, ids=str)
def test_gradcheck_of_subthreshold_dynamics(model: Model) -> None:
    """Below threshold (no spikes) the membrane is smooth in x and every param: finite
    differences must equal autograd through the unroll."""
    n = 3
    fields = model.params(n)
    names = type(fields)._fields
    huge = {"threshold": torch.full((n,), 1e6, dtype=F64)}
    leaves = [
        huge.get(k, v).clone().requires_grad_(k != "threshold")
        for k, v in zip(names, fields, strict=True)
    ]
    xs = _inputs(6, 2, n, seed=4).requires_grad_(True)

    def membrane_trace(xs: Tensor, *leaves: Tensor) -> Tensor:
        p = type(fields)(*leaves)
        state = model.init(xs.shape[1:], dtype=F64)
        ys, _ = sf.scan(
            lambda s, x: (model.membrane(model.step(s, x, p)[1]), model.step(s, x, p)[1]), state, xs
        )
        return ys

    assert torch.autograd.gradcheck(membrane_trace, (xs, *leaves))


def _closed_form(model: str, x: float, t: int) -> float:
    """Membrane after t steps of constant input x from rest, no spikes (params as in CLOSED)."""
    if model == "if":
        return t * x
    if model in ("lif", "alif", "rlif"):
        b = 0.9
        return x * (1 - b**t) / (1 - b)
    if model in ("rsynaptic", "radlif"):  # no spikes: no recurrent current
        return _closed_form(model[1:], x, t)
    if model == "adlif":  # a = 0 and no spikes: w stays 0, v -> x (input scaled by 1 - beta)
        return x * (1 - 0.9**t)
    if model == "lapicque":  # R=5, C=2, dt=1: beta = 1 - 1/10, input scale 1/2
        b = 0.9
        return 0.5 * x * (1 - b**t) / (1 - b)
    if model == "synaptic":
        a, b = 0.6, 0.9
        return x / (1 - a) * ((1 - b**t) / (1 - b) - a * (a**t - b**t) / (a - b))
    if model == "alpha":
        a, b = 0.9, 0.6
        return x * (1 - a**t) / (1 - a) - x * (1 - b**t) / (1 - b)
    raise AssertionError(model)


CLOSED = {
    "if": sf.IFParams(1e9),
    "lif": sf.LIFParams(0.9, 1e9),
    "alif": sf.ALIFParams(0.9, 1e9, 0.5, 1.0),
    "rlif": sf.RLIFParams(0.9, 1e9, torch.ones(4, 4, dtype=F64)),
    "lapicque": sf.LapicqueParams(5.0, 2.0, 1.0, 1e9),
    "synaptic": sf.SynapticParams(0.6, 0.9, 1e9),
    "alpha": sf.AlphaParams(0.9, 0.6, 1e9),
    "adlif": sf.AdLIFParams(0.9, 0.5, 0.0, 1.0, 1e9),
    "rsynaptic": sf.neurons.RSynapticParams(0.6, 0.9, 1e9, torch.ones(4, 4, dtype=F64)),
    "radlif": sf.neurons.RAdLIFParams(0.9, 0.5, 0.0, 1.0, 1e9, torch.ones(4, 4, dtype=F64)),
}


@pytest.mark.parametrize("model", MODELS, ids=str)
@given(x=st.floats(-2.0, 2.0), steps=st.integers(1, 40))
def test_membrane_matches_closed_form_below_threshold(model: Model, x: float, steps: int) -> None:
    xs = torch.full((steps, 4), x, dtype=F64)
    ys, state = sf.scan(
        lambda s, xt: (
            model.membrane(model.step(s, xt, CLOSED[model.name])[1]),
            model.step(s, xt, CLOSED[model.name])[1],
        ),
        model.init(4, dtype=F64),
        xs,
    )
    want = torch.tensor([_closed_form(model.name, x, t) for t in range(1, steps + 1)], dtype=F64)
    torch.testing.assert_close(ys[:, 0], want, rtol=1e-9, atol=1e-9)


# inputs on a 1/8 grid with beta = 1/2: exact binary arithmetic, so the comparison is exact
grid = st.integers(0, 24).map(lambda k: k / 8)


@pytest.mark.parametrize("step", [sf.if_step, sf.lif_step], ids=["if", "lif"])
@given(data=st.data(), steps=st.integers(1, 30))
def test_more_input_never_fewer_spikes(step: Any, data: st.DataObject, steps: int) -> None:
    """IF/LIF with subtract reset: x' >= x at every step => spike count' >= count (each t)."""
    low = torch.tensor(data.draw(st.lists(grid, min_size=steps, max_size=steps)), dtype=F64)
    extra = torch.tensor(data.draw(st.lists(grid, min_size=steps, max_size=steps)), dtype=F64)
    params = sf.IFParams(1.0) if step is sf.if_step else sf.LIFParams(0.5, 1.0)
    init = sf.if_init if step is sf.if_step else sf.lif_init

    def counts(xs: Tensor) -> Tensor:
        spikes, _ = sf.scan(
            partial(step, params=params, reset="subtract"), init(1, dtype=F64), xs.unsqueeze(1)
        )
        return spikes.squeeze(1).cumsum(0)

    assert bool((counts(low + extra) >= counts(low)).all())


def test_if_with_subtract_reset_counts_exactly() -> None:
    """IF + subtract conserves charge: count = floor(sum(x) / threshold) for x >= 0, x < thr."""
    xs = torch.tensor([0.25, 0.5, 0.375, 0.125, 0.75, 0.5, 0.25], dtype=F64)
    spikes, state = sf.scan(
        partial(sf.if_step, params=sf.IFParams(1.0)), sf.if_init(1, dtype=F64), xs.unsqueeze(1)
    )
    assert spikes.sum().item() == 2.0
    assert state.v.item() == pytest.approx(xs.sum().item() - 2.0)


def test_learnable_per_neuron_params_get_gradients() -> None:
    beta = torch.full((4,), 0.8, requires_grad=True)
    thr = torch.ones(4, requires_grad=True)
    xs = _inputs(10, 2, 4, seed=5, scale=2.0).float()
    spikes, _ = sf.scan(
        partial(sf.lif_step, params=sf.LIFParams(beta, thr)), sf.lif_init((2, 4)), xs
    )
    spikes.sum().backward()
    assert beta.grad is not None and beta.grad.shape == (4,) and bool((beta.grad != 0).all())
    assert thr.grad is not None and bool((thr.grad < 0).all()), "higher threshold -> fewer spikes"


def test_detach_reset_changes_only_gradients() -> None:
    xs = _inputs(12, 2, 4, seed=6, scale=2.0).requires_grad_(True)
    outs, grads = [], []
    for detach in (True, False):
        spikes, _ = _run(MODELS[1], xs, MODELS[1].params(4), detach_reset=detach)
        (g,) = torch.autograd.grad(spikes.sum(), xs)
        outs.append(spikes)
        grads.append(g)
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(grads[0], grads[1])


@pytest.mark.parametrize(
    "spike_fn",
    [surrogate.fast_sigmoid(), surrogate.straight_through(), surrogate.heaviside()],
    ids=repr,
)
def test_spike_fn_is_used_for_the_gradient(spike_fn: surrogate.Surrogate) -> None:
    x = torch.tensor([0.3, 1.2, 0.9], dtype=F64, requires_grad=True)
    state = sf.lif_init(3, dtype=F64)
    z, _ = sf.lif_step(state, x, sf.LIFParams(0.9, 1.0), spike_fn=spike_fn)
    (g,) = torch.autograd.grad(z.sum(), x)
    torch.testing.assert_close(g, spike_fn.derivative(x - 1.0))


# --- bad input ------------------------------------------------------------------------------
def test_error_state_input_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"state.v has shape \(3,\) but x has shape \(2, 3\)"):
        sf.lif_step(sf.lif_init(3), torch.zeros(2, 3), sf.LIFParams(0.9, 1.0))


def test_error_non_float_input() -> None:
    with pytest.raises(TypeError, match="x must be a floating-point tensor.*int64"):
        sf.lif_step(sf.lif_init(3), torch.zeros(3, dtype=torch.long), sf.LIFParams(0.9, 1.0))


def test_error_unknown_reset_mode() -> None:
    with pytest.raises(ValueError, match=r"reset must be one of \('subtract', 'zero', 'none'\)"):
        sf.synaptic_step(
            sf.synaptic_init(2), torch.zeros(2), sf.SynapticParams(0.5, 0.9, 1.0), reset="hard"
        )  # type: ignore[arg-type]


def test_error_params_do_not_broadcast() -> None:
    with pytest.raises(ValueError, match=r"params.beta of shape \(4,\) must broadcast"):
        sf.lif_step(sf.lif_init(3), torch.zeros(3), sf.LIFParams(torch.ones(4), 1.0))


def test_error_wrong_state_and_params_types() -> None:
    with pytest.raises(TypeError, match="state must be a LIFState"):
        sf.lif_step(sf.synaptic_init(3), torch.zeros(3), sf.LIFParams(0.9, 1.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params must be a SynapticParams"):
        sf.synaptic_step(sf.synaptic_init(3), torch.zeros(3), sf.LIFParams(0.9, 1.0))  # type: ignore[arg-type]


def test_error_dtype_mismatch_between_state_and_input() -> None:
    with pytest.raises(TypeError, match="state.v is torch.float32 on cpu but x is torch.float64"):
        sf.lif_step(sf.lif_init(3), torch.zeros(3, dtype=F64), sf.LIFParams(0.9, 1.0))


def test_error_recurrent_weight_shape() -> None:
    with pytest.raises(ValueError, match=r"params.weight must be \[N, N\] = \[3, 3\]"):
        sf.rlif_step(sf.rlif_init(3), torch.zeros(3), sf.RLIFParams(0.9, 1.0, torch.zeros(3, 2)))


def test_error_init_shape_and_dtype() -> None:
    with pytest.raises(TypeError, match="shape must be an int or a tuple"):
        sf.lif_init("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        sf.lif_init(3, dtype=torch.int32)
