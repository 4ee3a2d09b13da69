"""Fuzz the public API: every call returns its documented result or raises ValueError/TypeError.

The harness is a table: each :class:`Entry` names a public function and an argument builder that
draws a call with hypothesis - random shapes (0-d, empty, very large batch), dtypes (float16,
bfloat16, float32, float64, and integer/bool/complex ones that must be refused), values (normal,
huge, tiny, negative, NaN, inf) and, now and then, a broken argument (wrong shape, dtype, device,
type or option). The builder knows from the documentation whether the call is valid:

* a valid call must return, and its result must have the documented shape, dtype and device
  (``Call.check``), spikes must be 0, 1 or NaN, and NaN in ``x`` must show in the spikes (NaN
  policy); where ``x`` requires grad the backward must run and give ``x``'s shape and dtype;
* an invalid call must raise ``ValueError`` or ``TypeError``;
* no other exception type may escape, whatever the call.

To cover a new public function, add one ``@entry("name")`` builder. The number of examples per
entry follows the hypothesis profile (``ci``: 40); ``SNNFUNC_FUZZ_EXAMPLES=N`` overrides it for a
longer local hunt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import event, given, settings
from torch import Tensor

import snnfunc as sf
from snnfunc import surrogate as S

F16, BF16, F32, F64 = torch.float16, torch.bfloat16, torch.float32, torch.float64
FLOATS = [F16, BF16, F32, F64]
NON_FLOATS = [torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64]
ALLOWED = (ValueError, TypeError)


@dataclass
class Call:
    """One drawn call: ``fn()`` runs it; ``valid`` says what the documentation promises."""

    fn: Callable[[], Any]
    valid: bool | None  # True: must return and pass ``check``; False: must raise ValueError/
    # TypeError; None: either (a value rule the builder does not model), a result is still checked
    check: Callable[[Any], None] = field(default=lambda out: None)


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[[st.DataObject], Call]


FUZZ: list[Entry] = []


def entry(name: str) -> Callable[[Callable[[st.DataObject], Call]], Callable[..., Call]]:
    def register(build: Callable[[st.DataObject], Call]) -> Callable[..., Call]:
        FUZZ.append(Entry(name, build))
        return build

    return register


# --- strategies -------------------------------------------------------------------------------
dtypes = st.sampled_from(FLOATS * 3 + NON_FLOATS)  # mostly floats, a quarter refused
small_shapes = st.lists(st.integers(0, 4), max_size=3).map(tuple)  # (), empty dims included
large_shapes = st.sampled_from([(4096, 3), (2, 8192), (32768,)])  # a very large batch
shapes = st.one_of(small_shapes, small_shapes, large_shapes)
VALUE_KINDS = ["normal", "normal", "huge", "tiny", "negative", "nan", "inf", "zeros"]
special_floats = st.one_of(
    st.floats(-3.0, 3.0),
    st.sampled_from(
        [0.0, -0.0, 1.0, 1e30, -1e30, 1e-30, float("nan"), float("inf"), -float("inf")]
    ),
)


def draw_tensor(data: st.DataObject, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A tensor of ``shape``/``dtype`` whose values are drawn from one of ``VALUE_KINDS``."""
    kind = data.draw(st.sampled_from(VALUE_KINDS), label="values")
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    base = torch.randn(shape, generator=g, dtype=F64)
    if kind == "huge":
        base = base * 1e30
    elif kind == "tiny":
        base = base * 1e-30
    elif kind == "negative":
        base = -base.abs() - 1
    elif kind == "zeros":
        base = torch.zeros(shape, dtype=F64)
    elif kind in ("nan", "inf"):
        mask = torch.rand(shape, generator=g) < 0.3
        special = float("nan") if kind == "nan" else float("inf")
        base = torch.where(mask, torch.sign(base) * special, base)
    if dtype.is_floating_point or dtype.is_complex:
        return base.to(dtype)
    return base.nan_to_num(0.0, 0.0, 0.0).clamp(0, 100).to(dtype)


def spike_like(x: Tensor) -> Callable[[Tensor], None]:
    """Checks on spikes computed from ``x``: shape/dtype/device, {0, 1, NaN}, NaN shows."""

    def check(z: Tensor) -> None:
        assert isinstance(z, Tensor)
        assert z.shape == x.shape and z.dtype == x.dtype and z.device == x.device
        zz = z.detach().double()
        assert bool(((zz == 0) | (zz == 1) | zz.isnan()).all()), "spikes must be 0, 1 or NaN"
        assert bool(zz[x.detach().isnan()].isnan().all()), "NaN in x must give NaN spikes"

    return check


