"""Shared harness of the fuzz tests: the call/entry types, strategies, checks, tables.

Each ``test_*`` module of this package holds one area's ``FUZZ`` table; ``run_case`` is the one
rule every entry is held to (see the package docstring).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import event, settings
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
    covers: frozenset[str]  # the public names it calls, as "area.name" (see public_catalogue)


class Table(list[Entry]):
    """One area's fuzz entries; ``@FUZZ.entry("name", "area.function", ...)`` adds a builder."""

    def entry(
        self, name: str, *covers: str
    ) -> Callable[[Callable[[st.DataObject], Call]], Callable[..., Call]]:
        def register(build: Callable[[st.DataObject], Call]) -> Callable[..., Call]:
            self.append(Entry(name, build, frozenset(covers)))
            return build

        return register


# --- what snnfunc says it offers ---------------------------------------------------------------
def public_catalogue() -> dict[str, Iterable[str]]:
    """snnfunc's public names by area, read from the package's own catalogues.

    The one place that knows where the catalogues are: when they become registries, each line
    becomes a registry lookup. ``test_completeness`` holds the fuzz tables to these names.
    """

    def listed(module: str) -> list[str]:  # a module's __all__ (`snnfunc.scan` is a function)
        return list(importlib.import_module(f"snnfunc.{module}").__all__)

    def reexported(module: str) -> list[str]:  # for a module without __all__
        return [k for k, v in vars(sf).items() if getattr(v, "__module__", "") == module]

    return {
        "cell": sf.neurons.MODELS.keys(),  # the neuron models (registry)
        "surrogate": [*S.SURROGATES, *(n for n in listed("surrogate") if n not in S.SURROGATES)],
        "encode": listed("encode"),
        "bernoulli": listed("bernoulli"),
        "fused": listed("fused"),
        "loss": listed("loss"),
        "metrics": listed("metrics"),
        "attacks": listed("attacks"),
        "nn": listed("nn"),
        "scan": listed("scan"),
        "compose": listed("compose"),
        "reset": reexported("snnfunc.reset"),
    }


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
    *((name, spec.factory, spec.hyper_range is not None) for name, spec in S.SURROGATES.items()),
    ("custom", lambda: S.custom(lambda x: torch.exp(-x.abs())), False),
]  # every registered factory (has it a hyperparameter?), and a custom() one


# --- neurons ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    name: str
    init: Callable[..., Any]
    step: Callable[..., Any]
    params_type: type
    per_neuron: tuple[str, ...]  # fields broadcast to [..., N]


MODELS = [  # every registered model; its non-matrix params broadcast to [..., N]
    Model(
        name,
        model.init,
        model.step,
        model.params_type,
        tuple(f for f, spec in model.params.items() if spec.kind != "matrix"),
    )
    for name, model in sf.neurons.MODELS.items()
]


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


# --- values in [0, 1]: encoders, Bernoulli, attacks ------------------------------------------
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


# --- the rule ---------------------------------------------------------------------------------
_N = os.environ.get("SNNFUNC_FUZZ_EXAMPLES")
fuzz_settings = settings(max_examples=int(_N)) if _N else (lambda f: f)


def run_case(case: Entry, data: st.DataObject) -> None:
    """Draw one call from ``case`` and hold it to the rule of the package docstring."""
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
