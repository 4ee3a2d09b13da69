r"""Fused multi-step neurons: ``lif_scan``, ``synaptic_scan``, ``if_scan``.

Each equals ``scan(partial(<model>_step, params=params, **options), state, xs)`` (spikes and final
state bit for bit, gradients to rounding) but runs the whole sequence as one unit: one custom
autograd Function whose backward is the hand-derived BPTT recurrence (:mod:`snnfunc.fused._torch`
documents it), with no per-step autograd graph. Nothing but the inputs is saved for backward; the
backward recomputes the membranes. Implementations (``backend=``):

* ``"kernel"``: a C++/OpenMP kernel built on first use and cached (:mod:`snnfunc.fused._cpu`;
  ``SNNFUNC_EXT_DIR`` sets the cache, ``SNNFUNC_NO_EXT=1`` disables it). Used for float32/float64
  CPU tensors with a built-in surrogate whose hyperparameter is a float.
* ``"torch"``: the same algorithm in plain torch ops. Used for ``custom()`` surrogates, tensor
  hyperparameters, other dtypes/devices, when no compiler is found, and under ``torch.func.vmap``
  and under torch.func transforms (``vmap``, ``grad``, ``jacrev``) and ``torch.compile``, where
  the kernel cannot run on the wrapped or traced tensors.
* ``"scan"``: the reference unroll, used when the spike function is not a
  :class:`~snnfunc.surrogate.Surrogate` (a plain callable has no ``derivative``), when the
  surrogate's hyperparameter is a Tensor that requires grad, or when a per-neuron param has another
  dtype than ``xs``.

``backend="auto"`` (the default) picks the first that applies, in that order.

torch.func: ``vmap`` (including ``vmap(grad)``), ``grad``, ``jacrev`` and ``torch.compile`` of the
forward followed by ``.backward()`` work; forward-mode AD (``jvp``/``jacfwd``) does not (no ``jvp``
rule, as for the surrogates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from torch import Tensor

from snnfunc._checks import check_floating, check_int_at_least
from snnfunc.fused._function import Backend, Config, Inputs, choose_backend, fused_scan
from snnfunc.neurons._model import NeuronModel
from snnfunc.neurons.if_ import IF, IFParams, IFState
from snnfunc.neurons.lif import LIF, LIFParams, LIFState
from snnfunc.neurons.synaptic import SYNAPTIC, SynapticParams, SynapticState
from snnfunc.reset import Firing, Reset
from snnfunc.scan import scan
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn

__all__ = ["lif_scan", "synaptic_scan", "if_scan", "FUSED"]


def _first_step(xs: Tensor, num_steps: int | None) -> tuple[Tensor, int, bool]:
    """The input of one step, the number of steps and whether the input is static."""
    check_floating("xs", xs)
    if num_steps is not None:
        check_int_at_least("num_steps", num_steps, 1)
        return xs, num_steps, True
    if xs.dim() == 0:
        raise ValueError(
            "xs must have a leading time dim [T, ...]; got a 0-d tensor "
            "(pass num_steps= for a static input)"
        )
    if xs.shape[0] < 1:
        raise ValueError("xs must have at least one time step (T >= 1), got T = 0")
    return xs[0], xs.shape[0], False


def _run(
    model: NeuronModel[Any, Any],
    state: Any,
    xs: Tensor,
    params: Any,
    *,
    num_steps: int | None,
    firing: Firing,
    backend: Backend,
) -> tuple[Tensor, Any]:
    x0, length, static = _first_step(xs, num_steps)
    model.check(state, x0, params)
    v0 = state.v
    i0 = getattr(state, "i", None)  # the synaptic current (synaptic model only)
    alpha = getattr(params, "alpha", None)
    beta = getattr(params, "beta", None)  # IF has no decay
    thr = params.threshold
    chosen = choose_backend(backend, firing.spike_fn, xs, [v0, i0], [alpha, beta, thr])
    if chosen == "scan":
        return scan(model.bind(params, firing), state, xs, num_steps=num_steps)
    cfg = Config(
        length,
        static,
        firing.spike_fn,  # type: ignore[arg-type]  # a Surrogate: choose_backend checked it
        firing.reset,
        firing.reset_delay,
        firing.detach_reset,
        chosen,  # type: ignore[arg-type]
        model,
    )
    out = fused_scan(Inputs(xs, v0, i0, alpha, beta, thr), cfg)
    if i0 is not None:
        return out[0], model.state_type(i=out[2], v=out[1])
    return out[0], model.state_type(v=out[1])


def lif_scan(
    state: LIFState,
    xs: Tensor,
    params: LIFParams,
    *,
    num_steps: int | None = None,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
    backend: Backend = "auto",
) -> tuple[Tensor, LIFState]:
    r"""Run a LIF layer over all time steps at once (fused forward and backward).

    The same as ``scan(partial(lif_step, params=params, **options), state, xs)``::

        for x in xs:                          # xs: [T, B, N] (any [T, ...])
            h = beta * v + x
            z = H(h - threshold); v = R(h, z)   # (reset rules: snnfunc.reset)
        return stack(zs), LIFState(v)

    Args:
        state: :class:`~snnfunc.LIFState`, ``v: [B, N]`` (the shape of one step's input).
        xs: input currents ``[T, B, N]``, or one input ``[B, N]`` with ``num_steps``.
        params: :class:`~snnfunc.LIFParams`; floats or tensors broadcastable to ``[B, N]``
            (scalars or per-neuron ``[N]``), learnable.
        num_steps: static input: feed ``xs`` (no time dim) at each of ``num_steps`` steps; its
            gradient is the sum over steps, and it is read, not copied, ``num_steps`` times.
        spike_fn, reset, reset_delay, detach_reset: as :func:`snnfunc.lif_step`.
        backend: ``"auto"``, ``"kernel"``, ``"torch"`` or ``"scan"`` (module docstring);
            a backend that cannot run these inputs raises ``ValueError``.
    Returns:
        ``(spikes, state)``: spikes ``[T, B, N]`` in {0, 1} (dtype of ``xs``), final state.

    >>> import torch
    >>> from snnfunc import LIFParams, lif_init
    >>> spikes, state = lif_scan(lif_init(2), torch.full((4, 2), 0.6), LIFParams(0.9, 1.0))
    >>> spikes[:, 0]
    tensor([0., 1., 0., 1.])
    """
    return _run(
        LIF,
        state,
        xs,
        params,
        num_steps=num_steps,
        firing=Firing(spike_fn, reset, reset_delay, detach_reset),
        backend=backend,
    )


def synaptic_scan(
    state: SynapticState,
    xs: Tensor,
    params: SynapticParams,
    *,
    num_steps: int | None = None,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
    backend: Backend = "auto",
) -> tuple[Tensor, SynapticState]:
    r"""Run a synaptic (CuBa) LIF layer over all time steps at once.

    The same as ``scan(partial(synaptic_step, params=params, **options), state, xs)``::

        for x in xs:                          # xs: [T, B, N]
            i = alpha * i + x; h = beta * v + i
            z = H(h - threshold); v = R(h, z)
        return stack(zs), SynapticState(i, v)

    Args and returns as :func:`lif_scan`, with :class:`~snnfunc.SynapticParams`
    (``alpha, beta, threshold``) and :class:`~snnfunc.SynapticState` (``i, v``). A static input
    (``num_steps``) is the "first layer computed once" of a network shown a still image.

    >>> import torch
    >>> from snnfunc import SynapticParams, synaptic_init
    >>> z, s = synaptic_scan(synaptic_init(1), torch.tensor([0.5]), SynapticParams(0.5, 0.9, 1.0),
    ...                      num_steps=3)
    >>> z.flatten()  # i = 0.5, 0.75, 0.875; h = 0.5, 1.2, 1.055 (v = 0.2 after the reset)
    tensor([0., 1., 1.])
    """
    return _run(
        SYNAPTIC,
        state,
        xs,
        params,
        num_steps=num_steps,
        firing=Firing(spike_fn, reset, reset_delay, detach_reset),
        backend=backend,
    )


def if_scan(
    state: IFState,
    xs: Tensor,
    params: IFParams,
    *,
    num_steps: int | None = None,
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    reset: Reset = "subtract",
    reset_delay: bool = False,
    detach_reset: bool = True,
    backend: Backend = "auto",
) -> tuple[Tensor, IFState]:
    r"""Run an integrate-and-fire layer over all time steps at once.

    The same as ``scan(partial(if_step, params=params, **options), state, xs)``
    (``h = v + x``, then spike and reset). Args and returns as :func:`lif_scan`, with
    :class:`~snnfunc.IFParams` (``threshold``) and :class:`~snnfunc.IFState`.

    >>> import torch
    >>> from snnfunc import IFParams, if_init
    >>> if_scan(if_init(1), torch.full((3, 1), 0.5), IFParams(1.0))[0].flatten()  # v + x > 1
    tensor([0., 0., 1.])
    """
    return _run(
        IF,
        state,
        xs,
        params,
        num_steps=num_steps,
        firing=Firing(spike_fn, reset, reset_delay, detach_reset),
        backend=backend,
    )


FUSED: Mapping[str, Callable[..., tuple[Tensor, Any]]] = MappingProxyType(
    {"lif": lif_scan, "synaptic": synaptic_scan, "if": if_scan}
)
"""The fused multi-step scan of each neuron model that has one, by model name (read-only)."""