def maybe_grad(data: st.DataObject, x: Tensor) -> Tensor:
    if x.is_floating_point() and data.draw(st.booleans(), label="requires_grad"):
        return x.detach().requires_grad_()
    return x


def check_backward(x: Tensor, out: Tensor) -> None:
    if x.requires_grad and out.requires_grad:
        (gx,) = torch.autograd.grad(out.sum(), x)
        assert gx.shape == x.shape and gx.dtype == x.dtype


# --- surrogates -------------------------------------------------------------------------------
FACTORIES: list[tuple[str, Callable[..., S.Surrogate], bool]] = [
    ("atan", S.atan, True),
    ("fast_sigmoid", S.fast_sigmoid, True),
    ("superspike", S.superspike, True),
    ("sigmoid", S.sigmoid, True),
    ("triangle", S.triangle, True),
    ("boxcar", S.boxcar, True),
    ("straight_through", S.straight_through, False),
    ("heaviside", S.heaviside, False),
    ("custom", lambda: S.custom(lambda x: torch.exp(-x.abs())), False),
]


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


@entry("surrogate")
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


@entry("surrogate.derivative")
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


@entry("surrogate.step")
def _step(data: st.DataObject) -> Call:
    shape, dtype = data.draw(shapes), data.draw(st.sampled_from(FLOATS))
    x = draw_tensor(data, shape, dtype)
    return Call(lambda: S.step(x), True, spike_like(x))


# --- neurons ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    name: str
    init: Callable[..., Any]
    step: Callable[..., Any]
    params_type: type
    per_neuron: tuple[str, ...]  # fields broadcast to [..., N]


MODELS = [
    Model("if", sf.if_init, sf.if_step, sf.IFParams, ("threshold",)),
    Model("lif", sf.lif_init, sf.lif_step, sf.LIFParams, ("beta", "threshold")),
    Model("synaptic", sf.synaptic_init, sf.synaptic_step, sf.SynapticParams,
          ("alpha", "beta", "threshold")),
    Model("lapicque", sf.lapicque_init, sf.lapicque_step, sf.LapicqueParams,
          ("resistance", "capacitance", "time_step", "threshold")),
    Model("alpha", sf.alpha_init, sf.alpha_step, sf.AlphaParams, ("alpha", "beta", "threshold")),
    Model("alif", sf.alif_init, sf.alif_step, sf.ALIFParams, ("beta", "threshold", "rho", "jump")),
    Model("rlif", sf.rlif_init, sf.rlif_step, sf.RLIFParams, ("beta", "threshold")),
]  # fmt: skip


GOOD_PARAM_KINDS = ["float", "scalar", "per_neuron", "full"]
BAD_PARAM_KINDS = ["bad_shape", "promote", "device", "str"]


def draw_param(data: st.DataObject, x: Tensor, *, broken: bool = False) -> tuple[Any, bool]:
    """One params field: a float or a tensor; with ``broken``, a wrong shape, dtype or type."""
    shape = tuple(x.shape)
    kind = data.draw(st.sampled_from(BAD_PARAM_KINDS if broken else GOOD_PARAM_KINDS))
    if kind == "float":
        return data.draw(special_floats, label="param"), True
    if kind == "scalar":  # a 0-d tensor does not promote a dimensioned x (it does a 0-d one)
        t = torch.tensor(data.draw(special_floats), dtype=data.draw(st.sampled_from(FLOATS)))
        return t, torch.result_type(t, x) == x.dtype
    if kind == "per_neuron":
        return draw_tensor(data, shape[-1:], x.dtype), True
    if kind == "full":
        return draw_tensor(data, shape, x.dtype), True
    if kind == "bad_shape":
        return torch.ones(shape[-1] + 2 if shape else 2, dtype=x.dtype), False  # never broadcasts
    if kind == "device":  # another device (meta stands in for a GPU on CPU-only machines)
        return torch.ones(shape[-1:], dtype=x.dtype, device="meta"), False
    if kind == "promote":  # a dimensioned tensor of another float dtype
        other = data.draw(st.sampled_from([d for d in FLOATS if d != x.dtype]))
        t = torch.ones(shape[-1:], dtype=other)
        return t, torch.result_type(t, x) == x.dtype
    return "0.5", False


