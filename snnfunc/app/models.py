"""Ready-made networks as pure functions of a params dict: ``fcn`` and ``conv``.

A model is a :class:`ModelConfig` (everything needed to rebuild it; saved as JSON in checkpoints)
and a flat ``dict[str, Tensor]`` of weights (saved as safetensors). :func:`forward` is a pure
function of both, so ``torch.func.functional_call``-style use is direct::

    model = build_model(ModelConfig(model="fcn", input_shape=(1, 28, 28), hidden=(1000,)))
    out = forward(model.params, images, model.config)      # images [B, 1, 28, 28]
    out.spikes, out.membrane                               # [T, B, 10] each

**Static input, layer by layer.** An image is shown unchanged for ``T`` steps, so the first
layer's current is computed once per batch (``[B, ...]``, not ``[T, B, ...]``) and fed at every
step with ``scan(..., num_steps=T)``. Each later layer then maps the previous layer's spikes for
all ``T`` steps at once (one matmul/conv over ``T * B``), and its neuron is unrolled over them.
This equals :func:`scan` over :func:`network_step` (the whole network as one step; tested), and
each neuron unroll is one call that a fused multi-step neuron can replace.

Architectures (``C`` classes, ``T`` steps, every ``->`` a neuron layer of ``config.neuron``):

* ``fcn``: ``flatten -> Linear(D, H1) -> ... -> Linear(Hk, C)`` (snnTorch tutorial 3:
  784-1000-10 with Synaptic neurons, alpha 0.7, beta 0.8).
* ``conv``: ``Conv(k) -> MaxPool2 -> Conv(k) -> MaxPool2 -> flatten -> Linear(., C)``
  (``hidden`` = the two channel counts), in the spirit of spikingtorch's conv SNN.

The output layer is spiking too; its membrane ``[T, B, C]`` feeds the membrane losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from snnfunc._checks import check_choice, check_int_at_least
from snnfunc.fused import FUSED
from snnfunc.neurons import MODELS as NEURON_MODELS
from snnfunc.reset import RESET_MODES, Firing
from snnfunc.scan import Layer, neuron, scan, sequential, stateless
from snnfunc.surrogate import SURROGATES

__all__ = [
    "MODELS",
    "NEURONS",
    "ModelConfig",
    "Model",
    "NetOutput",
    "build_model",
    "init_params",
    "forward",
    "network_step",
    "initial_states",
    "neuron_params",
]

MODELS: tuple[str, ...] = ("fcn", "conv")
NEURONS: tuple[str, ...] = tuple(
    name
    for name, model in NEURON_MODELS.items()
    if all(spec.default is not None for spec in model.params.values())  # no required weights
)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (JSON-serialisable; see :meth:`to_dict`).

    Attributes:
        model: ``"fcn"`` or ``"conv"``.
        input_shape: one example's shape ``(channels, height, width)``.
        num_classes: output neurons ``C``.
        hidden: fcn: hidden layer widths; conv: the two conv layers' channel counts.
        neuron: a model of :data:`NEURONS` (every layer): a built-in neuron model
            (:data:`snnfunc.neurons.MODELS`) whose params all have defaults.
        alpha, beta, threshold, rho, jump: the neuron's params of these names (``None``: the
            model's registered default, :meth:`snnfunc.neurons.NeuronModel.default_params`;
            a field the model does not have is ignored). See :func:`neuron_params`.
        reset: ``"subtract"``, ``"zero"`` or ``"none"``.
        reset_delay: snnTorch's one-step-late reset (the tutorial's default).
        surrogate: name of a :mod:`snnfunc.surrogate` factory, with its default slope
            (``"heaviside"``: the gradient is the spike itself, as tutorial 3 describes).
        num_steps: default number of steps ``T`` a static image is shown for.
        kernel_size: conv kernel size.
        padding: conv zero padding.
    """

    model: str = "fcn"
    input_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 10
    hidden: tuple[int, ...] = (1000,)
    neuron: str = "synaptic"
    alpha: float | None = None
    beta: float | None = None
    threshold: float | None = None
    rho: float | None = None
    jump: float | None = None
    reset: str = "subtract"
    reset_delay: bool = True
    surrogate: str = "atan"
    num_steps: int = 25
    kernel_size: int = 5
    padding: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        check_choice("model", self.model, MODELS)
        check_choice("neuron", self.neuron, NEURONS)
        check_choice("reset", self.reset, RESET_MODES)
        check_choice("surrogate", self.surrogate, tuple(SURROGATES))
        check_int_at_least("num_classes", self.num_classes, 1)
        check_int_at_least("num_steps", self.num_steps, 1)
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(
                f"input_shape must be (channels, height, width) of positive ints, "
                f"got {self.input_shape}"
            )
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(
                f"hidden must be a non-empty tuple of positive ints, got {self.hidden}"
            )
        if self.model == "conv":
            if len(self.hidden) != 2:
                raise ValueError(f"conv needs hidden=(c1, c2) channel counts, got {self.hidden}")
            _conv_out_hw(self)  # raises if the image is too small for the kernels

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples as lists)."""
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a newer checkpoint)."""
        if not isinstance(data, dict):
            raise TypeError(f"model config must be a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**data)


def _conv_out_hw(config: ModelConfig) -> tuple[int, int]:
    _, h, w = config.input_shape
    for _ in range(2):  # conv (stride 1) then 2x2 max-pool, twice
        h = (h + 2 * config.padding - config.kernel_size + 1) // 2
        w = (w + 2 * config.padding - config.kernel_size + 1) // 2
        if h < 1 or w < 1:
            raise ValueError(
                f"input_shape {config.input_shape} is too small for two conv({config.kernel_size}, "
                f"padding={config.padding}) + 2x2 max-pool stages; raise padding"
            )
    return h, w


def _layer_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape."""
    c, h, w = config.input_shape
    shapes: dict[str, tuple[int, ...]] = {}
    if config.model == "fcn":
        widths = [c * h * w, *config.hidden, config.num_classes]
        for k, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            shapes[f"fc{k + 1}.weight"] = (fan_out, fan_in)
            shapes[f"fc{k + 1}.bias"] = (fan_out,)
        return shapes
    c1, c2 = config.hidden
    k = config.kernel_size
    oh, ow = _conv_out_hw(config)
    shapes["conv1.weight"], shapes["conv1.bias"] = (c1, c, k, k), (c1,)
    shapes["conv2.weight"], shapes["conv2.bias"] = (c2, c1, k, k), (c2,)
    shapes["fc.weight"], shapes["fc.bias"] = (
        (config.num_classes, c2 * oh * ow),
        (config.num_classes,),
    )
    return shapes


def init_params(
    config: ModelConfig,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> dict[str, Tensor]:
    """Fresh weights, PyTorch's default ``nn.Linear``/``nn.Conv2d`` init: ``U(-1/sqrt(fan_in),
    1/sqrt(fan_in))`` for weights and biases. Drawn from ``generator`` (explicit randomness)."""
    shapes = _layer_shapes(config)
    params: dict[str, Tensor] = {}
    for name, shape in shapes.items():
        weight_shape = shapes[name.rsplit(".", 1)[0] + ".weight"]
        fan_in = 1
        for s in weight_shape[1:]:
            fan_in *= s
        bound = fan_in**-0.5
        u = torch.rand(shape, generator=generator, dtype=dtype)
        params[name] = ((2 * u - 1) * bound).to(device)
    return params


# --- neurons ------------------------------------------------------------------------------------
def neuron_params(config: ModelConfig) -> Any:
    """The params of the configured neuron: the config's values for the fields it sets, the
    model's registered defaults for the others."""
    model = NEURON_MODELS[config.neuron]
    values = {name: getattr(config, name, None) for name in model.params}
    return model.default_params(**{k: v for k, v in values.items() if v is not None})


