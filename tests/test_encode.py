"""Encoders: rate, latency, delta, population (properties, vmap agreement, parity, errors)."""

from __future__ import annotations

import math

import pytest
import torch
from _ci import import_peer
from hypothesis import assume, given
from hypothesis import strategies as st
from torch.func import grad, vmap

import snnfunc
from snnfunc.encode import delta, delta_decode, latency, latency_times, population, rate

unit = st.floats(0.0, 1.0)
seeds = st.integers(0, 2**31 - 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- rate ------------------------------------------------------------------------------------
def test_rate_is_exported_at_top_level() -> None:
    assert snnfunc.rate is rate
    assert snnfunc.encode.rate is rate


@given(p=unit, num_steps=st.integers(1, 3000), seed=seeds, fast=st.booleans())
def test_rate_mean_converges_within_hoeffding_bound(
    p: float, num_steps: int, seed: int, fast: bool
) -> None:
    """P(|mean_T - p| >= t) <= 2 exp(-2 T t^2); union over n neurons at failure rate 1e-6.
    The fast path's 16-bit quantisation moves the probability by at most 2**-17."""
    n = 32
    x = torch.full((n,), p, dtype=torch.float64)
    if fast:
        z = rate(x, num_steps, generator=gen(seed))
    else:
        noise = torch.rand(num_steps, n, generator=gen(seed), dtype=torch.float64)
        z = rate(x, num_steps, noise=noise)
    bound = math.sqrt(math.log(2 * n / 1e-6) / (2 * num_steps)) + 2**-17
    assert float((z.mean(0) - p).abs().max()) <= bound


RATE_PROBS = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
STEPS, NEURONS = 4096, 256  # N = 2**20 Bernoulli draws per probability


def _rate_draws(x: torch.Tensor, path: str) -> torch.Tensor:
    g = gen(0)
    if path == "16-bit":
        return rate(x, STEPS, generator=g)
    if path == "16-bit-bool":
        return rate(x, STEPS, generator=g, out_dtype=torch.bool)
    # inside a transform rate draws torch.rand noise instead
    spikes, _ = torch.func.vjp(lambda x: rate(x, STEPS, generator=g), x)
    return spikes  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", ["16-bit", "16-bit-bool", "in-transform"])
def test_rate_spike_probability_has_no_bias_of_half_a_percent(path: str) -> None:
    """Each p gets N = 2**20 draws (4096 steps x 256 neurons). The firing rate must lie within
    6 binomial standard errors sqrt(p (1 - p) / N) of p (plus 2**-17, the 16-bit quantisation):
    at most 0.0029 (at p = 0.5). So an absolute bias of 0.005 (p + 0.005) fails at every p, by
    >= 4 standard errors, and a relative one of 0.5% (1.005 p) fails at p = 0.9 and 0.99 (by 9
    and 45). A correct encoder fails a given p with probability < 2e-9; the seed is fixed."""
    x = torch.tensor(RATE_PROBS, dtype=torch.float64)[:, None].expand(-1, NEURONS)
    z = _rate_draws(x, path)
    assert z.shape == (STEPS, len(RATE_PROBS), NEURONS)
    n = STEPS * NEURONS
    rates = z.double().mean(dim=(0, 2))
    for p, got in zip(RATE_PROBS, rates.tolist(), strict=True):
        bound = 6 * math.sqrt(p * (1 - p) / n) + 2**-17
        assert abs(got - p) <= bound, f"p = {p}: rate {got:.5f}, off by more than {bound:.5f}"


@given(
    shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    num_steps=st.integers(1, 12),
    gain=st.floats(0.0, 3.0),
    seed=seeds,
)
def test_rate_straight_through_gradient_is_gain_times_steps(
    shape: list[int], num_steps: int, gain: float, seed: int
) -> None:
    x = torch.rand(shape, generator=gen(seed), dtype=torch.float64)
    expected = torch.full_like(x, gain * num_steps)
    # torch.func.grad (noise drawn with torch.rand) ...
    got = grad(lambda x: rate(x, num_steps, gain=gain, generator=gen(seed)).sum())(x)
    torch.testing.assert_close(got, expected)
    # ... and .backward() (fast 16-bit noise path)
    leaf = x.clone().requires_grad_(True)
    rate(leaf, num_steps, gain=gain, generator=gen(seed)).sum().backward()
    torch.testing.assert_close(leaf.grad, expected)


def test_rate_gradient_weights_each_step() -> None:
    """d/dx sum_t w_t z_t = gain * sum_t w_t: the upstream gradient of every step reaches x."""
    x = torch.rand(3, 5, dtype=torch.float64, generator=gen(0))
    w = torch.randn(7, 3, 5, dtype=torch.float64, generator=gen(1))
    got = grad(lambda x: (rate(x, 7, gain=0.5, generator=gen(2)) * w).sum())(x)
    torch.testing.assert_close(got, 0.5 * w.sum(0))


def test_rate_noise_path_is_exactly_noise_below_probability() -> None:
    x = torch.rand(4, 6, generator=gen(0))
    noise = torch.rand(9, 4, 6, generator=gen(1))
    assert torch.equal(rate(x, 9, noise=noise), (noise < x).float())
    assert torch.equal(rate(x, 9, gain=0.5, noise=noise), (noise < 0.5 * x).float())


def test_rate_extremes_are_exact() -> None:
    x = torch.tensor([0.0, 1.0]).repeat(500)
    z = rate(x, 50, generator=gen(3))
    assert torch.equal(z, x.expand(50, -1))
    assert torch.equal(rate(torch.ones(10), 5, gain=2.0, generator=gen(0)), torch.ones(5, 10))


@given(seed=seeds, dtype=st.sampled_from([torch.float32, torch.float64]))
def test_rate_compact_outputs_match_float_spikes(seed: int, dtype: torch.dtype) -> None:
    x = torch.rand(8, 20, generator=gen(seed), dtype=dtype)
    z = rate(x, 6, generator=gen(seed))
    assert z.dtype == dtype and z.shape == (6, 8, 20)
    zb = rate(x, 6, generator=gen(seed), out_dtype=torch.bool)
    zu = rate(x, 6, generator=gen(seed), out_dtype=torch.uint8)
    zh = rate(x, 6, generator=gen(seed), out_dtype=torch.float16)
    assert zb.dtype == torch.bool and zu.dtype == torch.uint8 and zh.dtype == torch.float16
    assert torch.equal(zb, z.bool())
    assert torch.equal(zu, z.to(torch.uint8))
    assert torch.equal(zh, z.half())


def test_rate_compact_output_is_not_differentiable() -> None:
    x = torch.rand(3, requires_grad=True)
    assert not rate(x, 4, out_dtype=torch.bool).requires_grad
    assert rate(x, 4).requires_grad


def test_rate_same_seed_identical_different_seeds_differ() -> None:
    x = torch.full((50, 20), 0.5)
    assert torch.equal(rate(x, 10, generator=gen(5)), rate(x, 10, generator=gen(5)))
    assert not torch.equal(rate(x, 10, generator=gen(5)), rate(x, 10, generator=gen(6)))


def test_rate_vmap_with_noise_agrees_with_batched_call() -> None:
    """One example [N] with noise [T, N], vmapped over B: no randomness flag needed."""
    x = torch.rand(5, 7, generator=gen(0))
    noise = torch.rand(11, 5, 7, generator=gen(1))
    per_example = vmap(lambda x, u: rate(x, 11, noise=u), in_dims=(0, 1), out_dims=1)
    assert torch.equal(per_example(x, noise), rate(x, 11, noise=noise))
    # per-example gradients, vmap(grad)
    grads = vmap(grad(lambda x, u: rate(x, 11, gain=0.3, noise=u).sum()), in_dims=(0, 1))(x, noise)
    torch.testing.assert_close(grads, torch.full_like(x, 0.3 * 11))


def test_rate_drawing_inside_vmap_needs_a_randomness_flag() -> None:
    x = torch.full((4, 300), 0.5)
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(lambda x: rate(x, 3))(x)
    z = vmap(lambda x: rate(x, 3), randomness="different", out_dims=1)(x)
    assert z.shape == (3, 4, 300) and not torch.equal(z[:, 0], z[:, 1])


def test_rate_errors_name_the_argument() -> None:
    x = torch.rand(3)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        rate(torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\], got a value 1.5"):
        rate(torch.tensor([0.5, 1.5]), 3)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\], got a value nan"):
        rate(torch.tensor([float("nan")]), 3)
    with pytest.raises(ValueError, match="num_steps must be >= 1, got 0"):
        rate(x, 0)
    with pytest.raises(TypeError, match="num_steps must be an int"):
        rate(x, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gain must be a finite float >= 0"):
        rate(x, 2, gain=-1.0)
    with pytest.raises(ValueError, match=r"noise must have shape \[num_steps, \*x.shape\]"):
        rate(x, 2, noise=torch.rand(3, 3))
    with pytest.raises(TypeError, match="noise must be a floating-point"):
        rate(x, 2, noise=torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="either noise or generator"):
        rate(x, 2, noise=torch.rand(2, 3), generator=gen(0))
    with pytest.raises(ValueError, match="out_dtype must be"):
        rate(x, 2, out_dtype=torch.int32)


def test_rate_value_check_is_skipped_under_vmap() -> None:
    """Batched values can't be read: out-of-range x then acts as a clipped probability."""
    x = torch.tensor([[-0.5, 1.5]])
    noise = torch.tensor([[[0.0, 0.999]]])
    z = vmap(lambda x, u: rate(x, 1, noise=u), in_dims=(0, 1), out_dims=1)(x, noise)
    assert torch.equal(z, torch.tensor([[[0.0, 1.0]]]))


# --- latency ---------------------------------------------------------------------------------
def closed_form_time(
    x: float,
    num_steps: int,
    tau: float,
    threshold: float,
    linear: bool,
    normalize: bool,
    first_spike_time: int = 0,
) -> float:
    """snnTorch's latency_code, written out for one element (float64, math module), with the
    documented ``first_spike_time`` offset ``t0``: every time is shifted by ``t0``, and
    ``normalize`` stretches the rest so the latest possible spike lands on ``T - 1``."""
    t0 = first_spike_time
    if linear:
        tau_eff = num_steps - 1 - t0 if normalize else tau
        return tau_eff * (1 - max(x, threshold)) + t0
    eps = 1e-7

    def rc(v: float) -> float:
        v = max(v, threshold + eps)
        return tau * math.log(v / (v - threshold))

    t = rc(x)
    return (t * (num_steps - 1 - t0) / rc(threshold) if normalize else t) + t0


latency_options = st.fixed_dictionaries(
    {
        "tau": st.floats(0.1, 5.0),
        "threshold": st.floats(0.005, 0.5),
        "linear": st.booleans(),
    }
)


@given(
    xs=st.lists(unit, min_size=1, max_size=12), num_steps=st.integers(2, 40), opt=latency_options
)
def test_latency_one_spike_per_element_at_closed_form_time(
    xs: list[float],
    num_steps: int,
    opt: dict,
) -> None:
    x = torch.tensor(xs, dtype=torch.float64)
    z = latency(x, num_steps, normalize=True, **opt)
    assert z.shape == (num_steps, len(xs))
    assert torch.equal(z.sum(0), torch.ones(len(xs), dtype=torch.float64))
    times = latency_times(x, num_steps, normalize=True, **opt)
    for i, v in enumerate(xs):
        t = closed_form_time(v, num_steps, normalize=True, **opt)
        assert math.isclose(float(times[i]), t, rel_tol=1e-12, abs_tol=1e-12)
        if abs(t - math.floor(t) - 0.5) > 1e-9:  # away from a rounding tie
            assert int(z[:, i].argmax()) == round(t)


@given(
    xs=st.lists(unit, min_size=1, max_size=12),
    num_steps=st.integers(2, 40),
    opt=latency_options,
    normalize=st.booleans(),
    data=st.data(),
)
def test_latency_first_spike_time_shifts_every_spike_by_the_documented_offset(
    xs: list[float], num_steps: int, opt: dict, normalize: bool, data: st.DataObject
) -> None:
    t0 = data.draw(st.integers(1, num_steps - 1), label="first_spike_time")
    x = torch.tensor(xs, dtype=torch.float64)
    kwargs = {"normalize": normalize, "first_spike_time": t0, **opt}
    times = latency_times(x, num_steps, **kwargs)
    want = [closed_form_time(v, num_steps, **kwargs) for v in xs]
    for got, t in zip(times.tolist(), want, strict=True):
        assert got >= t0 and math.isclose(got, t, rel_tol=1e-12, abs_tol=1e-9)
    if float(times.round().max()) > num_steps - 1:  # a spike after the window: documented error
        with pytest.raises(ValueError, match="after the last step"):
            latency(x, num_steps, **kwargs)
        return
    z = latency(x, num_steps, **kwargs)
    assert torch.equal(z.sum(0), torch.ones(len(xs), dtype=torch.float64))
    assert not z[:t0].any(), "no spike before first_spike_time"
    for i, t in enumerate(want):
        if abs(t - math.floor(t) - 0.5) > 1e-9:  # away from a rounding tie
            assert int(z[:, i].argmax()) == round(t)


@given(
    xs=st.lists(unit, min_size=2, max_size=12),
    num_steps=st.integers(2, 40),
    opt=latency_options,
    normalize=st.booleans(),
)
def test_latency_is_monotone_brighter_never_later(
    xs: list[float], num_steps: int, opt: dict, normalize: bool
) -> None:
    x = torch.tensor(sorted(xs), dtype=torch.float64)
    if not normalize:  # keep every spike inside the window
        assume(float(latency_times(x, num_steps, **opt).max()) < num_steps - 1)
    z = latency(x, num_steps, normalize=normalize, **opt)
    first = z.argmax(0)
    assert bool((first[1:] <= first[:-1]).all())
    times = latency_times(x, num_steps, normalize=normalize, **opt)
    assert bool((times[1:] <= times[:-1]).all())


@pytest.mark.parametrize("linear", [False, True])
@pytest.mark.parametrize(
    ("num_steps", "tau", "threshold", "normalize", "clip"),
    [
        (25, 1.0, 0.01, False, False),
        (25, 5.0, 0.01, True, False),
        (10, 1.0, 0.2, True, True),
        (100, 5.0, 0.05, False, True),
        (7, 2.0, 0.3, True, False),
    ],
)
def test_latency_matches_snntorch(
    linear: bool, num_steps: int, tau: float, threshold: float, normalize: bool, clip: bool
) -> None:
    spikegen = import_peer("snntorch.spikegen")
    x = torch.rand(16, 40, generator=gen(0))
    x[:, 0] = 0.0  # an input below threshold (snnTorch normalises by the batch's latest spike)
    if not linear and not normalize and tau * math.log((threshold + 1e-7) / 1e-7) > num_steps - 1:
        pytest.skip("snnTorch raises here too (spikes after the window)")
    want = spikegen.latency(
        x,
        num_steps=num_steps,
        tau=tau,
        threshold=threshold,
        linear=linear,
        normalize=normalize,
        clip=clip,
    )
    got = latency(
        x, num_steps, tau=tau, threshold=threshold, linear=linear, normalize=normalize, clip=clip
    )
    assert torch.equal(got, want)


def test_latency_clip_removes_spikes_below_threshold() -> None:
    x = torch.tensor([0.0, 0.05, 0.1, 0.5, 1.0])
    z = latency(x, 10, threshold=0.1, linear=True, normalize=True, clip=True)
    assert torch.equal(z.sum(0), torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]))