def draw_spike_fn(data: st.DataObject, *, broken: bool = False) -> Any:
    if broken:
        return data.draw(st.sampled_from(["atan", 2.0, None]), label="spike_fn")
    kind = data.draw(st.sampled_from(["default", "named", "learnable"]), label="spike_fn")
    if kind == "default":
        return sf.surrogate.DEFAULT_SPIKE
    if kind == "named":
        return data.draw(st.sampled_from(FACTORIES))[1]()
    return S.atan(torch.tensor(2.0, requires_grad=True))


OPTION_NAMES = ["reset", "reset_delay", "detach_reset", "spike_fn"]


def draw_options(data: st.DataObject, *, broken: bool = False) -> tuple[dict[str, Any], str | None]:
    """Valid ``reset``/``reset_delay``/``detach_reset``/``spike_fn``; with ``broken``, one bad."""
    bad = data.draw(st.sampled_from(OPTION_NAMES), label="bad option") if broken else None
    opts = {
        "reset": data.draw(
            st.sampled_from(
                ["hard", "Subtract", ""] if bad == "reset" else ["subtract", "zero", "none"]
            )
        ),
        "reset_delay": data.draw(
            st.sampled_from([1, "True", None] if bad == "reset_delay" else [False, True])
        ),
        "detach_reset": data.draw(
            st.sampled_from([0, "no", None] if bad == "detach_reset" else [True, False])
        ),
        "spike_fn": draw_spike_fn(data, broken=bad == "spike_fn"),
    }
    return opts, bad


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
    fault = data.draw(st.sampled_from(NEURON_FAULTS + (["weight"] if model.name == "rlif" else [])))
    # rlif's weight is [N, N]: a large batch, not a large N
    big = large_shapes if model.name != "rlif" else st.just((4096, 3))
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
    if model.name == "rlif":
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
    entry(f"{_model.name}_step")(partial(neuron_call, _model))


@entry("init")
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
@entry("apply_reset")
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


int_option = st.one_of(
    st.none(), st.integers(1, 4), st.integers(-1, 4), st.sampled_from([2.0, "2", True])
)


def _int_option_ok(value: Any) -> bool:
    return value is None or (type(value) is int and value >= 1)


@entry("scan")
def _scan(data: st.DataObject) -> Call:
    model = data.draw(st.sampled_from(MODELS), label="model")
    shape = data.draw(small_shapes.filter(lambda s: len(s) > 0), label="shape")
    dtype = data.draw(st.sampled_from(FLOATS * 4 + NON_FLOATS[:1]), label="dtype")
    steps = data.draw(st.integers(0, 5).filter(lambda t: t > 0) | st.just(0), label="T")
    static = data.draw(st.booleans(), label="static input")
    xs = draw_tensor(data, shape if static else (steps, *shape), dtype)
    xs = maybe_grad(data, xs)
    num_steps = steps if static else None
    truncate, checkpoint = data.draw(int_option), data.draw(int_option)
    n = shape[-1]
    values = {name: 0.9 for name in model.params_type._fields}  # type: ignore[attr-defined]
    if model.name == "rlif":
        values["weight"] = torch.zeros(n, n, dtype=dtype if dtype.is_floating_point else F32)
    if model.name == "lapicque":
        values["resistance"] = 5.0
    step = partial(model.step, params=model.params_type(**values))
    state = model.init(shape, dtype=dtype if dtype.is_floating_point else F32)
    valid = (
        dtype.is_floating_point
        and steps >= 1
        and _int_option_ok(truncate)
        and _int_option_ok(checkpoint)
    )

    def check(out: Any) -> None:
        ys, final = out
        assert ys.shape == (steps, *shape) and ys.dtype == dtype
        for leaf in final:
            assert leaf.shape == shape and leaf.dtype == dtype
        check_backward(xs, ys)

    def call() -> Any:
        return sf.scan(
            step, state, xs, num_steps=num_steps, truncate=truncate, checkpoint=checkpoint
        )

    return Call(call, valid, check)