def _neuron_parts(config: ModelConfig) -> tuple[Any, Any, Firing]:
    """``(model, params, firing)`` of the configured neuron."""
    spike_fn = SURROGATES[config.surrogate].factory()
    firing = Firing.of(spike_fn=spike_fn, reset=config.reset, reset_delay=config.reset_delay)
    return NEURON_MODELS[config.neuron], neuron_params(config), firing


def _neuron_layer(config: ModelConfig) -> Layer:
    model, params, firing = _neuron_parts(config)
    return neuron(model.step, params, **firing.options())


def _init_state(config: ModelConfig, like: Tensor) -> Any:
    return NEURON_MODELS[config.neuron].init(
        tuple(like.shape), dtype=like.dtype, device=like.device
    )


def _unroll(config: ModelConfig, xs: Tensor, *, num_steps: int | None = None) -> Tensor:
    """One neuron layer over time: currents ``[T, B, ...]`` (or static ``[B, ...]`` with
    ``num_steps``) -> spikes ``[T, B, ...]``.

    A model with a fused scan (:data:`snnfunc.fused.FUSED`) runs fused (the same numbers as
    ``scan`` of the step, one kernel for all T); the others run through ``scan``.
    """
    model, params, firing = _neuron_parts(config)
    state = _init_state(config, xs if num_steps is not None else xs[0])
    fused = FUSED.get(model.name)
    if fused is not None:
        spikes, _ = fused(state, xs, params, num_steps=num_steps, **firing.options())
    else:
        spikes, _ = scan(model.bind(params, firing), state, xs, num_steps=num_steps)
    out: Tensor = spikes
    return out


