"""Fuzz ``scan``, ``sequential`` and ``neuron`` layers."""

from __future__ import annotations

from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given

import snnfunc as sf

from ._harness import (
    F32,
    FLOATS,
    MODELS,
    NON_FLOATS,
    OPTION_NAMES,
    Call,
    Entry,
    Table,
    check_backward,
    draw_options,
    draw_tensor,
    fuzz_settings,
    maybe_grad,
    run_case,
    small_shapes,
)

FUZZ = Table()


int_option = st.one_of(
    st.none(), st.integers(1, 4), st.integers(-1, 4), st.sampled_from([2.0, "2", True])
)


def _int_option_ok(value: Any) -> bool:
    return value is None or (type(value) is int and value >= 1)


@FUZZ.entry("scan", "scan.scan")
def _scan(data: st.DataObject) -> Call:
    model = data.draw(st.sampled_from(MODELS), label="model")
    shape = data.draw(small_shapes.filter(lambda s: len(s) > 0), label="shape")
    dtype = data.draw(st.sampled_from(FLOATS * 4 + NON_FLOATS[:1]), label="dtype")
    steps = data.draw(st.integers(0, 5).filter(lambda t: t > 0) | st.just(0), label="T")
    static = data.draw(st.booleans(), label="static input")
    xs = draw_tensor(data, shape if static else (steps, *shape), dtype)
    xs = maybe_grad(data, xs)
    num_steps = steps if static else None
    truncate, checkpoint = data.draw(int_option), data.draw(int_option)
    n = shape[-1]
    values = {name: 0.9 for name in model.params_type._fields}  # type: ignore[attr-defined]
    if "weight" in model.params_type._fields:
        values["weight"] = torch.zeros(n, n, dtype=dtype if dtype.is_floating_point else F32)
    if model.name == "lapicque":
        values["resistance"] = 5.0
    step = partial(model.step, params=model.params_type(**values))
    state = model.init(shape, dtype=dtype if dtype.is_floating_point else F32)
    valid = (
        dtype.is_floating_point
        and steps >= 1
        and _int_option_ok(truncate)
        and _int_option_ok(checkpoint)
    )

    def check(out: Any) -> None:
        ys, final = out
        assert ys.shape == (steps, *shape) and ys.dtype == dtype
        for leaf in final:
            assert leaf.shape == shape and leaf.dtype == dtype
        check_backward(xs, ys)

    def call() -> Any:
        return sf.scan(
            step, state, xs, num_steps=num_steps, truncate=truncate, checkpoint=checkpoint
        )

    return Call(call, valid, check)


@FUZZ.entry("sequential", "compose.sequential", "compose.stateless")
def _sequential(data: st.DataObject) -> Call:
    shape = data.draw(small_shapes, label="shape")
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")  # a stateless layer may cast
    x = maybe_grad(data, draw_tensor(data, shape, dtype))
    kinds = data.draw(
        st.lists(st.sampled_from(MODELS[:6] + ["tanh", "double"]), min_size=1, max_size=4)
    )
    layers: list[Any] = []
    states: list[Any] = []
    for kind in kinds:
        if kind == "tanh":
            layers.append(torch.tanh)
        elif kind == "double":
            layers.append(sf.stateless(lambda t: 2 * t))
        else:
            values = {name: 0.5 for name in kind.params_type._fields}
            layers.append(sf.neuron(kind.step, kind.params_type(**values)))
            states.append(kind.init(shape, dtype=dtype))
    record = data.draw(st.booleans(), label="record_states")
    net = sf.sequential(*layers, record_states=record)
    wrong = data.draw(st.sampled_from(["none", "none", "none", "count", "bare"]), label="states")
    valid = True
    if wrong == "count":
        states, valid = [*states, states[0] if states else 0], False
    if wrong == "bare" and len(states) == 1:
        arg, valid = states[0], False
    else:
        arg = tuple(states)

    def check(out: Any) -> None:
        y, new = out
        if record:
            y, recorded = y
            assert recorded is new
        assert isinstance(new, tuple) and len(new) == len(states)
        assert y.shape == x.shape and y.dtype == x.dtype
        check_backward(x, y)

    return Call(lambda: net(arg, x), valid, check)


@FUZZ.entry("neuron", "compose.neuron", "compose.Layer")
def _neuron(data: st.DataObject) -> Call:
    model = data.draw(st.sampled_from(MODELS), label="model")
    fault = data.draw(st.sampled_from([None, None, "option", "unknown"]), label="fault")
    opts, bad = draw_options(data, broken=fault == "option")
    keep = data.draw(st.sets(st.sampled_from(OPTION_NAMES), min_size=1), label="options passed")
    keep |= {bad} if bad else set()  # the bad one is always passed
    opts = {k: v for k, v in opts.items() if k in keep}
    if fault == "unknown":
        opts["slope"] = 2.0
    params = model.params_type(**{name: 0.9 for name in model.params_type._fields})  # type: ignore[attr-defined]

    def check(layer: Any) -> None:
        assert isinstance(layer, sf.Layer) and layer.stateful

    return Call(lambda: sf.neuron(model.step, params, **opts), fault is None, check)


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