@entry("sequential")
def _sequential(data: st.DataObject) -> Call:
    shape = data.draw(small_shapes, label="shape")
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")  # a stateless layer may cast
    x = maybe_grad(data, draw_tensor(data, shape, dtype))
    kinds = data.draw(
        st.lists(st.sampled_from(MODELS[:6] + ["tanh", "double"]), min_size=1, max_size=4)
    )
    layers: list[Any] = []
    states: list[Any] = []
    for kind in kinds:
        if kind == "tanh":
            layers.append(torch.tanh)
        elif kind == "double":
            layers.append(sf.stateless(lambda t: 2 * t))
        else:
            values = {name: 0.5 for name in kind.params_type._fields}
            layers.append(sf.neuron(kind.step, kind.params_type(**values)))
            states.append(kind.init(shape, dtype=dtype))
    record = data.draw(st.booleans(), label="record_states")
    net = sf.sequential(*layers, record_states=record)
    wrong = data.draw(st.sampled_from(["none", "none", "none", "count", "bare"]), label="states")
    valid = True
    if wrong == "count":
        states, valid = [*states, states[0] if states else 0], False
    if wrong == "bare" and len(states) == 1:
        arg, valid = states[0], False
    else:
        arg = tuple(states)

    def check(out: Any) -> None:
        y, new = out
        if record:
            y, recorded = y
            assert recorded is new
        assert isinstance(new, tuple) and len(new) == len(states)
        assert y.shape == x.shape and y.dtype == x.dtype
        check_backward(x, y)

    return Call(lambda: net(arg, x), valid, check)


@entry("neuron")
def _neuron(data: st.DataObject) -> Call:
    model = data.draw(st.sampled_from(MODELS), label="model")
    fault = data.draw(st.sampled_from([None, None, "option", "unknown"]), label="fault")
    opts, bad = draw_options(data, broken=fault == "option")
    keep = data.draw(st.sets(st.sampled_from(OPTION_NAMES), min_size=1), label="options passed")
    keep |= {bad} if bad else set()  # the bad one is always passed
    opts = {k: v for k, v in opts.items() if k in keep}
    if fault == "unknown":
        opts["slope"] = 2.0
    params = model.params_type(**{name: 0.9 for name in model.params_type._fields})  # type: ignore[attr-defined]

    def check(layer: Any) -> None:
        assert isinstance(layer, sf.Layer) and layer.stateful

    return Call(lambda: sf.neuron(model.step, params, **opts), fault is None, check)


# --- nn wrappers (issue 6): modules around the same steps -------------------------------------
NN_LAYERS = {  # name: (number of params, constructor)
    "LIF": (2, lambda p: sf.nn.LIF(*p)),
    "Synaptic": (3, lambda p: sf.nn.Synaptic(*p)),
    "IF": (1, lambda p: sf.nn.IF(*p)),
    "ALIF": (4, lambda p: sf.nn.ALIF(*p)),
}


@entry("nn")
def _nn(data: st.DataObject) -> Call:
    """An nn neuron layer, one step (``forward``) or all (``unroll``), state from rest or given."""
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

    def check(out: Any) -> None:
        z, new = out
        spike_like(x)(z)
        for leaf in new:
            assert leaf.shape == shape and leaf.dtype == x.dtype

    if unroll:
        return Call(lambda: layer.unroll(x, state), valid, check)
    return Call(lambda: layer(x, state), valid, check)


# --- fused scans (issue 5): the documented result is scan's, bit for bit ------------------------
FUSED = {"lif": ("lif_scan", 0), "synaptic": ("synaptic_scan", 1), "if": ("if_scan", 2)}


def fused_call(model: Model, data: st.DataObject) -> Call:
    """A fused scan with at most one fault; a valid call must equal the reference scan."""
    import snnfunc.fused as fused

    fault = data.draw(
        st.sampled_from([None] * 6 + ["dtype", "state_shape", "param", "option", "T"])
    )
    shape = data.draw(st.one_of(small_shapes, small_shapes, st.just((512, 8))), label="shape")
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
    params = model.params_type(**values)
    opts, _ = draw_options(data, broken=fault == "option")
    backend = data.draw(
        st.sampled_from(["auto", "auto", "torch", "kernel", "scan"]), label="backend"
    )
    num_steps = steps if static else None
    run = getattr(fused, FUSED[model.name][0])

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
    if _model.name in FUSED:
        entry(FUSED[_model.name][0])(partial(fused_call, _model))


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


@entry("loss_and_metrics")
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


# --- encoders, straight-through Bernoulli, attacks (issue 3) ---------------------------------
ENCODER_FAULTS = [None] * 5 + ["dtype", "num_steps", "option"]
unit_kinds = st.sampled_from(["unit", "unit", "unit", "outside", "nan"])


