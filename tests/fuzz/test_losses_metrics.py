"""Fuzz the losses and metrics on ``[T, B, C]`` outputs, ``[B]`` class targets."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor

from ._harness import (
    FLOATS,
    NON_FLOATS,
    Call,
    Entry,
    Table,
    check_backward,
    draw_tensor,
    fuzz_settings,
    maybe_grad,
    run_case,
)

FUZZ = Table()


# --- losses and metrics (issue 4): [T, B, C] outputs, [B] class targets ---------------------------
def _losses_and_metrics() -> dict[str, Callable[..., Tensor]]:
    from snnfunc import loss, metrics

    return {
        "membrane_ce": loss.membrane_ce,
        "membrane_ce_mean": partial(loss.membrane_ce, time_reduction="mean"),
        "rate_ce": loss.rate_ce,
        "count_mse": loss.count_mse,
        "latency_mse": loss.latency_mse,
        "accuracy_count": metrics.accuracy_count,
        "accuracy_membrane": metrics.accuracy_membrane,
        "accuracy_membrane_last": partial(metrics.accuracy_membrane, reduce="last"),
        "accuracy_first_spike": metrics.accuracy_first_spike,
    }


@FUZZ.entry("loss_and_metrics")
def _loss_metric(data: st.DataObject) -> Call:
    fns = _losses_and_metrics()
    name = data.draw(st.sampled_from(sorted(fns)), label="function")
    fault = data.draw(
        st.sampled_from(
            [None] * 5 + ["dtype", "rank", "targets_dtype", "targets_shape", "targets_range"]
        ),
        label="fault",
    )
    t, b, c = (
        data.draw(st.integers(1, 5)),
        data.draw(st.integers(1, 6)),
        data.draw(st.integers(1, 5)),
    )
    shape: tuple[int, ...] = (
        (t, b, c) if fault != "rank" else data.draw(st.sampled_from([(b, c), (t, b, c, 1), ()]))
    )
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    if (
        "accuracy_count" in name
        or "first_spike" in name
        or name in ("rate_ce", "count_mse", "latency_mse")
    ):
        out = (torch.rand(shape, generator=torch.Generator().manual_seed(0)) < 0.3).to(dtype)
    else:
        out = draw_tensor(data, shape, dtype)
    out = maybe_grad(data, out)
    targets = torch.randint(0, c, (b,), generator=torch.Generator().manual_seed(1))
    if fault == "targets_dtype":
        targets = targets.float()
    elif fault == "targets_shape":
        targets = targets[None].expand(2, b)
    elif fault == "targets_range":
        targets = targets + data.draw(st.sampled_from([c, -c - 1]))
    valid = fault is None

    def check(value: Tensor) -> None:
        assert value.shape == () and value.is_floating_point()
        if name.startswith("accuracy"):
            assert 0.0 <= float(value) <= 1.0
        check_backward(out, value)

    return Call(lambda: fns[name](out, targets), valid, check)


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
