r"""Export snnfunc networks to NIR and import NIR graphs as snnfunc networks.

NIR (the Neuromorphic Intermediate Representation, ``pip install snnfunc[nir]``) describes
neurons as continuous-time ODEs. snnfunc's neurons are discrete, so every conversion takes an
explicit integration step ``dt`` and a ``discretization`` (:mod:`snnfunc.interop.params`:
``"euler"``, the convention of snnTorch's and Norse's NIR exchange, or ``"exp"``). The mapping,
with gain ``g`` (a multiplier on the layer's input current, 1 unless imported):

=======================================  =========================================================
snnfunc layer                            NIR node
=======================================  =========================================================
``partial(F.linear, weight=W, bias=b)``  ``Affine(W, b)`` (``Linear(W)`` without bias)
``partial(F.conv1d / F.conv2d, ...)``    ``Conv1d`` / ``Conv2d`` (weight, bias, stride, padding,
                                         dilation, groups)
``partial(torch.flatten, start_dim=s)``  ``Flatten(start_dim=s-1)`` (NIR shapes exclude batch)
``partial(F.avg_pool2d, k, s, p)``       ``AvgPool2d`` (``divisor_override=1``: ``SumPool2d``)
``partial(torch.mul, other=s)``          ``Scale(s)``
``neuron(lif_step, LIFParams(b, t))``    ``LIF(tau=tau(b), r=g/(1-b), v_leak=c/(1-b),
                                         v_threshold=t, v_reset=0)``
``neuron(synaptic_step, (a, b, t))``     ``CubaLIF(tau_syn=tau(a), tau_mem=tau(b), r=1/(1-b),
                                         w_in=g/(1-a), v_leak=0, v_threshold=t, v_reset=0)``
``neuron(if_step, IFParams(t))``         ``IF(r=g/dt, v_threshold=t, v_reset=0)``
``neuron(li_step, LIParams(b))``         ``LI(tau=tau(b), r=g/(1-b), v_leak=c/(1-b))`` (readout:
                                         outputs the membrane)
``neuron(cuba_li_step, (a, b))``         ``CubaLI(tau_syn=tau(a), tau_mem=tau(b), r=1/(1-b),
                                         w_in=g/(1-a), v_leak=0)``
=======================================  =========================================================

Read backwards, this is the discretisation the importer uses: for ``LIF`` (and ``LI``),
``v' = b v + (1-b)(v_leak + r I)`` with ``b = decay_from_tau(tau, dt)``; for ``CubaLIF`` (and
``CubaLI``), the current first, ``I' = a I + (1-a) w_in S``, then the membrane with the
*updated* current, ``v' = b v + (1-b)(v_leak + r I')`` (snnTorch's order, and that of Norse's
``lif_feed_forward_step``); for ``IF``, ``v' = v + dt r I``. Spikes are ``v > v_threshold``
(strict, as in NIR) and the reset is NIR's: on the step of the spike, to ``v_reset = 0``.

Resets NIR cannot express: ``reset="subtract"``, ``reset="none"`` and ``reset_delay=True`` have no
NIR equivalent, so :func:`to_nir` refuses them unless ``lossy_reset=True``; then the node still
says "hard reset" to every other tool, and snnfunc's options are kept in
``node.metadata["snnfunc_reset"]`` / ``["snnfunc_reset_delay"]``, which :func:`from_nir` restores.
On import, ``v_reset != 0`` and (for ``CubaLIF``) ``v_leak != 0`` have no snnfunc equivalent and
raise ValueError. Graphs must be feed-forward chains (one edge in and one out per node).
Imported layers are batch-first (``torch.flatten(start_dim=1)``, ``F.conv2d`` on ``[B, C, H, W]``):
run them on batches, not per example under ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from snnfunc.compose import Layer, neuron, sequential, stateless
from snnfunc.interop.params import Discretization, _check_dt, decay_from_tau, tau_from_decay
from snnfunc.network import MaxPool2d, Network
from snnfunc.neurons import MODELS, IFParams, LIFParams, SynapticParams
from snnfunc.neurons.readout import CubaLIParams as CubaLIParams
from snnfunc.neurons.readout import LIParams as LIParams
from snnfunc.neurons.readout import cuba_li_step as cuba_li_step
from snnfunc.neurons.readout import li_step as li_step
from snnfunc.reset import RESET_MODES
from snnfunc.scan import StepFn
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn

__all__ = [
    "NIRNetwork",
    "to_nir",
    "model_layers",
    "from_nir",
    "input_gain",
    "LIParams",
    "CubaLIParams",
    "li_step",
    "cuba_li_step",
]


# Which steps export to which node (the registry says which models have a NIR node), and how to
# initialise their states; "li"/"cuba_li" are the readouts of snnfunc.neurons.readout.
_NIR_MODELS = {name: model for name, model in MODELS.items() if model.nir is not None}
_NEURON_STEPS: dict[Any, str] = {
    **{model.step: name for name, model in _NIR_MODELS.items()},
    li_step: "li",
    cuba_li_step: "cuba_li",
}
_INITS: dict[str, Callable[..., Any]] = {
    **{name: model.init for name, model in _NIR_MODELS.items()},
    "li": MODELS["lif"].init,
    "cuba_li": MODELS["synaptic"].init,
}


def _nir() -> Any:
    try:
        import nir
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "snnfunc.interop.nir needs the 'nir' package: pip install 'snnfunc[nir]'"
        ) from err
    return nir


def input_gain(x: Tensor, *, gain: Tensor, bias: Tensor | None = None) -> Tensor:
    """Elementwise ``gain * x + bias``: a NIR neuron's input scaling. ``[B, ...] -> [B, ...]``."""
    y = x * gain
    return y if bias is None else y + bias


