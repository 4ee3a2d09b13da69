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
``neuron(rlif_step, (b, t, W))``         ``LIF`` as for ``lif_step``, plus a node ``Linear(W/g)``
                                         (``Affine(W/g, c/g)`` with a bias) in a cycle with it:
                                         edges ``N -> W`` and ``W -> N`` (snnTorch's RLeaky form)
a :class:`~snnfunc.network.Delay` layer  ``Delay(delay = k dt)`` for whole-step delays ``k``
=======================================  =========================================================

**Delays.** NIR's ``Delay`` node is a pure shift, ``y(t) = x(t - delay)``, with ``delay`` in the
graph's time unit (that of the time constants): a :class:`~snnfunc.network.Delay` layer (or
``partial(delay_step, params=DelayParams(d))``) of whole-step delays ``k`` exports as
``delay = k dt``, and imports back as ``k = delay / dt`` steps (a fixed delay layer, ``max_delay``
its largest ``k``), exactly. A fractional delay is refused on export: snnfunc's interpolates
between two steps (it spreads a spike over both), which is not NIR's shift, and discrete-time
simulators run a NIR delay as a whole number of steps; round the delays first. On import, a
``delay / dt`` that is not a whole number is refused likewise.

**Recurrent layers.** A registered model named ``"r" + base`` whose params are the base's plus a
``weight`` matrix and whose state is the base's plus ``z`` (the last step's spikes) is the base
with ``W z`` added to its input (``rlif``; a recurrent synaptic model registered this way maps
to ``CubaLIF`` with no other change). NIR sums the fed-back ``W z`` into the node's input, which
the node scales by its gain ``g`` like any input: hence ``W/g`` on export, ``diag(g) W`` on
import. A NIR edge has no delay, but a cycle cannot be evaluated within one step: NIR's reference
executor (nirtorch) feeds back the weight node's output of the *previous* step (zero at the
start), snnTorch's RLeaky adds ``W z[t-1]``, and so does ``rlif`` (its state ``z``): the three
agree. Any other cycle (through several layers, a node feeding itself) is refused.

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
raise ValueError. Graphs import when they are a chain from the Input to the Output node, with
recurrent weight nodes as above (nested graphs are inlined first); branches and merges are
refused. Shapes are inferred: a neuron's state takes the shape reaching it (Norse writes scalar
parameters), and a leading 1 in the Input's type that the first layer cannot take per example (or
that the first node's own type leaves out) is read as a batch dim (Norse writes ``[1, 10]``).
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
from snnfunc.delay import delay_init, delay_step
from snnfunc.interop import _nir_graph
from snnfunc.interop.params import Discretization, _check_dt, decay_from_tau, tau_from_decay
from snnfunc.network import Delay, MaxPool2d, Network, _delay_layer_step
from snnfunc.neurons import MODELS, IFParams, LIFParams, NeuronModel, SynapticParams
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


def _recurrent_models() -> dict[str, NeuronModel[Any, Any]]:
    """``{base name: recurrent model}``: a registered model ``"r" + base`` whose params are the
    base's plus ``weight`` (a matrix) and whose state is the base's plus ``z`` (the last spikes)
    exports as the base's NIR node plus a recurrent weight node, and imports from that."""
    out: dict[str, NeuronModel[Any, Any]] = {}
    for name, model in MODELS.items():
        base = _NIR_MODELS.get(name[1:]) if name.startswith("r") else None
        weight = model.params.get("weight")
        if (
            base is not None
            and weight is not None
            and weight.kind == "matrix"
            and set(model.params) == {*base.params, "weight"}
            and set(model.state) == {*base.state, "z"}
        ):
            out[base.name] = model
    return out


_RECURRENT = _recurrent_models()


def _recurrent_steps() -> dict[Any, str]:
    """``{recurrent model's step: base name}`` (read from :data:`_RECURRENT` on each call)."""
    return {model.step: base for base, model in _RECURRENT.items()}


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


