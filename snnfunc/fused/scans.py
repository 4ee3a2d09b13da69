r"""Fused multi-step neurons: ``lif_scan``, ``synaptic_scan``, ``if_scan`` and :data:`FUSED`.

Each is a thin name over :func:`snnfunc.fused.fuse.fuse` of the model's own step::

    lif_scan(state, xs, params, **options) == fuse(partial(lif_step, **options))(state, xs, params)
                                           == scan(partial(lif_step, params=params, **options),
                                                   state, xs)

(spikes and final state bit for bit, gradients to rounding). The kernels are generated from the
traced step (:mod:`snnfunc.fused.fuse`), so no model's math is written here. Inputs are checked
once, here, with the model's own errors. ``backend`` is ``"auto"``, ``"kernel"`` (the generated
C kernel), ``"triton"`` (the generated Triton kernels), ``"torch"`` (the graph executor) or
``"scan"``; see :mod:`snnfunc.fused.fuse`.

:data:`FUSED` holds the fused scan of every registered model whose step is pointwise (all params
per neuron: no ``"matrix"`` field), and of every recurrent model of such a base
(:mod:`snnfunc.fused.recurrent`), by model name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from snnfunc._checks import first_step
from snnfunc.fused.fuse import Backend, Fused, fuse
from snnfunc.fused.recurrent import recurrent_scan
from snnfunc.neurons import MODELS, recurrent_base
from snnfunc.neurons._model import NeuronModel
from snnfunc.neurons.if_ import IF, IFParams, IFState
from snnfunc.neurons.lif import LIF, LIFParams, LIFState
from snnfunc.neurons.synaptic import SYNAPTIC, SynapticParams, SynapticState
from snnfunc.reset import Firing, Reset
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn

__all__ = ["lif_scan", "synaptic_scan", "if_scan", "FUSED", "model_scan"]


_CACHE: dict[tuple[Any, ...], Fused] = {}


def _make_fused(model: NeuronModel[Any, Any], firing: Firing, backend: str) -> Fused:
    """One :class:`Fused` (and its traces) per model, firing options and backend (the oldest
    of 256 is dropped)."""
    key = (model, firing, backend)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) >= 256:
            del _CACHE[next(iter(_CACHE))]
        options: dict[str, Any] = firing.options()
        found = _CACHE[key] = fuse(
            functools.partial(model.step, **options),
            backend=backend,  # type: ignore[arg-type]
        )
    return found


_make_fused_outside_graph: Callable[..., Fused] = torch.compiler.disable(_make_fused)  # type: ignore[no-untyped-call]


def _fused(model: NeuronModel[Any, Any], firing: Firing, backend: str) -> Fused:
    if torch.compiler.is_compiling():  # a cache lookup is not graph material
        return _make_fused_outside_graph(model, firing, backend)
    return _make_fused(model, firing, backend)


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
    model.check(state, first_step(xs, num_steps), params)
    return _fused(model, firing, backend)(state, xs, params, num_steps=num_steps)


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
        backend: ``"auto"``, ``"kernel"``, ``"triton"``, ``"torch"`` or ``"scan"``
            (:mod:`snnfunc.fused.fuse`); a backend that cannot run these inputs raises
            ``ValueError``.
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


def model_scan(model: NeuronModel[Any, Any]) -> Callable[..., tuple[Tensor, Any]]:
    """The fused scan of ``model``: ``(state, xs, params, *, num_steps=None, backend="auto",
    **firing_options) -> (spikes, state)``, as :func:`lif_scan` for LIF; for a recurrent model
    (``recurrent(base)``), :func:`snnfunc.fused.recurrent.recurrent_scan` with the model bound."""
    recurrent = recurrent_base(model) is not None

    def run(
        state: Any,
        xs: Tensor,
        params: Any,
        *,
        num_steps: int | None = None,
        backend: Backend = "auto",
        **options: Any,
    ) -> tuple[Tensor, Any]:
        if recurrent:
            return recurrent_scan(
                model, state, xs, params, num_steps=num_steps, backend=backend, **options
            )
        firing = Firing.of(**options)
        return _run(model, state, xs, params, num_steps=num_steps, firing=firing, backend=backend)

    run.__name__ = run.__qualname__ = f"{model.name}_scan"
    run.__doc__ = (
        f"The fused scan of the {model.name} model (:func:`snnfunc.fused.scans.model_scan`)."
    )
    return run


_NAMED: dict[str, Callable[..., tuple[Tensor, Any]]] = {
    "lif": lif_scan,
    "synaptic": synaptic_scan,
    "if": if_scan,
}


def _pointwise(model: NeuronModel[Any, Any]) -> bool:
    return all(field.kind == "neuron" for field in model.params.values())


def _fused_scan_of(model: NeuronModel[Any, Any]) -> Callable[..., tuple[Tensor, Any]] | None:
    if _pointwise(model):
        return _NAMED.get(model.name) or model_scan(model)
    base = recurrent_base(model)
    if base is not None and _pointwise(base):
        return model_scan(model)
    return None


FUSED: Mapping[str, Callable[..., tuple[Tensor, Any]]] = MappingProxyType(
    {name: found for name, model in MODELS.items() if (found := _fused_scan_of(model)) is not None}
)
"""The fused scan of every registered neuron model that has one, by model name (read-only):
every pointwise model (:func:`model_scan`), and every recurrent model of a pointwise base
(:func:`snnfunc.fused.recurrent.recurrent_scan`: one matmul and one fused update per
step)."""