_STEPS: dict[str, Callable[..., Any]] = {v: k for k, v in _NEURON_STEPS.items()}


def _threshold(x: Tensor, *, threshold: Tensor, spike_fn: SpikeFn) -> Tensor:
    """NIR's ``Threshold`` node: ``spike_fn(x - threshold)``. ``[B, ...] -> [B, ...]``."""
    return spike_fn(x - threshold)


# --- export ----------------------------------------------------------------------------------
def _array(value: Tensor | float, shape: tuple[int, ...]) -> np.ndarray:
    t = (
        value.detach().cpu()
        if isinstance(value, Tensor)
        else torch.tensor(float(value), dtype=torch.float64)
    )
    try:
        out: np.ndarray = np.broadcast_to(t.double().numpy(), shape).astype(np.float64)
    except ValueError:
        raise ValueError(
            f"a parameter of shape {tuple(t.shape)} does not broadcast to its layer's shape {shape}"
        ) from None
    return out


def _unwrap(layer: Any, index: int) -> tuple[Any, dict[str, Any], bool]:
    """``(function, keywords, stateful)`` of one layer built with ``functools.partial``."""
    stateful = isinstance(layer, Layer) and layer.stateful
    fn = layer.fn if isinstance(layer, Layer) else layer
    if not isinstance(fn, partial) or fn.args:
        raise TypeError(
            f"layers[{index}] must be built with functools.partial and keyword arguments, e.g. "
            "partial(F.linear, weight=W, bias=b) or "
            "neuron(lif_step, LIFParams(...), reset='zero'); "
            f"got {fn!r}"
        )
    return fn.func, dict(fn.keywords), stateful