def _delay_node(delay: Any, shape: tuple[int, ...], *, dt: float, index: int) -> Any:
    """NIR's ``Delay(delay = k dt)`` for whole-step delays ``k`` (broadcast to ``shape``);
    ValueError for a fractional one (module docstring)."""
    nir = _nir()
    steps = torch.as_tensor(delay).detach().cpu().double()
    try:
        steps = torch.broadcast_to(steps, shape)
    except RuntimeError:
        raise ValueError(
            f"layers[{index}]: delays of shape {tuple(steps.shape)} do not broadcast to the "
            f"layer's shape {shape}"
        ) from None
    fractional = steps != steps.round()
    if bool(fractional.any()):
        raise ValueError(
            f"layers[{index}]: a delay of {steps[fractional].flatten()[0].item()!r} steps has "
            "no NIR form: NIR's Delay is a pure shift y(t) = x(t - delay), which discrete-time "
            "simulators run as a whole number of steps, while a fractional snnfunc delay "
            "interpolates between two steps. Round the delays to whole steps first (e.g. "
            "params['NAME.delay'].round_(), then check the network still does its job)"
        )
    return nir.Delay(delay=steps.numpy() * dt)


def to_nir(
    layers: Sequence[Layer | Callable[[Any], Any]],
    input_shape: Sequence[int],
    *,
    dt: float,
    discretization: Discretization = "euler",
    lossy_reset: bool = False,
) -> Any:
    """Export a network to a ``nir.NIRGraph`` (mapping in the module docstring).

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
        A ``nir.NIRGraph`` with nodes ``"input"``, ``"0"``, ``"1"``, ..., ``"output"`` in a chain;
        a recurrent layer ``"k"`` also has its weight node ``"k.w_rec"`` (edges ``k -> k.w_rec``
        and ``k.w_rec -> k``).
    Raises:
        ValueError: a reset NIR cannot express, a decay outside [0, 1), a fractional delay, or
            a bad layer option.
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
    chain = ["input"]
    recurrent: list[tuple[str, str]] = []
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
        name = str(count)
        if stateful and fn in (_delay_layer_step, delay_step):
            if pending_gain is not None:
                raise ValueError(f"layers[{index - 1}]: input_gain must come right before a neuron")
            delay = kw["delay"] if fn is _delay_layer_step else kw["params"].delay
            node = _delay_node(delay, in_shape, dt=dt, index=index)
        elif stateful:
            base = _recurrent_steps().get(fn)
            kind = _NEURON_STEPS.get(fn) if base is None else base
            if kind is None:
                steps = ", ".join(
                    f.__name__
                    for f in (*_NEURON_STEPS, *_recurrent_steps())
                    if hasattr(f, "__name__")
                )
                raise TypeError(
                    f"layers[{index}]: only {steps} export to NIR, "
                    f"got {getattr(fn, '__name__', fn)!r}"
                )
            params = kw["params"]
            if base is not None:  # the base's node, plus its recurrent weight node below
                fields = _NIR_MODELS[base].params
                kw = {
                    **kw,
                    "params": _NIR_MODELS[base].params_type(*(getattr(params, f) for f in fields)),
                }
            # a recurrent layer's input bias goes into its recurrent Affine (snnTorch's form)
            gain = pending_gain if base is None or pending_gain is None else (pending_gain[0], None)
            node = _neuron_node_at(
                kind,
                kw,
                in_shape,
                gain,
                dt=dt,
                discretization=discretization,
                lossy_reset=lossy_reset,
                index=index,
            )
            if base is not None:
                weight_name = f"{name}.w_rec"
                nodes[weight_name] = _recurrent_node(params.weight, in_shape, pending_gain, index)
                recurrent += [(name, weight_name), (weight_name, name)]
            pending_gain = None
        else:
            node = _stateless_node(fn, kw, in_shape, index)
            x = fn(x, **{k: (v.double() if isinstance(v, Tensor) else v) for k, v in kw.items()})
        nodes[name] = node
        chain.append(name)
        count += 1
    nodes["output"] = nir.Output(output_type={"output": np.array(tuple(x.shape[1:]))})
    chain.append("output")
    edges = [*zip(chain[:-1], chain[1:], strict=True), *recurrent]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={})


def _recurrent_node(
    weight: Tensor,
    shape: tuple[int, ...],
    gain: tuple[Tensor, Tensor | None] | None,
    index: int,
) -> Any:
    """``Linear(W / g)``, or ``Affine(W / g, c / g)`` with an input bias ``c``: NIR scales
    everything that reaches the neuron's input by its gain ``g``, the fed-back spikes too, while
    snnfunc's recurrent models add ``W z`` unscaled."""
    nir = _nir()
    w = weight.detach().cpu().double().numpy()
    if len(shape) != 1 or w.shape != (shape[0], shape[0]):
        raise ValueError(
            f"layers[{index}]: a recurrent layer exports for a layer of shape [N] with weight "
            f"[N, N]; got the shape {shape} and the weight {tuple(w.shape)}"
        )
    g = _array(gain[0], shape) if gain is not None else np.ones(shape)
    c = _array(gain[1], shape) if gain is not None and gain[1] is not None else np.zeros(shape)
    if np.any((g == 0) & (np.any(w != 0, axis=1) | (c != 0))):
        raise ValueError(
            f"layers[{index}]: input_gain is 0 for a neuron with recurrent weights or an input "
            "bias; NIR feeds them through the neuron's gain, so they cannot be exported"
        )
    safe = np.where(g == 0, 1.0, g)
    if np.any(c != 0):
        return nir.Affine(weight=w / safe[:, None], bias=c / safe)
    return nir.Linear(weight=w / safe[:, None])


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
    exportable = tuple(
        k for k in MODELS if MODELS[k].step in _NEURON_STEPS or MODELS[k].step in _recurrent_steps()
    )
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
    :func:`to_nir` exports them again); ``state_kinds[k]`` is the k-th stateful layer's model
    name (``"delay"`` for a NIR ``Delay`` node), ``state_shapes[k]`` the per-example shape of its
    state and ``max_delays`` the ``max_delay`` of each ``"delay"`` layer, in order.
    """

    layers: tuple[Layer, ...]
    step: StepFn
    input_shape: tuple[int, ...]
    state_kinds: tuple[str, ...]
    state_shapes: tuple[tuple[int, ...], ...]
    max_delays: tuple[int, ...] = ()

    def init(
        self,
        batch_size: int | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> tuple[Any, ...]:
        """Resting states, one per stateful layer: ``[batch_size, *shape]`` (or ``shape``)."""
        lead = () if batch_size is None else (batch_size,)
        inits = {**_INITS, **{model.name: model.init for model in _RECURRENT.values()}}
        max_delays = iter(self.max_delays)
        return tuple(
            delay_init((*lead, *shape), max_delay=next(max_delays), dtype=dtype, device=device)
            if kind == "delay"
            else inits[kind]((*lead, *shape), dtype=dtype, device=device)
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


class _ShapeError(ValueError):
    """A node cannot take the shape reaching it (tried per reading of the Input's type)."""


_NODE_KINDS: dict[str, str] = {
    "LI": "li",
    "CubaLI": "cuba_li",
    **{m.nir: n for n, m in _NIR_MODELS.items() if m.nir is not None},
}
_PARAM_FIELDS = ("tau", "tau_syn", "tau_mem", "r", "w_in", "v_leak", "v_threshold", "v_reset")


def _declared(types: Any) -> tuple[int, ...] | None:
    """A node's one declared input/output type as a shape, None when undefined or empty."""
    if not isinstance(types, dict) or len(types) != 1:
        return None
    value = next(iter(types.values()))
    if value is None:
        return None
    shape = tuple(int(d) for d in np.asarray(value).reshape(-1))
    return shape or None


def _neuron_parts(
    where: str,
    node: Any,
    *,
    dt: float,
    discretization: Discretization,
    spike_fn: SpikeFn,
    detach_reset: bool,
    use_metadata: bool,
    t: Callable[[Any], Tensor],
) -> tuple[str, Any, Tensor, Tensor, dict[str, Any]]:
    """``(kind, params, gain, bias, options)`` of a neuron node: the layers are
    ``input_gain(gain, bias)`` (float64, of the params' shape) then ``neuron(step, params)``."""
    nir = _nir()

    def d(a: Any) -> Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float64))

    spiking = not isinstance(node, (nir.LI, nir.CubaLI))
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
            raise ValueError(f"{where}: metadata snnfunc_reset={reset!r} is not a reset mode")
    options: dict[str, Any] = {}
    if spiking:
        options = dict(
            spike_fn=spike_fn, reset=reset, reset_delay=reset_delay, detach_reset=detach_reset
        )
    threshold: Any = t(node.v_threshold) if spiking else None
    bias = torch.zeros((), dtype=torch.float64)
    kind = _NODE_KINDS[type(node).__name__]
    if isinstance(node, nir.IF):
        gain: Tensor = dt * d(node.r)
        params: Any = IFParams(threshold)
    elif isinstance(node, (nir.LIF, nir.LI)):
        beta = _decay(where, "tau", d(node.tau), dt, discretization)
        gain, bias = (1 - beta) * d(node.r), (1 - beta) * d(node.v_leak)
        params = LIFParams(t(beta), threshold) if spiking else LIParams(t(beta))
    else:
        if np.any(np.asarray(node.v_leak) != 0):
            raise ValueError(
                f"{where}: v_leak must be 0; a leak towards another potential adds a "
                "constant to the membrane update, which synaptic_step cannot express"
            )
        alpha = _decay(where, "tau_syn", d(node.tau_syn), dt, discretization)
        beta = _decay(where, "tau_mem", d(node.tau_mem), dt, discretization)
        gain = (1 - beta) * d(node.r) * (1 - alpha) * d(node.w_in)
        if spiking:
            params = SynapticParams(t(alpha), t(beta), threshold)
        else:
            params = CubaLIParams(t(alpha), t(beta))
    # A gain within a few float64 ulps of 1 is 1 (what to_nir writes: r = 1/(1-beta)).
    if bool(((gain - 1).abs() <= 8 * torch.finfo(torch.float64).eps).all()):
        gain = torch.ones_like(gain)
    return kind, params, gain, bias, options


