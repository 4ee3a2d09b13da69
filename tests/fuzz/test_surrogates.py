"""Fuzz the surrogate spike functions: the factories, their derivatives, ``step``."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor

from snnfunc import surrogate as S

from ._harness import (
    F32,
    FACTORIES,
    FLOATS,
    Call,
    Entry,
    Table,
    check_backward,
    draw_tensor,
    dtypes,
    fuzz_settings,
    maybe_grad,
    run_case,
    shapes,
    special_floats,
    spike_like,
)

FUZZ = Table()


def draw_hyper(data: st.DataObject, x_shape: tuple[int, ...]) -> tuple[Any, bool]:
    """A hyperparameter and whether it is valid (finite and > 0, float or floating tensor)."""
    kind = data.draw(st.sampled_from(["float", "float", "tensor0", "tensorN", "int", "str"]))
    if kind == "float":
        h = data.draw(special_floats | st.floats(1e-3, 1e3), label="hyper")
        return h, h > 0 and h != float("inf")
    if kind == "tensor0":
        h = data.draw(st.floats(1e-3, 1e3) | special_floats, label="hyper")
        dtype = data.draw(st.sampled_from(FLOATS))
        t = torch.tensor(h, dtype=dtype)
        return t, bool((t > 0).all() and t.isfinite().all())
    if kind == "tensorN":
        n = x_shape[-1] if x_shape else 1
        n = data.draw(st.sampled_from([n, n, n + 1]), label="hyper size")
        t = torch.rand(n, dtype=F32) + data.draw(st.sampled_from([0.5, 0.0, -1.0]))
        fits = len(x_shape) > 0 and (n == 1 or x_shape[-1] == n)
        return t, bool((t > 0).all()) and fits
    if kind == "int":
        return torch.tensor(2), False
    return "2.0", False


@FUZZ.entry("surrogate", *(f"surrogate.{name}" for name, _, _ in FACTORIES))
def _surrogate(data: st.DataObject) -> Call:
    name, make, has_hyper = data.draw(st.sampled_from(FACTORIES), label="surrogate")
    shape, dtype = data.draw(shapes), data.draw(dtypes)
    x = maybe_grad(data, draw_tensor(data, shape, dtype))
    valid = dtype.is_floating_point
    if has_hyper and data.draw(st.booleans(), label="pass hyper"):
        hyper, ok = draw_hyper(data, shape)
        valid = valid and ok
        # a 0-d tensor hyper that requires grad exercises the hyper-gradient path
        if isinstance(hyper, Tensor) and hyper.is_floating_point() and hyper.dim() == 0:
            hyper = hyper.requires_grad_()

        def call() -> Tensor:
            return make(hyper)(x)  # type: ignore[no-any-return]
    else:

        def call() -> Tensor:
            return make()(x)  # type: ignore[no-any-return]

    def check(z: Tensor) -> None:
        spike_like(x)(z)
        finite = x.detach().isfinite()
        assert torch.equal(z.detach()[finite], (x.detach()[finite] > 0).to(x.dtype))
        check_backward(x, z)

    return Call(call, valid, check)


@FUZZ.entry("surrogate.derivative", "surrogate.Surrogate")
def _derivative(data: st.DataObject) -> Call:
    _, make, has_hyper = data.draw(st.sampled_from(FACTORIES), label="surrogate")
    shape, dtype = data.draw(shapes), data.draw(dtypes)
    x = draw_tensor(data, shape, dtype)
    hyper, valid = draw_hyper(data, shape) if has_hyper else (None, True)
    valid = valid and dtype.is_floating_point
    if isinstance(hyper, Tensor) and hyper.is_floating_point() and dtype.is_floating_point:
        hyper = hyper.to(dtype)  # a hyper of another dtype promotes the derivative; not the point
        valid = valid and bool((hyper > 0).all() and hyper.isfinite().all())  # may underflow

    def check(d: Tensor) -> None:
        assert d.shape == x.shape and d.dtype == x.dtype and d.device == x.device

    def call() -> Tensor:
        return (make(hyper) if hyper is not None else make()).derivative(x)  # type: ignore[no-any-return]

    return Call(call, valid, check)


@FUZZ.entry("surrogate.step", "surrogate.step")
def _step(data: st.DataObject) -> Call:
    shape, dtype = data.draw(shapes), data.draw(st.sampled_from(FLOATS))
    x = draw_tensor(data, shape, dtype)
    return Call(lambda: S.step(x), True, spike_like(x))


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
