"""snnfunc.testing: the checks pass on every built-in model and surrogate, and catch bad ones."""

from __future__ import annotations

import math
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

import snnfunc as sf
from snnfunc import surrogate
from snnfunc.cell import BUILTIN_CELLS
from snnfunc.testing import (
    assert_scan_equivalent,
    assert_transform_compatible,
    check_rate_convergence,
    check_surrogate,
)
from snnfunc.testing import strategies as sst

F64 = torch.float64


# --- assert_transform_compatible ----------------------------------------------------------------
@pytest.mark.parametrize("model", sst.MODEL_NAMES)
@settings(max_examples=8)
@given(data=st.data(), batch=st.integers(1, 3), n=st.integers(1, 4))
def test_every_builtin_model_is_transform_compatible(
    model: str, data: st.DataObject, batch: int, n: int
) -> None:
    params = data.draw(sst.params(model, n))
    state = data.draw(sst.states(model, (batch, n)))
    x = data.draw(sst.input_currents((batch, n)))
    options = data.draw(sst.step_options())
    spike_fn = data.draw(sst.surrogates())
    assert_transform_compatible(
        BUILTIN_CELLS[model].step, state, x, params, spike_fn=spike_fn, **options
    )


def test_transform_check_accepts_batch_dim_1() -> None:
    state = sf.lif_init((3, 2), dtype=F64)
    x = torch.rand(3, 2, dtype=F64) * 2
    # batch along dim 1: the step is elementwise so any layout works
    assert_transform_compatible(sf.lif_step, state, x, sf.LIFParams(0.9, 1.0), batch_dim=1)


class _LegacySpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return g / (1 + x.abs()) ** 2


def test_transform_check_catches_a_legacy_autograd_function() -> None:
    state = sf.lif_init((2, 3), dtype=F64)
    x = torch.rand(2, 3, dtype=F64)
    with pytest.raises(AssertionError, match="vmap failed"):
        assert_transform_compatible(
            sf.lif_step, state, x, sf.LIFParams(0.9, 1.0), spike_fn=_LegacySpike.apply
        )


def test_transform_check_catches_a_step_that_mixes_the_batch() -> None:
    def leaky_mean(state: sf.LIFState, x: Tensor, params: sf.LIFParams) -> Any:
        v = params.beta * state.v + x - x.mean()  # mean over the *batch*: not per example
        return v, sf.LIFState(v)

    state = sf.lif_init((3, 2), dtype=F64)
    x = torch.rand(3, 2, dtype=F64)
    with pytest.raises(AssertionError, match="vmap vs the batched call"):
        assert_transform_compatible(leaky_mean, state, x, sf.LIFParams(0.9, 1.0))


def test_transform_check_catches_data_dependent_python_control_flow() -> None:
    def branchy(state: sf.LIFState, x: Tensor, params: sf.LIFParams) -> Any:
        v = params.beta * state.v + x
        if float(v.sum()) > 0:  # reads values: fails under vmap/grad
            v = v * 2
        return v, sf.LIFState(v)

    state = sf.lif_init((2, 2), dtype=F64)
    with pytest.raises(AssertionError, match="vmap failed"):
        assert_transform_compatible(
            branchy, state, torch.ones(2, 2, dtype=F64), sf.LIFParams(0.5, 1.0)
        )


# --- check_surrogate ----------------------------------------------------------------------------
AREAS = [
    (surrogate.atan(2.0), 1.0),
    (surrogate.atan(0.7), 1.0),
    (surrogate.sigmoid(5.0), 1.0),
    (surrogate.triangle(0.5), 1.0),
    (surrogate.boxcar(0.5), 1.0),
    (surrogate.fast_sigmoid(25.0), 2 / 25),
    (surrogate.superspike(100.0), 2 / 100),
    (surrogate.straight_through(), None),
    (surrogate.heaviside(), None),
]


@pytest.mark.parametrize(("spike_fn", "area"), AREAS, ids=repr)
def test_every_builtin_surrogate_passes(spike_fn: surrogate.Surrogate, area: float | None) -> None:
    report = check_surrogate(spike_fn, expect_area=area, window=100.0)
    # the peak is the documented S'(0) (or its sup for the heaviside surrogate)
    assert report.peak == pytest.approx(
        float(spike_fn.derivative(torch.tensor(1e-12, dtype=F64))), rel=1e-6
    )


def test_straight_through_area_grows_with_the_window() -> None:
    small = check_surrogate(surrogate.straight_through(), window=10.0).area
    assert small == pytest.approx(20.0)


@settings(max_examples=10)
@given(spike_fn=sst.surrogates())
def test_drawn_surrogates_pass(spike_fn: surrogate.Surrogate) -> None:
    report = check_surrogate(spike_fn, window=20.0)
    assert math.isfinite(report.area) and report.peak > 0