def _neuron_node(
    kind: str,
    keywords: dict[str, Any],
    shape: tuple[int, ...],
    gain: tuple[Tensor, Tensor | None] | None,
    *,
    dt: float,
    discretization: Discretization,
    lossy_reset: bool,
    index: int,
) -> Any:
    nir = _nir()
    reset = keywords.get("reset", "subtract")
    reset_delay = keywords.get("reset_delay", False)
    metadata: dict[str, Any] = {}
    spiking = kind in _NIR_MODELS
    if spiking and (reset != "zero" or reset_delay):
        if not lossy_reset:
            raise ValueError(
                f"layers[{index}] uses reset={reset!r}, reset_delay={reset_delay}; NIR neurons "
                "reset to v_reset on the step of the spike (snnfunc: reset='zero', "
                "reset_delay=False). "
                "Build the network with those options, or pass lossy_reset=True to export it as "
                "a hard reset anyway (other tools will then simulate a different network)"
            )
        metadata = {"snnfunc_reset": str(reset), "snnfunc_reset_delay": int(bool(reset_delay))}
    params = keywords["params"]
    g = _array(gain[0], shape) if gain is not None else np.ones(shape)
    c = _array(gain[1], shape) if gain is not None and gain[1] is not None else np.zeros(shape)
    zeros = np.zeros(shape)
    if kind == "if":
        if np.any(c != 0):
            raise ValueError(f"layers[{index}]: NIR's IF has no leak potential for a bias")
        return nir.IF(
            r=g / dt,
            v_threshold=_array(params.threshold, shape),
            v_reset=zeros,
            metadata=metadata,
        )
    beta = _array(params.beta, shape)
    tau_mem = _array(
        tau_from_decay(torch.from_numpy(beta), dt, discretization=discretization), shape
    )
    if kind == "li":
        return nir.LI(tau=tau_mem, r=g / (1 - beta), v_leak=c / (1 - beta))
    if kind == "lif":
        return nir.LIF(
            tau=tau_mem,
            r=g / (1 - beta),
            v_leak=c / (1 - beta),
            v_threshold=_array(params.threshold, shape),
            v_reset=zeros,
            metadata=metadata,
        )
    if np.any(c != 0):
        raise ValueError(f"layers[{index}]: a bias before a synaptic neuron has no CubaLIF form")
    alpha = _array(params.alpha, shape)
    tau_syn = _array(
        tau_from_decay(torch.from_numpy(alpha), dt, discretization=discretization), shape
    )
    if kind == "cuba_li":
        return nir.CubaLI(
            tau_syn=tau_syn, tau_mem=tau_mem, r=1 / (1 - beta), v_leak=zeros, w_in=g / (1 - alpha)
        )
    return nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=tau_mem,
        r=1 / (1 - beta),
        v_leak=zeros,
        v_threshold=_array(params.threshold, shape),
        v_reset=zeros,
        w_in=g / (1 - alpha),
        metadata=metadata,
    )


def _neuron_node_at(kind: str, keywords: dict[str, Any], *args: Any, index: int, **kw: Any) -> Any:
    try:
        return _neuron_node(kind, keywords, *args, index=index, **kw)
    except ValueError as err:
        if str(err).startswith("layers["):
            raise
        raise ValueError(f"layers[{index}] ({kind}): {err}") from None


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def _stateless_node(fn: Any, kw: dict[str, Any], in_shape: tuple[int, ...], index: int) -> Any:
    nir = _nir()

    def np_(t: Tensor | None) -> np.ndarray | None:
        return None if t is None else t.detach().cpu().numpy()

    if fn is F.linear:
        if kw.get("bias") is None:
            return nir.Linear(weight=np_(kw["weight"]))
        return nir.Affine(weight=np_(kw["weight"]), bias=np_(kw["bias"]))
    if fn is F.conv2d or fn is F.conv1d:
        weight = kw["weight"]
        bias = kw.get("bias")
        bias = torch.zeros(weight.shape[0]) if bias is None else bias
        padding = kw.get("padding", 0)
        if fn is F.conv1d:
            return nir.Conv1d(
                input_shape=int(in_shape[-1]),
                weight=np_(weight),
                stride=int(kw.get("stride", 1)),
                padding=padding if isinstance(padding, str) else int(padding),
                dilation=int(kw.get("dilation", 1)),
                groups=int(kw.get("groups", 1)),
                bias=np_(bias),
            )
        return nir.Conv2d(
            input_shape=tuple(int(d) for d in in_shape[-2:]),
            weight=np_(weight),
            stride=_pair(kw.get("stride", 1)),
            padding=padding if isinstance(padding, str) else _pair(padding),
            dilation=_pair(kw.get("dilation", 1)),
            groups=int(kw.get("groups", 1)),
            bias=np_(bias),
        )
    if fn is torch.flatten:
        start, end = int(kw.get("start_dim", 0)), int(kw.get("end_dim", -1))
        if start == 0 or end == 0:
            raise ValueError(
                f"layers[{index}]: flatten must keep the batch dim (start_dim >= 1), got {start}"
            )
        return nir.Flatten(
            input_type={"input": np.array(in_shape)},
            start_dim=start - 1 if start > 0 else start,
            end_dim=end - 1 if end > 0 else end,
        )
    if fn is F.avg_pool2d:
        kernel = _pair(kw["kernel_size"])
        stride = _pair(kw.get("stride") or kernel)
        padding = _pair(kw.get("padding", 0))
        if kw.get("ceil_mode", False) or not kw.get("count_include_pad", True):
            raise ValueError(f"layers[{index}]: NIR pooling has no ceil_mode/count_include_pad")
        divisor = kw.get("divisor_override")
        if divisor not in (None, 1):
            raise ValueError(f"layers[{index}]: divisor_override must be None or 1 (sum pooling)")
        cls = nir.SumPool2d if divisor == 1 else nir.AvgPool2d
        return cls(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding))
    if fn is _threshold:
        return nir.Threshold(threshold=_array(kw["threshold"], in_shape))
    if fn is torch.mul and "other" in kw:
        return nir.Scale(scale=_array(kw["other"], in_shape))
    raise TypeError(
        f"layers[{index}]: {getattr(fn, '__name__', fn)!r} has no NIR equivalent here; supported: "
        "F.linear, F.conv1d, F.conv2d, torch.flatten, F.avg_pool2d, torch.mul(other=...), "
        "input_gain and neuron(lif_step | synaptic_step | if_step | li_step | cuba_li_step, ...)"
    )


