"""Bad input at the public boundary: one table, one test.

Every row is a call that must fail with ``ValueError`` or ``TypeError`` whose message names the
argument, says what was expected and what was given. The table is generated per neuron model where
a check is shared, so a model whose boundary forgets one fails its own row. ``BAD_INPUTS`` is the
count reported in the README ("Reliability").
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import pytest
import torch
import torch.nn.functional as F

import snnfunc as sf
from snnfunc import surrogate as S

F32, F64 = torch.float32, torch.float64
N = 3


@dataclass(frozen=True)
class Bad:
    id: str
    call: Callable[[], Any]
    error: type[Exception]
    match: str  # regex: names the argument and what was expected / given


@dataclass(frozen=True)
class Spec:
    """How to build a valid call of one neuron step, so that each row can break one thing."""

    name: str
    init: Callable[..., Any]
    step: Callable[..., Any]
    params: Callable[[], Any]  # valid params for x of shape [2, N], float32
    first_field: str  # the first params field (a per-neuron one)


def _valid_params(name: str) -> Any:
    """The model's registered defaults; a required matrix (RLIF's weights) as zeros [N, N]."""
    model = sf.neurons.MODELS[name]
    required = {f: torch.zeros(N, N) for f, spec in model.params.items() if spec.default is None}
    return model.default_params(**required)


SPECS = [
    Spec(name, model.init, model.step, partial(_valid_params, name), next(iter(model.params)))
    for name, model in sf.neurons.MODELS.items()
]


def _x(dtype: torch.dtype = F32) -> torch.Tensor:
    return torch.ones(2, N, dtype=dtype)


def _with(params: Any, **fields: Any) -> Any:
    return params._replace(**fields)


def _neuron_rows(spec: Spec) -> list[Bad]:
    """The boundary checks every neuron step shares, for one model."""
    m, init, step, p, f = spec.name, spec.init, spec.step, spec.params, spec.first_field
    state_type = type(init(1))
    field0 = state_type._fields[0]

    class NotAState(NamedTuple):
        q: torch.Tensor

    return [
        Bad(f"{m}-x-int", lambda: step(init((2, N)), _x().long(), p()), TypeError,
            r"x must be a floating-point tensor .*got dtype torch.int64"),
        Bad(f"{m}-x-bool", lambda: step(init((2, N)), _x().bool(), p()), TypeError,
            r"x must be a floating-point tensor .*got dtype torch.bool"),
        Bad(f"{m}-x-complex", lambda: step(init((2, N)), _x().cfloat(), p()), TypeError,
            r"x must be a floating-point tensor .*got dtype torch.complex64"),
        Bad(f"{m}-x-list", lambda: step(init((2, N)), [[1.0] * N] * 2, p()), TypeError,
            r"x must be a torch.Tensor, got list"),
        Bad(f"{m}-state-shape", lambda: step(init((N,)), _x(), p()), ValueError,
            rf"state.{field0} has shape \(3,\) but x has shape \(2, 3\)"),
        Bad(f"{m}-state-dtype", lambda: step(init((2, N), dtype=F64), _x(), p()), TypeError,
            rf"state.{field0} is torch.float64 on cpu but x is torch.float32"),
        Bad(f"{m}-state-device", lambda: step(init((2, N), device="meta"), _x(), p()), TypeError,
            rf"state.{field0} is torch.float32 on meta but x is torch.float32 on cpu"),
        Bad(f"{m}-state-type", lambda: step(NotAState(_x()) if len(state_type._fields) != 1
                                            else (_x(), _x()), _x(), p()), TypeError,
            rf"state must be a {state_type.__name__}"),
        Bad(f"{m}-state-field-not-tensor",
            lambda: step(init((2, N))._replace(**{field0: 0.0}), _x(), p()), TypeError,
            rf"state.{field0} must be a Tensor, got float"),
        Bad(f"{m}-params-type", lambda: step(init((2, N)), _x(), (1.0,) * 9), TypeError,
            r"params must be a \w+Params"),
        Bad(f"{m}-param-str", lambda: step(init((2, N)), _x(), _with(p(), **{f: "0.9"})), TypeError,
            rf"params.{f} must be a float or a torch.Tensor, got str"),
        Bad(f"{m}-param-none", lambda: step(init((2, N)), _x(), _with(p(), **{f: None})), TypeError,
            rf"params.{f} must be a float or a torch.Tensor, got NoneType"),
        Bad(f"{m}-param-unbroadcastable",
            lambda: step(init((2, N)), _x(), _with(p(), **{f: torch.ones(N + 1)})), ValueError,
            rf"params.{f} of shape \(4,\) must broadcast to the input shape \(2, 3\)"),
        Bad(f"{m}-param-grows-input",
            lambda: step(init((N,)), torch.ones(N), _with(p(), **{f: torch.ones(2, N)})),
            ValueError,
            rf"params.{f} of shape \(2, 3\) must broadcast to the input shape \(3,\)"),
        Bad(f"{m}-param-promotes-dtype",
            lambda: step(init((2, N)), _x(), _with(p(), **{f: torch.ones(N, dtype=F64)})),
            TypeError,
            rf"params.{f} is torch.float64 of shape \(3,\) but x is torch.float32"),
        Bad(f"{m}-param-complex",
            lambda: step(init((2, N)), _x(), _with(p(), **{f: torch.ones(N, dtype=torch.cfloat)})),
            TypeError, rf"params.{f} is torch.complex64 .* but x is torch.float32"),
        Bad(f"{m}-param-device",
            lambda: step(init((2, N)), _x(), _with(p(), **{f: torch.ones(N, device="meta")})),
            TypeError, rf"params.{f} is on meta but x is on cpu"),
        Bad(f"{m}-reset-unknown", lambda: step(init((2, N)), _x(), p(), reset="soft"), ValueError,
            r"reset must be one of \('subtract', 'zero', 'none'\), got 'soft'"),
        Bad(f"{m}-reset-delay-int", lambda: step(init((2, N)), _x(), p(), reset_delay=1), TypeError,
            r"reset_delay must be a bool, got int"),
        Bad(f"{m}-detach-reset-str", lambda: step(init((2, N)), _x(), p(), detach_reset="no"),
            TypeError, r"detach_reset must be a bool, got str"),
        Bad(f"{m}-spike-fn-not-callable", lambda: step(init((2, N)), _x(), p(), spike_fn="atan"),
            TypeError, r"spike_fn must be callable, got str"),
        Bad(f"{m}-init-dtype-int", lambda: init((2, N), dtype=torch.int32), TypeError,
            r"dtype must be a floating-point dtype, got torch.int32"),
        Bad(f"{m}-init-dtype-str", lambda: init((2, N), dtype="float32"), TypeError,
            r"dtype must be a torch.dtype .*got 'float32'"),
        Bad(f"{m}-init-shape-negative", lambda: init((2, -1)), TypeError,
            r"shape must be an int or a tuple of non-negative ints, got \(2, -1\)"),
        Bad(f"{m}-init-shape-list", lambda: init([2, N]), TypeError,
            r"shape must be an int or a tuple of non-negative ints, got \[2, 3\]"),
        Bad(f"{m}-init-shape-float", lambda: init(2.0), TypeError,
            r"shape must be an int or a tuple of non-negative ints, got 2.0"),
        Bad(f"{m}-init-device-unknown", lambda: init(N, device="gpu0"), ValueError,
            r"device must name a torch device .*got 'gpu0'"),
        Bad(f"{m}-init-device-type", lambda: init(N, device=1.5), TypeError,
            r"device must be a str, int or torch.device .*got 1.5"),
    ]  # fmt: skip


HYPER_FACTORIES = [  # every registered factory with a hyperparameter, and its argument's name
    (name, spec.factory, next(iter(inspect.signature(spec.factory).parameters)))
    for name, spec in S.SURROGATES.items()
    if spec.hyper_range is not None
]


def _surrogate_rows() -> list[Bad]:
    rows = []
    for name, make, arg in HYPER_FACTORIES:
        rows += [
            Bad(f"{name}-hyper-zero", partial(make, 0.0), ValueError,
                rf"{arg} must be > 0 and finite, got 0.0"),
            Bad(f"{name}-hyper-negative", partial(make, -2.0), ValueError,
                rf"{arg} must be > 0 and finite, got -2.0"),
            Bad(f"{name}-hyper-nan", partial(make, float("nan")), ValueError,
                rf"{arg} must be > 0 and finite, got nan"),
            Bad(f"{name}-hyper-inf", partial(make, float("inf")), ValueError,
                rf"{arg} must be > 0 and finite, got inf"),
            Bad(f"{name}-hyper-tensor-with-zero", partial(make, torch.tensor([1.0, 0.0])),
                ValueError, rf"{arg} must be > 0 and finite, got 0.0"),
            Bad(f"{name}-hyper-int-tensor", partial(make, torch.tensor(2)), TypeError,
                rf"{arg} must be a float or floating-point tensor, got torch.int64"),
            Bad(f"{name}-hyper-str", partial(make, "2"), TypeError,
                rf"{arg} must be a float or a tensor, got str"),
            Bad(f"{name}-hyper-bool", partial(make, True), TypeError,
                rf"{arg} must be a float or a tensor, got bool"),
            Bad(f"{name}-hyper-unbroadcastable",
                lambda make=make: make(torch.ones(4))(torch.zeros(3)), ValueError,
                rf"{name} hyperparameter of shape \(4,\) must broadcast to the input shape \(3,\)"),
        ]  # fmt: skip
    atan = S.atan()
    rows += [
        Bad("spike-x-int", lambda: atan(torch.tensor([1, -1])), TypeError,
            r"x must be a floating-point tensor .*got dtype torch.int64"),
        Bad("spike-x-list", lambda: atan([1.0]), TypeError, r"x must be a torch.Tensor, got list"),
        Bad("spike-x-float", lambda: atan(1.0), TypeError, r"x must be a torch.Tensor, got float"),
        Bad("derivative-x-int", lambda: atan.derivative(torch.tensor([1])), TypeError,
            r"x must be a floating-point tensor .*got dtype torch.int64"),
        Bad("custom-not-callable", lambda: S.custom(1.0), TypeError,  # type: ignore[arg-type]
            r"derivative must be callable, got float"),
    ]  # fmt: skip
    return rows


def _reset_rows() -> list[Bad]:
    v = torch.ones(2, N)
    z = torch.ones(2, N)
    ar = sf.apply_reset
    return [
        Bad("apply_reset-v-int", lambda: ar(v.long(), z, 1.0, "subtract"), TypeError,
            r"v must be a floating-point tensor .*got dtype torch.int64"),
        Bad("apply_reset-z-bool", lambda: ar(v, z.bool(), 1.0, "zero"), TypeError,
            r"z must be a floating-point tensor .*got dtype torch.bool"),
        Bad("apply_reset-v-list", lambda: ar([1.0], z, 1.0, "zero"), TypeError,
            r"v must be a torch.Tensor, got list"),
        Bad("apply_reset-z-shape", lambda: ar(v, torch.ones(N + 1), 1.0, "subtract"), ValueError,
            r"z of shape \(4,\) must broadcast to the input shape \(2, 3\)"),
        Bad("apply_reset-z-grows-v", lambda: ar(torch.ones(N), z, 1.0, "subtract"), ValueError,
            r"z of shape \(2, 3\) must broadcast to the input shape \(3,\)"),
        Bad("apply_reset-threshold-shape", lambda: ar(v, z, torch.ones(2), "subtract"), ValueError,
            r"threshold of shape \(2,\) must broadcast to the input shape \(2, 3\)"),
        Bad("apply_reset-threshold-dtype", lambda: ar(v, z, torch.ones(N, dtype=F64), "subtract"),
            TypeError, r"threshold is torch.float64 of shape \(3,\) but x is torch.float32"),
        Bad("apply_reset-threshold-str", lambda: ar(v, z, "1", "subtract"), TypeError,
            r"threshold must be a float or a torch.Tensor, got str"),
        Bad("apply_reset-mode", lambda: ar(v, z, 1.0, "hard"), ValueError,
            r"reset must be one of \('subtract', 'zero', 'none'\), got 'hard'"),
    ]  # fmt: skip


def _scan_rows() -> list[Bad]:
    lif = partial(sf.lif_step, params=sf.LIFParams(0.9, 1.0))
    s0 = sf.lif_init(N)
    xs = torch.ones(4, N)
    net = sf.sequential(sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0)))
    return [
        Bad("scan-step-not-callable", lambda: sf.scan(None, s0, xs), TypeError,  # type: ignore[arg-type]
            r"step must be callable, got NoneType"),
        Bad("scan-num-steps-zero", lambda: sf.scan(lif, s0, xs[0], num_steps=0), ValueError,
            r"num_steps must be >= 1, got 0"),
        Bad("scan-num-steps-negative", lambda: sf.scan(lif, s0, xs[0], num_steps=-3), ValueError,
            r"num_steps must be >= 1, got -3"),
        Bad("scan-num-steps-float", lambda: sf.scan(lif, s0, xs[0], num_steps=2.0), TypeError,
            r"num_steps must be an int, got float"),
        Bad("scan-num-steps-bool", lambda: sf.scan(lif, s0, xs[0], num_steps=True), TypeError,
            r"num_steps must be an int, got bool"),
        Bad("scan-truncate-zero", lambda: sf.scan(lif, s0, xs, truncate=0), ValueError,
            r"truncate must be >= 1, got 0"),
        Bad("scan-truncate-str", lambda: sf.scan(lif, s0, xs, truncate="2"), TypeError,
            r"truncate must be an int, got str"),
        Bad("scan-checkpoint-zero", lambda: sf.scan(lif, s0, xs, checkpoint=0), ValueError,
            r"checkpoint must be >= 1, got 0"),
        Bad("scan-empty-time", lambda: sf.scan(lif, s0, xs[:0]), ValueError,
            r"xs must have at least one time step \(T >= 1\), got T = 0"),
        Bad("scan-0d-xs", lambda: sf.scan(lif, s0, torch.tensor(1.0)), ValueError,
            r"xs must have a leading time dim \[T, ...\]; got a 0-d tensor"),
        Bad("scan-ragged-time", lambda: sf.scan(lif, s0, (xs, xs[:2])), ValueError,
            r"every tensor in xs must have the same leading time dim"),
        Bad("scan-no-tensors", lambda: sf.scan(lif, s0, [1.0, 2.0]), ValueError,
            r"xs must hold tensors with a leading time dim"),
        Bad("scan-int-xs", lambda: sf.scan(lif, s0, xs.long()), TypeError,
            r"x must be a floating-point tensor .*got dtype torch.int64"),
        Bad("sequential-empty", lambda: sf.sequential(), ValueError,
            r"sequential needs at least one layer"),
        Bad("sequential-not-callable", lambda: sf.sequential(3), TypeError,  # type: ignore[arg-type]
            r"fn must be callable, got int"),
        Bad("sequential-states-count", lambda: net((s0, s0), xs[0]), ValueError,
            r"states must be a tuple of 1 layer states .*got 2"),
        Bad("sequential-bare-state", lambda: net(s0, xs[0]), ValueError,
            r"states must be a plain tuple of 1 layer states .*got LIFState"),
        Bad("stateless-not-callable", lambda: sf.stateless("relu"), TypeError,  # type: ignore[arg-type]
            r"fn must be callable, got str"),
        Bad("neuron-step-not-callable", lambda: sf.neuron(1, sf.LIFParams(0.9, 1.0)), TypeError,  # type: ignore[arg-type]
            r"step must be callable, got int"),
        Bad("neuron-unknown-option", lambda: sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0), beta=1),
            TypeError, r"options do not fit step 'lif_step': .*unexpected keyword argument 'beta'"),
        Bad("neuron-reset-unknown",
            lambda: sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0), reset="soft"), ValueError,
            r"reset must be one of \('subtract', 'zero', 'none'\), got 'soft'"),
        Bad("neuron-reset-delay-str",
            lambda: sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0), reset_delay="yes"), TypeError,
            r"reset_delay must be a bool, got str"),
        Bad("neuron-spike-fn-not-callable",
            lambda: sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0), spike_fn=2.0), TypeError,
            r"spike_fn must be callable, got float"),
    ]  # fmt: skip


def _rlif_rows() -> list[Bad]:
    p = sf.RLIFParams(0.9, 1.0, torch.zeros(N, N))
    s = sf.rlif_init((2, N))
    return [
        Bad("rlif-x-0d", lambda: sf.rlif_step(sf.rlif_init(()), torch.tensor(1.0), p), ValueError,
            r"x must have a neuron dim \[..., N\] for a recurrent layer, got a 0-d tensor"),
        Bad("rlif-weight-shape",
            lambda: sf.rlif_step(s, _x(), p._replace(weight=torch.zeros(N, 2))), ValueError,
            r"params.weight must be \[N, N\] = \[3, 3\] .*got \(3, 2\)"),
        Bad("rlif-weight-float", lambda: sf.rlif_step(s, _x(), p._replace(weight=0.5)), TypeError,
            r"params.weight must be a Tensor \[N, N\], got float"),
        Bad("rlif-weight-dtype",
            lambda: sf.rlif_step(s, _x(), p._replace(weight=torch.zeros(N, N, dtype=F64))),
            TypeError, r"params.weight is torch.float64 on cpu but x is torch.float32 on cpu"),
        Bad("rlif-weight-device",
            lambda: sf.rlif_step(s, _x(), p._replace(weight=torch.zeros(N, N, device="meta"))),
            TypeError, r"params.weight is torch.float32 on meta but x is torch.float32 on cpu"),
    ]  # fmt: skip


def _loss_rows() -> list[Bad]:
    from snnfunc import loss, metrics
    from snnfunc.app.models import NEURONS
    from snnfunc.app.train import preset

    out = torch.rand(3, 2, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([1, 0])
    return [
        Bad("membrane_ce-targets-range", lambda: loss.membrane_ce(out, torch.tensor([4, 0])),
            ValueError, r"targets must be class indices in \[0, C\) = \[0, 4\), got 4"),
        Bad("rate_ce-targets-negative", lambda: loss.rate_ce(out, torch.tensor([-1, 0])),
            ValueError, r"targets must be class indices in \[0, C\) = \[0, 4\), got -1"),
        Bad("accuracy_first_spike-targets-range",
            lambda: metrics.accuracy_first_spike(out, torch.tensor([9, 0])), ValueError,
            r"targets must be class indices in \[0, C\) = \[0, 4\), got 9"),
        Bad("count_mse-targets-float", lambda: loss.count_mse(out, y.float()), TypeError,
            r"targets must hold integer class indices, got dtype torch.float32"),
        Bad("latency_mse-rank", lambda: loss.latency_mse(out[0], y), ValueError,
            r"spikes must be \[T, B, C\] \(time, batch, classes\), got \(2, 4\)"),
        Bad("accuracy_count-targets-shape",
            lambda: metrics.accuracy_count(out, torch.tensor([1, 0, 2])), ValueError,
            r"targets must be \[B\] = \[2\] to match spikes \(3, 2, 4\), got \(3,\)"),
        Bad("accuracy_membrane-reduce",
            lambda: metrics.accuracy_membrane(out, y, reduce="median"), ValueError,
            r"reduce must be one of \('mean', 'max', 'last'\), got 'median'"),
        Bad("membrane_ce-time-reduction",
            lambda: loss.membrane_ce(out, y, time_reduction="max"), ValueError,
            r"time_reduction must be one of \('sum', 'mean'\), got 'max'"),
        Bad("membrane_ce-int", lambda: loss.membrane_ce(out.long(), y), TypeError,
            r"membrane must be a floating-point tensor .*got dtype torch.int64"),
        Bad("count_mse-rate", lambda: loss.count_mse(out, y, correct_rate=1.5), ValueError,
            r"correct_rate must lie in \[0, 1\] \(spikes per step\), got 1.5"),
        Bad("train-neuron", lambda: preset(neuron="hh"), ValueError,
            re.escape(f"neuron must be one of {NEURONS}, got 'hh'")),
        Bad("train-dataset", lambda: preset(dataset="cifar"), ValueError,
            r"dataset must be one of \('digits', 'mnist', .*\), got 'cifar'"),
        Bad("train-epochs", lambda: preset(epochs=0), ValueError,
            r"epochs must be a positive int, got 0"),
        Bad("train-lr", lambda: preset(lr=-1.0), ValueError,
            r"lr must be a positive finite float, got -1.0"),
    ]  # fmt: skip


def _fused_rows() -> list[Bad]:
    s, p = sf.lif_init((2, N)), sf.LIFParams(0.9, 1.0)
    xs = torch.ones(4, 2, N)
    return [
        Bad("lif_scan-xs-int", lambda: sf.lif_scan(s, xs.long(), p), TypeError,
            r"xs must be a floating-point tensor .*got dtype torch.int64"),
        Bad("lif_scan-empty-time", lambda: sf.lif_scan(s, xs[:0], p), ValueError,
            r"xs must have at least one time step \(T >= 1\), got T = 0"),
        Bad("lif_scan-num-steps", lambda: sf.lif_scan(s, xs[0], p, num_steps=0), ValueError,
            r"num_steps must be >= 1, got 0"),
        Bad("lif_scan-state-shape", lambda: sf.lif_scan(sf.lif_init(N), xs, p), ValueError,
            r"state.v has shape \(3,\) but x has shape \(2, 3\)"),
        Bad("synaptic_scan-param-dtype",
            lambda: sf.synaptic_scan(sf.synaptic_init((2, N)), xs,
                                     sf.SynapticParams(torch.ones(N, dtype=F64), 0.9, 1.0)),
            TypeError, r"params.alpha is torch.float64 of shape \(3,\) but x is torch.float32"),
        Bad("if_scan-reset",
            lambda: sf.if_scan(sf.if_init((2, N)), xs, sf.IFParams(1.0), reset="hard"), ValueError,
            r"reset must be one of \('subtract', 'zero', 'none'\), got 'hard'"),
        Bad("lif_scan-backend", lambda: sf.lif_scan(s, xs, p, backend="cuda"), ValueError,
            r"backend must be one of"),
    ]  # fmt: skip


def _encoder_rows() -> list[Bad]:
    from snnfunc.bernoulli import uniform_noise

    enc = sf.encode
    x = torch.rand(2, N, generator=torch.Generator().manual_seed(0))
    noise = torch.rand(5, 2, N)
    return [
        Bad("rate-x-int", lambda: enc.rate(x.long(), 5), TypeError,
            r"x must be a floating-point tensor .*got dtype torch.int64"),
        Bad("rate-x-above-1", lambda: enc.rate(x + 1, 5), ValueError,
            r"x must lie in \[0, 1\], got"),
        Bad("rate-x-nan", lambda: enc.rate(torch.tensor([0.5, float("nan")]), 5), ValueError,
            r"x must lie in \[0, 1\], got a value nan"),
        Bad("rate-num-steps-0", lambda: enc.rate(x, 0), ValueError,
            r"num_steps must be >= 1, got 0"),
        Bad("rate-num-steps-float", lambda: enc.rate(x, 5.0), TypeError,
            r"num_steps must be an int, got float"),
        Bad("rate-gain-negative", lambda: enc.rate(x, 5, gain=-1.0), ValueError,
            r"gain must be a finite float >= 0.0, got -1.0"),
        Bad("rate-gain-str", lambda: enc.rate(x, 5, gain="1"), TypeError,
            r"gain must be a float, got str"),
        Bad("rate-noise-shape", lambda: enc.rate(x, 5, noise=noise[:4]), ValueError,
            r"noise must have shape \[num_steps, \*x.shape\] = \[5, 2, 3\], got \[4, 2, 3\]"),
        Bad("rate-noise-int", lambda: enc.rate(x, 5, noise=noise.long()), TypeError,
            r"noise must be a floating-point tensor .*got dtype torch.int64"),
        Bad("rate-noise-and-generator",
            lambda: enc.rate(x, 5, noise=noise, generator=torch.Generator()), ValueError,
            r"pass either noise or generator, not both"),
        Bad("rate-out-dtype", lambda: enc.rate(x, 5, out_dtype=torch.int64), ValueError,
            r"out_dtype must be None, a floating dtype, torch.bool or torch.uint8, got torch.int64"),  # noqa: E501
        Bad("latency-x-negative", lambda: enc.latency(x - 1, 5), ValueError,
            r"x must lie in \[0, 1\], got"),
        Bad("latency-tau-0", lambda: enc.latency(x, 5, tau=0.0), ValueError,
            r"tau must be > 0 \(and not NaN\), got 0.0"),
        Bad("latency-threshold-1", lambda: enc.latency(x, 5, threshold=1.0), ValueError,
            r"threshold must lie in \(0, 1\), got 1.0"),
        Bad("latency-first-spike", lambda: enc.latency(x, 5, first_spike_time=5), ValueError,
            r"first_spike_time must be <= num_steps - 1 = 4, got 5"),
        Bad("latency-late", lambda: enc.latency(torch.tensor([0.0, 1.0]), 2, tau=10.0), ValueError,
            r"a spike falls at step \d+, after the last step num_steps - 1 = 1"),
        Bad("latency-spike-fn", lambda: enc.latency(x, 5, spike_fn="boxcar"), TypeError,
            r"spike_fn must be callable, got str"),
        Bad("latency-times-epsilon", lambda: enc.latency_times(x, 5, epsilon=0.0), ValueError,
            r"epsilon must be > 0 \(and not NaN\), got 0.0"),
        Bad("delta-0d", lambda: enc.delta(torch.tensor(1.0), threshold=0.5), ValueError,
            r"xs must have a leading time dim \[T, ...\], got a 0-d tensor"),
        Bad("delta-threshold-0", lambda: enc.delta(x, threshold=0.0), ValueError,
            r"threshold must be > 0 \(and not NaN\), got 0.0"),
        Bad("delta-int", lambda: enc.delta(x.int(), threshold=0.5), TypeError,
            r"xs must be a floating-point tensor .*got dtype torch.int32"),
        Bad("delta-initial-shape", lambda: enc.delta(x, threshold=0.5, initial=torch.ones(5)),
            ValueError, r"initial of shape \(5,\) must broadcast to the input shape \(3,\)"),
        Bad("delta-decode-threshold", lambda: enc.delta_decode(x, threshold=-1.0), ValueError,
            r"threshold must be > 0 \(and not NaN\), got -1.0"),
        Bad("population-m-0", lambda: enc.population(x, 0), ValueError,
            r"num_neurons must be >= 1, got 0"),
        Bad("population-low-high", lambda: enc.population(x, 4, low=1.0, high=0.0), ValueError,
            r"low must be < high, got low=1.0, high=0.0"),
        Bad("population-sigma", lambda: enc.population(x, 4, sigma=0.0), ValueError,
            r"sigma must be > 0 \(and not NaN\), got 0.0"),
        Bad("bernoulli-p-above-1", lambda: sf.bernoulli(x + 1), ValueError,
            r"p must lie in \[0, 1\], got"),
        Bad("bernoulli-u-shape", lambda: sf.bernoulli(x, torch.rand(4)), ValueError,
            r"u of shape \(4,\) must broadcast against p of shape \(2, 3\)"),
        Bad("bernoulli-u-and-generator",
            lambda: sf.bernoulli(x, torch.rand(2, N), generator=torch.Generator()), ValueError,
            r"pass either u \(the noise\) or generator \(to draw it\), not both"),
        Bad("bernoulli-grad-scale", lambda: sf.bernoulli(x, grad_scale="1"), TypeError,
            r"grad_scale must be a float, got str"),
        Bad("uniform-noise-negative", lambda: uniform_noise((-1,)), TypeError,
            r"shape must be an int or a tuple of non-negative ints, got \(-1,\)"),
        Bad("uniform-noise-int", lambda: uniform_noise((2,), dtype=torch.int64), TypeError,
            r"dtype must be a floating-point dtype, got torch.int64"),
    ]  # fmt: skip


def _attack_rows() -> list[Bad]:
    x = torch.rand(2, N, generator=torch.Generator().manual_seed(0))
    fgsm, pgd, robust = sf.attacks.fgsm, sf.attacks.pgd, sf.attacks.robust_accuracy
    y = torch.zeros(2, dtype=torch.long)

    def loss(v: torch.Tensor) -> torch.Tensor:
        return v.sum()

    return [
        Bad("fgsm-eps-negative", lambda: fgsm(loss, x, -0.1), ValueError,
            r"eps must be a finite float >= 0, got -0.1"),
        Bad("fgsm-eps-inf", lambda: fgsm(loss, x, float("inf")), ValueError,
            r"eps must be a finite float >= 0, got inf"),
        Bad("fgsm-clamp-order", lambda: fgsm(loss, x, 0.1, clamp=(1.0, 0.0)), ValueError,
            r"clamp must have low < high, got \(1.0, 0.0\)"),
        Bad("fgsm-clamp-type", lambda: fgsm(loss, x, 0.1, clamp="01"), TypeError,
            r"clamp must be a \(low, high\) pair or None, got '01'"),
        Bad("fgsm-loss-not-scalar", lambda: fgsm(lambda v: v, x, 0.1), ValueError,
            r"loss_fn must return a scalar tensor, got \(2, 3\)"),
        Bad("fgsm-loss-no-grad", lambda: fgsm(lambda v: v.detach().sum(), x, 0.1), ValueError,
            r"loss_fn's output does not depend differentiably on its input"),
        Bad("fgsm-x-int", lambda: fgsm(loss, x.long(), 0.1), TypeError,
            r"x must be a floating-point tensor .*got dtype torch.int64"),
        Bad("pgd-steps-negative", lambda: pgd(loss, x, 0.1, 0.01, -1), ValueError,
            r"steps must be >= 0, got -1"),
        Bad("pgd-alpha-nan", lambda: pgd(loss, x, 0.1, float("nan"), 2), ValueError,
            r"alpha must be a finite float >= 0, got nan"),
        Bad("robust-accuracy-attack",
            lambda: robust(lambda v: v, lambda v, y: v.sum(), (x, y), [0.1], attack="cw"),
            ValueError, r"attack must be 'fgsm' or 'pgd', got 'cw'"),
        Bad("robust-accuracy-eps",
            lambda: robust(lambda v: v, lambda v, y: v.sum(), (x, y), [-0.1]),
            ValueError, r"eps_list\[...\] must be a finite float >= 0, got -0.1"),
    ]  # fmt: skip


BAD_INPUTS: list[Bad] = [
    *(row for spec in SPECS for row in _neuron_rows(spec)),
    *_rlif_rows(),
    *_surrogate_rows(),
    *_reset_rows(),
    *_scan_rows(),
    *_loss_rows(),
    *_fused_rows(),
    *_encoder_rows(),
    *_attack_rows(),
]


def test_table_ids_are_unique() -> None:
    ids = [row.id for row in BAD_INPUTS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("row", BAD_INPUTS, ids=lambda row: row.id)
def test_bad_input_raises_a_clear_error(row: Bad) -> None:
    with pytest.raises(row.error, match=row.match) as info:
        row.call()
    # each row's regex names the argument and what was given; and no torch internals leak
    message = str(info.value)
    assert "aten::" not in message and "at::" not in message, message


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_init_on_cuda_without_cuda_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"device 'cuda' was asked for but CUDA is not available"):
        sf.lif_init(3, device="cuda")


def test_the_same_calls_with_the_bad_part_fixed_work() -> None:
    """Guard against a table that passes because every call fails for another reason."""
    for spec in SPECS:
        z, state = spec.step(spec.init((2, N)), _x(), spec.params())
        assert z.shape == (2, N)
        _, state = spec.step(spec.init((N,)), torch.ones(N), spec.params())
        # 0-d float64 params and per-neuron params of x's dtype are fine
        p = _with(spec.params(), **{spec.first_field: torch.tensor(0.5, dtype=F64)})
        z, _ = spec.step(spec.init((2, N)), _x(), p)
        assert z.dtype == F32
    net = sf.sequential(
        partial(F.linear, weight=torch.eye(N)), sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0))
    )
    ys, _ = sf.scan(net, (sf.lif_init((2, N)),), torch.ones(4, 2, N))
    assert ys.shape == (4, 2, N)
    assert sf.apply_reset(torch.ones(2, N), torch.ones(N), torch.ones(N), "subtract").shape == (
        2,
        N,
    )