def _recurrent_params(
    where: str,
    kind: str,
    params: Any,
    gain: Tensor,
    bias: Tensor,
    w_node: Any,
    w_name: str,
    shape: tuple[int, ...],
    t: Callable[[Any], Tensor],
) -> tuple[NeuronModel[Any, Any], Any, Tensor]:
    """The recurrent model's ``(model, params, bias)`` for a neuron node with recurrent weight
    node ``w_node``. NIR sums the fed-back ``W z`` into the neuron's input, which the node scales
    by its gain like any input; snnfunc's recurrent models add ``W z`` unscaled, so the import's
    weight is ``diag(gain) W`` and an Affine's bias joins the input bias as ``gain * b``."""
    nir = _nir()
    model = _RECURRENT.get(kind)
    if model is None:
        node_type = next(k for k, v in _NODE_KINDS.items() if v == kind)
        supported = ", ".join(f"{MODELS[b].nir} ({m.name})" for b, m in _RECURRENT.items())
        raise ValueError(
            f"{where} has a recurrent weight node {w_name!r} (N -> W -> N, e.g. snnTorch's "
            f"RLeaky/RSynaptic export), but no recurrent {kind} model is registered: "
            f"snnfunc.neurons.MODELS has no {'r' + kind!r} (the params of {kind!r} plus "
            f"'weight' [N, N], its state plus 'z'). Recurrent {node_type} nodes have no snnfunc "
            f"form; recurrent nodes import for: {supported or 'none'}"
        )
    weight = np.asarray(w_node.weight, dtype=np.float64)
    n = shape[-1] if len(shape) == 1 else None
    if n is None or weight.shape != (n, n):
        raise _ShapeError(
            f"{where}: its recurrent weight node {w_name!r} must be [N, N] for a layer of "
            f"shape [N]; the layer has shape {shape} and the weight {weight.shape}"
        )
    g = torch.broadcast_to(gain, shape)
    w_eff = g[:, None] * torch.from_numpy(weight)
    if isinstance(w_node, nir.Affine) and w_node.bias is not None:
        bias = bias + g * torch.as_tensor(np.asarray(w_node.bias, dtype=np.float64))
    values = {**params._asdict(), "weight": t(w_eff)}
    return model, model.params_type(**values), bias


