"""Fuzz the straight-through Bernoulli and its noise."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor

import snnfunc as sf

from ._harness import (
    FLOATS,
    NON_FLOATS,
    Call,
    Entry,
    Table,
    check_backward,
    draw_unit_tensor,
    fuzz_settings,
    maybe_grad,
    run_case,
    shapes,
    small_shapes,
)

FUZZ = Table()


@FUZZ.entry("bernoulli", "bernoulli.bernoulli")
def _bernoulli(data: st.DataObject) -> Call:
    fault = data.draw(
        st.sampled_from([None] * 4 + ["dtype", "u_shape", "u_dtype", "both"]), label="fault"
    )
    shape = data.draw(shapes, label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    p, ok = draw_unit_tensor(data, shape, dtype)
    p = maybe_grad(data, p)
    t = data.draw(st.integers(1, 3))
    u: Any = data.draw(st.sampled_from([None, "same", "time"]))
    u = None if u is None else torch.rand((t, *shape) if u == "time" else shape)
    kwargs: dict[str, Any] = {}
    if fault == "u_shape":
        u = torch.rand(shape[-1] + 2 if shape else 2)
    elif fault == "u_dtype":
        u = torch.zeros(shape, dtype=torch.int64)
    elif fault == "both":
        u, kwargs = torch.rand(shape), {"generator": torch.Generator()}
    elif u is None and data.draw(st.booleans()):
        kwargs = {"generator": torch.Generator().manual_seed(0)}
    valid = fault is None and ok
    if fault == "u_shape" and (not shape or shape[-1] == 1):
        valid = None  # [n + 2] broadcasts against a 0-d p or a [..., 1] p

    def check(z: Tensor) -> None:
        want = shape if u is None else torch.broadcast_shapes(u.shape, shape)
        assert z.shape == want and z.dtype == p.dtype
        check_backward(p, z)

    return Call(lambda: sf.bernoulli(p, u, **kwargs), valid, check)


@FUZZ.entry("uniform_noise", "bernoulli.uniform_noise")
def _uniform_noise(data: st.DataObject) -> Call:
    from snnfunc.bernoulli import uniform_noise

    fault = data.draw(st.sampled_from([None, None, "shape", "dtype"]))
    shape: Any = data.draw(small_shapes)
    dtype: Any = data.draw(st.sampled_from(FLOATS))
    if fault == "shape":
        shape = data.draw(st.sampled_from([(-1,), (2, -3), 3.0, "3", [2, 2]]))
    if fault == "dtype":
        dtype = data.draw(st.sampled_from([torch.int64, torch.bool, "float32"]))
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 9)))

    def check(u: Tensor) -> None:
        assert u.shape == tuple(shape) and u.dtype == dtype
        assert bool(((u >= 0) & (u < 1)).all())

    valid = None if fault == "shape" and isinstance(shape, list) else fault is None
    return Call(lambda: uniform_noise(shape, generator=gen, dtype=dtype), valid, check)


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