def to_nir(
    layers: Sequence[Layer | Callable[[Any], Any]],
    input_shape: Sequence[int],
    *,
    dt: float,
    discretization: Discretization = "euler",
    lossy_reset: bool = False,
) -> Any:
    """Export a feed-forward network to a ``nir.NIRGraph`` (mapping in the module docstring).

    ``layers`` are what you pass to :func:`snnfunc.sequential`, built with ``functools.partial``
    and keyword arguments so they can be read: ``partial(F.linear, weight=W, bias=b)``,
    ``neuron(lif_step, LIFParams(beta, threshold), reset="zero")``, ... A ``partial(input_gain,
    gain=g, bias=c)`` right before a neuron (what :func:`from_nir` creates) is folded into the
    neuron's ``r``/``v_leak``/``w_in``.

    Args:
        layers: the network's layers, in order.
        input_shape: shape of one example, without batch (e.g. ``(784,)`` or ``(1, 28, 28)``).
        dt: integration step (e.g. ``1e-3``) that maps each step's decay to a time constant.
        discretization: ``"euler"`` (``beta = 1 - dt/tau``) or ``"exp"``.
        lossy_reset: export subtract/no/delayed resets as NIR's hard reset instead of raising
            (the graph then means a different network to other tools; see the module docstring).
    Returns:
        A ``nir.NIRGraph`` with nodes ``"input"``, ``"0"``, ``"1"``, ..., ``"output"`` in a chain.
    Raises:
        ValueError: a reset NIR cannot express, a decay outside [0, 1), or a bad layer option.
        TypeError: a layer that is not a readable ``partial`` of a supported function.
    """
    nir = _nir()
    _check_dt(dt)
    if not isinstance(layers, Sequence) or isinstance(layers, (str, bytes)) or not layers:
        raise TypeError("layers must be a non-empty sequence of layers (as given to sequential)")
    shape = tuple(int(d) for d in input_shape)
    x = torch.zeros((1, *shape), dtype=torch.float64)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    pending_gain: tuple[Tensor, Tensor | None] | None = None
    count = 0
    for index, layer in enumerate(layers):
        fn, kw, stateful = _unwrap(layer, index)
        in_shape = tuple(x.shape[1:])
        if fn is input_gain:
            nxt = layers[index + 1] if index + 1 < len(layers) else None
            if not (isinstance(nxt, Layer) and nxt.stateful) or pending_gain is not None:
                raise ValueError(f"layers[{index}]: input_gain must come right before a neuron")
            gain, bias = kw["gain"], kw.get("bias")
            pending_gain = (torch.as_tensor(gain), None if bias is None else torch.as_tensor(bias))
            continue
        if stateful:
            kind = _NEURON_STEPS.get(fn)
            if kind is None:
                raise TypeError(
                    f"layers[{index}]: only lif_step, synaptic_step, if_step, li_step and "
                    "cuba_li_step export to NIR, "
                    f"got {getattr(fn, '__name__', fn)!r}"
                )
            node = _neuron_node_at(
                kind,
                kw,
                in_shape,
                pending_gain,
                dt=dt,
                discretization=discretization,
                lossy_reset=lossy_reset,
                index=index,
            )
            pending_gain = None
        else:
            node = _stateless_node(fn, kw, in_shape, index)
            x = fn(x, **{k: (v.double() if isinstance(v, Tensor) else v) for k, v in kw.items()})
        nodes[str(count)] = node
        count += 1
    nodes["output"] = nir.Output(output_type={"output": np.array(tuple(x.shape[1:]))})
    names = list(nodes)
    edges = list(zip(names[:-1], names[1:], strict=True))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={})