def test_latency_spike_after_window_raises_eagerly_and_is_dropped_under_vmap() -> None:
    x = torch.tensor([[0.0, 1.0]])  # RC, tau=5: t(0) = 5 ln(1e5) ~ 57.6 > T - 1
    with pytest.raises(ValueError, match="after the last step num_steps - 1 = 19"):
        latency(x, 20, tau=5.0)
    z = vmap(lambda x: latency(x, 20, tau=5.0), out_dims=1)(x)
    assert torch.equal(z.sum(0), torch.tensor([[0.0, 1.0]]))


@pytest.mark.parametrize(
    "kwargs", [{"tau": 5.0, "normalize": True}, {"linear": True, "normalize": True}]
)
def test_latency_vmap_agrees_with_batched_call(kwargs: dict) -> None:
    x = torch.rand(6, 9, generator=gen(0), dtype=torch.float64)
    w = torch.randn(15, 6, 9, generator=gen(1), dtype=torch.float64)
    batched = latency(x, 15, **kwargs)
    assert torch.equal(vmap(lambda x: latency(x, 15, **kwargs), out_dims=1)(x), batched)
    # per-example gradients equal the gradient of the batched sum (examples are independent)
    per_example = vmap(grad(lambda x, w: (latency(x, 15, **kwargs) * w).sum()), in_dims=(0, 1))
    whole = grad(lambda x: (latency(x, 15, **kwargs) * w).sum())(x)
    assert torch.count_nonzero(whole) > 0
    torch.testing.assert_close(per_example(x, w), whole)


