"""Fused scans equal the reference scan: spikes and states exactly, gradients to rounding."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import hypothesis.strategies as st
import pytest
import torch
from _fused_models import FUSED_MODELS, Model
from hypothesis import given, settings
from torch import Tensor
from torch.func import grad, jacrev, vmap

import snnfunc as sf
from snnfunc import surrogate
from snnfunc.fused import _build
from snnfunc.neurons import MODELS as NEURON_MODELS

F64 = torch.float64
KERNEL = _build.disabled_reason() is None
BACKENDS = ["kernel", "torch"] if KERNEL else ["torch"]
needs_kernel = pytest.mark.skipif(not KERNEL, reason="no C++ compiler: the kernel is not built")


MODELS = FUSED_MODELS
MAX_PARAMS = max(len(model.param_names) for model in MODELS)
BY_NAME = {model.name: model for model in MODELS}
SURROGATES = [
    surrogate.atan(),
    surrogate.atan(3.5),
    surrogate.fast_sigmoid(),
    surrogate.superspike(),
    surrogate.sigmoid(),
    surrogate.triangle(0.7),
    surrogate.boxcar(),
    surrogate.straight_through(),
    surrogate.heaviside(),
    surrogate.custom(lambda x: torch.exp(-x.abs()), name="laplace"),
]


def _uniform(lo: float, hi: float, size: Any, g: torch.Generator, dtype: Any, grid: bool) -> Tensor:
    """Uniform in [lo, hi]; with ``grid``, multiples of 1/8 there: exact in float32/64, so that
    sums of them land exactly on a threshold (a spike test at ``u == 0``, where ``>`` and ``>=``
    differ)."""
    if grid:
        return torch.randint(math.ceil(lo * 8), math.floor(hi * 8) + 1, size, generator=g) / 8
    return lo + (hi - lo) * torch.rand(size, generator=g, dtype=dtype)


def _param(
    model: Model,
    name: str,
    kind: str,
    shape: tuple[int, ...],
    g: torch.Generator,
    dtype: Any,
    grid: bool,
) -> Any:
    field = NEURON_MODELS[model.name].params[name]  # the registered range of this param
    lo, hi = field.low, field.high
    if field.kind == "matrix":  # a recurrent weight [N, N], whatever the kind drawn
        w = _uniform(lo, hi, (shape[-1], shape[-1]), g, dtype, grid)
        return w.to(dtype).requires_grad_(True)
    if kind == "float":
        return _uniform(lo, hi, (), g, F64, grid).item()
    size = {"scalar": (), "neuron": shape[-1:], "full": shape}[kind]
    return _uniform(lo, hi, size, g, dtype, grid).to(dtype).requires_grad_(True)


def _case(
    model: Model,
    shape: tuple[int, ...],
    steps: int,
    static: bool,
    kinds: Any,
    seed: int,
    dtype: Any = F64,
    grid: bool = False,
) -> tuple[Tensor, Any, Any]:
    g = torch.Generator().manual_seed(seed)
    x_shape = shape if static else (steps, *shape)
    xs = _uniform(-0.2, 1.4, x_shape, g, dtype, grid).to(dtype).requires_grad_(True)
    state = model.state(
        *(
            _uniform(0.0, 1.0, shape, g, dtype, grid).to(dtype).requires_grad_(True)
            for _ in model.state._fields
        )
    )
    params = model.params(
        *(
            _param(model, n, k, shape, g, dtype, grid)
            for i, n in enumerate(model.param_names)
            for k in [kinds[i % len(kinds)]]  # kinds repeat for models with more params
        )
    )
    return xs, state, params


def _leaves(xs: Tensor, state: Any, params: Any) -> list[Tensor]:
    return [xs, *state, *(p for p in params if isinstance(p, Tensor))]


def _run(
    model: Model,
    backend: str | None,
    xs: Tensor,
    state: Any,
    params: Any,
    steps: int | None,
    opts: dict[str, Any],
    seed: int,
) -> tuple[Tensor, Any, tuple[Tensor | None, ...]]:
    if backend is None:
        spikes, final = sf.scan(
            partial(model.step, params=params, **opts), state, xs, num_steps=steps
        )
    else:
        spikes, final = model.fused(state, xs, params, num_steps=steps, backend=backend, **opts)
    g = torch.Generator().manual_seed(seed + 1)
    w = torch.randn(spikes.shape, generator=g, dtype=spikes.dtype)
    loss = (spikes * w).sum() + sum((f * (k + 1.5)).sum() for k, f in enumerate(final))
    grads = torch.autograd.grad(loss, _leaves(xs, state, params), allow_unused=True)
    return spikes, final, grads


options = st.fixed_dictionaries(
    {
        "reset": st.sampled_from(["subtract", "zero", "none"]),
        "reset_delay": st.booleans(),
        "detach_reset": st.booleans(),
        "spike_fn": st.sampled_from(SURROGATES),
    }
)
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)
param_kind = st.sampled_from(["float", "scalar", "neuron", "full"])
# one drawn case of a fused scan against scan: options, shape, steps, static input, param kinds
fused_cases = given(
    opts=options,
    shape=shapes,
    steps=st.integers(1, 7),
    static=st.booleans(),
    kinds=st.lists(param_kind, min_size=MAX_PARAMS, max_size=MAX_PARAMS),
    seed=st.integers(0, 2**16),
    grid=st.booleans(),
)


@pytest.mark.parametrize("model", MODELS, ids=str)
@settings(max_examples=20)  # each drawn structure builds two kernels (~0.3 s)
@fused_cases
def test_fused_equals_scan(
    model: Model,
    opts: dict[str, Any],
    shape: tuple[int, ...],
    steps: int,
    static: bool,
    kinds: list[str],
    seed: int,
    grid: bool,
) -> None:
    """Every backend equals scan. With ``grid``, inputs, states and params are multiples of 1/8:
    membranes hit the threshold exactly (where random floats never do), so spike tests
    ``u > 0`` meet ``u == 0``."""
    for backend in BACKENDS:
        _check_fused_equals_scan(model, backend, opts, shape, steps, static, kinds, seed, grid=grid)


def _check_fused_equals_scan(
    model: Model,
    backend: str,
    opts: dict[str, Any],
    shape: tuple[int, ...],
    steps: int,
    static: bool,
    kinds: list[str],
    seed: int,
    *,
    grid: bool,
) -> None:
    kinds = kinds[: len(model.param_names)]
    xs, state, params = _case(model, shape, steps, static, kinds, seed, grid=grid)
    n = steps if static else None
    ref = _run(model, None, xs, state, params, n, opts, seed)
    got = _run(model, backend, xs, state, params, n, opts, seed)
    assert torch.equal(got[0], ref[0])  # spikes, exactly
    for a, b in zip(got[1], ref[1], strict=True):
        assert torch.equal(a, b)  # final state, exactly
    for a, b in zip(got[2], ref[2], strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@needs_kernel
@pytest.mark.parametrize("model", MODELS, ids=str)
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("reset_delay", [False, True])
def test_float32_kernel_spikes_equal_scan(model: Model, reset: str, reset_delay: bool) -> None:
    """float32 rounding: the kernel must not fuse multiply-adds (spikes equal bit for bit)."""
    opts = {"reset": reset, "reset_delay": reset_delay}
    xs, state, params = _case(
        model, (6, 37), 40, False, ["neuron", "float", "scalar"], 7, torch.float32
    )
    ref = _run(model, None, xs, state, params, None, opts, 0)
    got = _run(model, "kernel", xs, state, params, None, opts, 0)
    assert ref[0].sum() > 0
    assert torch.equal(got[0], ref[0])
    for a, b in zip(got[1], ref[1], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(got[2], ref[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", MODELS, ids=str)
@pytest.mark.parametrize(("reset", "reset_delay"), [("subtract", False), ("zero", True)])
def test_gradcheck_final_state(model: Model, backend: str, reset: str, reset_delay: bool) -> None:
    """With detached resets and the plain step as spike function (no surrogate path) the final
    state is smooth in every input away from thresholds, so its gradient must match finite
    differences (spikes are constant under a small perturbation), for every model."""
    xs, state, params = _case(model, (2, 3), 5, False, ["full", "neuron", "scalar"], 3)
    leaves = _leaves(xs, state, params)
    n_state = len(state)

    def final(*flat: Tensor) -> tuple[Tensor, ...]:
        x, st_, rest = flat[0], flat[1 : 1 + n_state], iter(flat[1 + n_state :])
        p = model.params(*(next(rest) if isinstance(q, Tensor) else q for q in params))
        _, out = model.fused(
            model.state(*st_),
            x,
            p,
            backend=backend,
            reset=reset,
            reset_delay=reset_delay,
            spike_fn=surrogate.step,
        )
        return tuple(out)

    assert torch.autograd.gradcheck(final, tuple(leaves), eps=1e-7, atol=1e-6)


@pytest.mark.parametrize("model", MODELS, ids=str)
def test_plain_step_spike_function_fuses_too(model: Model) -> None:
    """A spike function without a surrogate (the plain step) is traced like any other: its
    gradient is autograd's (zero through the step), the same as scan's."""
    xs, state, params = _case(model, (2, 3), 6, False, ["scalar"] * len(model.param_names), 1)
    opts = {"spike_fn": surrogate.step}
    for backend in BACKENDS:
        got = model.fused(state, xs, params, backend=backend, **opts)
        ref = sf.scan(partial(model.step, params=params, **opts), state, xs)
        assert torch.equal(got[0], ref[0])
        (g,) = torch.autograd.grad((got[0] + got[1][-1].sum()).sum(), xs)
        (g_ref,) = torch.autograd.grad((ref[0] + ref[1][-1].sum()).sum(), xs)
        torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=0)


def test_learnable_surrogate_hyper_falls_back_and_gets_its_gradient() -> None:
    xs, state, params = _case(BY_NAME["lif"], (2, 3), 6, False, ["scalar"] * 2, 2)
    alpha = torch.tensor(2.0, dtype=F64, requires_grad=True)
    spikes, _ = sf.lif_scan(state, xs, params, spike_fn=surrogate.atan(alpha))
    (g,) = torch.autograd.grad(spikes.sum(), alpha)
    ref, _ = sf.scan(partial(sf.lif_step, params=params, spike_fn=surrogate.atan(alpha)), state, xs)
    (g_ref,) = torch.autograd.grad(ref.sum(), alpha)
    torch.testing.assert_close(g, g_ref)
    with pytest.raises(ValueError, match="captured tensor that requires grad"):
        sf.lif_scan(state, xs, params, spike_fn=surrogate.atan(alpha), backend="kernel")


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_vmap_and_per_example_gradients(backend: str) -> None:
    xs, _, _ = _case(BY_NAME["synaptic"], (4, 3), 6, False, ["float"] * 3, 5)
    xs = xs.detach()
    params = sf.SynapticParams(0.6, torch.tensor([0.9, 0.8, 0.7], dtype=F64), 1.0)

    def per_example(x: Tensor) -> Tensor:  # x: [T, N] -> spike count
        spikes, _ = sf.synaptic_scan(sf.synaptic_init(3, dtype=F64), x, params, backend=backend)
        return (spikes * torch.arange(1.0, 4.0, dtype=F64)).sum() + spikes.shape[0]

    batched = vmap(per_example, in_dims=1)(xs)
    direct = torch.stack([per_example(xs[:, b]) for b in range(4)])
    assert torch.equal(batched, direct)
    grads = vmap(grad(per_example), in_dims=1, out_dims=1)(xs)
    ref = torch.stack([grad(per_example)(xs[:, b]) for b in range(4)], dim=1)
    torch.testing.assert_close(grads, ref)
    ref_scan = torch.autograd.grad(
        (
            sf.scan(
                partial(sf.synaptic_step, params=params),
                sf.synaptic_init((4, 3), dtype=F64),
                xs.requires_grad_(True),
            )[0]
            * torch.arange(1.0, 4.0, dtype=F64)
        ).sum(),
        xs,
    )[0]
    torch.testing.assert_close(grads, ref_scan)


def test_jacrev_through_kernel_forward() -> None:
    """jacrev vmaps the backward: the kernel's forward, then the torch backward under vmap."""
    xs, state, params = _case(BY_NAME["lif"], (2,), 4, False, ["float"] * 2, 9)
    xs = xs.detach()

    def final_v(x: Tensor) -> Tensor:
        return sf.lif_scan(sf.LIFState(state.v.detach()), x, params)[1].v

    jac = jacrev(final_v)(xs)
    ref = jacrev(
        lambda x: (
            sf.scan(partial(sf.lif_step, params=params), sf.LIFState(state.v.detach()), x)[1].v
        )
    )(xs)
    torch.testing.assert_close(jac, ref)