def model_layers(model: Any) -> list[Layer | Callable[[Any], Any]]:
    """The layers of a model made from a network description, for :func:`to_nir`.

    ``model`` is a :class:`snnfunc.app.models.Model` (what ``snnfunc train`` builds and
    checkpoints) or anything with a ``network`` (:class:`snnfunc.network.Network`) and its
    ``params``. The layers are ``model.network.bind(model.params)``: what the network's stepwise
    interpreter runs, with its weights and its neurons' params, surrogate and reset options.
    Max pooling (the conv model) has no NIR node, and a neuron model without a NIR node (ALIF,
    ...) raises ValueError.
    """
    network: Network = model.network
    for k, spec in enumerate(network.layers):
        if isinstance(spec, MaxPool2d):
            raise ValueError(f"layers[{k}] ({spec}) uses max pooling, which NIR cannot express")
    exportable = tuple(k for k in MODELS if MODELS[k].step in _NEURON_STEPS)
    for spec, _ in network.neurons:
        if spec.model.name not in exportable:
            raise ValueError(
                f"neuron {spec.model.name!r} has no NIR equivalent (use one of {exportable})"
            )
    return list(network.bind(model.params))


# --- import ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NIRNetwork:
    """A NIR graph as an snnfunc network: run it with ``scan(net.step, net.init(B), xs)``.

    ``layers`` are ordinary :func:`snnfunc.sequential` layers (readable ``partial``\\ s, so
    :func:`to_nir` exports them again); ``state_shapes[k]`` is the per-example shape of the k-th
    neuron layer's state.
    """

    layers: tuple[Layer, ...]
    step: StepFn
    input_shape: tuple[int, ...]
    state_kinds: tuple[str, ...]
    state_shapes: tuple[tuple[int, ...], ...]

    def init(
        self,
        batch_size: int | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> tuple[Any, ...]:
        """Resting states, one per neuron layer: ``[batch_size, *shape]`` (or ``shape``)."""
        lead = () if batch_size is None else (batch_size,)
        return tuple(
            _INITS[kind]((*lead, *shape), dtype=dtype, device=device)
            for kind, shape in zip(self.state_kinds, self.state_shapes, strict=True)
        )


def _decay(where: str, name: str, tau: Tensor, dt: float, discretization: Discretization) -> Tensor:
    """The per-step decay of a node's time constant, refused outside [0, 1].

    Euler's ``1 - dt/tau`` is negative when ``dt > tau``: the imported neuron would flip its
    membrane's sign every step and fire wildly where the exporter's did not (Norse writes
    ``tau = 1e-5`` for its default ``tau_mem_inv = 100``; with ``dt = 1e-3`` that is a decay of
    -99). No valid import exists then, so it is an error that names the fix."""
    beta = decay_from_tau(tau, dt, discretization=discretization)
    assert isinstance(beta, Tensor)
    if bool(((beta < 0) | (beta > 1)).any()):
        smallest = float(tau.min())
        raise ValueError(
            f"{where}: {name} = {smallest:g} with dt = {dt:g} gives a decay per step of "
            f"{1 - dt / smallest:g} (discretization={discretization!r}), outside the stable "
            f"range [0, 1], which needs dt <= {name}: pass a smaller dt (e.g. dt={smallest:g} "
            "or less, in the unit of the graph's time constants)"
        )
    return beta


def _chain(graph: Any) -> list[str]:
    nir = _nir()
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"graph must have exactly one Input node, got {inputs}")
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    pred: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
        pred[b].append(a)
    for name in graph.nodes:
        if len(succ[name]) > 1 or len(pred[name]) > 1:
            raise ValueError(
                f"only feed-forward chains import; node {name!r} has {len(pred[name])} inputs and "
                f"{len(succ[name])} outputs (recurrent or branching graphs are not supported)"
            )
    order, name = [], inputs[0]
    while True:
        order.append(name)
        if not succ[name]:
            break
        name = succ[name][0]
        if name in order:
            raise ValueError(f"graph has a cycle through node {name!r}")
    if len(order) != len(graph.nodes) or not isinstance(graph.nodes[order[-1]], nir.Output):
        raise ValueError("graph must be one chain from its Input node to an Output node")
    return order


