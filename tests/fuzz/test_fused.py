"""Fuzz the fused scans: a valid call equals the reference ``scan``, bit for bit."""

from __future__ import annotations

from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given

import snnfunc as sf
from snnfunc.fused import FUSED as FUSED_SCANS

from ._harness import (
    F32,
    FLOATS,
    MODELS,
    NON_FLOATS,
    Call,
    Entry,
    Model,
    Table,
    check_backward,
    draw_options,
    draw_param,
    draw_tensor,
    fuzz_settings,
    maybe_grad,
    run_case,
    small_shapes,
)

FUZZ = Table()


# --- fused scans (issue 5): the documented result is scan's, bit for bit ------------------------


def fused_call(model: Model, data: st.DataObject) -> Call:
    """A fused scan with at most one fault; a valid call must equal the reference scan."""
    from snnfunc.fused import FUSED

    fault = data.draw(
        st.sampled_from([None] * 6 + ["dtype", "state_shape", "param", "option", "T"])
    )
    recurrent = "weight" in model.params_type._fields
    shapes = small_shapes.filter(lambda s: len(s) > 0) if recurrent else small_shapes
    shape = data.draw(st.one_of(shapes, shapes, st.just((512, 8))), label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    steps = 0 if fault == "T" else data.draw(st.integers(1, 5), label="T")
    static = data.draw(st.booleans(), label="static input") and fault != "T"
    xs = maybe_grad(data, draw_tensor(data, shape if static else (steps, *shape), dtype))
    fdtype = dtype if dtype.is_floating_point else F32
    state = model.init((*shape, 2) if fault == "state_shape" else shape, dtype=fdtype)
    bad_field = data.draw(st.sampled_from(model.per_neuron)) if fault == "param" else None
    values, valid = {}, fault in (None, "param")
    for name in model.per_neuron:
        values[name], ok = draw_param(
            data, torch.empty(shape, dtype=fdtype), broken=name == bad_field
        )
        valid = valid and ok
    if recurrent:  # the recurrent models' [N, N] weight (rlif, rsynaptic, radlif)
        n = shape[-1]
        values["weight"] = torch.linspace(-0.3, 0.3, n * n, dtype=fdtype).reshape(n, n)
    params = model.params_type(**values)
    opts, _ = draw_options(data, broken=fault == "option")
    backend = data.draw(
        st.sampled_from(["auto", "auto", "torch", "kernel", "scan"]), label="backend"
    )
    num_steps = steps if static else None
    run = FUSED[model.name]

    def call() -> Any:
        return run(state, xs, params, num_steps=num_steps, backend=backend, **opts)

    def check(out: Any) -> None:
        spikes, final = out
        assert spikes.shape == (steps, *shape) and spikes.dtype == dtype
        ref_spikes, ref_final = sf.scan(
            partial(model.step, params=params, **opts), state, xs, num_steps=num_steps
        )
        exact = {"rtol": 0.0, "atol": 0.0, "equal_nan": True}
        torch.testing.assert_close(spikes, ref_spikes, **exact)
        for got, want in zip(final, ref_final, strict=True):
            torch.testing.assert_close(got, want, **exact)
        check_backward(xs, spikes)

    # an explicit backend refuses (ValueError) inputs it cannot run: dtype, device, surrogate
    return Call(call, None if valid and backend in ("kernel", "torch") else valid, check)


for _model in MODELS:
    if _model.name in FUSED_SCANS:  # the registry: every pointwise model has a fused scan
        _named = _model.name in ("lif", "synaptic", "if")  # public names; the rest via fuse
        FUZZ.entry(f"{_model.name}_scan", f"fused.{_model.name}_scan" if _named else "fused.fuse")(
            partial(fused_call, _model)
        )


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
