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
REDUCTIONS = ["mean", "sum", "none"]


# --- losses and metrics (issue 4): [T, B, C] outputs, [B] class targets ---------------------------
def _losses_and_metrics() -> dict[str, Callable[..., Tensor]]:
    return {
        "membrane_ce": loss.membrane_ce,
        "membrane_ce_mean": partial(loss.membrane_ce, time_reduction="mean"),
        "rate_ce": loss.rate_ce,
        "count_mse": loss.count_mse,
        "count_mse_integer": partial(
            loss.count_mse, correct_rate=1.0, incorrect_rate=0.0, integer_counts=True
        ),
        "latency_mse": loss.latency_mse,
        "step_ce": loss.step_ce,
        "count_ce": loss.count_ce,
        "max_membrane_ce": loss.max_membrane_ce,
        "membrane_mse": loss.membrane_mse,
        "temporal_mse": loss.temporal_mse,
        "temporal_mse_multi": partial(
            loss.temporal_mse, on_target=(0, 1), off_target=(-1, -1), tolerance=1.0
        ),
        "temporal_ce": loss.temporal_ce,
        "temporal_ce_reciprocal": partial(loss.temporal_ce, inverse="reciprocal"),
        "accuracy_count": metrics.accuracy_count,
        "accuracy_membrane": metrics.accuracy_membrane,
        "accuracy_membrane_last": partial(metrics.accuracy_membrane, reduce="last"),
        "accuracy_first_spike": metrics.accuracy_first_spike,
    }