def draw_unit_tensor(
    data: st.DataObject, shape: tuple[int, ...], dtype: torch.dtype
) -> tuple[Tensor, bool]:
    """Values in [0, 1] (valid for probabilities), or some outside / NaN (invalid, eager)."""
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    x = torch.rand(shape, generator=g, dtype=F64)
    kind = data.draw(unit_kinds, label="values")
    if kind == "outside" and x.numel():
        x = x * 3 - 1
    elif kind == "nan" and x.numel():
        x = torch.where(torch.rand(shape, generator=g) < 0.3, float("nan"), x)
    ok = bool(((x >= 0) & (x <= 1)).all())
    return x.to(dtype) if dtype.is_floating_point or dtype.is_complex else (x * 2).to(dtype), ok


def draw_num_steps(data: st.DataObject, broken: bool) -> int | Any:
    if broken:
        return data.draw(st.sampled_from([0, -2, 2.0, True, "5", None]), label="num_steps")
    return data.draw(st.integers(1, 6), label="num_steps")


def time_major(
    x: Tensor, num_steps: int, dtype: torch.dtype | None = None
) -> Callable[[Tensor], None]:
    def check(z: Tensor) -> None:
        assert z.shape == (num_steps, *x.shape) and z.device == x.device
        assert z.dtype == (dtype or x.dtype)
        check_backward(x, z)

    return check


@entry("rate")
def _rate(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from(ENCODER_FAULTS + ["noise"]), label="fault")
    shape = data.draw(shapes, label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    x, ok = draw_unit_tensor(data, shape, dtype)
    x = maybe_grad(data, x)
    num_steps = draw_num_steps(data, fault == "num_steps")
    t = (
        num_steps
        if isinstance(num_steps, int) and not isinstance(num_steps, bool) and num_steps > 0
        else 1
    )
    kwargs: dict[str, Any] = {}
    if fault == "option":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"gain": -1.0},
                    {"gain": float("nan")},
                    {"gain": "2"},
                    {"out_dtype": torch.int64},
                    {"out_dtype": "float32"},
                ]
            )
        )
    elif fault == "noise":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"noise": torch.rand(t + 1, *shape)},
                    {"noise": torch.zeros((t, *shape), dtype=torch.int64)},
                    {"noise": torch.rand(t, *shape), "generator": torch.Generator()},
                ]
            )
        )
    else:
        kind = data.draw(st.sampled_from(["plain", "generator", "noise", "gain", "out_dtype"]))
        if kind == "generator":
            kwargs = {"generator": torch.Generator().manual_seed(1)}
        elif kind == "noise":
            kwargs = {
                "noise": torch.rand(t, *shape, dtype=x.dtype if x.is_floating_point() else F32)
            }
        elif kind == "gain":
            kwargs = {"gain": data.draw(st.floats(0.0, 2.0))}
        elif kind == "out_dtype":
            kwargs = {"out_dtype": data.draw(st.sampled_from([torch.bool, torch.uint8, *FLOATS]))}
    valid = fault is None and ok
    out_dtype = kwargs.get("out_dtype")

    def check(z: Tensor) -> None:
        assert z.shape == (t, *x.shape) and z.dtype == (out_dtype or x.dtype)
        zz = z.detach().double()
        assert bool(((zz == 0) | (zz == 1)).all())
        if z.is_floating_point():
            check_backward(x, z)

    return Call(lambda: sf.encode.rate(x, num_steps, **kwargs), valid, check)


@entry("latency")
def _latency(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from(ENCODER_FAULTS), label="fault")
    shape = data.draw(shapes, label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    x, ok = draw_unit_tensor(data, shape, dtype)
    x = maybe_grad(data, x)
    num_steps = draw_num_steps(data, fault == "num_steps")
    times = data.draw(st.booleans(), label="latency_times")
    if fault == "option":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"tau": 0.0},
                    {"tau": -1.0},
                    {"threshold": 1.5},
                    {"threshold": 0.0},
                    {"first_spike_time": -1},
                    {"epsilon": float("nan")},
                    {"tau": "1"},
                ]
            )
        )
    else:
        kwargs = data.draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "tau": st.floats(0.1, 5.0),
                    "threshold": st.floats(0.01, 0.5),
                    "linear": st.booleans(),
                    "normalize": st.booleans(),
                    "first_spike_time": st.integers(0, 2),
                },
            )
        )
        if not times:
            kwargs.update(data.draw(st.fixed_dictionaries({}, optional={"clip": st.booleans()})))
    # a spike after the window, or first_spike_time > T - 1, is a documented ValueError: the
    # builder does not model those rules. latency_times takes any x (not only [0, 1]).
    valid = None if fault is None and (ok or times) else False
    if times:

        def check_times(t: Tensor) -> None:
            # documented: float32 times for float16/bfloat16 x (threshold + epsilon would round)
            assert t.shape == x.shape and t.dtype == (F32 if x.dtype in (F16, BF16) else x.dtype)

        return Call(lambda: sf.encode.latency_times(x, num_steps, **kwargs), valid, check_times)

    def check(z: Tensor) -> None:
        time_major(x, num_steps)(z)
        zz = z.detach().double()
        assert bool(((zz == 0) | (zz == 1)).all()) and bool((zz.sum(0) <= 1).all())

    return Call(lambda: sf.encode.latency(x, num_steps, **kwargs), valid, check)