def test_check_surrogate_catches_wrong_forward_at_zero() -> None:
    def ge(x: Tensor) -> Tensor:  # 1[x >= 0]: wrong at x = 0
        return (x >= 0).to(x.dtype) + 0 * x

    with pytest.raises(AssertionError, match="not the Heaviside step"):
        check_surrogate(ge)


def test_check_surrogate_catches_infinite_or_negative_backward() -> None:
    inf = surrogate.custom(lambda x: 1 / x.abs(), name="inf")
    with pytest.raises(AssertionError, match="not finite"):
        check_surrogate(inf)
    neg = surrogate.custom(lambda x: -torch.exp(-x.abs()), name="neg")
    with pytest.raises(AssertionError, match="negative"):
        check_surrogate(neg)


def test_check_surrogate_catches_wrong_area() -> None:
    with pytest.raises(AssertionError, match="area"):
        check_surrogate(surrogate.atan(2.0), expect_area=2.0)


# --- check_rate_convergence -----------------------------------------------------------------------
def _bernoulli(p: Tensor, num_steps: int, *, generator: torch.Generator) -> Tensor:
    u = torch.rand((num_steps, *p.shape), generator=generator, dtype=p.dtype)
    return (u < p).to(p.dtype)


def _st_bernoulli(p: Tensor, num_steps: int, *, generator: torch.Generator) -> Tensor:
    z = _bernoulli(p.detach(), num_steps, generator=generator)
    return z + (p - p.detach())  # straight-through gradient 1 per step


def test_rate_convergence_of_a_bernoulli_encoder() -> None:
    errors = check_rate_convergence(_st_bernoulli, check_grad=True)
    assert errors[2000] < errors[10]


def test_rate_convergence_catches_a_biased_encoder() -> None:
    def biased(p: Tensor, num_steps: int, *, generator: torch.Generator) -> Tensor:
        return _bernoulli(0.9 * p, num_steps, generator=generator)

    with pytest.raises(AssertionError, match="standard deviations"):
        check_rate_convergence(biased)


def test_rate_convergence_catches_an_encoder_ignoring_the_generator() -> None:
    def global_rng(p: Tensor, num_steps: int, *, generator: torch.Generator) -> Tensor:
        return (torch.rand((num_steps, *p.shape), dtype=p.dtype) < p).to(p.dtype)

    with pytest.raises(AssertionError, match="same generator seed"):
        check_rate_convergence(global_rng)


def test_rate_convergence_catches_wrong_layout_and_no_gradient() -> None:
    def batch_major(p: Tensor, num_steps: int, *, generator: torch.Generator) -> Tensor:
        return _bernoulli(p, num_steps, generator=generator).movedim(0, -1)

    with pytest.raises(AssertionError, match=r"\[T, \*p.shape\]"):
        check_rate_convergence(batch_major)
    with pytest.raises(AssertionError, match="backward"):
        check_rate_convergence(_bernoulli, check_grad=True)


# --- assert_scan_equivalent -----------------------------------------------------------------------
def _leaky_closed_form(
    state: sf.LIFState, xs: Tensor, params: sf.LIFParams, **_: Any
) -> tuple[Tensor, sf.LIFState]:
    """A 'fused' path for a reset-free LIF: v_t = beta^(t+1) v_0 + sum_k beta^(t-k) x_k."""
    t = torch.arange(xs.shape[0], dtype=xs.dtype)
    lag = t[:, None] - t[None, :]
    kernel = torch.where(lag >= 0, params.beta ** lag.clamp(min=0), torch.zeros(()))
    v = (
        torch.einsum("tk,k...->t...", kernel, xs)
        + params.beta ** (t + 1).view(-1, *[1] * (xs.dim() - 1)) * state.v
    )
    return v, sf.LIFState(v[-1])


def _leaky_step(state: sf.LIFState, x: Tensor, params: sf.LIFParams) -> tuple[Tensor, sf.LIFState]:
    v = params.beta * state.v + x
    return v, sf.LIFState(v)


@given(xs=sst.input_currents((6, 2, 3)), beta=st.floats(0.0, 1.0))
def test_scan_equivalence_of_a_closed_form_path(xs: Tensor, beta: float) -> None:
    state = sf.LIFState(torch.linspace(-1, 1, 6, dtype=F64).reshape(2, 3))
    params = sf.LIFParams(torch.tensor(beta, dtype=F64), 1.0)
    assert_scan_equivalent(_leaky_closed_form, _leaky_step, state, xs, params, exact_outputs=False)


