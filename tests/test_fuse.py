"""``fuse(step)`` equals ``scan(partial(step, params=params), ...)``: outputs and states bit for
bit, gradients to rounding, on the built-in models, on random pointwise cells, under torch.func and
torch.compile; steps that are not pointwise fall back to scan and say why."""

from __future__ import annotations

import functools
from functools import partial
from typing import Any, NamedTuple

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings
from torch import Tensor
from torch.func import grad, jacrev, jvp, vmap

import snnfunc as sf
from snnfunc import surrogate
from snnfunc.fused import _op
from snnfunc.fused.fuse import Explanation, fuse
from snnfunc.neurons import MODELS

F32, F64 = torch.float32, torch.float64
FUSABLE = [name for name, m in MODELS.items() if all(f.kind != "matrix" for f in m.params.values())]
MATRIX = [name for name in MODELS if name not in FUSABLE]
# a few option combinations of the built-in steps (every surrogate of the registry appears)
OPTIONS = [
    {},
    {"reset": "zero", "reset_delay": True, "spike_fn": surrogate.triangle(0.7)},
    {"reset": "none", "detach_reset": False, "spike_fn": surrogate.SURROGATES["sigmoid"].factory()},
    {"reset": "subtract", "detach_reset": False, "spike_fn": surrogate.boxcar()},
]
OPTION_IDS = ["default", "zero-delay-triangle", "none-sigmoid", "subtract-boxcar"]
# param kinds, cycled over a model's params: a baked float, 0-d, per-neuron [N], full [B, N]
KINDS = [("float", "neuron", "scalar", "full"), ("neuron", "full", "float", "scalar")]


def _uniform(lo: float, hi: float, shape: Any, g: torch.Generator, dtype: torch.dtype) -> Tensor:
    return (lo + (hi - lo) * torch.rand(shape, generator=g, dtype=F64)).to(dtype)


def _case(
    name: str,
    shape: tuple[int, ...],
    steps: int,
    dtype: torch.dtype,
    kinds: tuple[str, ...],
    seed: int,
    *,
    static: bool = False,
) -> tuple[Tensor, Any, Any]:
    """``xs [T, *shape]`` (or ``[*shape]`` static), a state and params drawn in the models'
    field ranges; every tensor requires grad."""
    model = MODELS[name]
    g = torch.Generator().manual_seed(seed)
    xs = _uniform(-0.3, 1.5, shape if static else (steps, *shape), g, dtype)
    fields = []
    for field in model.state.values():
        if field.kind == "spikes":
            fields.append((torch.rand(shape, generator=g) < 0.3).to(dtype))
        else:
            fields.append(_uniform(field.low, field.high, shape, g, dtype))
    values = []
    for i, field in enumerate(model.params.values()):
        kind = "matrix" if field.kind == "matrix" else kinds[i % len(kinds)]
        lo, hi = max(field.low, 0.05), field.high
        if kind == "float":
            values.append(_uniform(lo, hi, (), g, F64).item())
            continue
        size = {
            "scalar": (),
            "neuron": shape[-1:],
            "full": shape,
            "matrix": (shape[-1], shape[-1]),
        }[kind]
        values.append(_uniform(lo, hi, size, g, dtype))
    state = model.state_type(*fields)
    params = model.params_type(*values)
    for t in _tensors(xs, state, params):
        t.requires_grad_(True)
    return xs, state, params


def _tensors(xs: Any, state: Any, params: Any) -> list[Tensor]:
    leaves = [*torch.utils._pytree.tree_leaves((xs, state, params))]
    return [t for t in leaves if isinstance(t, Tensor)]


def _loss(ys: Any, state: Any, seed: int = 0) -> Tensor:
    """A loss that weights every output and every final-state leaf differently."""
    g = torch.Generator().manual_seed(seed + 1)
    total = torch.zeros((), dtype=F64)
    for k, leaf in enumerate(torch.utils._pytree.tree_leaves((ys, state))):
        w = torch.randn(leaf.shape, generator=g, dtype=F64).to(leaf.dtype)
        total = total + (leaf * w * (k + 1)).sum().to(F64)
    return total


