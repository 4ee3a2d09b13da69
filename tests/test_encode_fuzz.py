"""Fuzz the encoders' boundary: a valid call returns the documented shape and dtype, anything
else raises ValueError/TypeError (never a deep torch error)."""

from __future__ import annotations

import math
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given

from snnfunc.bernoulli import bernoulli
from snnfunc.encode import delta, delta_decode, latency, population, rate

FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
OTHERS = [torch.int64, torch.uint8, torch.bool, torch.complex64]
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
values = st.sampled_from(["unit", "wide", "nan", "inf"])


def make(shape: tuple[int, ...], dtype: torch.dtype, kind: str, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    if kind == "wide":
        x = 4 * x - 2
    if x.numel() and kind == "nan":
        x.view(-1)[0] = math.nan
    if x.numel() and kind == "inf":
        x.view(-1)[0] = math.inf
    if dtype.is_complex:
        return x.to(dtype)
    return x.to(dtype) if dtype.is_floating_point else (x * 3).to(dtype)


def in_unit(x: torch.Tensor) -> bool:
    return x.numel() == 0 or bool(((x >= 0) & (x <= 1)).all())


def outcome(fn: Any) -> Any:
    try:
        return fn()
    except (ValueError, TypeError) as err:
        return err


@given(
    shape=shapes,
    dtype=st.sampled_from(FLOATS + OTHERS),
    kind=values,
    num_steps=st.integers(-1, 5),
    out_dtype=st.sampled_from([None, torch.bool, torch.uint8, torch.float32, torch.int32]),
    seed=st.integers(0, 1000),
)
def test_rate_boundary(shape, dtype, kind, num_steps, out_dtype, seed) -> None:
    x = make(shape, dtype, kind, seed)
    valid = dtype.is_floating_point and num_steps >= 1 and in_unit(x) and out_dtype != torch.int32
    out = outcome(lambda: rate(x, num_steps, generator=torch.Generator().manual_seed(seed),
                               out_dtype=out_dtype))  # fmt: skip
    if not valid:
        assert isinstance(out, (ValueError, TypeError)), out
        return
    assert isinstance(out, torch.Tensor), out
    assert out.shape == (num_steps, *shape) and out.dtype == (out_dtype or dtype)
    assert set(out.double().unique().tolist()) <= {0.0, 1.0}


@given(
    shape=shapes,
    dtype=st.sampled_from(FLOATS + OTHERS),
    kind=values,
    linear=st.booleans(),
    clip=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_latency_boundary(shape, dtype, kind, linear, clip, seed) -> None:
    x = make(shape, dtype, kind, seed)
    valid = dtype.is_floating_point and in_unit(x)
    out = outcome(lambda: latency(x, 16, linear=linear, normalize=True, clip=clip))
    if not valid:
        assert isinstance(out, (ValueError, TypeError)), out
        return
    assert isinstance(out, torch.Tensor), out
    assert out.shape == (16, *shape) and out.dtype == dtype
    assert bool((out.sum(0) <= 1).all())


@given(
    shape=shapes,
    dtype=st.sampled_from(FLOATS + OTHERS),
    kind=values,
    threshold=st.sampled_from([0.1, 0.5, 0.0, -1.0, math.nan]),
    off_spike=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_delta_boundary(shape, dtype, kind, threshold, off_spike, seed) -> None:
    xs = make(shape, dtype, kind, seed)
    valid = dtype.is_floating_point and len(shape) >= 1 and threshold > 0
    out = outcome(lambda: delta(xs, threshold=threshold, off_spike=off_spike))
    if not valid:
        assert isinstance(out, (ValueError, TypeError)), out
        return
    assert isinstance(out, torch.Tensor), out
    assert out.shape == shape and out.dtype == dtype
    back = delta_decode(out, threshold=threshold)
    assert back.shape == shape


@given(
    shape=shapes,
    dtype=st.sampled_from(FLOATS + OTHERS),
    kind=values,
    num_neurons=st.integers(-1, 5),
    sigma=st.sampled_from([None, 0.2, 0.0, -1.0]),
    seed=st.integers(0, 1000),
)
def test_population_boundary(shape, dtype, kind, num_neurons, sigma, seed) -> None:
    x = make(shape, dtype, kind, seed)
    valid = dtype.is_floating_point and num_neurons >= 1 and (sigma is None or sigma > 0)
    out = outcome(lambda: population(x, num_neurons, sigma=sigma))
    if not valid:
        assert isinstance(out, (ValueError, TypeError)), out
        return
    assert isinstance(out, torch.Tensor), out
    assert out.shape == (*shape, num_neurons) and out.dtype == dtype


@given(
    shape=shapes,
    dtype=st.sampled_from(FLOATS + OTHERS),
    kind=values,
    with_noise=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_bernoulli_boundary(shape, dtype, kind, with_noise, seed) -> None:
    p = make(shape, dtype, kind, seed)
    valid = dtype.is_floating_point and in_unit(p)
    u = (
        torch.rand((2, *shape), generator=torch.Generator().manual_seed(seed))
        if with_noise
        else None
    )
    out = outcome(lambda: bernoulli(p, u))
    if not valid:
        assert isinstance(out, (ValueError, TypeError)), out
        return
    assert isinstance(out, torch.Tensor), out
    assert out.shape == ((2, *shape) if with_noise else shape) and out.dtype == dtype


@pytest.mark.parametrize("dtype", FLOATS)
def test_low_precision_rate_keeps_exact_extremes_and_gradient(dtype: torch.dtype) -> None:
    x = torch.tensor([0.0, 1.0, 0.5], dtype=dtype, requires_grad=True)
    z = rate(x, 200, generator=torch.Generator().manual_seed(0))
    assert z.dtype == dtype
    assert bool((z[:, 0] == 0).all()) and bool((z[:, 1] == 1).all())
    assert 0.3 < float(z[:, 2].detach().float().mean()) < 0.7
    z.sum().backward()
    assert x.grad is not None and bool((x.grad == 200).all())


@pytest.mark.parametrize("dtype", FLOATS)
def test_low_precision_latency_matches_float32(dtype: torch.dtype) -> None:
    """In float16, threshold + 1e-7 rounds to threshold: the RC time of a dark pixel would be
    inf and its normalised time NaN; the times are computed in float32 instead."""
    x = torch.tensor([0.0, 0.005, 0.02, 0.5, 1.0])
    for linear in (False, True):
        want = latency(x.to(dtype).float(), 12, normalize=True, linear=linear)
        got = latency(x.to(dtype), 12, normalize=True, linear=linear)
        assert got.dtype == dtype and torch.equal(got.float(), want)
        assert torch.equal(got.float().sum(0), torch.ones(5))