def test_errors_name_the_argument() -> None:
    state, params = sf.lif_init((2, 3)), sf.LIFParams(0.9, 1.0)
    with pytest.raises(ValueError, match="backend must be one of"):
        sf.lif_scan(state, torch.zeros(4, 2, 3), params, backend="cuda")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="xs must have a leading time dim"):
        sf.lif_scan(sf.lif_init(()), torch.tensor(1.0), params)
    with pytest.raises(ValueError, match="at least one time step"):
        sf.lif_scan(state, torch.zeros(0, 2, 3), params)
    with pytest.raises(ValueError, match="state.v has shape"):
        sf.lif_scan(state, torch.zeros(4, 2, 5), params)
    with pytest.raises(TypeError, match="xs must be a floating-point tensor"):
        sf.lif_scan(state, torch.zeros(4, 2, 3, dtype=torch.int64), params)
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        sf.lif_scan(state, torch.zeros(2, 3), params, num_steps=0)
    with pytest.raises(ValueError, match="reset must be one of"):
        sf.lif_scan(state, torch.zeros(4, 2, 3), params, reset="hard")  # type: ignore[arg-type]


def test_non_contiguous_input_and_no_grad() -> None:
    xs = torch.rand(3, 5, 4, dtype=F64).transpose(1, 2) * 1.5  # [T, 5, 3] strided... as [T, 4, 5]
    xs = xs.transpose(1, 2).transpose(1, 2)
    state = sf.lif_init(xs.shape[1:], dtype=F64)
    with torch.no_grad():
        got = sf.lif_scan(state, xs, sf.LIFParams(0.9, 1.0))
    ref = sf.scan(partial(sf.lif_step, params=sf.LIFParams(0.9, 1.0)), state, xs)
    assert not xs.is_contiguous()
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1].v, ref[1].v)