@FUZZ.entry(
    "loss_and_metrics",
    *("loss.membrane_ce", "loss.rate_ce", "loss.count_mse", "loss.latency_mse"),
    *("loss.step_ce", "loss.count_ce", "loss.max_membrane_ce", "loss.membrane_mse"),
    *("loss.temporal_mse", "loss.temporal_ce"),
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
        or name.startswith(("rate_ce", "count_", "latency_mse", "step_ce", "temporal_"))
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


LOSS_OPTIONS = {  # loss: (supports num_classes, "none" gives [B] (else [B, K]))
    "membrane_ce": (True, True),
    "step_ce": (True, True),
    "count_ce": (True, True),
    "rate_ce": (True, True),
    "max_membrane_ce": (False, True),
    "temporal_ce": (False, True),
    "count_mse": (True, False),
    "membrane_mse": (False, False),
    "temporal_mse": (False, False),
    "latency_mse": (False, False),
}


@FUZZ.entry("loss_options", *(f"loss.{name}" for name in LOSS_OPTIONS), "metrics.accuracy_count")
def _loss_options(data: st.DataObject) -> Call:
    """``reduction``, ``weight`` and ``num_classes`` (population codes), valid or broken."""
    name = data.draw(st.sampled_from(sorted(LOSS_OPTIONS) + ["accuracy_count"]), label="function")
    population, per_sample = LOSS_OPTIONS.get(name, (True, True))
    fault = data.draw(
        st.sampled_from(
            [None] * 6
            + ["reduction", "weight_shape", "weight_dtype", "weight_type"]
            + (["num_classes_divisor", "num_classes_type"] if population else [])
        ),
        label="fault",
    )
    t, b = data.draw(st.integers(1, 5), label="T"), data.draw(st.integers(1, 6), label="B")
    k = data.draw(st.integers(1, 4), label="K")
    m = data.draw(st.integers(1, 3), label="m") if population else 1
    c = k * m
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    out = maybe_grad(data, (torch.rand((t, b, c), generator=g) < 0.4).to(dtype))
    targets = torch.randint(0, k, (b,), generator=g)
    kwargs: dict[str, object] = {}
    if population and m > 1 or fault in ("num_classes_divisor", "num_classes_type"):
        kwargs["num_classes"] = {"num_classes_divisor": c + 1, "num_classes_type": float(k)}.get(
            fault or "", k
        )
    if name != "accuracy_count":
        reduction = "median" if fault == "reduction" else data.draw(st.sampled_from(REDUCTIONS))
        kwargs["reduction"] = reduction
        if fault == "weight_shape":
            kwargs["weight"] = torch.ones(k + 1, dtype=dtype)
        elif fault == "weight_dtype":
            kwargs["weight"] = torch.ones(k, dtype=torch.int64)
        elif fault == "weight_type":
            kwargs["weight"] = [1.0] * k
        elif data.draw(st.booleans(), label="weighted"):
            kwargs["weight"] = torch.rand(k, generator=g, dtype=dtype) + 0.5
    elif fault is not None and fault.startswith("weight") or fault == "reduction":
        fault = None  # accuracy_count takes neither
    fn = getattr(metrics if name == "accuracy_count" else loss, name)
    classes = kwargs.get("num_classes", c)

    def check(value: Tensor) -> None:
        assert value.is_floating_point()
        if kwargs.get("reduction") == "none":
            assert value.shape == ((b,) if per_sample else (b, classes))
        else:
            assert value.shape == ()
        check_backward(out, value)

    return Call(lambda: fn(out, targets, **kwargs), fault is None, check)


@FUZZ.entry(
    "targets_and_regulariser",
    "loss.population_code",
    "loss.one_hot_targets",
    "loss.rate_targets",
    "loss.l1_rate_sparsity",
)
def _targets(data: st.DataObject) -> Call:
    name = data.draw(
        st.sampled_from(["population_code", "one_hot_targets", "rate_targets", "l1_rate_sparsity"]),
        label="function",
    )
    fault = data.draw(st.sampled_from([None] * 4 + ["shape", "option", "dtype"]), label="fault")
    t, b, k = (
        data.draw(st.integers(0, 5)),
        data.draw(st.integers(0, 6)),
        data.draw(st.integers(1, 4)),
    )
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    targets = torch.randint(0, k, (b,), generator=g)
    if name == "population_code":
        m = data.draw(st.integers(1, 3))
        shape: tuple[int, ...] = (t, b, k * m) if fault != "shape" else (b, k * m)
        x = maybe_grad(data, (torch.rand(shape, generator=g) < 0.4).to(dtype))
        kk = k + 1 if fault == "option" and k * m % (k + 1) else (k if fault != "option" else 0)

        def check(out: Tensor) -> None:
            assert out.shape == (t, b, k) and out.dtype == x.dtype
            check_backward(x, out)

        return Call(lambda: loss.population_code(x, kk), fault is None, check)
    if name == "l1_rate_sparsity":
        shape = (t, b, k) if fault != "shape" else (k,)
        x = maybe_grad(data, (torch.rand(shape, generator=g) < 0.4).to(dtype))
        reduction = "max" if fault == "option" else data.draw(st.sampled_from(REDUCTIONS))

        def check_l1(out: Tensor) -> None:
            assert out.shape == ((b,) if reduction == "none" else ())
            assert not bool((out.detach() < 0).any())  # NaN: the mean of an empty batch
            check_backward(x, out)

        return Call(
            lambda: loss.l1_rate_sparsity(x, strength=1e-3, reduction=reduction),  # type: ignore[arg-type]
            fault is None,
            check_l1,
        )
    if fault == "shape":
        targets = targets[None]
    elif fault == "option":
        targets = targets + k
    out_dtype = dtype  # a non-float dtype must be refused
    valid = fault is None or (fault == "option" and b == 0)  # no targets, none out of range

    def check_targets(out: Tensor) -> None:
        assert out.dtype == out_dtype
        assert out.shape == ((b, k) if name == "one_hot_targets" else (t, b, k))

    if name == "one_hot_targets":
        return Call(
            lambda: loss.one_hot_targets(targets, k, on_target=2.0, dtype=out_dtype),
            valid,
            check_targets,
        )
    rate = data.draw(st.floats(0.0, 1.0), label="rate")
    return Call(
        lambda: loss.rate_targets(
            targets, k, t, correct_rate=rate, incorrect_rate=rate / 2, dtype=out_dtype
        ),
        valid,
        check_targets,
    )


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