def _unroll_recording(
    config: ModelConfig, xs: Tensor, *, num_steps: int | None = None
) -> tuple[Tensor, Tensor]:
    """As :func:`_unroll`, also returning the membrane ``[T, B, ...]`` (output layer)."""
    model, params, firing = _neuron_parts(config)
    state = _init_state(config, xs if num_steps is not None else xs[0])
    step = model.bind(params, firing)

    def body(state: Any, x: Tensor) -> tuple[tuple[Tensor, Tensor], Any]:
        z, state = step(state, x)
        return (z, model.membrane(state)), state

    (spikes, membrane), _ = scan(body, state, xs, num_steps=num_steps)
    return spikes, membrane


# --- forward ------------------------------------------------------------------------------------
class NetOutput(NamedTuple):
    """What :func:`forward` returns (all time-major)."""

    spikes: Tensor  # [T, B, C] output spikes
    membrane: Tensor  # [T, B, C] output membrane
    hidden: tuple[Tensor, ...]  # each hidden layer's spikes [T, B, ...]


def _check_input(config: ModelConfig, x: Tensor, num_steps: int) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point Tensor, got {getattr(x, 'dtype', type(x))}")
    if x.dim() != 4 or tuple(x.shape[1:]) != config.input_shape:
        raise ValueError(
            f"x must be [B, *input_shape] = [B, {', '.join(map(str, config.input_shape))}], "
            f"got {tuple(x.shape)}"
        )
    check_int_at_least("num_steps", num_steps, 1)


def _pool(x: Tensor) -> Tensor:
    return F.max_pool2d(x, 2)


def _conv_pool(x: Tensor, *, weight: Tensor, bias: Tensor, padding: int) -> Tensor:
    return _pool(F.conv2d(x, weight, bias, padding=padding))


def forward(
    params: dict[str, Tensor], x: Tensor, config: ModelConfig, *, num_steps: int | None = None
) -> NetOutput:
    """Run the network on a static image batch for ``T`` steps, layer by layer.

    Args:
        params: weights, as from :func:`init_params`.
        x: images ``[B, C, H, W]`` (``config.input_shape`` per example), shown at every step.
        config: the architecture.
        num_steps: ``T`` (default ``config.num_steps``).
    Returns:
        :class:`NetOutput`: output spikes and membrane ``[T, B, classes]``, hidden spikes.
    """
    steps = config.num_steps if num_steps is None else num_steps
    _check_input(config, x, steps)
    hidden: list[Tensor] = []
    if config.model == "fcn":
        n_layers = len(config.hidden) + 1
        current = F.linear(x.flatten(1), params["fc1.weight"], params["fc1.bias"])  # [B, H1]
        spikes = _unroll(config, current, num_steps=steps)  # static input: current once
        hidden.append(spikes)
        for k in range(2, n_layers):
            current = F.linear(spikes, params[f"fc{k}.weight"], params[f"fc{k}.bias"])
            spikes = _unroll(config, current)
            hidden.append(spikes)
        current = F.linear(spikes, params[f"fc{n_layers}.weight"], params[f"fc{n_layers}.bias"])
    else:
        current = _pool(
            F.conv2d(x, params["conv1.weight"], params["conv1.bias"], padding=config.padding)
        )
        spikes = _unroll(config, current, num_steps=steps)  # [T, B, c1, h1, w1]
        hidden.append(spikes)
        flat = spikes.flatten(0, 1)  # one conv over all T * B images
        pooled = _pool(
            F.conv2d(flat, params["conv2.weight"], params["conv2.bias"], padding=config.padding)
        )
        current = pooled.reshape(steps, x.shape[0], *pooled.shape[1:])
        spikes = _unroll(config, current)
        hidden.append(spikes)
        current = F.linear(spikes.flatten(2), params["fc.weight"], params["fc.bias"])
    out_spikes, membrane = _unroll_recording(config, current)
    return NetOutput(out_spikes, membrane, tuple(hidden))