@pytest.mark.parametrize("linear", [False, True])
def test_latency_gradient_is_linear_interpolation_between_steps(linear: bool) -> None:
    """dL/dx = (g[floor t + 1] - g[floor t]) * dt/dx, g the upstream gradient (0 past T-1)."""
    num_steps = 12
    x = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    w = torch.randn(num_steps, 19, dtype=torch.float64, generator=gen(0))
    opts = {"tau": 3.0, "threshold": 0.02, "linear": linear, "normalize": True}
    got = grad(lambda x: (latency(x, num_steps, **opts) * w).sum())(x)
    t = latency_times(x, num_steps, **opts)
    dt_dx = torch.func.vjp(lambda x: latency_times(x, num_steps, **opts), x)[1](torch.ones_like(x))[
        0
    ]
    w_pad = torch.cat([w, torch.zeros(1, 19, dtype=w.dtype)])
    k = t.floor().long()
    cols = torch.arange(19)
    expected = (w_pad[k + 1, cols] - w_pad[k, cols]) * dt_dx
    torch.testing.assert_close(got, expected)
    if linear:  # dt/dx = -tau_eff = -(T - 1) above threshold
        torch.testing.assert_close(dt_dx, torch.full_like(x, -(num_steps - 1.0)))
    else:  # d/dx tau ln(x / (x - thr)) = -tau thr / (x (x - thr)), times the normalisation
        scale = (num_steps - 1) / (3.0 * math.log((0.02 + 1e-7) / 1e-7))
        torch.testing.assert_close(dt_dx, scale * -3.0 * 0.02 / (x * (x - 0.02)))


