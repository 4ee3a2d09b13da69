"""Fuzz the encoders: ``rate``, ``latency``/``latency_times``, ``delta``, ``population``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor

import snnfunc as sf

from ._harness import (
    BF16,
    F16,
    F32,
    FLOATS,
    NON_FLOATS,
    Call,
    Entry,
    Table,
    check_backward,
    draw_tensor,
    draw_unit_tensor,
    fuzz_settings,
    large_shapes,
    maybe_grad,
    run_case,
    shapes,
    small_shapes,
)

FUZZ = Table()


# --- encoders, straight-through Bernoulli, attacks (issue 3) ---------------------------------
ENCODER_FAULTS = [None] * 5 + ["dtype", "num_steps", "option"]


def draw_num_steps(data: st.DataObject, broken: bool) -> int | Any:
    if broken:
        return data.draw(st.sampled_from([0, -2, 2.0, True, "5", None]), label="num_steps")
    return data.draw(st.integers(1, 6), label="num_steps")


def time_major(
    x: Tensor, num_steps: int, dtype: torch.dtype | None = None
) -> Callable[[Tensor], None]:
    def check(z: Tensor) -> None:
        assert z.shape == (num_steps, *x.shape) and z.device == x.device
        assert z.dtype == (dtype or x.dtype)
        check_backward(x, z)

    return check


@FUZZ.entry("rate", "encode.rate")
def _rate(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from(ENCODER_FAULTS + ["noise"]), label="fault")
    shape = data.draw(shapes, label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    x, ok = draw_unit_tensor(data, shape, dtype)
    x = maybe_grad(data, x)
    num_steps = draw_num_steps(data, fault == "num_steps")
    t = (
        num_steps
        if isinstance(num_steps, int) and not isinstance(num_steps, bool) and num_steps > 0
        else 1
    )
    kwargs: dict[str, Any] = {}
    if fault == "option":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"gain": -1.0},
                    {"gain": float("nan")},
                    {"gain": "2"},
                    {"out_dtype": torch.int64},
                    {"out_dtype": "float32"},
                ]
            )
        )
    elif fault == "noise":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"noise": torch.rand(t + 1, *shape)},
                    {"noise": torch.zeros((t, *shape), dtype=torch.int64)},
                    {"noise": torch.rand(t, *shape), "generator": torch.Generator()},
                ]
            )
        )
    else:
        kind = data.draw(st.sampled_from(["plain", "generator", "noise", "gain", "out_dtype"]))
        if kind == "generator":
            kwargs = {"generator": torch.Generator().manual_seed(1)}
        elif kind == "noise":
            kwargs = {
                "noise": torch.rand(t, *shape, dtype=x.dtype if x.is_floating_point() else F32)
            }
        elif kind == "gain":
            kwargs = {"gain": data.draw(st.floats(0.0, 2.0))}
        elif kind == "out_dtype":
            kwargs = {"out_dtype": data.draw(st.sampled_from([torch.bool, torch.uint8, *FLOATS]))}
    valid = fault is None and ok
    out_dtype = kwargs.get("out_dtype")

    def check(z: Tensor) -> None:
        assert z.shape == (t, *x.shape) and z.dtype == (out_dtype or x.dtype)
        zz = z.detach().double()
        assert bool(((zz == 0) | (zz == 1)).all())
        if z.is_floating_point():
            check_backward(x, z)

    return Call(lambda: sf.encode.rate(x, num_steps, **kwargs), valid, check)


@FUZZ.entry("latency", "encode.latency", "encode.latency_times")
def _latency(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from(ENCODER_FAULTS), label="fault")
    shape = data.draw(shapes, label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    x, ok = draw_unit_tensor(data, shape, dtype)
    x = maybe_grad(data, x)
    num_steps = draw_num_steps(data, fault == "num_steps")
    times = data.draw(st.booleans(), label="latency_times")
    if fault == "option":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"tau": 0.0},
                    {"tau": -1.0},
                    {"threshold": 1.5},
                    {"threshold": 0.0},
                    {"first_spike_time": -1},
                    {"epsilon": float("nan")},
                    {"tau": "1"},
                ]
            )
        )
    else:
        kwargs = data.draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "tau": st.floats(0.1, 5.0),
                    "threshold": st.floats(0.01, 0.5),
                    "linear": st.booleans(),
                    "normalize": st.booleans(),
                    "first_spike_time": st.integers(0, 2),
                },
            )
        )
        if not times:
            kwargs.update(data.draw(st.fixed_dictionaries({}, optional={"clip": st.booleans()})))
    # a spike after the window, or first_spike_time > T - 1, is a documented ValueError: the
    # builder does not model those rules. latency_times takes any x (not only [0, 1]).
    valid = None if fault is None and (ok or times) else False
    if times:

        def check_times(t: Tensor) -> None:
            # documented: float32 times for float16/bfloat16 x (threshold + epsilon would round)
            assert t.shape == x.shape and t.dtype == (F32 if x.dtype in (F16, BF16) else x.dtype)

        return Call(lambda: sf.encode.latency_times(x, num_steps, **kwargs), valid, check_times)

    def check(z: Tensor) -> None:
        time_major(x, num_steps)(z)
        zz = z.detach().double()
        assert bool(((zz == 0) | (zz == 1)).all()) and bool((zz.sum(0) <= 1).all())

    return Call(lambda: sf.encode.latency(x, num_steps, **kwargs), valid, check)


@FUZZ.entry("delta", "encode.delta", "encode.delta_decode")
def _delta(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from(ENCODER_FAULTS), label="fault")
    shape = data.draw(st.one_of(small_shapes, large_shapes), label="shape")  # [T, ...]
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    xs = maybe_grad(data, draw_tensor(data, shape, dtype))
    valid: bool | None = fault is None and len(shape) > 0
    if fault == "num_steps":  # delta has no num_steps: a 0-d signal instead
        xs, valid = draw_tensor(data, (), dtype), False
    kwargs: dict[str, Any] = {"threshold": data.draw(st.floats(0.05, 2.0))}
    if fault == "option":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"threshold": 0.0},
                    {"threshold": -1.0},
                    {"threshold": float("inf")},
                    {"threshold": "1"},
                    {},
                ]
            )
        )
    else:
        kwargs.update(data.draw(st.fixed_dictionaries({}, optional={"off_spike": st.booleans()})))
    decode = data.draw(st.booleans(), label="decode")

    def check(z: Tensor) -> None:
        assert z.shape == xs.shape and z.dtype == xs.dtype and z.device == xs.device

    def call() -> Tensor:
        z = sf.encode.delta(xs, **kwargs)
        if not decode:
            return z  # type: ignore[no-any-return]
        return sf.encode.delta_decode(z, threshold=kwargs["threshold"])  # type: ignore[no-any-return]

    return Call(call, valid, check)


@FUZZ.entry("population", "encode.population")
def _population(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from(ENCODER_FAULTS), label="fault")
    shape = data.draw(small_shapes, label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    x = maybe_grad(data, draw_tensor(data, shape, dtype))
    m = draw_num_steps(data, fault == "num_steps")
    kwargs: dict[str, Any] = {}
    if fault == "option":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"low": 1.0, "high": 0.0},
                    {"sigma": 0.0},
                    {"sigma": -1.0},
                    {"low": float("nan")},
                    {"high": "1"},
                ]
            )
        )
    valid = fault is None

    def check(a: Tensor) -> None:
        assert a.shape == (*x.shape, m) and a.dtype == x.dtype
        check_backward(x, a)

    return Call(lambda: sf.encode.population(x, m, **kwargs), valid, check)


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
