"""Learnable fractional delays (snnfunc.delay): the formula against a plain loop, stepwise scan
equal to the layerwise function bit for bit, float64 gradient checks, torch.func, errors, and the
coincidence task that only learned delays solve."""

from __future__ import annotations

import importlib.util
import math
from functools import partial
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import snnfunc as sf
from snnfunc.delay import (
    DelayParams,
    DelayState,
    delay_init,
    delay_step,
    delayed_linear,
    fractional_delay,
)
from snnfunc.scan import unchecked

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def reference(x: torch.Tensor, delay: torch.Tensor) -> torch.Tensor:
    """The definition, one channel at a time: y[t] = (1-f) x[t-k] + f x[t-k-1], x[<0] = 0."""
    steps, channels = x.shape[0], x.shape[-1]
    out = torch.zeros_like(x)
    for n in range(channels):
        d = float(delay[n])
        k, f = math.floor(d), d - math.floor(d)
        for t in range(steps):
            a = x[t - k, ..., n] if t - k >= 0 else 0.0
            b = x[t - k - 1, ..., n] if t - k - 1 >= 0 else 0.0
            out[t, ..., n] = (1 - f) * a + f * b
    return out


def scan_delay(x: torch.Tensor, delay: torch.Tensor, max_delay: int) -> torch.Tensor:
    state = delay_init(x.shape[1:], max_delay=max_delay, dtype=x.dtype)
    ys, _ = sf.scan(partial(delay_step, params=DelayParams(delay)), state, x)
    return ys


delays = st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=1, max_size=4)