def _stateless_fn(where: str, node: Any, t: Callable[[Any], Tensor], spike_fn: SpikeFn) -> Any:
    """The ``functools.partial`` of a stateless node, or ValueError if it has none."""
    nir = _nir()
    if isinstance(node, (nir.Affine, nir.Linear)):
        bias = node.bias if isinstance(node, nir.Affine) else None
        return partial(F.linear, weight=t(node.weight), bias=None if bias is None else t(bias))
    if isinstance(node, nir.Scale):
        return partial(torch.mul, other=t(node.scale))
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        padding = node.padding
        padding = padding if isinstance(padding, str) else tuple(np.atleast_1d(padding).tolist())
        return partial(
            F.conv1d if isinstance(node, nir.Conv1d) else F.conv2d,
            weight=t(node.weight),
            bias=t(node.bias),
            stride=tuple(np.atleast_1d(node.stride).tolist()),
            padding=padding,
            dilation=tuple(np.atleast_1d(node.dilation).tolist()),
            groups=int(node.groups),
        )
    if isinstance(node, nir.Flatten):
        s, e = int(node.start_dim), int(node.end_dim)
        return partial(
            torch.flatten, start_dim=s + 1 if s >= 0 else s, end_dim=e + 1 if e >= 0 else e
        )
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        kernel = tuple(np.atleast_1d(node.kernel_size).tolist())
        kernel = kernel * 2 if len(kernel) == 1 else kernel
        options: dict[str, Any] = dict(
            kernel_size=kernel,
            stride=tuple(np.atleast_1d(node.stride).tolist()),
            padding=tuple(np.atleast_1d(node.padding).tolist()),
        )
        if isinstance(node, nir.SumPool2d):
            options["divisor_override"] = 1
        return partial(F.avg_pool2d, **options)
    if isinstance(node, nir.Threshold):
        return partial(_threshold, threshold=t(node.threshold), spike_fn=spike_fn)
    raise ValueError(
        f"{where} has no snnfunc equivalent here; supported: Affine, Linear, Scale, Conv1d, "
        "Conv2d, Flatten, AvgPool2d, SumPool2d, Threshold, Delay, IF, LIF, CubaLIF, LI, CubaLI"
    )


