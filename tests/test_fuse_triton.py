"""The Triton backend of ``fuse``: its kernels run here under Triton's interpreter
(``TRITON_INTERPRET=1``, CPU tensors) and equal ``scan`` as the C kernel does (outputs and states
bit for bit on arithmetic graphs, float16 included; gradients to rounding); every generated kernel
also compiles ahead of time for the H200 (sm_90), so code the GPU compiler rejects fails here."""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import hypothesis.strategies as st
import pytest
import torch
from _ci import import_peer
from hypothesis import given, settings
from test_fuse import (
    ARITH,
    FUSABLE,
    OPTION_IDS,
    OPTIONS,
    _assert_grads_close,
    _assert_same,
    _case,
    _cell_case,
    _grads,
    _make_cell,
    _programs,
    _scan,
    _tensors,
    cell_surrogates,
)

import snnfunc as sf
from snnfunc.fused import _op, _triton
from snnfunc.fused._trace import trace
from snnfunc.fused.fuse import Explanation, fuse
from snnfunc.neurons import MODELS

import_peer("triton")  # CI installs it (the "gpu" extra): there its absence fails

F16, F32, F64 = torch.float16, torch.float32, torch.float64


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Triton's interpreter: the generated kernels on CPU tensors."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")


def _triton_case(
    name: str, dtype: torch.dtype, opts: dict[str, Any], seed: int, static: bool = False
) -> tuple[Any, Any, Any, Any]:
    """A model's case in ``dtype`` (drawn in float64 and rounded, so float16 values are the
    same draws), its step with ``opts``, every tensor requiring grad."""
    xs, state, params = _case(name, (3, 37), 9, F64, ("neuron", "scalar", "float", "full"), seed)
    xs, state, params = torch.utils._pytree.tree_map(
        lambda t: t.detach().to(dtype).requires_grad_(True) if isinstance(t, torch.Tensor) else t,
        (xs, state, params),
    )
    if static:
        xs = xs[0].detach().requires_grad_(True)
    return xs, state, params, partial(MODELS[name].step, **opts)


@pytest.mark.parametrize("name", FUSABLE)
@pytest.mark.parametrize("dtype", [F16, F32, F64], ids=["f16", "f32", "f64"])
@pytest.mark.parametrize("opts", OPTIONS[:2], ids=OPTION_IDS[:2])
def test_models_equal_scan(name: str, dtype: torch.dtype, opts: dict[str, Any]) -> None:
    xs, state, params, step = _triton_case(name, dtype, opts, seed=11)
    ref = _scan(step, state, xs, params)
    got = fuse(step, backend="triton")(state, xs, params)
    assert _op.LAST_RUN["forward"] == "triton"
    _assert_same(got, ref)
    inputs = _tensors(xs, state, params)
    g_got, g_ref = _grads(got, inputs), _grads(ref, inputs)
    assert _op.LAST_RUN["backward"] == "triton"
    # the gradients of xs and of the initial state are each step's VJP graph, node by node:
    # equal bit for bit, float16 included
    n_exact = 1 + len(state)
    _assert_same(g_got[:n_exact], g_ref[:n_exact])
    # a param's gradient is a sum over T (and the batch): the kernel adds in the compute type
    # (float32 for float16), autograd in the dtype
    for a, b in zip(g_got[n_exact:], g_ref[n_exact:], strict=True):
        scale = b.abs().max().item() if b is not None else 0.0
        tol = {F64: 1e-10, F32: 1e-5, F16: 1e-2}[dtype] * max(scale, 1e-3)
        torch.testing.assert_close(a, b, rtol=0, atol=tol)


@pytest.mark.parametrize("name", ["lif", "synaptic", "adlif"])
def test_static_input_and_partial_losses_equal_scan(name: str) -> None:
    xs, state, params, step = _triton_case(name, F64, {}, seed=5, static=True)
    fused = fuse(step, backend="triton")
    ref = _scan(step, state, xs, params, num_steps=7)
    got = fused(state, xs, params, num_steps=7)
    _assert_same(got, ref)
    inputs = _tensors(xs, state, params)
    _assert_grads_close(_grads(got, inputs), _grads(ref, inputs))
    # a loss of the final state alone, then of the spikes alone: the absent cotangents of each
    # step (Plan.mask_sequence) as in autograd
    for pick in (lambda out: sum(s.sum() for s in out[1]), lambda out: out[0].pow(2).sum()):
        got = fused(state, xs, params, num_steps=7)
        ref = _scan(step, state, xs, params, num_steps=7)
        g_got = torch.autograd.grad(pick(got), inputs, allow_unused=True)
        g_ref = torch.autograd.grad(pick(ref), inputs, allow_unused=True)
        _assert_grads_close(g_got, g_ref)