@given(d=delays, steps=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_fractional_delay_matches_the_definition(d: list[float], steps: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(steps, 3, len(d), generator=gen, dtype=torch.float64)
    delay = torch.tensor(d, dtype=torch.float64)
    torch.testing.assert_close(fractional_delay(x, delay, max_delay=5), reference(x, delay))


@given(d=st.lists(st.integers(0, 6), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_integer_delay_is_an_exact_shift(d: list[int], seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(8, 2, len(d), generator=gen) < 0.4).float()  # spikes stay spikes
    y = fractional_delay(x, torch.tensor(d, dtype=torch.float32), max_delay=6)
    for n, k in enumerate(d):
        want = torch.cat([torch.zeros(k, 2), x[: 8 - k, :, n]])[:8]
        assert torch.equal(y[:, :, n], want)


@given(d=delays, steps=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_stepwise_scan_equals_layerwise_bit_for_bit(d: list[float], steps: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(steps, 2, len(d), generator=gen)
    delay = torch.tensor(d)
    assert torch.equal(scan_delay(x, delay, 5), fractional_delay(x, delay, max_delay=5))


def test_per_synapse_delays_by_broadcasting() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(7, 2, 3, generator=gen)  # [T, B, I]
    delay = torch.rand(4, 3, generator=gen) * 3  # [O, I]
    y = fractional_delay(x[..., None, :], delay, max_delay=3)  # [T, B, O, I]
    assert y.shape == (7, 2, 4, 3)
    for o in range(4):
        torch.testing.assert_close(y[:, :, o], reference(x, delay[o]))
    assert torch.equal(scan_delay(x[..., None, :], delay, 3), y)


def test_delayed_linear_equals_delay_then_weights() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(9, 2, 5, 3, generator=gen, dtype=torch.float64)  # [T, B, B2, I]
    weight = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    delay = torch.rand(4, 3, generator=gen, dtype=torch.float64) * 4
    want = torch.einsum(
        "...oi,oi->...o", fractional_delay(x[..., None, :], delay, max_delay=4), weight
    )
    torch.testing.assert_close(delayed_linear(x, weight, delay, max_delay=4), want)


def test_delays_beyond_the_train_give_zeros_and_max_delay_costs_nothing() -> None:
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(5, 2, 3, generator=gen)
    d = torch.tensor([1.5, 5.0, 9.25])  # the last two reach past T = 5
    y = fractional_delay(x, d, max_delay=10**12)  # no [10**12, ...] history is built
    torch.testing.assert_close(y, reference(x, d))
    assert torch.equal(y[:, :, 1:], torch.zeros(5, 2, 2))
    w, ds = torch.randn(2, 3, generator=gen), torch.tensor([[0.5, 6.0, 2.0], [9.0, 1.25, 4.5]])
    want = torch.einsum("tboi,oi->tbo", fractional_delay(x[..., None, :], ds, max_delay=10), w)
    torch.testing.assert_close(delayed_linear(x, w, ds, max_delay=10**12), want)


def _fractional(shape: tuple[int, ...], hi: float, gen: torch.Generator) -> torch.Tensor:
    """Delays away from integers (where the derivative jumps), for finite differences."""
    return (
        torch.randint(0, int(hi), shape, generator=gen)
        + 0.2
        + 0.6 * torch.rand(shape, generator=gen)
    ).double()


def test_gradcheck_layerwise_and_stepwise() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(8, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    d = _fractional((3,), 4, gen).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, d: fractional_delay(x, d, max_delay=4), (x, d))
    assert torch.autograd.gradcheck(lambda x, d: scan_delay(x, d, 4), (x, d))
    w = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    ds = _fractional((2, 3), 4, gen).requires_grad_()
    assert torch.autograd.gradcheck(  # per synapse: x [T, B, 1, I] against delays [O, I]
        lambda x, d: fractional_delay(x[..., None, :], d, max_delay=4), (x, ds)
    )
    assert torch.autograd.gradcheck(
        lambda x, w, d: delayed_linear(x, w, d, max_delay=4), (x, w, ds)
    )


def test_delay_gradient_is_the_neighbour_difference() -> None:
    """d/dd sum_t g[t] y[t] = sum_t g[t] (x[t-k-1] - x[t-k]) (the module's formula)."""
    x = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)[:, None]
    g = torch.arange(6, dtype=torch.float64)[:, None]
    d = torch.tensor([2.3], dtype=torch.float64, requires_grad=True)
    (fractional_delay(x, d, max_delay=3) * g).sum().backward()
    k = 2
    want = sum(
        float(g[t])
        * ((float(x[t - k - 1]) if t >= k + 1 else 0.0) - (float(x[t - k]) if t >= k else 0.0))
        for t in range(6)
    )
    assert d.grad is not None and d.grad.item() == pytest.approx(want)  # = g[4] - g[3] = 1


def test_torch_func_vmap_and_grad() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(6, 4, 3, generator=gen)  # [T, B, N]
    d = torch.tensor([0.5, 1.5, 2.25])
    per_example = torch.func.vmap(
        partial(fractional_delay, max_delay=3), in_dims=(1, None), out_dims=1
    )
    assert torch.equal(per_example(x, d), fractional_delay(x, d, max_delay=3))

    def loss(d: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (fractional_delay(x, d, max_delay=3) * torch.arange(6.0).view(6, 1, 1)).sum()

    d_auto = d.clone().requires_grad_()
    loss(d_auto, x).backward()
    torch.testing.assert_close(torch.func.grad(loss)(d, x), d_auto.grad)
    per_example_grad = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 1))(
        d, x[:, :, None, :]
    )
    torch.testing.assert_close(per_example_grad.sum(0), d_auto.grad)
    batched_d = torch.func.vmap(lambda d: fractional_delay(x, d, max_delay=3))(d.expand(2, 3))
    assert torch.equal(batched_d[1], fractional_delay(x, d, max_delay=3))


@pytest.mark.parametrize(
    "delay, match",
    [
        (torch.tensor([-0.5, 1.0]), r"delay must lie in \[0, max_delay=2\] steps, got -0.5"),
        (torch.tensor([2.5, 1.0]), "got 2.5"),
        (torch.tensor([float("nan"), 1.0]), "got nan"),
        (torch.tensor([1.0, 1.0, 1.0]), "must broadcast against x's shape per step"),
        (torch.ones(3, 1, 2), "more dims than x"),
        (torch.tensor([1.0, 1.0], dtype=torch.float64), "delay is torch.float64"),
        (torch.tensor([1, 1]), "delay must be a floating-point tensor"),
    ],
)
def test_bad_delays(delay: torch.Tensor, match: str) -> None:
    x = torch.zeros(5, 3, 2)
    with pytest.raises((ValueError, TypeError), match=match):
        fractional_delay(x, delay, max_delay=2)
    with pytest.raises((ValueError, TypeError), match=match):
        delay_step(delay_init((3, 2), max_delay=2), x[0], DelayParams(delay))


def test_bad_arguments() -> None:
    x = torch.zeros(5, 3, 2)
    d = torch.ones(2)
    with pytest.raises(ValueError, match="max_delay must be >= 0"):
        fractional_delay(x, d, max_delay=-1)
    with pytest.raises(ValueError, match=r"x must be \[T, ...\] with T >= 1 steps"):
        fractional_delay(torch.tensor(1.0), d, max_delay=2)
    with pytest.raises(ValueError, match=r"state.history must be \[max_delay \+ 1, \*x.shape\]"):
        delay_step(delay_init((4, 2), max_delay=2), x[0], DelayParams(d))
    with pytest.raises(TypeError, match="state must be a DelayState"):
        delay_step(torch.zeros(3, 3, 2), x[0], DelayParams(d))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weight must be \[O, I\] with I = x.shape\[-1\] = 2"):
        delayed_linear(x, torch.ones(4, 3), torch.ones(4, 3), max_delay=2)
    with pytest.raises(ValueError, match="delay must have weight's shape"):
        delayed_linear(x, torch.ones(4, 2), torch.ones(2), max_delay=2)
    state = delay_init(2, max_delay=3)
    assert isinstance(state, DelayState) and state.history.shape == (4, 2)


@given(
    shape=st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple),
    delay_shape=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    value=st.sampled_from([0.0, 0.5, 2.0, 7.5, -1.0, float("nan"), float("inf"), 1e30]),
    max_delay=st.sampled_from([0, 1, 3, 10**12]),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64]),
)
def test_any_input_gives_the_documented_result_or_a_clear_error(
    shape: tuple[int, ...], delay_shape: tuple[int, ...], value: float, max_delay: int, dtype
) -> None:
    """Random shapes, dtypes, values and a huge max_delay: a result of the documented shape
    (allocating nothing beyond T), or ValueError/TypeError, never a deep torch error."""
    x = torch.ones(shape, dtype=dtype)
    delay = torch.full(delay_shape, value, dtype=torch.float64).to(
        dtype if dtype.is_floating_point else torch.float32
    )  # 1e30 in float16 is inf
    try:
        y = fractional_delay(x, delay, max_delay=max_delay)
    except (ValueError, TypeError):
        return
    assert y.shape == (shape[0], *torch.broadcast_shapes(shape[1:], delay_shape))
    assert 0 <= value <= max_delay and dtype.is_floating_point


def test_scan_runs_the_checks_on_the_first_step_only() -> None:
    """Under scan the loop runs the unchecked core (checks at the boundary, not per step)."""
    bound = unchecked(partial(delay_step, params=DelayParams(torch.ones(2))))
    assert bound.func.__name__ == "_delay_core"  # type: ignore[attr-defined]


def _load_example():
    spec = importlib.util.spec_from_file_location(
        "delay_coincidence", EXAMPLES / "delay_coincidence.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_coincidence_task_needs_learned_delays() -> None:
    """Same start (delays 0), same seed: frozen delays stay at chance, learned ones solve it."""
    task = _load_example()
    frozen, _ = task.train(learn_delays=False, seed=0)
    learned, d = task.train(learn_delays=True, steps=40, seed=0)
    assert 0.4 < frozen < 0.6, frozen  # the neuron never fires: every sample called class 0
    assert learned > 0.95, (learned, d)
    assert d[0] > 3.0 and d[1] < 1.0  # A is delayed towards B's lag; B stays