# --- the same network as one step (for scan, and as the reference for forward) -------------------
def network_step(params: dict[str, Tensor], config: ModelConfig) -> Callable[..., Any]:
    """The whole network as one step ``(states, x [B, C, H, W]) -> ((spikes, states), states)``.

    ``scan(network_step(params, config), initial_states(config, B), x, num_steps=T)`` gives the
    same output as :func:`forward` (which is faster: it computes the static first layer once).
    The output layer's membrane is ``states[-1].v``.
    """
    layers: list[Layer | Callable[[Any], Any]] = []
    if config.model == "fcn":
        n_layers = len(config.hidden) + 1
        layers.append(lambda x: x.flatten(1))
        for k in range(1, n_layers + 1):
            layers.append(
                stateless(
                    partial(F.linear, weight=params[f"fc{k}.weight"], bias=params[f"fc{k}.bias"])
                )
            )
            layers.append(_neuron_layer(config))
    else:
        for k in (1, 2):
            layers.append(
                partial(
                    _conv_pool,
                    weight=params[f"conv{k}.weight"],
                    bias=params[f"conv{k}.bias"],
                    padding=config.padding,
                )
            )
            layers.append(_neuron_layer(config))
        layers.append(lambda x: x.flatten(1))
        layers.append(partial(F.linear, weight=params["fc.weight"], bias=params["fc.bias"]))
        layers.append(_neuron_layer(config))
    return sequential(*layers, record_states=True)


def initial_states(
    config: ModelConfig,
    batch_size: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[Any, ...]:
    """Resting states of every neuron layer of :func:`network_step`, for a batch of ``B``."""
    init = NEURON_MODELS[config.neuron].init
    shapes: list[tuple[int, ...]]
    if config.model == "fcn":
        shapes = [(batch_size, h) for h in (*config.hidden, config.num_classes)]
    else:
        c1, c2 = config.hidden
        _, h, w = config.input_shape
        h1 = (h + 2 * config.padding - config.kernel_size + 1) // 2
        w1 = (w + 2 * config.padding - config.kernel_size + 1) // 2
        h2, w2 = _conv_out_hw(config)
        shapes = [
            (batch_size, c1, h1, w1),
            (batch_size, c2, h2, w2),
            (batch_size, config.num_classes),
        ]
    return tuple(init(s, dtype=dtype, device=device) for s in shapes)


# --- a config bound to its weights ----------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    """A :class:`ModelConfig` with its weights; ``model(x)`` runs :func:`forward`."""

    config: ModelConfig
    params: dict[str, Tensor] = field(repr=False)

    def __call__(self, x: Tensor, *, num_steps: int | None = None) -> NetOutput:
        return forward(self.params, x, self.config, num_steps=num_steps)


def build_model(
    config: ModelConfig,
    *,
    seed: int | None = 0,
    device: torch.device | str | None = None,
) -> Model:
    """A :class:`Model` with fresh weights (``requires_grad=True``) drawn with ``seed``."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    params = init_params(config, generator=generator, device=device)
    return Model(config, {k: v.requires_grad_() for k, v in params.items()})
