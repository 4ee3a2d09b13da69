"""A network written once, as a tuple of layer specs, and the interpreters that run it.

A :class:`Network` is an input shape and a tuple of small, frozen layer specs::

    net = Network((1, 8, 8), (
        Flatten(),
        Linear("fc1", 128), Neuron("neuron1", LIF, LIFParams(0.8, 1.0)),
        Linear("fc2", 10), Neuron("neuron2", LIF, LIFParams(0.8, 1.0)),
    ))

Each spec says once how it maps a per-example shape (:meth:`out_shape`), which weights it owns
(:meth:`param_shapes`, :meth:`init`) and what it computes (:meth:`layer`: a readable
``functools.partial`` such as ``partial(F.linear, weight=W, bias=b)``). Everything else is derived
from the tuple, by one interpreter each:

* **shapes**: :attr:`Network.shapes` (every layer's per-example input, checked when the network is
  made), :meth:`Network.param_shapes`, :meth:`Network.init_params` (a flat ``{name: tensor}``
  dict, e.g. ``"fc1.weight"``);
* **stepwise**, the reference: :meth:`Network.step` is the whole network as one step
  (:func:`snnfunc.sequential` of :meth:`Network.bind`), for :func:`snnfunc.scan` from
  :meth:`Network.init`;
* **layerwise**, the fast path: :meth:`Network.forward` runs each neuron layer over all ``T``
  steps at once (fused where :data:`snnfunc.fused.FUSED` has the model, else ``scan`` of its
  unchecked step; a recurrent layer per step as one matmul plus its base model's update), with a
  static input's first stateless layers computed once per batch;
* **NIR export**: :meth:`Network.bind` gives the layers :func:`snnfunc.interop.nir.to_nir` reads.

The layerwise forward equals the stepwise scan (values and gradients; tested). A stateless spec is
any object with ``out_shape``, ``param_shapes``, ``init`` and ``layer`` (:class:`Spec`); a
stateful one also has ``init_state`` and ``run`` and its ``layer`` is a stateful
:class:`~snnfunc.compose.Layer` (:class:`Stateful`): :class:`Neuron` and :class:`Delay`
(learnable transmission delays; layerwise one :func:`~snnfunc.delay.fractional_delay` over all
``T``, stepwise :func:`~snnfunc.delay.delay_step`). :meth:`Network.init` gives one state per
stateful layer, in order; :attr:`Network.neurons` lists the neuron layers only.
:meth:`Network.constrain_` keeps trained params in range (a :class:`Delay`'s delays in
``[0, max_delay]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from snnfunc._checks import check_int_at_least
from snnfunc.compose import Layer, neuron, sequential
from snnfunc.delay import (
    DelayParams,
    DelayState,
    _delay_core,
    delay_init,
    delay_step,
    fractional_delay,
)
from snnfunc.fused import FUSED
from snnfunc.neurons import NeuronModel
from snnfunc.reset import Firing
from snnfunc.scan import StepFn, scan

__all__ = [
    "Spec",
    "Flatten",
    "Linear",
    "Conv2d",
    "MaxPool2d",
    "Stateful",
    "Delay",
    "Neuron",
    "Network",
    "NetOutput",
]

Shape = tuple[int, ...]
Params = Mapping[str, Tensor]


class Spec(Protocol):
    """A stateless layer spec: its shape rule, its weights and its function."""

    def out_shape(self, shape: Shape) -> Shape:
        """Per-example output shape for input ``shape``; ``ValueError`` if it cannot take it."""
        ...

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        """Its weights' names and shapes for input ``shape``."""
        ...

    def init(
        self,
        shape: Shape,
        *,
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> dict[str, Tensor]:
        """Fresh weights for input ``shape``."""
        ...

    def layer(self, params: Params) -> Callable[[Tensor], Tensor]:
        """``x [B, *shape] -> [B, *out_shape]`` with its weights taken from ``params``."""
        ...


@runtime_checkable
class Stateful(Protocol):
    """A stateful layer spec (:class:`Neuron`, :class:`Delay`): a :class:`Spec`'s shape rule and
    weights, plus a state, a step for the stepwise interpreter and a run over all steps for the
    layerwise one. The two must agree: ``run`` equals :func:`snnfunc.scan` of ``layer`` from
    ``init_state``, bit for bit where the ops allow.

    Semantics of ``run`` (the reference it is tested against)::

        state = spec.init_state(xs.shape[1:])        # [B, *shape]
        ys, _ = scan(spec.layer(params).fn, state, xs, num_steps=num_steps)
    """

    def out_shape(self, shape: Shape) -> Shape:
        """Per-example output shape for input ``shape``; ``ValueError`` if it cannot take it."""
        ...

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        """Its learnable params' names and shapes for input ``shape``."""
        ...

    def init(
        self,
        shape: Shape,
        *,
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> dict[str, Tensor]:
        """Fresh learnable params for input ``shape``."""
        ...

    def init_state(
        self, shape: Shape, *, dtype: torch.dtype, device: torch.device | str | None
    ) -> Any:
        """The resting state for one step's input of ``shape`` (``(B, *shape)`` or ``shape``)."""
        ...

    def layer(self, params: Params) -> Layer:
        """The stateful step ``(state, x [B, *shape]) -> (y, state)`` with ``params`` bound."""
        ...

    def run(
        self, params: Params, xs: Tensor, *, num_steps: int | None = None, record: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """All steps at once: ``xs [T, B, *shape]`` (or static ``[B, *shape]`` with
        ``num_steps``) -> ``(ys [T, B, *out], membrane [T, B, *out] or None)``; the membrane
        only where ``record`` and the layer has one."""
        ...


def _fan_in_init(
    shapes: dict[str, Shape],
    *,
    generator: torch.Generator | None,
    dtype: torch.dtype,
    device: torch.device | str | None,
) -> dict[str, Tensor]:
    """PyTorch's default ``nn.Linear``/``nn.Conv2d`` init: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
    for the weight and the bias, ``fan_in`` the weight's size without its first dim; drawn in
    order (weight, then bias) from ``generator``."""
    out: dict[str, Tensor] = {}
    if not shapes:
        return out
    weight = next(s for name, s in shapes.items() if name.endswith(".weight"))
    bound = math.prod(weight[1:]) ** -0.5
    for name, shape in shapes.items():
        u = torch.rand(shape, generator=generator, dtype=dtype)
        out[name] = ((2 * u - 1) * bound).to(device)
    return out


class _Stateless:
    """What the stateless specs share: weights drawn by :func:`_fan_in_init` (none by default)."""

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {}

    def init(
        self,
        shape: Shape,
        *,
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> dict[str, Tensor]:
        return _fan_in_init(
            self.param_shapes(shape), generator=generator, dtype=dtype, device=device
        )


@dataclass(frozen=True)
class Flatten(_Stateless):
    """``[B, *shape] -> [B, prod(shape)]``."""

    def out_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)

    def layer(self, params: Params) -> Callable[[Tensor], Tensor]:
        return partial(torch.flatten, start_dim=1)


@dataclass(frozen=True)
class Linear(_Stateless):
    """``[B, N] -> [B, features]``: ``x W^T + b`` with weights ``NAME.weight`` ``[features, N]``
    and ``NAME.bias`` ``[features]``."""

    name: str
    features: int

    def __post_init__(self) -> None:
        check_int_at_least("features", self.features, 1)

    def out_shape(self, shape: Shape) -> Shape:
        if len(shape) != 1:
            raise ValueError(f"Linear takes a flat input [N], got {shape} (put Flatten() first)")
        return (self.features,)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        n = self.features
        return {f"{self.name}.weight": (n, *shape), f"{self.name}.bias": (n,)}

    def layer(self, params: Params) -> Callable[[Tensor], Tensor]:
        return partial(
            F.linear, weight=params[f"{self.name}.weight"], bias=params[f"{self.name}.bias"]
        )


@dataclass(frozen=True)
class Conv2d(_Stateless):
    """``[B, C, H, W] -> [B, channels, H', W']``, stride 1, zero ``padding``: ``H' = H + 2 padding
    - kernel_size + 1``. Weights ``NAME.weight`` ``[channels, C, k, k]``, ``NAME.bias``."""

    name: str
    channels: int
    kernel_size: int
    padding: int = 0

    def __post_init__(self) -> None:
        check_int_at_least("channels", self.channels, 1)
        check_int_at_least("kernel_size", self.kernel_size, 1)
        check_int_at_least("padding", self.padding, 0)

    def out_shape(self, shape: Shape) -> Shape:
        if len(shape) != 3:
            raise ValueError(f"Conv2d takes [C, H, W], got {shape}")
        c, *hw = shape
        out = tuple(n + 2 * self.padding - self.kernel_size + 1 for n in hw)
        if min(out) < 1:
            raise ValueError(
                f"input {shape} is too small for a {self.kernel_size}x{self.kernel_size} kernel "
                f"with padding {self.padding}; raise padding"
            )
        return (self.channels, *out)

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        k = self.kernel_size
        return {
            f"{self.name}.weight": (self.channels, shape[0], k, k),
            f"{self.name}.bias": (self.channels,),
        }

    def layer(self, params: Params) -> Callable[[Tensor], Tensor]:
        return partial(
            F.conv2d,
            weight=params[f"{self.name}.weight"],
            bias=params[f"{self.name}.bias"],
            padding=self.padding,
        )


@dataclass(frozen=True)
class MaxPool2d(_Stateless):
    """``[B, C, H, W] -> [B, C, H // size, W // size]``: max over ``size x size`` windows."""

    size: int = 2

    def __post_init__(self) -> None:
        check_int_at_least("size", self.size, 1)

    def out_shape(self, shape: Shape) -> Shape:
        if len(shape) != 3:
            raise ValueError(f"MaxPool2d takes [C, H, W], got {shape}")
        c, *hw = shape
        out = tuple(n // self.size for n in hw)
        if min(out) < 1:
            raise ValueError(f"input {shape} is too small for {self.size}x{self.size} pooling")
        return (c, *out)

    def layer(self, params: Params) -> Callable[[Tensor], Tensor]:
        return partial(F.max_pool2d, kernel_size=self.size)


def _delay_layer_step(state: DelayState, x: Tensor, *, delay: Tensor) -> tuple[Tensor, DelayState]:
    """:func:`~snnfunc.delay.delay_step` with ``delay`` in ``x``'s dtype and device (a fixed
    delay is kept in float64 until it meets its input). ``x [B, *shape] -> [B, *shape]``."""
    return delay_step(state, x, DelayParams(delay.to(dtype=x.dtype, device=x.device)))


def _delay_layer_core(state: DelayState, x: Tensor, *, delay: Tensor) -> tuple[Tensor, DelayState]:
    """:func:`_delay_layer_step` without the checks (the time loop after the first step)."""
    return _delay_core(state, x, DelayParams(delay.to(dtype=x.dtype, device=x.device)))


@dataclass(frozen=True)
class Delay:
    r"""Learnable transmission delays, one per unit of the layer: ``[B, *shape] -> [B, *shape]``.

    Each unit's input is delayed by ``d`` steps, fractional and differentiable
    (:mod:`snnfunc.delay`): with ``d = k + f``, ``y[t] = (1 - f) x[t - k] + f x[t - k - 1]``,
    ``x[s < 0] = 0``. Put it before a neuron layer to delay the currents reaching it (after a
    ``Linear``: one delay per postsynaptic neuron), or after one to delay its spikes.

    Layerwise (:meth:`run`) it is :func:`~snnfunc.delay.fractional_delay` over ``[T, B, ...]``;
    stepwise (:meth:`layer`) :func:`~snnfunc.delay.delay_step` with its
    :class:`~snnfunc.delay.DelayState` (the last ``max_delay + 1`` inputs). The two are equal
    bit for bit, values and gradients.

    A static input (``num_steps``, the same ``x`` at every step) stops being static here: its
    delay is ``x`` gated on at step ``k`` (``y[t] = 0`` for ``t < k``, ``(1 - f) x`` at
    ``t = k``, ``x`` after), so the layers after it see ``[T, B, ...]``.

    Attributes:
        name: the prefix of its param, ``NAME.delay``, of the layer's per-example shape (``[N]``
            or ``[C, H, W]``).
        max_delay: the largest delay, in steps (static, ``>= 0``); the stepwise state keeps the
            last ``max_delay + 1`` inputs.
        delay: the initial delays, in steps, in ``[0, max_delay]``: a float, a tensor that
            broadcasts to the layer's shape, or ``"uniform"``, drawn ``U(0, max_delay)`` per unit
            from :meth:`Network.init_params`'s generator (``learn=True`` only).
        learn: train the delays (``NAME.delay`` in the params dict); with ``False`` they stay
            at ``delay`` and the layer owns no param.

    Training steps the delays out of ``[0, max_delay]``, where :func:`~snnfunc.delay.
    fractional_delay` raises ``ValueError``: clamp them after each optimiser step with
    :meth:`Network.constrain_` (or :meth:`constrain`, its pure form).
    """

    name: str
    max_delay: int
    delay: float | Tensor | Literal["uniform"] = 0.0
    learn: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str, got {self.name!r}")
        check_int_at_least("max_delay", self.max_delay, 0)
        if not isinstance(self.learn, bool):
            raise TypeError(f"learn must be a bool, got {type(self.learn).__name__}")
        value = self.delay
        if isinstance(value, str):
            if value != "uniform":
                raise ValueError(
                    f"delay must be a float, a Tensor or 'uniform', got the string {value!r}"
                )
            if not self.learn:
                raise ValueError(
                    "delay='uniform' is drawn by Network.init_params, which only draws learnable "
                    "params: use learn=True, or give fixed delays as a float or a Tensor"
                )
            return
        if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
            raise TypeError(
                f"delay must be a float, a Tensor or 'uniform', got {type(value).__name__}"
            )
        if isinstance(value, Tensor) and not value.is_floating_point():
            raise TypeError(f"delay must be a floating-point Tensor, got {value.dtype}")
        d = torch.as_tensor(value, dtype=torch.float64).detach()
        bad = ~((d >= 0) & (d <= self.max_delay))  # NaN is bad too
        if bool(bad.any()):
            raise ValueError(
                f"delay must lie in [0, max_delay={self.max_delay}] steps, got "
                f"{d[bad].flatten()[0].item()!r}"
            )

    @property
    def key(self) -> str:
        """Its param's name in the params dict: ``NAME.delay``."""
        return f"{self.name}.delay"

    def out_shape(self, shape: Shape) -> Shape:
        if isinstance(self.delay, Tensor):
            got = tuple(self.delay.shape)
            try:
                fits = torch.broadcast_shapes(got, shape) == shape  # type: ignore[no-untyped-call]
            except RuntimeError:
                fits = False
            if not fits:
                raise ValueError(
                    f"Delay {self.name!r}: delay of shape {got} must broadcast to the layer's "
                    f"shape {shape} (one delay per unit, e.g. {shape} or a scalar)"
                )
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        return {self.key: shape} if self.learn else {}

    def init(
        self,
        shape: Shape,
        *,
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> dict[str, Tensor]:
        if not self.learn:
            return {}
        if isinstance(self.delay, str):  # "uniform"
            value = torch.rand(shape, generator=generator, dtype=dtype) * self.max_delay
        else:
            value = torch.broadcast_to(torch.as_tensor(self.delay, dtype=dtype), shape).clone()
        return {self.key: value.detach().to(device)}

    def init_state(
        self, shape: Shape, *, dtype: torch.dtype, device: torch.device | str | None
    ) -> DelayState:
        """Empty history ``[max_delay + 1, *shape]`` (:func:`~snnfunc.delay.delay_init`)."""
        return delay_init(shape, max_delay=self.max_delay, dtype=dtype, device=device)

    def delay_of(self, params: Params) -> Tensor:
        """The delays, ``NAME.delay`` from ``params`` (or the fixed ``delay``, in float64)."""
        if self.learn:
            return params[self.key]
        return torch.as_tensor(self.delay, dtype=torch.float64)

    def layer(self, params: Params) -> Layer:
        """The stepwise layer: :func:`~snnfunc.delay.delay_step` with the delays bound
        (``(DelayState, x [B, *shape]) -> (y [B, *shape], DelayState)``)."""
        delay = self.delay_of(params)
        return Layer(
            partial(_delay_layer_step, delay=delay),
            stateful=True,
            unchecked=partial(_delay_layer_core, delay=delay),
        )

    def run(
        self, params: Params, xs: Tensor, *, num_steps: int | None = None, record: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """All steps: ``xs [T, B, *shape]`` (or static ``[B, *shape]`` shown for ``num_steps``)
        -> ``(fractional_delay(xs, delay) [T, B, *shape], None)``; a delay has no membrane,
        so ``record`` changes nothing."""
        del record
        if num_steps is not None:
            check_int_at_least("num_steps", num_steps, 1)
            xs = xs.expand(num_steps, *xs.shape)
        delay = self.delay_of(params).to(dtype=xs.dtype, device=xs.device)
        return fractional_delay(xs, delay, max_delay=self.max_delay), None

    def constrain(self, params: Params) -> dict[str, Tensor]:
        """Its learnable delays clamped into ``[0, max_delay]``: ``{NAME.delay: tensor}`` (empty
        when ``learn=False``). Pure: ``params`` is not changed."""
        if not self.learn:
            return {}
        return {self.key: params[self.key].clamp(0, self.max_delay)}


@dataclass(frozen=True)
class Neuron:
    """A layer of neurons of one registered model, elementwise over the layer's shape.

    Attributes:
        name: the prefix of its learnable params in the params dict (``"neuron1.beta"``).
        model: a :class:`~snnfunc.neurons.NeuronModel`, e.g. ``snnfunc.neurons.MODELS["lif"]``.
        params: the model's params (``model.params_type``: floats or tensors broadcastable to
            the layer); for a ``learn`` field, its initial value.
        firing: the static firing options (surrogate, reset, reset delay, detach).
        learn: params fields that are trained: each is a tensor ``NAME.FIELD`` of the layer's
            per-example shape (one value per neuron, ``[N]`` or ``[C, H, W]``) in the params
            dict, initialised to its value in ``params``.

    A model with a ``"matrix"`` param (the recurrent models' ``weight``, ``[N, N]``) always
    trains it, as ``NAME.FIELD`` in the params dict, on flat layers ``[N]`` only. Its value in
    ``params`` may be ``None`` (drawn by PyTorch's default fan-in init, ``U(-1/sqrt(N),
    1/sqrt(N))``) or a ``[N, N]`` tensor, the initial value.
    """

    name: str
    model: NeuronModel[Any, Any]
    params: Any
    firing: Firing = Firing()
    learn: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.model, NeuronModel):
            raise TypeError(f"model must be a NeuronModel, got {type(self.model).__name__}")
        params_type = self.model.params_type
        if not isinstance(self.params, params_type):
            raise TypeError(
                f"params must be a {params_type.__name__} (the {self.model.name} model's), "
                f"got {type(self.params).__name__}"
            )
        if not isinstance(self.firing, Firing):
            raise TypeError(f"firing must be a Firing, got {type(self.firing).__name__}")
        object.__setattr__(self, "learn", tuple(self.learn))
        for name in self.learn:
            spec = self.model.params.get(name)
            if spec is None or spec.kind != "neuron":
                learnable = tuple(k for k, f in self.model.params.items() if f.kind == "neuron")
                raise ValueError(
                    f"learn: {name!r} is not a learnable param of the {self.model.name} model; "
                    f"its per-neuron params are {learnable}"
                )
        if len(set(self.learn)) != len(self.learn):
            raise ValueError(f"learn names a param twice: {self.learn}")
        for name in self.matrices:
            value = getattr(self.params, name)
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"params.{name} must be None (fan-in init) or a Tensor [N, N] (its initial "
                    f"value), got {type(value).__name__}"
                )

    @property
    def matrices(self) -> tuple[str, ...]:
        """The model's ``"matrix"`` params (trained ``[N, N]`` weights), e.g. ``("weight",)``."""
        return tuple(k for k, f in self.model.params.items() if f.kind == "matrix")

    def out_shape(self, shape: Shape) -> Shape:
        if self.matrices and len(shape) != 1:
            raise ValueError(
                f"Neuron {self.name!r}: the {self.model.name} model's [N, N] param "
                f"{self.matrices[0]!r} needs a flat layer [N], got {shape} (put Flatten() first)"
            )
        return shape

    def param_shapes(self, shape: Shape) -> dict[str, Shape]:
        out = {f"{self.name}.{name}": shape for name in self.learn}
        out.update({f"{self.name}.{name}": (shape[0], shape[0]) for name in self.matrices})
        return out

    def init(
        self,
        shape: Shape,
        *,
        generator: torch.Generator | None,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> dict[str, Tensor]:
        out = {  # learnable params start at their configured value
            f"{self.name}.{name}": torch.broadcast_to(
                torch.as_tensor(getattr(self.params, name), dtype=dtype), shape
            )
            .clone()
            .to(device)
            for name in self.learn
        }
        for name in self.matrices:
            key, value = f"{self.name}.{name}", getattr(self.params, name)
            if value is None:  # nn.Linear's default init, fan-in N
                u = torch.rand((shape[0], shape[0]), generator=generator, dtype=dtype)
                out[key] = ((2 * u - 1) * shape[0] ** -0.5).to(device)
            else:
                out[key] = torch.as_tensor(value).detach().to(dtype=dtype, device=device).clone()
        return out

    def init_state(
        self, shape: Shape, *, dtype: torch.dtype, device: torch.device | str | None
    ) -> Any:
        """The model's resting state for ``shape`` (``(B, *shape)`` or ``shape``)."""
        return self.model.init(shape, dtype=dtype, device=device)

    def params_of(self, params: Params) -> Any:
        """The model's params, with the ``learn`` and matrix fields taken from ``params``."""
        trained = (*self.learn, *self.matrices)
        if not trained:
            return self.params
        return self.params._replace(**{k: params[f"{self.name}.{k}"] for k in trained})

    def layer(self, params: Params) -> Layer:
        """The checked neuron layer ``neuron(model.step, params, **firing options)``."""
        return neuron(self.model.step, self.params_of(params), **self.firing.options())

    def run(
        self, params: Params, xs: Tensor, *, num_steps: int | None = None, record: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """The layer over all steps: currents ``[T, B, ...]`` (or static ``[B, ...]`` with
        ``num_steps``) -> ``(spikes [T, B, ...], membrane [T, B, ...] if record else None)``.

        Fused (:data:`snnfunc.fused.FUSED`, the same numbers as ``scan`` of the step) unless the
        membrane is recorded or the model has no fused scan; otherwise ``scan`` of its unchecked
        step (the fused scan and ``scan`` check the inputs once). A recurrent model's fused scan
        runs one recurrent matmul and one fused update of its base model per step
        (:func:`snnfunc.fused.recurrent.recurrent_scan`).
        """
        model, values, firing = self.model, self.params_of(params), self.firing
        first = xs if num_steps is not None else xs[0]
        state = model.init(tuple(first.shape), dtype=first.dtype, device=first.device)
        if record:  # the unchecked step: check one step's inputs once
            model.check(state, first, values)
        step = model.bind(values, firing)
        if record:

            def body(state: Any, x: Tensor) -> tuple[tuple[Tensor, Tensor], Any]:
                z, state = step(state, x)
                return (z, model.membrane(state)), state

            (spikes, membrane), _ = scan(body, state, xs, num_steps=num_steps)
            return spikes, membrane
        fused = FUSED.get(model.name)
        if fused is not None:
            spikes, _ = fused(state, xs, values, num_steps=num_steps, **firing.options())
        else:
            spikes, _ = scan(step, state, xs, num_steps=num_steps)
        return spikes, None


class NetOutput(NamedTuple):
    """What a :class:`Network` returns (all time-major)."""

    spikes: Tensor  # [T, B, *out] output spikes
    membrane: Tensor  # [T, B, *out] output membrane
    hidden: tuple[Tensor, ...]  # each hidden neuron layer's spikes [T, B, ...] (layerwise only)


def _over_time(fn: Callable[[Tensor], Tensor], xs: Tensor) -> Tensor:
    """A per-step stateless layer on all steps at once: ``[T, B, ...] -> [T, B, ...]``."""
    y = fn(xs.flatten(0, 1))
    return y.reshape(xs.shape[0], xs.shape[1], *y.shape[1:])


@dataclass(frozen=True)
class Network:
    """A feed-forward network: an input shape and layer specs (module docstring).

    Attributes:
        input_shape: one example's shape, e.g. ``(1, 28, 28)``.
        layers: the specs, in order: stateless (:class:`Spec`) and stateful
            (:class:`Stateful`: :class:`Neuron`, :class:`Delay`); the last is a :class:`Neuron`
            (the output layer spikes).
        shapes: derived: ``shapes[k]`` is the per-example input shape of ``layers[k]`` and
            ``shapes[-1]`` the output's (checked when the network is made: a layer that cannot
            take its input raises ``ValueError`` naming it).
    """

    input_shape: Shape
    layers: tuple[Spec | Stateful, ...]
    shapes: tuple[Shape, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.input_shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"input_shape must be a tuple of positive ints, got {shape}")
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers or not isinstance(self.layers[-1], Neuron):
            last = f", got {type(self.layers[-1]).__name__} last" if self.layers else ""
            raise ValueError(f"layers must end with a Neuron layer (the spiking output){last}")
        shapes = [shape]
        for k, spec in enumerate(self.layers):
            try:
                shape = tuple(spec.out_shape(shape))
            except ValueError as err:
                raise ValueError(
                    f"input_shape {self.input_shape}: layers[{k}] ({spec}) cannot take its "
                    f"input: {err}"
                ) from None
            shapes.append(shape)
        object.__setattr__(self, "shapes", tuple(shapes))
        names: dict[str, int] = {}
        for k, spec in enumerate(self.layers):
            for name in spec.param_shapes(self.shapes[k]):
                if name in names:
                    raise ValueError(
                        f"layers[{names[name]}] and layers[{k}] both own a param {name!r}"
                    )
                names[name] = k

    # --- shapes and weights -----------------------------------------------------------------
    def param_shapes(self) -> dict[str, Shape]:
        """Every weight's name and shape, in layer order (what a checkpoint must hold)."""
        out: dict[str, Shape] = {}
        for spec, shape in zip(self.layers, self.shapes, strict=False):
            out.update(spec.param_shapes(shape))
        return out

    def init_params(
        self,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> dict[str, Tensor]:
        """Fresh weights: PyTorch's default init for linear and conv layers (drawn from
        ``generator``, layer by layer), learnable neuron params at their configured values."""
        out: dict[str, Tensor] = {}
        for spec, shape in zip(self.layers, self.shapes, strict=False):
            out.update(spec.init(shape, generator=generator, dtype=dtype, device=device))
        return out

    @property
    def stateful(self) -> tuple[tuple[Stateful, Shape], ...]:
        """Each stateful layer (:class:`Neuron`, :class:`Delay`, ...) with its per-example input
        shape, in order: one state each in :meth:`init`."""
        return tuple(
            (spec, shape)
            for spec, shape in zip(self.layers, self.shapes, strict=False)
            if isinstance(spec, Stateful)
        )

    @property
    def neurons(self) -> tuple[tuple[Neuron, Shape], ...]:
        """Each neuron layer with its per-example shape, in order."""
        return tuple(
            (spec, shape)
            for spec, shape in zip(self.layers, self.shapes, strict=False)
            if isinstance(spec, Neuron)
        )

    # --- stepwise: the reference ------------------------------------------------------------
    def bind(self, params: Params) -> tuple[Layer | Callable[[Tensor], Tensor], ...]:
        """The layers with ``params`` bound, as :func:`snnfunc.sequential` takes them (readable
        ``partial``\\ s, which :func:`snnfunc.interop.nir.to_nir` exports)."""
        missing = sorted(set(self.param_shapes()) - set(params))
        if missing:
            raise ValueError(f"params is missing {missing}")
        return tuple(spec.layer(params) for spec in self.layers)

    def step(self, params: Params) -> StepFn:
        """The whole network as one step ``(states, x [B, *input_shape]) -> ((spikes, states),
        states)`` (``sequential(*bind(params), record_states=True)``), for :func:`scan` from
        :meth:`init`."""
        return sequential(*self.bind(params), record_states=True)

    def init(
        self,
        batch_size: int | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> tuple[Any, ...]:
        """Resting states of the stateful layers (:attr:`stateful`, in order: a neuron model's
        state, a :class:`~snnfunc.delay.DelayState`, ...), ``[batch_size, *shape]`` (or
        ``shape``)."""
        lead = () if batch_size is None else (batch_size,)
        return tuple(
            spec.init_state((*lead, *shape), dtype=dtype, device=device)
            for spec, shape in self.stateful
        )

    # --- constraints ------------------------------------------------------------------------
    def constrain(self, params: Params) -> dict[str, Tensor]:
        """``params`` with every layer's constraint applied (a :class:`Delay`'s delays clamped
        into ``[0, max_delay]``; a spec opts in with a ``constrain(params) -> {name: tensor}``
        method). Pure: a new dict, ``params`` unchanged; for ``torch.func`` training loops."""
        out = dict(params)
        for spec in self.layers:
            constrain = getattr(spec, "constrain", None)
            if constrain is not None:
                out.update(constrain(params))
        return out

    def constrain_(self, params: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """:meth:`constrain` in place (under ``torch.no_grad``), for an optimiser's tensors: call
        it after each ``optimizer.step()``. Returns ``params``."""
        with torch.no_grad():
            for name, value in self.constrain(params).items():
                if value is not params[name]:
                    params[name].copy_(value)
        return params

    def stepwise(self, params: Params, x: Tensor, *, num_steps: int | None = None) -> NetOutput:
        """:func:`scan` of :meth:`step`, the reference: ``x`` is a static batch ``[B,
        *input_shape]`` shown for ``num_steps`` steps, or time-major ``[T, B, *input_shape]``
        (``num_steps=None``). Returns the output's spikes and membrane (``hidden`` is empty)."""
        self._check_input(x, num_steps)
        batch = x.shape[0] if num_steps is not None else x.shape[1]
        states = self.init(batch, dtype=x.dtype, device=x.device)
        (spikes, states), _ = scan(self.step(params), states, x, num_steps=num_steps)
        output = self.layers[-1]
        assert isinstance(output, Neuron)
        return NetOutput(spikes, output.model.membrane(states[-1]), ())

    # --- layerwise: the fast path -----------------------------------------------------------
    def forward(self, params: Params, x: Tensor, *, num_steps: int | None = None) -> NetOutput:
        """Layer by layer: each stateful layer over all steps at once (:meth:`Neuron.run`,
        :meth:`Delay.run`), each stateless layer on all steps in one call. Equal to
        :meth:`stepwise`.

        Args:
            params: the weights (:meth:`init_params`).
            x: a static batch ``[B, *input_shape]`` shown at each of ``num_steps`` steps (the
                layers before the first stateful one run once, on ``[B, ...]``), or time-major input
                ``[T, B, *input_shape]`` with ``num_steps=None``.
            num_steps: ``T`` for a static ``x``.
        Returns:
            :class:`NetOutput`: output spikes and membrane ``[T, B, *out]``, hidden spikes.
        """
        self._check_input(x, num_steps)
        missing = sorted(set(self.param_shapes()) - set(params))
        if missing:
            raise ValueError(f"params is missing {missing}")
        last = len(self.layers) - 1
        current, static = x, num_steps is not None
        hidden: list[Tensor] = []
        membrane: Tensor | None = None
        for k, spec in enumerate(self.layers):
            if isinstance(spec, Stateful):
                steps = num_steps if static else None
                current, membrane = spec.run(params, current, num_steps=steps, record=k == last)
                static = False
                if k != last and isinstance(spec, Neuron):
                    hidden.append(current)
            elif static:
                current = spec.layer(params)(current)
            else:
                current = _over_time(spec.layer(params), current)
        assert membrane is not None
        return NetOutput(current, membrane, tuple(hidden))

    def _check_input(self, x: Tensor, num_steps: int | None) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            got = getattr(x, "dtype", type(x).__name__)
            raise TypeError(f"x must be a floating-point Tensor, got {got}")
        dims = ", ".join(map(str, self.input_shape))
        if num_steps is not None:
            check_int_at_least("num_steps", num_steps, 1)
            if x.dim() != 1 + len(self.input_shape) or tuple(x.shape[1:]) != self.input_shape:
                raise ValueError(f"x must be [B, *input_shape] = [B, {dims}], got {tuple(x.shape)}")
        elif x.dim() != 2 + len(self.input_shape) or tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(
                f"x must be [T, B, *input_shape] = [T, B, {dims}] (or a static [B, {dims}] "
                f"with num_steps), got {tuple(x.shape)}"
            )
