"""Fuzz the adversarial attacks ``fgsm`` and ``pgd``."""

from __future__ import annotations

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
    draw_unit_tensor,
    fuzz_settings,
    run_case,
    small_shapes,
)

FUZZ = Table()


def _linear_loss(x: Tensor) -> Tensor:
    w = torch.linspace(-1.0, 1.0, max(x.numel(), 1), dtype=x.dtype, device=x.device)
    return (x.reshape(-1) * w[: x.numel()]).sum()


@FUZZ.entry("attacks", "attacks.fgsm", "attacks.pgd")
def _attacks(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from([None] * 4 + ["dtype", "eps", "clamp", "steps", "loss"]))
    name = data.draw(st.sampled_from(["fgsm", "pgd"]), label="attack")
    shape = data.draw(small_shapes, label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    x, _ = draw_unit_tensor(data, shape, dtype)
    eps = data.draw(
        st.sampled_from([-0.1, float("nan"), float("inf"), "0.1"])
        if fault == "eps"
        else st.floats(0.0, 0.3)
    )
    clamp = data.draw(
        st.sampled_from([(1.0, 0.0), (0.5,), "01", (float("nan"), 1.0)])
        if fault == "clamp"
        else st.sampled_from([(0.0, 1.0), None, (-1.0, 2.0)])
    )
    loss = data.draw(
        st.sampled_from([lambda x: x, lambda x: 1.0, lambda x: x.detach().sum()])
        if fault == "loss"
        else st.just(_linear_loss)
    )
    valid: bool | None = fault is None
    if fault == "loss" or (fault is not None and eps == 0):  # eps = 0 returns x without a call
        valid = None
    if name == "fgsm":
        if fault == "steps":
            valid = None

        def call() -> Tensor:
            return sf.attacks.fgsm(loss, x, eps, clamp=clamp)  # type: ignore[no-any-return]
    else:
        steps = data.draw(
            st.sampled_from([-1, 2.0, True]) if fault == "steps" else st.integers(0, 3)
        )
        random_start = data.draw(st.booleans())
        gen = torch.Generator().manual_seed(3)

        def call() -> Tensor:
            return sf.attacks.pgd(
                loss,
                x,
                eps,
                0.05,
                steps,
                clamp=clamp,  # type: ignore[no-any-return]
                random_start=random_start,
                generator=gen,
            )

    def check(x_adv: Tensor) -> None:
        assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
        assert bool(x_adv[x.isnan()].isnan().all()), "NaN stays NaN"
        inside = clamp is None or bool(((x >= clamp[0]) & (x <= clamp[1])).all())
        if inside:  # from outside the valid range, the clamp may move x further than eps
            ulp = torch.finfo(x.dtype).eps  # x +- eps is rounded in x's dtype
            moved = (x_adv - x).abs().double()[~x.isnan()]
            assert bool((moved <= eps + 2 * ulp).all())

    return Call(call, valid, check)  # fmt: skip


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