def _build(
    structure: _nir_graph.Chain,
    input_shape: tuple[int, ...],
    *,
    options: dict[str, Any],
    dtype: torch.dtype,
    device: torch.device | str | None,
) -> NIRNetwork:
    """The network for one reading of the Input's shape; :class:`_ShapeError` if a node cannot
    take the shape reaching it. Stateless nodes are run once on zeros ``[1, *shape]`` to find
    the next shape; a neuron layer takes the shape reaching it (its parameters broadcast to it:
    Norse writes scalars)."""

    def t(a: Any) -> Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float64)).to(dtype=dtype, device=device)

    x = torch.zeros((1, *input_shape), dtype=dtype, device=device)
    layers: list[Layer] = []
    kinds: list[str] = []
    shapes: list[tuple[int, ...]] = []
    max_delays: list[int] = []
    for name in structure.order[1:-1]:
        node = structure.nodes[name]
        where = f"node {name!r} ({type(node).__name__})"
        shape = tuple(x.shape[1:])
        if type(node).__name__ == "Delay":
            spec = _delay_spec(where, node, shape, options["dt"], t)
            layers.append(spec.layer({}))
            kinds.append("delay")
            shapes.append(shape)
            max_delays.append(spec.max_delay)
            continue
        if type(node).__name__ not in _NODE_KINDS:
            fn = _stateless_fn(where, node, t, options["spike_fn"])
            if fn.func is F.linear and x.dim() != 2:
                raise _ShapeError(f"{where} takes a vector per example, got shape {shape}")
            try:
                x = fn(x)
            except RuntimeError as err:
                raise _ShapeError(f"{where} cannot take an input of shape {shape}: {err}") from None
            layers.append(stateless(fn))
            continue
        declared = {f: np.shape(getattr(node, f)) for f in _PARAM_FIELDS if hasattr(node, f)}
        try:
            if np.broadcast_shapes(*declared.values(), shape) != shape:
                raise ValueError
        except ValueError:
            raise _ShapeError(
                f"{where}: its parameters have shapes {declared}, which do not broadcast to its "
                f"input's shape {shape}"
            ) from None
        kind, params, gain, bias, firing = _neuron_parts(where, node, t=t, **options)
        step = _STEPS[kind]
        w_name = structure.recurrent.get(name)
        if w_name is not None:
            w_node = structure.nodes[w_name]
            model, params, bias = _recurrent_params(
                where, kind, params, gain, bias, w_node, w_name, shape, t
            )
            kind, step = model.name, model.step
        unit_gain = bool((gain == 1).all())
        has_bias = bool((bias != 0).any())
        if has_bias or not unit_gain:
            bias_t = t(bias) if has_bias else None
            layers.append(stateless(partial(input_gain, gain=t(gain), bias=bias_t)))
        layers.append(neuron(step, params, **firing))
        kinds.append(kind)
        shapes.append(shape)
    if not layers:
        raise ValueError("graph has no computational nodes between Input and Output")
    return NIRNetwork(
        tuple(layers),
        sequential(*layers),
        input_shape,
        tuple(kinds),
        tuple(shapes),
        tuple(max_delays),
    )


