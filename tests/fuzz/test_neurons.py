"""Fuzz the neuron models: every built-in step, ``init``, and ``apply_reset``."""

from __future__ import annotations

from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor

import snnfunc as sf

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
    large_shapes,
    maybe_grad,
    run_case,
    shapes,
    small_shapes,
    spike_like,
)

FUZZ = Table()


NEURON_FAULTS = [None] * 6 + [
    "dtype",
    "state_shape",
    "state_dtype",
    "state_device",
    "state_type",
    "param",
    "option",
]


def neuron_call(model: Model, data: st.DataObject) -> Call:
    """A step call with at most one fault; the per-field draws decide the rest."""
    fault = data.draw(
        st.sampled_from(
            NEURON_FAULTS + (["weight"] if "weight" in model.params_type._fields else [])
        )
    )
    # rlif's weight is [N, N]: a large batch, not a large N
    big = large_shapes if "weight" not in model.params_type._fields else st.just((4096, 3))
    shape = data.draw(st.one_of(small_shapes, small_shapes, big), label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    x = maybe_grad(data, draw_tensor(data, shape, dtype))
    valid = fault in (None, "param")  # a "broken" param may still be fine: draw_param says
    fdtype = dtype if dtype.is_floating_point else F32
    if fault == "state_shape":
        state = model.init((*shape, 2), dtype=fdtype)
    elif fault == "state_dtype":
        state = model.init(
            shape, dtype=data.draw(st.sampled_from([d for d in FLOATS if d != fdtype]))
        )
    elif fault == "state_device":
        state = model.init(shape, dtype=fdtype, device="meta")
    elif fault == "state_type":
        state = data.draw(st.sampled_from([(x,) * 5, [*model.init(shape, dtype=fdtype)], None]))
    else:
        state = model.init(shape, dtype=fdtype)
    fields = model.per_neuron
    bad_field = data.draw(st.sampled_from(fields)) if fault == "param" else None
    values = {}
    for name in fields:
        values[name], ok = draw_param(
            data, torch.empty(x.shape, dtype=fdtype), broken=name == bad_field
        )
        valid = valid and ok
    if "weight" in model.params_type._fields:
        n = shape[-1] if shape else 0
        w_shape, w_dtype = (n, n), fdtype
        if fault == "weight":
            w_shape, w_dtype = data.draw(
                st.sampled_from([((n, n + 1), fdtype), ((n + 1, n), fdtype), ((n, n), torch.int64)])
            )
        values["weight"] = draw_tensor(data, w_shape, w_dtype)
        valid = valid and len(shape) > 0
    params = model.params_type(**values)
    opts, _ = draw_options(data, broken=fault == "option")

    def check(out: Any) -> None:
        z, new = out
        spike_like(x)(z)
        assert type(new) is type(model.init(1))
        for leaf in new:
            assert leaf.shape == x.shape and leaf.dtype == x.dtype and leaf.device == x.device
        check_backward(x, z)

    return Call(lambda: model.step(state, x, params, **opts), valid, check)


for _model in MODELS:
    FUZZ.entry(f"{_model.name}_step", f"cell.{_model.name}")(partial(neuron_call, _model))


@FUZZ.entry("init", *(f"cell.{m.name}" for m in MODELS))
def _init(data: st.DataObject) -> Call:
    model = data.draw(st.sampled_from(MODELS), label="model")
    shape_arg = data.draw(
        st.one_of(
            st.integers(0, 5),
            small_shapes,
            small_shapes.map(torch.Size),
            st.sampled_from([-1, (2, -1), [2, 3], 2.0, True, None, "3"]),
        ),
        label="shape",
    )
    dtype = data.draw(st.sampled_from([*FLOATS, *NON_FLOATS, "float32", None]), label="dtype")
    device = data.draw(
        st.sampled_from([None, "cpu", torch.device("cpu"), "meta", "nope", 1.5, "cuda"]),
        label="device",
    )
    shape_ok = (
        isinstance(shape_arg, int) and not isinstance(shape_arg, bool) and shape_arg >= 0
    ) or (isinstance(shape_arg, tuple) and all(d >= 0 for d in shape_arg))
    device_ok = (
        device in (None, "cpu", "meta")
        or isinstance(device, torch.device)
        or (device == "cuda" and torch.cuda.is_available())
    )
    valid = shape_ok and isinstance(dtype, torch.dtype) and dtype.is_floating_point and device_ok

    def check(state: Any) -> None:
        want = (shape_arg,) if isinstance(shape_arg, int) else tuple(shape_arg)
        want_device = torch.device(device) if device is not None else torch.device("cpu")
        for leaf in state:
            assert (
                leaf.shape == want and leaf.dtype == dtype and leaf.device.type == want_device.type
            )
            if leaf.device.type != "meta":
                assert not leaf.any()

    return Call(lambda: model.init(shape_arg, dtype=dtype, device=device), valid, check)


# --- reset, scan, layers ----------------------------------------------------------------------
@FUZZ.entry("apply_reset", "reset.apply_reset")
def _apply_reset(data: st.DataObject) -> Call:
    fault = data.draw(
        st.sampled_from([None] * 4 + ["dtype", "z_shape", "z_dtype", "threshold", "reset"])
    )
    shape = data.draw(shapes)
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS))
    v = maybe_grad(data, draw_tensor(data, shape, dtype))
    fdtype = dtype if dtype.is_floating_point else F32
    if fault == "z_shape":
        z = torch.ones(shape[-1] + 2 if shape else 2, dtype=fdtype)
    elif fault == "z_dtype":
        z = torch.ones(shape, dtype=data.draw(st.sampled_from(NON_FLOATS)))
    else:
        z_shape = data.draw(st.sampled_from([shape, shape[-1:], ()]))
        z = (torch.rand(z_shape) < 0.5).to(fdtype)
    threshold, ok = draw_param(
        data, torch.empty(v.shape, dtype=fdtype), broken=fault == "threshold"
    )
    reset = data.draw(
        st.sampled_from(["soft", "Zero"] if fault == "reset" else ["subtract", "zero", "none"])
    )
    valid = fault in (None, "threshold") and ok

    def check(out: Tensor) -> None:
        assert out.shape == v.shape and out.dtype == v.dtype and out.device == v.device
        check_backward(v, out)

    return Call(lambda: sf.apply_reset(v, z, threshold, reset), valid, check)  # type: ignore[arg-type]


@FUZZ.entry("firing", "reset.Firing")
def _firing(data: st.DataObject) -> Call:
    """Firing options validated when made; calling it spikes and resets like the steps do."""
    options, bad = draw_options(data, broken=data.draw(st.booleans(), label="broken"))
    shape = data.draw(small_shapes)
    h = maybe_grad(data, draw_tensor(data, shape, F32))
    v_prev = draw_tensor(data, shape, F32)
    threshold, ok = draw_param(data, h)

    def call() -> Any:
        return sf.Firing(**options)(h, v_prev, threshold)

    def check(out: tuple[Tensor, Tensor]) -> None:
        z, v = out
        assert z.shape == v.shape == h.shape and z.dtype == v.dtype == F32
        finite = torch.isfinite(z)
        assert bool(((z[finite] == 0) | (z[finite] == 1)).all())

    return Call(call, None if bad is None and not ok else bad is None, check)


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