@settings(max_examples=8)
@given(
    program=_programs(ARITH),
    two=st.booleans(),
    reset=st.sampled_from(["subtract", "zero", "none"]),
    spike_fn=cell_surrogates,
    dtype=st.sampled_from([F16, F32, F64]),
    thr_tensor=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_arithmetic_cells_equal_scan(
    program: list, two: bool, reset: str, spike_fn: Any, dtype: Any, thr_tensor: bool, seed: int
) -> None:
    step = _make_cell(program, two, reset, spike_fn)
    xs, state, params = _cell_case(seed, dtype, thr_tensor)
    ref = _scan(step, state, xs, params)
    got = fuse(step, backend="triton")(state, xs, params)
    assert _op.LAST_RUN["forward"] == "triton"
    _assert_same(got, ref)
    if dtype == F64:
        inputs = _tensors(xs, state, params)
        _assert_grads_close(_grads(got, inputs), _grads(ref, inputs))


def test_nonfinite_propagate_like_scan() -> None:
    xs, state, params, step = _triton_case("synaptic", F32, {}, seed=2)
    xs = xs.detach().clone()
    xs[2, 0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    xs.requires_grad_(True)
    ref = _scan(step, state, xs, params)
    got = fuse(step, backend="triton")(state, xs, params)
    _assert_same(got, ref)
    inputs = _tensors(xs, state, params)
    for a, b in zip(_grads(got, inputs), _grads(ref, inputs), strict=True):
        assert a is not None and b is not None
        assert torch.equal(a.isnan(), b.isnan())


def test_vmap_and_grad_run_the_triton_kernels() -> None:
    xs, state, params, step = _triton_case("lif", F64, {}, seed=4)
    fused = fuse(step, backend="triton")

    def loss(xs_: torch.Tensor, run: Any) -> torch.Tensor:
        ys, _ = run(state, xs_, params)
        return ys.sum()

    batch = torch.stack([xs.detach(), xs.detach() * 0.5])
    got = torch.func.vmap(torch.func.grad(lambda x: loss(x, fused)))(batch)
    assert _op.LAST_RUN["backward"] == "triton"
    ref = torch.func.vmap(torch.func.grad(lambda x: loss(x, fuse(step, backend="scan"))))(batch)
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-12)


def test_explain_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    xs, state, params, step = _triton_case("lif", F32, {}, seed=1)
    fused = fuse(step, backend="triton")
    assert fused.explain(state, xs, params) == Explanation("triton")
    # on CPU tensors, without the interpreter: a clear refusal, not a crash inside Triton
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert fused.explain(state, xs, params).backend == "torch"
    with pytest.raises(ValueError, match="backend='triton' is not available here: .*CUDA"):
        fused(state, xs, params)
    # "auto" on CPU tensors is the C kernel's (or the graph executor's), never Triton's
    sf.fuse(step)(state, xs, params)
    assert _op.LAST_RUN["forward"] in ("kernel", "torch")
    # no Triton installed: the reason names the extra to install
    monkeypatch.setattr(_triton, "_import_error", lambda: "Triton is not installed (pip ...)")
    with pytest.raises(ValueError, match="Triton is not installed"):
        fused(state, xs, params)


def test_integer_dtypes_are_refused_with_the_reason() -> None:
    plan = trace(
        MODELS["lif"].step,
        MODELS["lif"].init(3),
        torch.zeros(3),
        MODELS["lif"].params_type(0.9, 1.0),
    )
    reason = _triton.reason(plan, [torch.zeros(3, dtype=torch.int32)])
    assert reason is not None and "float16, bfloat16, float32 or float64" in reason


def test_tune_keeps_the_fastest_config() -> None:
    ran: list[tuple[int, int]] = []
    times = {(256, 4): 3.0, (512, 4): 1.0, (1024, 8): 2.0}
    best = _triton.tune(
        lambda block, warps: ran.append((block, warps)),
        lambda fn: (fn(), times[ran[-1]])[1],
        tuple(times),
    )
    assert best == (512, 4) and ran == list(times)


# -- ahead of time, for the H200: what the interpreter accepts, the GPU compiler must too ------
def _plan(name: str, dtype: torch.dtype = F32) -> Any:
    model = MODELS[name]
    values = [torch.full((3,), 0.5, dtype=dtype) for _ in model.params]
    return trace(
        model.step,
        model.init(3, dtype=dtype),
        torch.zeros(3, dtype=dtype),
        model.params_type(*values),
    )


@pytest.mark.parametrize("name", FUSABLE)
@pytest.mark.parametrize("dtype", [F32, torch.bfloat16], ids=["f32", "bf16"])
def test_kernels_compile_for_sm90(name: str, dtype: torch.dtype) -> None:
    plan = _plan(name)
    full = ((True,) * plan.num_y, (True,) * plan.num_state)
    # a loss of the last state alone: several VJP variants, chosen per step in the loop
    last = ((False,) * plan.num_y, (True,) + (False,) * (plan.num_state - 1))
    for kind, m in (("forward", None), ("backward", full), ("backward", last)):
        compiled = _triton.compile_for(plan, kind, dtype, m)
        assert compiled.asm["cubin"], f"{name} {kind}: no cubin"
        ptx = compiled.asm["ptx"]
        assert ".target sm_90" in ptx
        # bit equality with torch: no contracted multiply-adds, no approximate division
        assert "fma.rn.f32" not in ptx and "div.full.f32" not in ptx, f"{name} {kind}"


class _V(NamedTuple):
    v: torch.Tensor


def _every_op_step(state: _V, x: torch.Tensor, *, params: Any) -> tuple[torch.Tensor, _V]:
    """A step that uses every op of the Triton dialect's tables once (and a few forms twice)."""
    v = state.v
    a = torch.tanh(v) + torch.sigmoid(x) - torch.exp(torch.clamp(v, max=2.0))
    a = a + torch.expm1(torch.clamp(x, -1.0, 1.0)) * torch.erf(v)
    b = torch.log(torch.abs(v) + 1.0) + torch.log1p(torch.relu(x)) - torch.sqrt(torch.abs(x))
    b = b + torch.rsqrt(v * v + 1.0) + torch.reciprocal(x * x + 2.0) + torch.pow(v * v, 1.5)
    c = torch.ceil(v) - torch.floor(x) + torch.sign(v) * torch.minimum(v, x) / 3.0
    c = c + torch.maximum(v, -x) + torch.pow(v, 2) + torch.pow(x, -1.0) * 0.0
    keep = torch.logical_and(v > -1.0, torch.logical_not(x >= 2.0)) | (v == 0.5)
    h = torch.where(keep, 0.5 * v + 0.1 * (a + b + c), -v) + x
    z = sf.surrogate.atan()(h - params.threshold)
    return z, _V(torch.clamp(h - z * params.threshold, -3.0, 3.0))


class _P(NamedTuple):
    threshold: torch.Tensor


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_every_op_close_to_scan(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    xs = (torch.rand(6, 2, 40, generator=g, dtype=F64) * 3 - 1).to(dtype).requires_grad_(True)
    state = _V(torch.zeros(2, 40, dtype=dtype))
    params = _P(torch.full((40,), 0.8, dtype=dtype, requires_grad=True))
    ref = _scan(_every_op_step, state, xs, params)
    got = fuse(_every_op_step, backend="triton")(state, xs, params)
    assert _op.LAST_RUN["forward"] == "triton"
    eps = torch.finfo(dtype).eps
    assert (got[0] != ref[0]).to(F64).mean() < 0.02  # a transcendental's last bit may flip one
    torch.testing.assert_close(got[1].v, ref[1].v, rtol=256 * eps, atol=256 * eps)


def test_every_op_compiles_for_sm90() -> None:
    state = _V(torch.zeros(3))
    plan = trace(_every_op_step, state, torch.zeros(3), _P(torch.zeros(3)))
    for dtype in (F32, F16):
        for kind, masks in (("forward", None), ("backward", ((True,), (True,)))):
            assert _triton.compile_for(plan, kind, dtype, masks).asm["cubin"]
