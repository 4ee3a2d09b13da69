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
any object with ``out_shape``, ``param_shapes``, ``init`` and ``layer`` (:class:`Spec`); the
stateful one is :class:`Neuron`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from snnfunc._checks import check_int_at_least
from snnfunc.compose import Layer, neuron, sequential
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
        layers: the specs, in order; the last is a :class:`Neuron` (the output layer spikes).
        shapes: derived: ``shapes[k]`` is the per-example input shape of ``layers[k]`` and
            ``shapes[-1]`` the output's (checked when the network is made: a layer that cannot
            take its input raises ``ValueError`` naming it).
    """

    input_shape: Shape
    layers: tuple[Spec | Neuron, ...]
    shapes: tuple[Shape, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.input_shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"input_shape must be a tuple of positive ints, got {shape}")
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers or not isinstance(self.layers[-1], Neuron):
            raise ValueError("layers must end with a Neuron layer (the spiking output)")
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
        """Resting states of the neuron layers, ``[batch_size, *shape]`` (or ``shape``)."""
        lead = () if batch_size is None else (batch_size,)
        return tuple(
            spec.model.init((*lead, *shape), dtype=dtype, device=device)
            for spec, shape in self.neurons
        )

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
        """Layer by layer: each neuron layer over all steps at once (:meth:`Neuron.run`), each
        stateless layer on all steps in one call. Equal to :meth:`stepwise`.

        Args:
            params: the weights (:meth:`init_params`).
            x: a static batch ``[B, *input_shape]`` shown at each of ``num_steps`` steps (the
                layers before the first neuron run once, on ``[B, ...]``), or time-major input
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
            if isinstance(spec, Neuron):
                steps = num_steps if static else None
                current, membrane = spec.run(params, current, num_steps=steps, record=k == last)
                static = False
                if k != last:
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