def test_latency_errors_name_the_argument() -> None:
    x = torch.rand(3)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        latency(torch.tensor([1]), 5)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        latency(torch.tensor([1.2]), 5, linear=True)
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        latency(x, 0)
    with pytest.raises(ValueError, match=r"threshold must lie in \(0, 1\)"):
        latency(x, 5, threshold=1.0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        latency(x, 5, tau=0.0)
    with pytest.raises(ValueError, match="first_spike_time must be <= num_steps - 1"):
        latency(x, 5, first_spike_time=5)
    with pytest.raises(TypeError, match="spike_fn must be callable"):
        latency(x, 5, spike_fn=3)  # type: ignore[arg-type]


# --- delta -----------------------------------------------------------------------------------
walks = st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=40)


@given(steps=walks, threshold=st.floats(0.01, 1.0), initial=st.floats(-1.0, 1.0))
def test_delta_decode_is_within_threshold(
    steps: list[float], threshold: float, initial: float
) -> None:
    xs = torch.cumsum(torch.tensor(steps, dtype=torch.float64), 0).view(-1, 1).repeat(1, 2)
    spikes = delta(xs, threshold=threshold, off_spike=True, initial=initial)
    assert torch.equal(spikes, spikes.round())
    err = xs - delta_decode(spikes, threshold=threshold, initial=initial)
    slack = 1e-9 * (1 + float(xs.abs().max()))
    assert float(err.min()) >= -slack and float(err.max()) < threshold + slack