def from_nir(
    graph: Any,
    *,
    dt: float,
    discretization: Discretization = "euler",
    spike_fn: SpikeFn = DEFAULT_SPIKE,
    detach_reset: bool = True,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    use_metadata: bool = True,
) -> NIRNetwork:
    """Import a feed-forward ``nir.NIRGraph`` as a runnable snnfunc network.

    Args:
        graph: a ``nir.NIRGraph`` (e.g. from ``nir.read(path)``), a chain of Affine, Linear,
            Scale, Conv1d, Conv2d, Flatten, AvgPool2d, SumPool2d, Threshold, IF, LIF, CubaLIF.
        dt: integration step, in the unit of the graph's time constants.
        discretization: ``"euler"`` (``beta = 1 - dt/tau``; snnTorch, Norse) or ``"exp"``.
        spike_fn: surrogate for every spiking node (NIR does not store one).
        detach_reset: static option of the neuron steps.
        dtype, device: of the parameter tensors.
        use_metadata: restore snnfunc reset options stored by ``to_nir(..., lossy_reset=True)``.
    Returns:
        A :class:`NIRNetwork`.
    Raises:
        ValueError: a node with no snnfunc equivalent (``v_reset != 0``, recurrent graphs, ...).
    """
    nir = _nir()
    _check_dt(dt)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")

    def d(a: Any) -> Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float64))

    def t(a: Any) -> Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float64)).to(dtype=dtype, device=device)

    order = _chain(graph)
    in_type = graph.nodes[order[0]].input_type["input"]
    input_shape = tuple(int(d) for d in np.asarray(in_type).reshape(-1))
    layers: list[Layer] = []
    kinds: list[str] = []
    shapes: list[tuple[int, ...]] = []
    for name in order[1:-1]:
        node = graph.nodes[name]
        where = f"node {name!r} ({type(node).__name__})"
        if isinstance(node, nir.NIRGraph):
            raise ValueError(f"{where}: nested graphs (e.g. recurrent layers) are not supported")
        if isinstance(node, (nir.Affine, nir.Linear)):
            b = t(node.bias) if isinstance(node, nir.Affine) else None
            layers.append(stateless(partial(F.linear, weight=t(node.weight), bias=b)))
        elif isinstance(node, nir.Scale):
            layers.append(stateless(partial(torch.mul, other=t(node.scale))))
        elif isinstance(node, (nir.Conv1d, nir.Conv2d)):
            conv = F.conv1d if isinstance(node, nir.Conv1d) else F.conv2d
            padding = node.padding
            padding = (
                padding if isinstance(padding, str) else tuple(np.atleast_1d(padding).tolist())
            )
            stride = tuple(np.atleast_1d(node.stride).tolist())
            dilation = tuple(np.atleast_1d(node.dilation).tolist())
            fn = partial(
                conv,
                weight=t(node.weight),
                bias=t(node.bias),
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=int(node.groups),
            )
            layers.append(stateless(fn))
        elif isinstance(node, nir.Flatten):
            s, e = int(node.start_dim), int(node.end_dim)
            fn = partial(
                torch.flatten, start_dim=s + 1 if s >= 0 else s, end_dim=e + 1 if e >= 0 else e
            )
            layers.append(stateless(fn))
        elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            kernel = tuple(np.atleast_1d(node.kernel_size).tolist())
            kernel = kernel * 2 if len(kernel) == 1 else kernel
            fn = partial(
                F.avg_pool2d,
                kernel_size=kernel,
                stride=tuple(np.atleast_1d(node.stride).tolist()),
                padding=tuple(np.atleast_1d(node.padding).tolist()),
            )
            if isinstance(node, nir.SumPool2d):
                fn = partial(F.avg_pool2d, **fn.keywords, divisor_override=1)
            layers.append(stateless(fn))
        elif isinstance(node, nir.Threshold):
            layers.append(
                stateless(partial(_threshold, threshold=t(node.threshold), spike_fn=spike_fn))
            )
        elif isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF, nir.LI, nir.CubaLI)):
            spiking = isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF))
            if spiking and np.any(np.asarray(node.v_reset) != 0):
                raise ValueError(
                    f"{where}: v_reset must be 0 (snnfunc's hard reset is reset='zero'), "
                    f"got {np.asarray(node.v_reset).reshape(-1)[:3]}"
                )
            reset, reset_delay = "zero", False
            if spiking and use_metadata and "snnfunc_reset" in node.metadata:
                reset = str(node.metadata["snnfunc_reset"])
                reset_delay = bool(int(node.metadata.get("snnfunc_reset_delay", 0)))
                if reset not in RESET_MODES:
                    raise ValueError(
                        f"{where}: metadata snnfunc_reset={reset!r} is not a reset mode"
                    )
            options: dict[str, Any] = dict(
                spike_fn=spike_fn, reset=reset, reset_delay=reset_delay, detach_reset=detach_reset
            )
            if not spiking:
                options = {}
            shape = tuple(int(d) for d in np.shape(node.r))
            threshold: Any = t(node.v_threshold) if spiking else None
            bias: Tensor | None = None  # float64 below, cast by t() at the end
            if isinstance(node, nir.IF):
                kind, gain = "if", dt * d(node.r)
                params: Any = IFParams(threshold)
            elif isinstance(node, (nir.LIF, nir.LI)):
                beta = _decay(where, "tau", d(node.tau), dt, discretization)
                gain, bias = (1 - beta) * d(node.r), (1 - beta) * d(node.v_leak)
                kind = "lif" if spiking else "li"
                params = LIFParams(t(beta), threshold) if spiking else LIParams(t(beta))
            else:
                if np.any(np.asarray(node.v_leak) != 0):
                    raise ValueError(
                        f"{where}: v_leak must be 0; a leak towards another potential adds a "
                        "constant to the membrane update, which synaptic_step cannot express"
                    )
                alpha = _decay(where, "tau_syn", d(node.tau_syn), dt, discretization)
                beta = _decay(where, "tau_mem", d(node.tau_mem), dt, discretization)
                kind = "synaptic" if spiking else "cuba_li"
                gain = (1 - beta) * d(node.r) * (1 - alpha) * d(node.w_in)
                if spiking:
                    params = SynapticParams(t(alpha), t(beta), threshold)
                else:
                    params = CubaLIParams(t(alpha), t(beta))
            # A gain within a few float64 ulps of 1 is 1 (what to_nir writes: r = 1/(1-beta)).
            unit_gain = bool(((gain - 1).abs() <= 8 * torch.finfo(torch.float64).eps).all())
            has_bias = bias is not None and bool((bias != 0).any())
            if has_bias or not unit_gain:
                bias_t = t(bias) if has_bias and bias is not None else None
                layers.append(stateless(partial(input_gain, gain=t(gain), bias=bias_t)))
            layers.append(neuron(_STEPS[kind], params, **options))
            kinds.append(kind)
            shapes.append(shape)
        else:
            raise ValueError(f"{where} has no snnfunc equivalent here")
    if not layers:
        raise ValueError("graph has no computational nodes between Input and Output")
    return NIRNetwork(tuple(layers), sequential(*layers), input_shape, tuple(kinds), tuple(shapes))
