"""dtype and device propagation, float64 end to end, CUDA (skipped without a GPU), determinism.

Outputs, states and gradients keep the dtype and device of the input ``x``; params may be floats,
0-d tensors of any float dtype (they do not promote), or tensors of ``x``'s dtype. The ``meta``
device stands in for a second device on a CPU-only machine: every step runs there without data.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import snnfunc as sf
from snnfunc import surrogate as S

F16, BF16, F32, F64 = torch.float16, torch.bfloat16, torch.float32, torch.float64
FLOATS = [F16, BF16, F32, F64]
N = 4


def _params(name: str, dtype: torch.dtype, device: torch.device | str = "cpu") -> Any:
    """Per-neuron tensor params of ``dtype`` mixed with floats and a 0-d float64 tensor."""

    def vec(lo: float, hi: float) -> torch.Tensor:
        return torch.linspace(lo, hi, N, dtype=dtype, device=device).requires_grad_()

    scalar = torch.tensor(1.0, dtype=F64)  # 0-d CPU float64: neither promotes nor moves
    model = sf.neurons.MODELS[name]
    values: list[Any] = []
    for k, (field, spec) in enumerate(model.params.items()):
        if spec.kind == "matrix":
            weight = torch.full((N, N), 0.1, dtype=dtype, device=device)
            values.append(weight.requires_grad_())
        elif k == 0:  # the first field per neuron, around its default
            assert spec.default is not None
            values.append(vec(0.9 * spec.default, min(1.0, 1.1 * spec.default)))
        elif field == "threshold":
            values.append(scalar)
        else:
            values.append(spec.default)  # a float
    return model.params_type(*values)


NAMES = list(sf.neurons.MODELS)


def _model(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    return getattr(sf, f"{name}_init"), getattr(sf, f"{name}_step")


def _run(name: str, dtype: torch.dtype, device: str = "cpu", **opts: Any) -> tuple[Any, ...]:
    init, step = _model(name)
    g = torch.Generator().manual_seed(0)
    xs = (torch.rand(5, 3, N, generator=g, dtype=F64) * 1.5).to(dtype=dtype, device=device)
    xs.requires_grad_()
    params = _params(name, dtype, device)
    ys, final = sf.scan(
        partial(step, params=params, **opts), init((3, N), dtype=dtype, device=device), xs
    )
    return xs, params, ys, final


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_outputs_states_and_gradients_keep_the_input_dtype(name: str, dtype: torch.dtype) -> None:
    spike = S.atan(torch.tensor(2.0, requires_grad=True))  # a float32 learnable slope
    xs, params, ys, final = _run(name, dtype, spike_fn=spike)
    assert ys.dtype == dtype and ys.shape == (5, 3, N)
    assert all(leaf.dtype == dtype and leaf.shape == (3, N) for leaf in final)
    leaves = [p for p in params if isinstance(p, torch.Tensor) and p.dim() > 0]
    grads = torch.autograd.grad(ys.float().sum(), [xs, *leaves, spike.hyper])
    assert grads[0].dtype == dtype
    assert all(g.dtype == p.dtype for g, p in zip(grads[1:-1], leaves, strict=True))
    assert grads[-1].dtype == F32  # the slope keeps its own dtype
    assert all(bool(g.isfinite().all()) for g in grads)


@pytest.mark.parametrize("name", NAMES)
def test_every_step_runs_on_another_device_without_data(name: str) -> None:
    """The meta device: shapes, dtypes and devices propagate; no value is read."""
    xs, params, ys, final = _run(name, F32, device="meta")
    assert ys.device.type == "meta" and ys.shape == (5, 3, N)
    assert all(leaf.device.type == "meta" for leaf in final)


def test_float64_end_to_end_through_a_network_passes_gradcheck() -> None:
    """A two-layer network in float64; gradcheck of the membranes (reset-free, so smooth)."""
    g = torch.Generator().manual_seed(0)
    w1 = torch.randn(N, 3, generator=g, dtype=F64, requires_grad=True)
    w2 = torch.randn(2, N, generator=g, dtype=F64, requires_grad=True)
    beta = torch.full((N,), 0.8, dtype=F64, requires_grad=True)
    xs = torch.randn(6, 2, 3, generator=g, dtype=F64, requires_grad=True)

    def membranes(
        xs: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, beta: torch.Tensor
    ) -> torch.Tensor:
        net = sf.sequential(
            partial(F.linear, weight=w1),
            sf.neuron(sf.lif_step, sf.LIFParams(beta, 1.0), reset="none"),
            partial(F.linear, weight=w2),
            sf.neuron(sf.synaptic_step, sf.SynapticParams(0.5, 0.9, 1.0), reset="none"),
            record_states=True,
        )
        state = (sf.lif_init((2, N), dtype=F64), sf.synaptic_init((2, 2), dtype=F64))
        (spikes, states), _ = sf.scan(net, state, xs)
        assert spikes.dtype == F64 and states[0].v.dtype == F64 and states[1].i.dtype == F64
        return states[1].v  # layer 2's membrane: smooth in w2 (its input is layer 1's spikes)

    torch.autograd.gradcheck(lambda w2: membranes(xs, w1, w2, beta), (w2,))

    def layer1(xs: torch.Tensor, w1: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        def step(state: sf.LIFState, x: torch.Tensor) -> tuple[torch.Tensor, sf.LIFState]:
            params = sf.LIFParams(beta, 1.0)
            _, state = sf.lif_step(state, F.linear(x, w1), params, reset="none")
            return state.v, state

        vs, _ = sf.scan(step, sf.lif_init((2, N), dtype=F64), xs)
        return vs

    torch.autograd.gradcheck(layer1, (xs, w1, beta))


# --- CUDA: run where a GPU is present ------------------------------------------------------
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_cuda_outputs_states_and_gradients_stay_on_the_gpu_and_match_cpu(
    name: str, dtype: torch.dtype
) -> None:
    xs, _, ys, final = _run(name, dtype, device="cuda")
    assert ys.device.type == "cuda" and all(leaf.device.type == "cuda" for leaf in final)
    (g,) = torch.autograd.grad(ys.float().sum(), xs)
    assert g.device.type == "cuda" and g.dtype == dtype
    xs_cpu, _, ys_cpu, _ = _run(name, dtype)
    (g_cpu,) = torch.autograd.grad(ys_cpu.float().sum(), xs_cpu)
    if dtype == F64:  # spikes may flip at a threshold crossing in low precision
        torch.testing.assert_close(ys.cpu(), ys_cpu)
        torch.testing.assert_close(g.cpu(), g_cpu)


@cuda
def test_cuda_mixed_devices_are_clear_errors() -> None:
    x = torch.ones(2, N, device="cuda")
    with pytest.raises(
        TypeError, match="state.v is torch.float32 on cpu but x is torch.float32 on cuda"
    ):
        sf.lif_step(sf.lif_init((2, N)), x, sf.LIFParams(0.9, 1.0))
    with pytest.raises(TypeError, match="params.beta is on cpu but x is on cuda"):
        sf.lif_step(sf.lif_init((2, N), device="cuda"), x, sf.LIFParams(torch.ones(N), 1.0))
    with pytest.raises(TypeError, match="params.beta is on cuda:0 but x is on cpu"):
        sf.lif_step(
            sf.lif_init((2, N)), x.cpu(), sf.LIFParams(torch.tensor(0.9, device="cuda"), 1.0)
        )
    # a 0-d CPU tensor is fine with CUDA x (PyTorch moves it for free)
    z, _ = sf.lif_step(sf.lif_init((2, N), device="cuda"), x, sf.LIFParams(torch.tensor(0.9), 1.0))
    assert z.device.type == "cuda"


@cuda
def test_cuda_learnable_surrogate_slope_gets_a_gradient_on_its_device() -> None:
    slope = torch.tensor(2.0, device="cuda", requires_grad=True)
    x = torch.randn(8, device="cuda", requires_grad=True)
    gx, gs = torch.autograd.grad(S.atan(slope)(x).sum(), (x, slope))
    assert gx.device.type == "cuda" and gs.device.type == "cuda" and bool(gs.isfinite())


# --- determinism ----------------------------------------------------------------------------
def _train_step(seed: int, checkpoint: int | None = None) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w1 = (torch.randn(16, 8, generator=g) * 0.5).requires_grad_()
    w2 = (torch.randn(3, 16, generator=g) * 0.5).requires_grad_()
    beta = torch.full((16,), 0.9, requires_grad=True)
    slope = torch.tensor(2.0, requires_grad=True)
    xs = (torch.rand(12, 5, 8, generator=g) < 0.4).float()
    net = sf.sequential(
        partial(F.linear, weight=w1),
        sf.neuron(sf.lif_step, sf.LIFParams(beta, 1.0), spike_fn=S.atan(slope)),
        partial(F.linear, weight=w2),
        sf.neuron(sf.synaptic_step, sf.SynapticParams(0.5, 0.9, 1.0), reset_delay=True),
    )
    state = (sf.lif_init((5, 16)), sf.synaptic_init((5, 3)))
    ys, final = sf.scan(net, state, xs, checkpoint=checkpoint)
    loss = F.cross_entropy(ys.sum(0), torch.arange(5) % 3)
    grads = torch.autograd.grad(loss, (w1, w2, beta, slope))
    return [ys, *final[0], *final[1], loss, *grads]


def test_core_is_bit_for_bit_deterministic() -> None:
    first, second = _train_step(0), _train_step(0)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not torch.equal(_train_step(1)[-4], first[-4])  # a different seed does change things


def test_checkpointed_scan_is_bit_for_bit_the_plain_scan() -> None:
    plain, ckpt = _train_step(0), _train_step(0, checkpoint=5)
    assert all(torch.equal(a, b) for a, b in zip(plain, ckpt, strict=True))


# --- the boundary checks read metadata only: they trace under vmap and torch.compile --------
@pytest.mark.parametrize("name", NAMES)
def test_checked_steps_compile_fullgraph_and_vmap(name: str) -> None:
    torch._dynamo.reset()  # one compile per model: more models than dynamo's recompile limit
    init, step = _model(name)
    params = _params(name, F32)
    xs = torch.rand(4, 3, N, generator=torch.Generator().manual_seed(0)) * 1.5

    def run(xs: torch.Tensor) -> torch.Tensor:
        ys, _ = sf.scan(partial(step, params=params), init(xs.shape[1:]), xs)
        return ys

    want = run(xs)
    compiled = torch.compile(run, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(xs), want)
    assert torch.equal(torch.vmap(run, in_dims=1, out_dims=1)(xs), want)