@given(steps=walks, threshold=st.floats(0.01, 1.0))
def test_delta_on_spikes_only_track_the_running_maximum(
    steps: list[float], threshold: float
) -> None:
    xs = torch.cumsum(torch.tensor(steps, dtype=torch.float64), 0)
    spikes = delta(xs, threshold=threshold)
    assert bool((spikes >= 0).all())
    running_max = torch.cummax(xs.clamp(min=0.0), 0).values
    err = running_max - delta_decode(spikes, threshold=threshold)
    slack = 1e-9 * (1 + float(xs.abs().max()))
    assert float(err.min()) >= -slack and float(err.max()) < threshold + slack


def test_delta_small_steps_give_unit_spikes_and_slow_drift_is_seen() -> None:
    xs = torch.arange(0, 40, dtype=torch.float64) * 0.05  # a slow ramp: 0.05 per step
    spikes = delta(xs, threshold=0.3)
    assert set(spikes.tolist()) <= {0.0, 1.0}
    assert int(spikes.sum()) == math.floor(float(xs[-1]) / 0.3 + 1e-9)  # snnTorch's gives none


@pytest.mark.parametrize("off_spike", [False, True])
def test_delta_vmap_agrees_with_batched_call(off_spike: bool) -> None:
    xs = torch.cumsum(torch.randn(30, 4, 3, generator=gen(0)), 0)
    batched = delta(xs, threshold=0.4, off_spike=off_spike)
    per_example = vmap(
        lambda x: delta(x, threshold=0.4, off_spike=off_spike), in_dims=1, out_dims=1
    )
    assert torch.equal(per_example(xs), batched)