def _scan(step: Any, state: Any, xs: Any, params: Any, num_steps: int | None = None) -> Any:
    return sf.scan(partial(step, params=params), state, xs, num_steps=num_steps)


def _assert_same(got: Any, ref: Any) -> None:
    """Every leaf equal bit for bit (NaN equal to NaN)."""
    got_l, ref_l = torch.utils._pytree.tree_leaves(got), torch.utils._pytree.tree_leaves(ref)
    assert len(got_l) == len(ref_l)
    for a, b in zip(got_l, ref_l, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def _grads(out: Any, inputs: list[Tensor]) -> tuple[Tensor | None, ...]:
    return torch.autograd.grad(_loss(*out), inputs, allow_unused=True)


def _assert_grads_close(got: Any, ref: Any, rtol: float = 1e-9) -> None:
    """Gradients close; an input the outputs do not depend on gets None from scan (autograd)
    and zeros from the fused op (an autograd.Function): both mean zero."""
    assert len(got) == len(ref)
    for a, b in zip(got, ref, strict=True):
        if a is None or b is None:
            assert a is None or not a.any()
            assert b is None or not b.any()
            continue
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * 0.1, equal_nan=True)


# -- 1. built-in models ------------------------------------------------------------------------
@pytest.mark.parametrize("name", FUSABLE)
@pytest.mark.parametrize("backend", ["kernel", "torch"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("opts", OPTIONS, ids=OPTION_IDS)
def test_models_equal_scan(name: str, backend: str, dtype: torch.dtype, opts: dict) -> None:
    step = partial(MODELS[name].step, **opts)
    kinds = KINDS[len(opts) % 2]
    xs, state, params = _case(name, (3, 5), 7, dtype, kinds, seed=len(name) + len(opts))
    fused = fuse(step, backend=backend)  # type: ignore[arg-type]
    assert fused.explain(state, xs, params) == Explanation(
        backend, "" if backend == "kernel" else "backend='torch' was asked for"
    )
    ref = _scan(step, state, xs, params)
    _op.LAST_RUN.clear()
    got = fused(state, xs, params)
    assert _op.LAST_RUN == {"forward": backend}
    _assert_same(got, ref)
    assert torch.utils._pytree.tree_leaves(ref[0])[0].sum() > 0  # some spikes: not a trivial case
    inputs = _tensors(xs, state, params)
    g_ref = _grads(ref, inputs)
    g_got = _grads(got, inputs)
    assert _op.LAST_RUN == {"forward": backend, "backward": backend}
    if dtype == F64:
        _assert_grads_close(g_got, g_ref)
    else:
        _assert_grads_close(g_got, g_ref, rtol=1e-4)
    assert all(g is not None for g in g_got)  # every tensor param gets its gradient


@pytest.mark.parametrize("name", MATRIX)
def test_matrix_models_fall_back_to_scan(name: str) -> None:
    step = MODELS[name].step
    xs, state, params = _case(name, (2, 4), 5, F64, ("neuron",), seed=1)
    fused = fuse(step)
    why = fused.explain(state, xs, params)
    assert why.backend == "scan"
    assert "does not broadcast" in why.reason or "not a pointwise" in why.reason
    got, ref = fused(state, xs, params), _scan(step, state, xs, params)
    _assert_same(got, ref)
    inputs = _tensors(xs, state, params)
    _assert_grads_close(_grads(got, inputs), _grads(ref, inputs), rtol=0)
    with pytest.raises(ValueError, match="cannot fuse"):
        fuse(step, backend="kernel")(state, xs, params)


# -- 2. random pointwise cells ----------------------------------------------------------------
class Cell(NamedTuple):
    v: Tensor
    w: Tensor


class CellParams(NamedTuple):
    c: float  # a baked constant
    p: Tensor  # per neuron
    thr: Any  # float or 0-d


# clamp both ways is tested on its own (test_backward_of_op: a known bug)
ARITH = [
    "add",
    "sub",
    "mul",
    "where",
    "gt",
    "le",
    "abs",
    "clamp_min",
    "clamp_max",
    "minimum",
    "maximum",
    "neg",
]
TRANS = ["exp", "tanh", "sigmoid"]


def _apply(op: str, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "where":
        return torch.where(a > b, c, a)
    if op == "gt":
        return (a > b).to(a.dtype) * c
    if op == "le":
        return torch.where(a <= b, b, c)
    if op == "abs":
        return torch.abs(a)
    if op == "clamp_min":
        return torch.clamp(a, min=-1.5)
    if op == "clamp_max":
        return torch.clamp(a, max=2.0)
    if op == "minimum":
        return torch.minimum(a, b)
    if op == "maximum":
        return torch.maximum(a, b)
    if op == "neg":
        return -a
    if op == "exp":
        return torch.exp(torch.clamp(a, max=3.0))
    if op == "tanh":
        return torch.tanh(a)
    if op == "sigmoid":
        return torch.sigmoid(a)
    raise AssertionError(op)


def _bound(a: Tensor) -> Tensor:
    """Keep a state in [-4, 4]."""
    return torch.clamp(a, -4.0, 4.0)


def _make_cell(program: list[tuple[str, int, int, int]], two: bool, reset: str, spike_fn: Any):
    """A step from a program: each instruction appends ``op(vals[i], vals[j], vals[k])`` to the
    values ``[v, w, x, c * x, p, thr]``; the last value is the new membrane, the one before the
    new ``w``; a spike of ``v - thr`` and a reset end it."""

    def step(state: Any, x: Tensor, *, params: CellParams) -> tuple[Tensor, Any]:
        vals = [state.v, state.w if two else state.v, x, params.c * x, params.p * state.v]
        vals.append(params.thr * torch.ones_like(x))
        for op, i, j, k in program:
            vals.append(_apply(op, vals[i % len(vals)], vals[j % len(vals)], vals[k % len(vals)]))
        v = _bound(0.5 * state.v + vals[-1])
        w = _bound(0.75 * state.w + 0.25 * vals[-2]) if two else state.w
        spike = spike_fn(v - params.thr)
        if reset == "subtract":
            v = v - spike * params.thr
        elif reset == "zero":
            v = torch.where(spike > 0, torch.zeros_like(v), v)
        return spike, Cell(v, w)

    return step


def _programs(ops: list[str]) -> st.SearchStrategy:
    index = st.integers(0, 30)
    return st.lists(st.tuples(st.sampled_from(ops), index, index, index), min_size=1, max_size=8)


cell_surrogates = st.sampled_from(
    [surrogate.atan(), surrogate.fast_sigmoid(), surrogate.triangle(), surrogate.straight_through()]
)


def _cell_case(seed: int, dtype: torch.dtype, thr_tensor: bool) -> tuple[Tensor, Cell, CellParams]:
    g = torch.Generator().manual_seed(seed)
    shape = (2, 6)
    xs = _uniform(-1.0, 1.5, (6, *shape), g, dtype).requires_grad_(True)
    state = Cell(*(_uniform(-1.0, 1.0, shape, g, dtype).requires_grad_(True) for _ in range(2)))
    p = _uniform(-1.0, 1.0, shape[-1:], g, dtype).requires_grad_(True)
    thr: Any = _uniform(0.3, 1.0, (), g, dtype).requires_grad_(True) if thr_tensor else 0.625
    return xs, state, CellParams(float(_uniform(-1.5, 1.5, (), g, F64)), p, thr)


@settings(max_examples=10)
@given(
    program=_programs(ARITH),
    two=st.booleans(),
    reset=st.sampled_from(["subtract", "zero", "none"]),
    spike_fn=cell_surrogates,
    dtype=st.sampled_from([F32, F64]),
    thr_tensor=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_arithmetic_cells_equal_scan(
    program: list, two: bool, reset: str, spike_fn: Any, dtype: Any, thr_tensor: bool, seed: int
) -> None:
    step = _make_cell(program, two, reset, spike_fn)
    xs, state, params = _cell_case(seed, dtype, thr_tensor)
    ref = _scan(step, state, xs, params)
    inputs = _tensors(xs, state, params)
    g_ref = _grads(ref, inputs)
    for backend in ("kernel", "torch"):
        fused = fuse(step, backend=backend)  # type: ignore[arg-type]
        got = fused(state, xs, params)
        assert _op.LAST_RUN["forward"] == backend
        _assert_same(got, ref)
        if dtype == F64:
            _assert_grads_close(_grads(got, inputs), g_ref)


@settings(max_examples=6)
@given(
    program=_programs(TRANS + ["add", "mul", "sub", "where"]),
    two=st.booleans(),
    reset=st.sampled_from(["subtract", "zero"]),
    spike_fn=cell_surrogates,
    dtype=st.sampled_from([F32, F64]),
    seed=st.integers(0, 2**16),
)
def test_random_transcendental_cells_close_to_scan(
    program: list, two: bool, reset: str, spike_fn: Any, dtype: Any, seed: int
) -> None:
    program = [*program, ("exp", -1, 0, 0), ("tanh", -1, 0, 0), ("sigmoid", -2, 0, 0)]
    step = _make_cell(program, two, reset, spike_fn)
    xs, state, params = _cell_case(seed, dtype, thr_tensor=True)
    ref = _scan(step, state, xs, params)
    inputs = _tensors(xs, state, params)
    g_ref = _grads(ref, inputs)
    eps = torch.finfo(dtype).eps
    for backend in ("kernel", "torch"):
        got = fuse(step, backend=backend)(state, xs, params)  # type: ignore[arg-type]
        flips = (got[0] != ref[0]).to(F64).mean().item()
        assert flips < 0.01
        if flips == 0:
            for a, b in zip(got[1], ref[1], strict=True):
                torch.testing.assert_close(a, b, rtol=64 * eps, atol=64 * eps)
            if dtype == F64:
                _assert_grads_close(_grads(got, inputs), g_ref)


# -- 3. fallbacks ------------------------------------------------------------------------------
class V(NamedTuple):
    v: Tensor


W_CAPTURED = torch.tensor(1.25, dtype=F64, requires_grad=True)


def _matmul_step(state: V, x: Tensor, *, params: Any) -> tuple[Tensor, V]:
    v = params * state.v + x @ torch.full((x.shape[-1], x.shape[-1]), 0.1, dtype=x.dtype)
    return surrogate.atan()(v - 1.0), V(v)


def _sum_step(state: V, x: Tensor, *, params: Any) -> tuple[Tensor, V]:
    v = params * state.v + x.sum(-1, keepdim=True)
    return surrogate.atan()(v - 1.0), V(v)


def _control_step(state: V, x: Tensor, *, params: Any) -> tuple[Tensor, V]:
    if x.sum() > 0:
        v = params * state.v + x
    else:
        v = state.v - x
    return surrogate.atan()(v - 1.0), V(v)


def _captured_step(state: V, x: Tensor, *, params: Any) -> tuple[Tensor, V]:
    v = params * state.v + W_CAPTURED * x
    return surrogate.atan()(v - 1.0), V(v)


FALLBACKS = [
    (_matmul_step, r"pointwise"),
    (_sum_step, r"sum"),
    (_control_step, r"could not be traced"),
    (_captured_step, r"requires.?grad"),
]


@pytest.mark.parametrize(("step", "cause"), FALLBACKS, ids=lambda s: getattr(s, "__name__", ""))
def test_unfusable_steps_fall_back_to_scan(step: Any, cause: str) -> None:
    g = torch.Generator().manual_seed(0)
    xs = _uniform(-1.0, 1.5, (5, 2, 3), g, F64).requires_grad_(True)
    state = V(_uniform(-1.0, 1.0, (2, 3), g, F64).requires_grad_(True))
    beta = torch.tensor([0.5, 0.7, 0.9], dtype=F64, requires_grad=True)
    fused = fuse(step)
    why = fused.explain(state, xs, beta)
    assert why.backend == "scan"
    assert why.reason and __import__("re").search(cause, why.reason), why.reason
    got, ref = fused(state, xs, beta), _scan(step, state, xs, beta)
    _assert_same(got, ref)
    inputs = [xs, state.v, beta, W_CAPTURED]
    _assert_grads_close(_grads(got, inputs), _grads(ref, inputs), rtol=0)
    for backend in ("kernel", "torch"):
        with pytest.raises(ValueError, match=f"backend='{backend}' cannot fuse"):
            fuse(step, backend=backend)(state, xs, beta)  # type: ignore[arg-type]


def test_captured_tensor_requiring_grad_gives_its_reason() -> None:
    """A reason that names the cause, not a FakeTensor assertion."""
    xs = torch.rand(4, 3, dtype=F64)
    why = fuse(_captured_step).explain(V(torch.zeros(3, dtype=F64)), xs, 0.5)
    assert why.backend == "scan"
    assert "captured tensor" in why.reason, why.reason


@pytest.mark.parametrize("op", ["clamp", "minimum", "maximum", "sigmoid", "tanh"])
@pytest.mark.parametrize("backend", ["kernel", "torch"])
def test_backward_of_op(op: str, backend: str) -> None:
    fn = {
        "clamp": lambda a: torch.clamp(a, -1.0, 1.0),
        "minimum": lambda a: torch.minimum(a, torch.ones_like(a)),
        "maximum": lambda a: torch.maximum(a, -torch.ones_like(a)),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
    }[op]

    def step(state: V, x: Tensor, *, params: Any) -> tuple[Tensor, V]:
        v = fn(params * state.v + x)
        return v, V(v)

    xs = torch.linspace(-2.0, 2.0, 12, dtype=F64).reshape(4, 3).requires_grad_(True)
    state = V(torch.zeros(3, dtype=F64))
    fused = fuse(step, backend=backend)  # type: ignore[arg-type]
    assert fused.explain(state, xs, 0.5).backend == backend
    got, ref = fused(state, xs, 0.5), _scan(step, state, xs, 0.5)
    if backend == "kernel" and op in ("sigmoid", "tanh"):  # libm vs Sleef: the last bit
        torch.testing.assert_close(got[0], ref[0], rtol=4e-16, atol=4e-16)
    else:
        _assert_same(got, ref)
    _assert_grads_close(_grads(got, [xs]), _grads(ref, [xs]))


# -- 4. torch.func and torch.compile -----------------------------------------------------------
def _lif_case(seed: int = 3) -> tuple[Tensor, Any, Any]:
    xs, state, params = _case("lif", (4, 5), 6, F64, ("neuron", "float"), seed)
    return xs.detach(), sf.LIFState(state.v.detach()), params


def test_vmap_grad_jacrev_equal_scan() -> None:
    xs, state, params = _lif_case()  # xs [T, B, N]
    beta = params.beta.detach()
    weights = torch.linspace(0.5, 2.0, 5, dtype=F64)
    fused = fuse(sf.lif_step)

    def loss(run: Any, x: Tensor, b: Tensor) -> Tensor:  # one example: x [T, N], b [N]
        ys, final = run(sf.LIFState(state.v[0]), x, sf.LIFParams(b, params.threshold))
        return (ys * weights).sum() + (final.v * weights).sum()

    ours, theirs = partial(loss, fused), partial(loss, partial(_scan, sf.lif_step))
    # vmap over a batch of xs
    torch.testing.assert_close(
        vmap(ours, in_dims=(1, None))(xs, beta), vmap(theirs, in_dims=(1, None))(xs, beta)
    )
    # grad, one example
    for argnums in (0, 1):
        torch.testing.assert_close(
            grad(ours, argnums)(xs[:, 0], beta),
            grad(theirs, argnums)(xs[:, 0], beta),
            rtol=1e-9,
            atol=1e-12,
        )
    # per-example grads, with unbatched and batched per-neuron params
    betas = beta * torch.linspace(0.8, 1.0, 4, dtype=F64)[:, None]  # [B, N]
    for dims, b in (((1, None), beta), ((1, 0), betas)):
        got = vmap(grad(ours, (0, 1)), in_dims=dims)(xs, b)
        ref = vmap(grad(theirs, (0, 1)), in_dims=dims)(xs, b)
        _assert_grads_close(got, ref)


@pytest.mark.parametrize(
    "backend",
    [
        "kernel",
        "torch",
    ],
)
def test_jacrev_equals_scan(backend: str) -> None:
    xs, state, params = _lif_case()
    fused = fuse(sf.lif_step, backend=backend)  # type: ignore[arg-type]
    jac = jacrev(lambda x: fused(state, x, params)[1].v)(xs)
    jac_ref = jacrev(lambda x: _scan(sf.lif_step, state, x, params)[1].v)(xs)
    torch.testing.assert_close(jac, jac_ref, rtol=1e-9, atol=1e-12)
    assert jac_ref.abs().sum() > 0


# Dynamo's own probe of .grad on a non-leaf warns (turned into an error by the suite's filters)
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_torch_compile_equals_eager() -> None:
    xs, state, params = _lif_case(5)
    fused = fuse(sf.lif_step)
    weights = torch.linspace(0.5, 2.0, 5, dtype=F64)

    def f(x: Tensor) -> Tensor:
        ys, final = fused(state, torch.sin(x) + x, params)
        return (ys * weights).sum() + final.v.square().sum()

    compiled = torch.compile(f)
    x1 = xs.clone().requires_grad_(True)
    x2 = xs.clone().requires_grad_(True)
    out, out_ref = compiled(x1), f(x2)
    assert torch.equal(out, out_ref)
    (g,), (g_ref,) = torch.autograd.grad(out, x1), torch.autograd.grad(out_ref, x2)
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-14)
    assert g_ref.abs().sum() > 0


def test_forward_mode_jvp_equals_scan() -> None:
    xs, state, params = _lif_case(7)
    step = partial(sf.lif_step, spike_fn=surrogate.forward_mode_spike(surrogate.atan()))
    fused = fuse(step)
    tangent = torch.randn(xs.shape, generator=torch.Generator().manual_seed(1), dtype=F64)

    def run(f: Any) -> Any:
        return jvp(lambda x: f(state, x, params), (xs,), (tangent,))

    (ys, final), (dys, dfinal) = run(fused)
    (ys_r, final_r), (dys_r, dfinal_r) = run(partial(_scan, step))
    _assert_same((ys, final, dys, dfinal), (ys_r, final_r, dys_r, dfinal_r))
    assert dys_r.abs().sum() > 0 and ys_r.sum() > 0
    # outside jvp the same step fuses
    assert fused.explain(state, xs, params).backend == "kernel"


# -- 5. static input ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lif", "synaptic", "adlif"])
@pytest.mark.parametrize("backend", ["kernel", "torch"])
def test_static_input_equals_scan(name: str, backend: str) -> None:
    step = MODELS[name].step
    x, state, params = _case(name, (3, 4), 0, F64, KINDS[0], seed=11, static=True)
    fused = fuse(step, backend=backend)  # type: ignore[arg-type]
    got = fused(state, x, params, num_steps=6)
    ref = _scan(step, state, x, params, num_steps=6)
    assert got[0].shape == (6, 3, 4)
    _assert_same(got, ref)
    assert ref[0].sum() > 0
    inputs = _tensors(x, state, params)
    g_got, g_ref = _grads(got, inputs), _grads(ref, inputs)
    assert g_got[0].shape == x.shape
    _assert_grads_close(g_got, g_ref)


# -- 6. NaN and inf ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["kernel", "torch"])
@pytest.mark.parametrize("where", ["xs", "state"])
def test_nonfinite_propagate_like_scan(backend: str, where: str) -> None:
    xs, state, params = _case("synaptic", (3, 4), 5, F64, KINDS[1], seed=2)
    with torch.no_grad():
        if where == "xs":
            xs[1, 0, 0] = float("nan")
            xs[2, 1, 1] = float("inf")
            xs[0, 2, 2] = -float("inf")
        else:
            state.v[0, 0] = float("nan")
            state.i[1, 1] = float("inf")
    step = sf.synaptic_step
    got = fuse(step, backend=backend)(state, xs, params)  # type: ignore[arg-type]
    ref = _scan(step, state, xs, params)
    _assert_same(got, ref)
    assert torch.isnan(ref[1].v).any()
    inputs = _tensors(xs, state, params)
    _assert_grads_close(_grads(got, inputs), _grads(ref, inputs))


# -- 7. caching and the build ------------------------------------------------------------------
def test_traces_once_per_structure_and_dtype() -> None:
    calls = []

    def step(state: Any, x: Tensor, *, params: Any) -> Any:
        calls.append(1)
        return sf.lif_step(state, x, params=params)

    fused = fuse(step)
    params = sf.LIFParams(0.9, 1.0)
    xs = torch.rand(5, 2, 3, dtype=F64, requires_grad=True)
    state = sf.lif_init((2, 3), dtype=F64)
    fused(state, xs, params)[0].sum().backward()
    traced = len(calls)
    assert traced >= 1
    for _ in range(2):
        fused(state, xs, params)[0].sum().backward()
    fused(sf.lif_init((4, 7), dtype=F64), torch.rand(3, 4, 7, dtype=F64), params)  # new shape
    assert len(calls) == traced
    fused(sf.lif_init((2, 3)), xs.float(), params)  # new dtype: traced again
    assert len(calls) > traced
    after = len(calls)
    fused(sf.lif_init((2, 3)), xs.float(), sf.LIFParams(0.5, 1.0))  # new baked constant
    assert len(calls) > after


def test_no_ext_runs_the_graph_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNFUNC_NO_EXT", "1")
    xs, state, params = _case("alif", (2, 5), 6, F64, KINDS[0], seed=4)
    fused = fuse(sf.alif_step)
    why = fused.explain(state, xs, params)
    assert why.backend == "torch" and "SNNFUNC_NO_EXT" in why.reason
    got, ref = fused(state, xs, params), _scan(sf.alif_step, state, xs, params)
    _assert_same(got, ref)
    inputs = _tensors(xs, state, params)
    _assert_grads_close(_grads(got, inputs), _grads(ref, inputs))
    assert _op.LAST_RUN == {"forward": "torch", "backward": "torch"}
    with pytest.raises(ValueError, match="SNNFUNC_NO_EXT"):
        fuse(sf.alif_step, backend="kernel")(state, xs, params)


# -- 8. bad input ------------------------------------------------------------------------------
def test_bad_input_errors_name_the_argument() -> None:
    state, params = sf.lif_init((2, 3)), sf.LIFParams(0.9, 1.0)
    with pytest.raises(TypeError, match="step"):
        fuse(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend"):
        fuse(sf.lif_step, backend="cuda")  # type: ignore[arg-type]
    fused = fuse(sf.lif_step)
    with pytest.raises(ValueError, match="time dim"):
        fused(sf.lif_init(()), torch.tensor(1.0), params)
    with pytest.raises(ValueError, match="num_steps"):
        fused(state, torch.zeros(2, 3), params, num_steps=0)
    with pytest.raises(ValueError, match="num_steps"):
        fused.explain(state, torch.zeros(2, 3), params, num_steps=0)


def test_fuse_is_a_named_callable() -> None:
    fused = fuse(functools.partial(sf.lif_step, reset="zero"))
    assert "fuse(" in repr(fused) and callable(fused)
    assert fuse(sf.lif_step).__name__ == "lif_step"


def test_no_compiler_is_one_notice_and_the_graph_executor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from snnfunc.fused import _build

    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setattr(_build, "_find_compiler", lambda cc: None)
    monkeypatch.setattr(_op, "_NOTICED", set())
    xs, state, params = _lif_case()
    fused = fuse(partial(sf.lif_step, reset="zero"))
    for _ in range(3):
        got = fused(state, xs, params)
    assert _op.LAST_RUN["forward"] == "torch"
    assert torch.equal(got[0], _scan(partial(sf.lif_step, reset="zero"), state, xs, params)[0])
    err = capsys.readouterr().err
    assert err.count("without a C kernel (no C compiler found (set CC))") == 1, err


def test_vmap_without_register_vmap_runs_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a torch before 2.5 (no ``torch.library.register_vmap``) ``vmap`` runs the reference
    scan instead of failing; the results are the same."""
    monkeypatch.setattr(_op, "VMAP_SUPPORTED", False)
    xs, state, params = _lif_case()
    fused = fuse(sf.lif_step)
    batch = torch.stack([xs, xs * 0.5])

    def spikes(x: Tensor) -> Tensor:
        assert fused.explain(state, x, params).backend == "scan"
        return fused(state, x, params)[0]

    got = torch.func.vmap(spikes)(batch)
    want = torch.stack([_scan(sf.lif_step, state, x, params)[0] for x in batch])
    assert torch.equal(got, want)