def _delay_spec(
    where: str, node: Any, shape: tuple[int, ...], dt: float, t: Callable[[Any], Tensor]
) -> Delay:
    """A fixed :class:`~snnfunc.network.Delay` of ``delay / dt`` whole steps (``max_delay`` the
    largest); ValueError where that is not a whole number, :class:`_ShapeError` where the delays
    do not broadcast to the input's shape."""
    delay = np.asarray(node.delay, dtype=np.float64)
    try:
        if np.broadcast_shapes(delay.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise _ShapeError(
            f"{where}: its delays of shape {delay.shape} do not broadcast to its input's shape "
            f"{shape}"
        ) from None
    steps = delay / dt
    whole = np.round(steps)
    bad = (np.abs(steps - whole) > 1e-9 * np.maximum(1.0, np.abs(steps))) | (whole < 0)
    if np.any(bad):
        raise ValueError(
            f"{where}: a delay of {float(delay[bad].flat[0])!r} is "
            f"{float(steps[bad].flat[0])!r} steps of "
            f"dt = {dt:g}; snnfunc imports a NIR delay as a whole number of steps >= 0 (pass the "
            "dt the graph's delays are multiples of)"
        )
    max_delay = int(whole.max()) if whole.size else 0
    return Delay("delay", max_delay, t(whole), learn=False)


def _input_shapes(structure: _nir_graph.Chain) -> list[tuple[int, ...]]:
    """The readings of the Input's type to try: as written, and without a leading 1 (a batch
    dim: Norse 1.1 writes ``[1, 10]``, the shape of the sample it traced)."""
    name = structure.order[0]
    shape = _declared(structure.nodes[name].input_type)
    if shape is None:
        raise ValueError(
            f"Input node {name!r} has no input_type; snnfunc needs the per-example input shape"
        )
    if len(shape) >= 2 and shape[0] == 1:
        return [shape, shape[1:]]
    return [shape]


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
    """Import a ``nir.NIRGraph`` (a chain, with recurrent layers) as a runnable snnfunc network.

    The graph is read as described in the module docstring: nested graphs inlined, one chain
    from Input to Output whose neuron nodes may have a recurrent Linear/Affine node
    (``N -> W -> N``), imported as the recurrent model (``rlif``). Shapes come from the Input's
    type and the nodes: a neuron's state takes the shape of its input (its parameters may be
    scalars), and a leading 1 in the Input's type that no node can take is read as a batch dim.

    Args:
        graph: a ``nir.NIRGraph`` (e.g. from ``nir.read(path)``) of Affine, Linear, Scale,
            Conv1d, Conv2d, Flatten, AvgPool2d, SumPool2d, Threshold, Delay, IF, LIF, CubaLIF,
            LI, CubaLI nodes.
        dt: integration step, in the unit of the graph's time constants.
        discretization: ``"euler"`` (``beta = 1 - dt/tau``; snnTorch, Norse) or ``"exp"``.
        spike_fn: surrogate for every spiking node (NIR does not store one).
        detach_reset: static option of the neuron steps.
        dtype, device: of the parameter tensors.
        use_metadata: restore snnfunc reset options stored by ``to_nir(..., lossy_reset=True)``.
    Returns:
        A :class:`NIRNetwork`.
    Raises:
        ValueError: a node with no snnfunc equivalent (``v_reset != 0``, a cycle through several
            layers, a branch, ...), saying what was found and what imports.
    """
    nir = _nir()
    _check_dt(dt)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    structure = _nir_graph.chain(graph, nir, neurons=set(_NODE_KINDS))
    options: dict[str, Any] = dict(
        dt=dt,
        discretization=discretization,
        spike_fn=spike_fn,
        detach_reset=detach_reset,
        use_metadata=use_metadata,
    )
    built: list[NIRNetwork] = []
    errors: list[str] = []
    readings = _input_shapes(structure)
    for shape in readings:
        try:
            built.append(_build(structure, shape, options=options, dtype=dtype, device=device))
        except _ShapeError as err:
            errors.append(str(err))
    if not built:
        tried = " / ".join(
            f"input shape {shape}: {error}" for shape, error in zip(readings, errors, strict=True)
        )
        raise ValueError(f"the graph's shapes do not fit together ({tried})")
    if len(built) == 2:  # both readings run: the first node's declared type decides
        first = structure.nodes[structure.order[1]]
        if _declared(getattr(first, "input_type", None)) == readings[1]:
            return built[1]
    return built[0]
