"""Fuzz the ``snnfunc.nn`` modules around the same steps."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given

import snnfunc as sf
from snnfunc.cell import BUILTIN_CELLS

from ._harness import (
    ALLOWED,
    F32,
    FLOATS,
    NON_FLOATS,
    Call,
    Entry,
    Table,
    draw_param,
    draw_tensor,
    fuzz_settings,
    maybe_grad,
    run_case,
    small_shapes,
    spike_like,
)

FUZZ = Table()


# --- nn wrappers (issue 6): modules around the same steps -------------------------------------
def _layer_entry(cls: Any) -> tuple[int, Any]:
    return len(cls.model.params), lambda p: cls(*p)


NN_LAYERS = {  # name: (number of params, constructor); the public layer classes (registry)
    **{
        cls.__name__: _layer_entry(cls)
        for cls in sf.nn.MODULES.values()
        if all(spec.kind == "neuron" for spec in cls.model.params.values())  # no [N, N] weights
        and cls.__name__ in sf.nn.__all__
    },
    "Neuron": (2, lambda p: sf.nn.Neuron(BUILTIN_CELLS["lif"], sf.LIFParams(*p))),
}


@FUZZ.entry("nn", *(f"nn.{name}" for name in NN_LAYERS), "nn.Sequential")
def _nn(data: st.DataObject) -> Call:
    """An nn neuron layer, one step (``forward``) or all (``unroll``), state from rest or given;
    now and then inside an ``nn.Sequential`` (states: a tuple of one)."""
    name = data.draw(st.sampled_from(sorted(NN_LAYERS)), label="layer")
    fault = data.draw(st.sampled_from([None] * 4 + ["dtype", "param", "state"]), label="fault")
    shape = data.draw(st.one_of(small_shapes.filter(len), st.just((4096, 3))), label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    unroll = data.draw(st.booleans(), label="unroll")
    steps = data.draw(st.integers(1, 4))
    x = maybe_grad(data, draw_tensor(data, (steps, *shape) if unroll else shape, dtype))
    fdtype = dtype if dtype.is_floating_point else F32
    like = torch.empty(shape, dtype=fdtype)
    values, valid = [], fault in (None, "param")
    n_params, make = NN_LAYERS[name]
    bad_field = data.draw(st.integers(0, n_params - 1)) if fault == "param" else None
    for k in range(n_params):
        if k == bad_field:  # a wrong type, or a tensor that does not broadcast
            value, ok = data.draw(
                st.sampled_from([("0.5", False), (torch.ones(shape[-1] + 2, dtype=fdtype), False)])
            )
        else:
            value, ok = draw_param(data, like)
        values.append(value)
        valid = valid and ok
    try:
        layer = make(values)
    except ALLOWED:  # refused at construction: must have been invalid
        return Call(lambda: make(values), False if not valid else True)
    if fault == "state":
        state: Any = data.draw(st.sampled_from([(torch.zeros(shape),) * 9, 0.0, "other dtype"]))
        if state == "other dtype":
            other = [d for d in FLOATS if d != fdtype][0]
            state = layer.init_state(shape, dtype=other)
    else:
        state = data.draw(st.sampled_from([None, "rest"]))
    if isinstance(state, str):
        state = layer.init_state(shape, dtype=fdtype)
    module: Any = layer
    in_sequential = data.draw(st.booleans(), label="in nn.Sequential")
    if in_sequential:
        module = sf.nn.Sequential(layer)
        state = None if state is None else (state,)

    def check(out: Any) -> None:
        z, new = out
        spike_like(x)(z)
        if in_sequential:
            assert isinstance(new, tuple) and len(new) == 1
            (new,) = new
        for leaf in new:
            assert leaf.shape == shape and leaf.dtype == x.dtype

    if unroll:
        return Call(lambda: module.unroll(x, state), valid, check)
    return Call(lambda: module(x, state), valid, check)


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