@entry("delta")
def _delta(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from(ENCODER_FAULTS), label="fault")
    shape = data.draw(st.one_of(small_shapes, large_shapes), label="shape")  # [T, ...]
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    xs = maybe_grad(data, draw_tensor(data, shape, dtype))
    valid: bool | None = fault is None and len(shape) > 0
    if fault == "num_steps":  # delta has no num_steps: a 0-d signal instead
        xs, valid = draw_tensor(data, (), dtype), False
    kwargs: dict[str, Any] = {"threshold": data.draw(st.floats(0.05, 2.0))}
    if fault == "option":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"threshold": 0.0},
                    {"threshold": -1.0},
                    {"threshold": float("inf")},
                    {"threshold": "1"},
                    {},
                ]
            )
        )
    else:
        kwargs.update(data.draw(st.fixed_dictionaries({}, optional={"off_spike": st.booleans()})))
    decode = data.draw(st.booleans(), label="decode")

    def check(z: Tensor) -> None:
        assert z.shape == xs.shape and z.dtype == xs.dtype and z.device == xs.device

    def call() -> Tensor:
        z = sf.encode.delta(xs, **kwargs)
        if not decode:
            return z  # type: ignore[no-any-return]
        return sf.encode.delta_decode(z, threshold=kwargs["threshold"])  # type: ignore[no-any-return]

    return Call(call, valid, check)


@entry("population")
def _population(data: st.DataObject) -> Call:
    fault = data.draw(st.sampled_from(ENCODER_FAULTS), label="fault")
    shape = data.draw(small_shapes, label="shape")
    dtype = data.draw(st.sampled_from(NON_FLOATS if fault == "dtype" else FLOATS), label="dtype")
    x = maybe_grad(data, draw_tensor(data, shape, dtype))
    m = draw_num_steps(data, fault == "num_steps")
    kwargs: dict[str, Any] = {}
    if fault == "option":
        kwargs = data.draw(
            st.sampled_from(
                [
                    {"low": 1.0, "high": 0.0},
                    {"sigma": 0.0},
                    {"sigma": -1.0},
                    {"low": float("nan")},
                    {"high": "1"},
                ]
            )
        )
    valid = fault is None

    def check(a: Tensor) -> None:
        assert a.shape == (*x.shape, m) and a.dtype == x.dtype
        check_backward(x, a)

    return Call(lambda: sf.encode.population(x, m, **kwargs), valid, check)


@entry("bernoulli")
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


@entry("uniform_noise")
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


def _linear_loss(x: Tensor) -> Tensor:
    w = torch.linspace(-1.0, 1.0, max(x.numel(), 1), dtype=x.dtype, device=x.device)
    return (x.reshape(-1) * w[: x.numel()]).sum()


@entry("attacks")
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


# --- the test ---------------------------------------------------------------------------------
_N = os.environ.get("SNNFUNC_FUZZ_EXAMPLES")
_fuzz_settings = settings(max_examples=int(_N)) if _N else (lambda f: f)


@pytest.mark.parametrize("case", FUZZ, ids=lambda e: e.name)
@_fuzz_settings
@given(data=st.data())
def test_public_call_returns_documented_result_or_raises_value_or_type_error(
    case: Entry, data: st.DataObject
) -> None:
    call = case.build(data)
    try:
        out = call.fn()
    except ALLOWED as err:
        event(f"raised {type(err).__name__}")
        assert call.valid is not True, f"a valid call raised {type(err).__name__}: {err}"
        return
    except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
        pytest.fail(f"{type(err).__name__} escaped (only ValueError/TypeError may): {err}")
    assert call.valid is not False, f"an invalid call returned {type(out).__name__}, not raising"
    event("returned")
    call.check(out)


def test_the_table_covers_the_core_public_api() -> None:
    names = {e.name for e in FUZZ}
    want = {f"{m.name}_step" for m in MODELS} | {
        "surrogate",
        "init",
        "scan",
        "sequential",
        "apply_reset",
    }
    assert want <= names