def test_kernel_unavailable_falls_back_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNFUNC_NO_EXT", "1")
    xs, state, params = _case(BY_NAME["lif"], (2, 3), 5, False, ["float"] * 2, 4)
    got = _run(BY_NAME["lif"], "auto", xs, state, params, None, {}, 0)
    ref = _run(BY_NAME["lif"], None, xs, state, params, None, {}, 0)
    assert torch.equal(got[0], ref[0])
    with pytest.raises(ValueError, match="kernel.*disabled by SNNFUNC_NO_EXT"):
        sf.lif_scan(state, xs, params, backend="kernel")


def test_failed_build_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("SNNFUNC_EXT_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    assert _build.cache_dir() == tmp_path / "cache"
    fused = sf.fuse(partial(sf.lif_step, reset="none", reset_delay=True))  # a fresh kernel
    xs, state, params = _case(BY_NAME["lif"], (2, 3), 5, False, ["float"] * 2, 4)
    explained = fused.explain(state, xs, params)
    assert explained.backend == "torch" and "false failed" in explained.reason
    ref = sf.scan(partial(sf.lif_step, params=params, reset="none", reset_delay=True), state, xs)
    assert torch.equal(fused(state, xs, params)[0], ref[0])
    monkeypatch.setenv("SNNFUNC_NO_EXT", "1")
    assert _build.disabled_reason() == "disabled by SNNFUNC_NO_EXT"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_compiled_forward_then_backward_matches_scan() -> None:
    """torch.compile puts the fused operator in its graph (fake implementation); planning the
    trace is a graph break, so this is not fullgraph."""
    xs, state, params = _case(BY_NAME["lif"], (3, 5), 4, False, ["float"] * 2, 11)
    state = sf.LIFState(state.v.detach())
    weights = torch.arange(5.0, dtype=F64)

    def fused(x: Tensor) -> Tensor:
        return sf.lif_scan(state, x, params)[0]

    spikes = torch.compile(fused)(xs)
    (g,) = torch.autograd.grad((spikes * weights).sum(), xs)
    ref = sf.scan(partial(sf.lif_step, params=params), state, xs)[0]
    (g_ref,) = torch.autograd.grad((ref * weights).sum(), xs)
    assert torch.equal(spikes, ref)
    torch.testing.assert_close(g, g_ref)