def test_delta_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="xs must be a floating-point"):
        delta(torch.arange(3), threshold=0.1)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        delta(torch.rand(3), threshold=0.0)
    with pytest.raises(ValueError, match="leading time dim"):
        delta(torch.tensor(1.0), threshold=0.1)
    with pytest.raises(TypeError, match="initial must be a floating-point"):
        delta(torch.rand(3), threshold=0.1, initial=torch.tensor(1))


# --- population ------------------------------------------------------------------------------
@given(
    values=st.lists(st.floats(-1.0, 2.0), min_size=1, max_size=8),
    num_neurons=st.integers(1, 10),
    sigma=st.one_of(st.none(), st.floats(0.05, 2.0)),
)
def test_population_is_gaussian_fields_over_even_centres(
    values: list[float], num_neurons: int, sigma: float | None
) -> None:
    x = torch.tensor(values, dtype=torch.float64)
    out = population(x, num_neurons, low=-0.5, high=1.5, sigma=sigma)
    assert out.shape == (len(values), num_neurons)
    s = sigma if sigma is not None else 2.0 / max(num_neurons - 1, 1)
    for i, v in enumerate(values):
        for j in range(num_neurons):
            c = -0.5 + 2.0 * j / (num_neurons - 1) if num_neurons > 1 else -0.5
            assert math.isclose(
                float(out[i, j]), math.exp(-0.5 * ((v - c) / s) ** 2), abs_tol=1e-12
            )


def test_population_vmap_gradcheck_and_peak() -> None:
    x = torch.rand(4, 3, dtype=torch.float64, generator=gen(0), requires_grad=True)
    batched = population(x, 5)
    assert torch.equal(vmap(lambda x: population(x, 5))(x), batched)
    assert torch.autograd.gradcheck(lambda x: population(x, 5, sigma=0.3), (x,))
    centres = torch.linspace(0, 1, 5, dtype=torch.float64)
    torch.testing.assert_close(
        population(centres, 5).diagonal(), torch.ones(5, dtype=torch.float64)
    )


def test_population_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="x must be a floating-point"):
        population(torch.arange(3), 4)
    with pytest.raises(ValueError, match="num_neurons must be >= 1"):
        population(torch.rand(3), 0)
    with pytest.raises(ValueError, match="low must be < high"):
        population(torch.rand(3), 4, low=1.0, high=0.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        population(torch.rand(3), 4, sigma=0.0)


def test_nan_propagates_under_vmap_where_values_are_not_checked() -> None:
    """NaN policy: eager calls reject NaN (x must lie in [0, 1]); traced calls can't check, so a
    NaN input gives NaN spikes instead of a silent 0."""
    x = torch.tensor([[0.5, float("nan")]])
    z = vmap(lambda x: rate(x, 3), randomness="different", out_dims=1)(x)
    assert bool(z[:, 0, 1].isnan().all()) and not bool(z[:, 0, 0].isnan().any())
    noise = torch.rand(3, 1, 2, generator=gen(0))
    z = vmap(lambda x, u: rate(x, 3, noise=u), in_dims=(0, 1), out_dims=1)(x, noise)
    assert bool(z[:, 0, 1].isnan().all())
    z = vmap(lambda x: latency(x, 5, linear=True), out_dims=1)(x)
    assert bool(z[:, 0, 1].isnan().all()) and float(z[:, 0, 0].sum()) == 1.0


@pytest.mark.slow  # torch.compile: ~10 s
def test_compiled_forward_then_backward_matches_eager() -> None:
    """torch.compile(fullgraph=True) of encode -> loss, then .backward() (not compile(grad),
    pytorch#193279): the same spikes and input gradients as eager."""
    x = torch.rand(4, 5, generator=gen(0))
    noise = torch.rand(10, 4, 5, generator=gen(1))
    w = torch.randn(10, 4, 5, generator=gen(2))

    def loss(x: torch.Tensor) -> torch.Tensor:
        rated = rate(x, 10, gain=0.5, noise=noise)
        timed = latency(x, 10, linear=True, normalize=True)
        charged = latency(x, 10, tau=2.0, normalize=True)
        return ((rated + timed + charged) * w).sum()

    compiled = torch.compile(loss, fullgraph=True)
    leaf_c, leaf_e = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_c, out_e = compiled(leaf_c), loss(leaf_e)
    out_c.backward()
    out_e.backward()
    torch.testing.assert_close(out_c, out_e)
    torch.testing.assert_close(leaf_c.grad, leaf_e.grad)
