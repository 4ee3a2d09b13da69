"""One autograd Function for every fused scan, and the choice of implementation behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from snnfunc._checks import is_traced
from snnfunc.fused import _cpu, _torch
from snnfunc.surrogate import Surrogate

Backend = Literal["auto", "kernel", "torch", "scan"]
BACKENDS: tuple[str, ...] = ("auto", "kernel", "torch", "scan")
Param = Tensor | float | None


class Inputs(NamedTuple):
    """What one fused scan reads: the input currents, the initial state and the params."""

    x: Tensor  # [T, ...], or one step [...] fed at every step (Config.static)
    v0: Tensor  # initial membrane [...]
    i0: Tensor | None  # initial synaptic current [...] (synaptic model only)
    alpha: Param  # synaptic current decay (synaptic model only)
    beta: Param  # membrane decay (None: IF, no leak)
    thr: Tensor | float  # threshold


class Grads(NamedTuple):
    """The gradients flowing into a fused scan's outputs; ``None``: the loss does not use it."""

    spikes: Tensor | None  # [T, ...]
    v: Tensor | None  # final membrane
    i: Tensor | None  # final synaptic current


@dataclass(frozen=True, eq=False)
class Config:
    """The static choices of one fused scan (hashable, no tensors except a surrogate's hyper)."""

    num_steps: int
    static: bool  # one input [..] fed at every step, instead of xs [T, ...]
    spike_fn: Surrogate
    reset: str
    reset_delay: bool
    detach_reset: bool
    backend: Literal["kernel", "torch"]
    model: Any  # the snnfunc.neurons.NeuronModel: its core is the torch path's forward


def _opaque(t: Any) -> bool:
    """True for tensors the kernel cannot read: functorch wrappers (vmap, grad) or tracing."""
    return isinstance(t, Tensor) and (
        is_traced(t) or bool(torch._C._functorch.is_functorch_wrapped_tensor(t))
    )


def _impl(cfg: Config, tensors: tuple[Any, ...]) -> Any:
    """The kernel where the tensors are plain, else the pure-torch implementation."""
    if cfg.backend == "kernel" and not any(_opaque(t) for t in tensors):
        return _cpu
    return _torch


class _FusedScan(torch.autograd.Function):
    """``(x, v0, i0, alpha, beta, thr) -> (spikes [T, ...], v_T, i_T)``; i0/i_T only if synaptic.

    Saves only the inputs: the backward recomputes the forward (see :mod:`snnfunc.fused._torch`).
    Under ``vmap`` the generated rule batches the pure-torch implementation.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(  # type: ignore[override]
        x: Tensor,
        v0: Tensor,
        i0: Tensor | None,
        alpha: Param,
        beta: Param,
        thr: Tensor | float,
        cfg: Config,
    ) -> tuple[Tensor, ...]:
        inputs = Inputs(x, v0, i0, alpha, beta, thr)
        spikes, v_t, i_t = _impl(cfg, inputs).forward(inputs, cfg)
        return (spikes, v_t) if i_t is None else (spikes, v_t, i_t)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        *tensors, cfg = inputs
        ctx.cfg = cfg
        ctx.set_materialize_grads(False)
        ctx.is_tensor = [isinstance(t, Tensor) for t in tensors]
        ctx.floats = [None if isinstance(t, Tensor) else t for t in tensors]
        ctx.save_for_backward(*[t if isinstance(t, Tensor) else None for t in tensors])

    @staticmethod
    def backward(ctx: Any, g_spikes: Tensor | None, g_v: Tensor | None, *rest: Any) -> Any:
        saved = ctx.saved_tensors
        inputs = Inputs(
            *(s if is_t else f for s, is_t, f in zip(saved, ctx.is_tensor, ctx.floats, strict=True))
        )
        grads = Grads(g_spikes, g_v, rest[0] if rest else None)
        impl = _impl(ctx.cfg, (*inputs, *grads))
        return (*impl.backward(inputs, ctx.cfg, grads, tuple(ctx.needs_input_grad[:6])), None)


def fused_scan(inputs: Inputs, cfg: Config) -> tuple[Tensor, ...]:
    """Apply the fused scan, through autograd only when a gradient can be needed."""
    if torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        out: tuple[Tensor, ...] = _FusedScan.apply(*inputs, cfg)  # type: ignore[no-untyped-call]
        return out
    return _FusedScan.forward(*inputs, cfg)


def choose_backend(
    backend: str, spike_fn: Any, xs: Tensor, tensors: list[Tensor | None], params: list[Param]
) -> str:
    """``"kernel"``, ``"torch"`` or ``"scan"`` for these inputs (``backend`` as requested).

    ``"scan"`` (the reference unroll) when the spike function has no usable derivative (not a
    :class:`Surrogate`, or its hyperparameter is a Tensor requiring grad) or a per-neuron param's
    dtype differs from the input's (the reference then promotes; we don't copy that); the C++
    ``"kernel"`` for built-in surrogates with a float hyperparameter, float32/float64 CPU tensors
    outside ``vmap``/``torch.compile``, when it builds; ``"torch"`` otherwise.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "scan":
        return "scan"
    why_scan = None
    if not isinstance(spike_fn, Surrogate):
        why_scan = "spike_fn is not a snnfunc.surrogate.Surrogate (no derivative to use)"
    elif spike_fn.hyper_requires_grad:
        why_scan = "the surrogate's hyperparameter is a Tensor that requires grad"
    elif any(
        isinstance(p, Tensor) and p.dim() > 0 and (p.dtype != xs.dtype or p.device != xs.device)
        for p in params
    ):
        why_scan = "a per-neuron param has another dtype or device than xs"
    if why_scan is not None:
        if backend in ("kernel", "torch"):
            raise ValueError(f"backend={backend!r} is not available here: {why_scan}")
        return "scan"
    if backend == "torch":
        return "torch"
    why_not = None
    if xs.device.type != "cpu" or xs.dtype not in (torch.float32, torch.float64):
        why_not = f"the kernel handles float32/float64 on CPU, got {xs.dtype} on {xs.device}"
    elif _cpu.surrogate_id(spike_fn) is None:
        why_not = f"the kernel has no built-in derivative for {spike_fn!r}"
    elif any(_opaque(t) for t in (xs, *tensors, *params)):
        why_not = "inputs are wrapped or traced (torch.func transforms, torch.compile)"
    elif not _cpu.available():
        why_not = f"the C++ kernel is unavailable ({_cpu.build_info().get('error')})"
    if why_not is None:
        return "kernel"
    if backend == "kernel":
        raise ValueError(f"backend='kernel' is not available here: {why_not}")
    return "torch"