def test_scan_equivalence_without_params_and_catching_a_wrong_path() -> None:
    xs = torch.rand(5, 2, 3, dtype=F64)
    state = sf.lif_init((2, 3), dtype=F64)
    params = sf.LIFParams(0.8, 1.0)
    fast = partial(_leaky_closed_form, params=params)
    assert_scan_equivalent(
        lambda s, x: fast(s, x), partial(_leaky_step, params=params), state, xs, exact_outputs=False
    )
    wrong = partial(_leaky_closed_form, params=sf.LIFParams(0.81, 1.0))
    with pytest.raises(AssertionError, match="outputs"):
        assert_scan_equivalent(
            lambda s, x: wrong(s, x),
            partial(_leaky_step, params=params),
            state,
            xs,
            exact_outputs=False,
        )


def test_scan_equivalence_catches_wrong_gradients_and_flipped_spikes() -> None:
    xs = torch.rand(5, 2, 3, dtype=F64) * 2
    state = sf.lif_init((2, 3), dtype=F64)
    params = sf.LIFParams(0.8, 1.0)

    def fast(state: Any, xs: Tensor, params: Any, **opts: Any) -> Any:
        return sf.scan(partial(sf.lif_step, params=params, **opts), state, xs)

    assert_scan_equivalent(fast, sf.lif_step, state, xs, params, reset="zero")
    # same forward, different surrogate: only the gradients differ
    with pytest.raises(AssertionError, match="gradients"):
        assert_scan_equivalent(
            partial(fast, spike_fn=surrogate.boxcar()), sf.lif_step, state, xs, params
        )
    with pytest.raises(AssertionError, match="outputs"):
        assert_scan_equivalent(
            partial(fast, reset="none"), sf.lif_step, state, xs, params, check_grad=False
        )


# --- strategies -------------------------------------------------------------------------------
@pytest.mark.parametrize("model", sst.MODEL_NAMES)
@settings(max_examples=15)
@given(data=st.data(), n=st.integers(1, 4))
def test_drawn_params_are_in_documented_ranges(model: str, data: st.DataObject, n: int) -> None:
    p = data.draw(sst.params(model, n))
    for name in ("beta", "rho"):
        if hasattr(p, name):
            v = getattr(p, name)
            assert bool(((v >= 0) & (v <= 1)).all())
    assert bool((torch.as_tensor(p.threshold) > 0).all())
    if model == "alpha":
        assert bool((p.alpha > p.beta).all() & (p.alpha <= 1).all())
    if model == "lapicque":
        assert bool((p.time_step < p.resistance * p.capacitance).all())
    if model == "rlif":
        assert p.weight.shape == (n, n)
    state = data.draw(sst.states(model, (2, n)))
    assert type(state) is type(BUILTIN_CELLS[model].init(1)) and state[0].shape == (2, n)


@given(shape=sst.shapes(max_dims=3), data=st.data())
def test_spike_trains_and_tensors(shape: tuple[int, ...], data: st.DataObject) -> None:
    z = data.draw(sst.spike_trains(shape))
    assert z.shape == shape and z.dtype == F64 and bool(((z == 0) | (z == 1)).all())
    x = data.draw(sst.tensors(shape, min_value=-0.5, max_value=0.25))
    assert x.shape == shape and bool((x >= -0.5).all() & (x <= 0.25).all())


def test_import_snnfunc_does_not_import_hypothesis() -> None:
    code = "import snnfunc, snnfunc.nn, snnfunc.func, sys; print('hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="model must be one of"):
        sst.params("lifx", 3)
    with pytest.raises(ValueError, match="model must be one of"):
        sst.states("LIF", (3,))


_USER_PROPERTY_TEST = """
import torch
from hypothesis import given
import snnfunc as sf
from snnfunc.testing import assert_transform_compatible, check_surrogate, strategies as sst

def my_step(state, x, params, *, spike_fn=sf.surrogate.DEFAULT_SPIKE):
    h = params.beta * state.v + x - 0.05 * state.v.clamp(min=0)
    z = spike_fn(h - params.threshold)
    return z, sf.LIFState(h - z.detach() * params.threshold)

@given(p=sst.params("lif", 4), v=sst.states("lif", (3, 4)), x=sst.input_currents((3, 4)),
       spike_fn=sst.surrogates())
def test_my_step(p, v, x, spike_fn):
    assert_transform_compatible(my_step, v, x, p, spike_fn=spike_fn)

@given(spike_fn=sst.surrogates())
def test_my_surrogates(spike_fn):
    check_surrogate(spike_fn)

test_my_step()
test_my_surrogates()
print("passed")
"""


def test_checkers_pass_under_hypothesis_default_settings(tmp_path: Any) -> None:
    # a user's property test: hypothesis' default settings (200 ms deadline), no conftest, no
    # profile -- in a fresh process, where torch.func's first grad would take ~1 s
    import os

    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}
    root = str(Path(sf.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", _USER_PROPERTY_TEST],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("passed")
