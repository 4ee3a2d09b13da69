"""Fuzz the losses and metrics on ``[T, B, C]`` outputs, ``[B]`` class targets."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch import Tensor

from snnfunc import loss, metrics

from ._harness import (
    FLOATS,
    NON_FLOATS,
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
)

FUZZ = Table()


# --- losses and metrics (issue 4): [T, B, C] outputs, [B] class targets ---------------------------
def _losses_and_metrics() -> dict[str, Callable[..., Tensor]]:
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


@FUZZ.entry(
    "loss_and_metrics",
    *("loss.membrane_ce", "loss.rate_ce", "loss.count_mse", "loss.latency_mse"),
    *("metrics.accuracy_count", "metrics.accuracy_membrane", "metrics.accuracy_first_spike"),
)
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


@FUZZ.entry("first_spike_time", "loss.first_spike_time")
def _first_spike_time(data: st.DataObject) -> Call:
    shape = data.draw(shapes, label="shape")  # [T, ...]: a 0-d tensor has no time dim
    dtype = data.draw(dtypes, label="dtype")
    binary = data.draw(st.booleans(), label="binary spikes")
    if binary:
        g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
        spikes = (torch.rand(shape, generator=g) < 0.3).to(dtype)
    else:  # documented for {0, 1}; other values must still give a result of the right form
        spikes = draw_tensor(data, shape, dtype)
    spikes = maybe_grad(data, spikes)
    valid = dtype.is_floating_point and len(shape) > 0

    def check(t: Tensor) -> None:
        assert t.shape == spikes.shape[1:] and t.dtype == spikes.dtype
        assert t.device == spikes.device
        if binary:  # a step in [0, T]
            tt = t.detach().double()
            assert bool(((tt >= 0) & (tt <= shape[0]) & (tt == tt.round())).all())
        check_backward(spikes, t)

    return Call(lambda: loss.first_spike_time(spikes), valid, check)


@FUZZ.entry("predict_count", "metrics.predict_count")
def _predict_count(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from([None] * 4 + ["dtype", "rank", "classes"]), label="fault")
    t, b = data.draw(st.integers(0, 5), label="T"), data.draw(st.integers(0, 6), label="B")
    c = 0 if fault == "classes" else data.draw(st.integers(1, 5), label="C")
    shape: tuple[int, ...] = (
        (t, b, c) if fault != "rank" else data.draw(st.sampled_from([(b, c), (t, b, c, 1), ()]))
    )
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    spikes = (torch.rand(shape, generator=g) < 0.3).to(dtype)

    def check(pred: Tensor) -> None:
        assert pred.shape == (b,) and pred.dtype == torch.int64
        assert bool(((pred >= 0) & (pred < c)).all())
        counts = spikes.double().sum(0)  # the predicted class has the most spikes
        assert torch.equal(counts.gather(1, pred[:, None])[:, 0], counts.amax(1))

    return Call(lambda: metrics.predict_count(spikes), fault is None, check)


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    run_case(case, data)
