"""Ready-made networks, ``fcn`` and ``conv``: a JSON config -> one network description.

A model is a :class:`ModelConfig` (everything needed to rebuild it; saved as JSON in checkpoints)
and a flat ``dict[str, Tensor]`` of weights (saved as safetensors). Each architecture is written
once, as a function in :data:`ARCHITECTURES` from the config to a tuple of layer specs
(:mod:`snnfunc.network`); :func:`network` makes the :class:`~snnfunc.network.Network`, and
everything else is one of its interpreters::

    model = build_model(ModelConfig(arch="fcn", input_shape=(1, 28, 28), hidden=(1000,)))
    out = model(images)                                   # images [B, 1, 28, 28]
    out.spikes, out.membrane                              # [T, B, 10] each

Architectures (``C`` classes, every ``->`` a neuron layer of ``config.neuron``):

* ``fcn``: ``flatten -> Linear(D, H1) -> ... -> Linear(Hk, C)`` (snnTorch tutorial 3:
  784-1000-10 with Synaptic neurons, alpha 0.7, beta 0.8).
* ``conv``: ``Conv(k) -> MaxPool2 -> Conv(k) -> MaxPool2 -> flatten -> Linear(., C)``
  (``hidden`` = the two channel counts), in the spirit of spikingtorch's conv SNN.

With ``delay=D > 0`` a learnable :class:`~snnfunc.network.Delay` (``delay<k>.delay``, one per
neuron, drawn ``U(0, D)``, at most ``D`` steps) sits right before each hidden neuron layer
``neuron<k>``; training clamps it into ``[0, D]`` after each step.

With ``temporal=True`` the input is a sequence ``[B, T, *input_shape]`` (a temporal dataset's
batch), fed to the network time-major with no encoder. A recurrent neuron (``rlif``,
``rsynaptic``, ``radlif``) trains its ``[N, N]`` weight as ``neuron<k>.weight`` (``fcn`` only).

The output layer is spiking too; its membrane ``[T, B, C]`` feeds the membrane losses. A static
image is shown for ``T`` steps: the layerwise interpreter (:func:`forward`) computes the first
layer's current once per batch and runs each neuron layer over all steps at once (fused where
possible); it equals the stepwise reference, ``scan`` over :func:`network_step` (tested).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property, partial
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_int_at_least
from snnfunc.network import (
    Conv2d,
    Delay,
    Flatten,
    Linear,
    MaxPool2d,
    NetOutput,
    Network,
    Neuron,
    Spec,
    Stateful,
)
from snnfunc.neurons import MODELS as NEURON_MODELS
from snnfunc.reset import RESET_MODES, Firing
from snnfunc.scan import StepFn
from snnfunc.surrogate import SURROGATES

__all__ = [
    "ARCHITECTURES",
    "NEURONS",
    "ModelConfig",
    "Model",
    "NetOutput",
    "build_model",
    "network",
    "init_params",
    "forward",
    "network_step",
    "initial_states",
    "neuron_params",
]

NEURONS: tuple[str, ...] = tuple(
    name
    for name, model in NEURON_MODELS.items()
    if all(spec.default is not None or spec.kind == "matrix" for spec in model.params.values())
)
"""The neuron models a :class:`ModelConfig` can use: every registered model whose params all
have defaults, but for ``[N, N]`` matrices (the recurrent models' weights), which the network
trains (``neuron<k>.weight``, fan-in init)."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (JSON-serialisable; see :meth:`to_dict`).

    Attributes:
        arch: a key of :data:`ARCHITECTURES` (``"fcn"`` or ``"conv"``).
        input_shape: one example's shape ``(channels, height, width)``; with ``temporal``,
            one time step's (``(C,)`` for ``fcn``).
        temporal: the input is a sequence: ``model(x)`` takes ``x [B, T, *input_shape]`` (batch
            major, as datasets hold it) and runs the network on it time-major, ``[T, B, ...]``.
        num_classes: output neurons ``C``.
        hidden: fcn: hidden layer widths; conv: the two conv layers' channel counts.
        neuron: a model of :data:`NEURONS` (every layer).
        neuron_params: values of the neuron's params by name, e.g. ``{"beta": 0.9}``; the
            others take the model's registered defaults (:func:`neuron_params`).
        learn: neuron params that are trained: one value per neuron and layer, in the weights
            dict as ``neuron<k>.<name>`` (``k`` counts the neuron layers from 1), initialised to
            the configured value.
        reset: ``"subtract"``, ``"zero"`` or ``"none"``.
        reset_delay: snnTorch's one-step-late reset (the tutorial's default).
        surrogate: name of a :mod:`snnfunc.surrogate` factory, with its default slope
            (``"heaviside"``: the gradient is the spike itself, as tutorial 3 describes).
        num_steps: default number of steps ``T`` a static image is shown for (not used with
            ``temporal``: a sequence has its own ``T``).
        kernel_size: conv kernel size.
        padding: conv zero padding.
        delay: ``D > 0``: a learnable delay of at most ``D`` steps before each hidden neuron
            (a :class:`~snnfunc.network.Delay` layer ``delay<k>`` before ``neuron<k>``, drawn
            ``U(0, D)``); ``0``: none.
    """

    arch: str = "fcn"
    input_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 10
    hidden: tuple[int, ...] = (1000,)
    neuron: str = "synaptic"
    neuron_params: Mapping[str, float] = field(default_factory=dict)
    learn: tuple[str, ...] = ()
    reset: str = "subtract"
    reset_delay: bool = True
    surrogate: str = "atan"
    num_steps: int = 25
    kernel_size: int = 5
    padding: int = 0
    temporal: bool = False
    delay: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "learn", tuple(self.learn))
        check_choice("arch", self.arch, tuple(ARCHITECTURES))
        check_choice("neuron", self.neuron, NEURONS)
        check_choice("reset", self.reset, RESET_MODES)
        check_choice("surrogate", self.surrogate, tuple(SURROGATES))
        if not isinstance(self.reset_delay, bool):
            raise TypeError(f"reset_delay must be a bool, got {type(self.reset_delay).__name__}")
        check_int_at_least("num_classes", self.num_classes, 1)
        check_int_at_least("num_steps", self.num_steps, 1)
        check_int_at_least("kernel_size", self.kernel_size, 1)
        check_int_at_least("padding", self.padding, 0)
        check_int_at_least("delay", self.delay, 0)
        if not isinstance(self.temporal, bool):
            raise TypeError(f"temporal must be a bool, got {type(self.temporal).__name__}")
        if self.temporal:
            if not self.input_shape or min(self.input_shape) < 1:
                raise ValueError(
                    f"input_shape must be one step's shape, positive ints, got {self.input_shape}"
                )
        elif len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(
                f"input_shape must be (channels, height, width) of positive ints, "
                f"got {self.input_shape}"
            )
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(
                f"hidden must be a non-empty tuple of positive ints, got {self.hidden}"
            )
        object.__setattr__(self, "neuron_params", _check_neuron_params(self))
        network(self)  # the architecture takes these settings (shapes, learn, ...) or raises

    def __hash__(self) -> int:  # neuron_params is a dict: hash the JSON form
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples as lists)."""
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["hidden"] = list(self.hidden)
        out["neuron_params"] = dict(self.neuron_params)
        out["learn"] = list(self.learn)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a newer checkpoint).

        Configs written before 0.2 are read too: ``"model"`` was ``arch``, and the neuron's
        params were top-level keys (``"alpha"``, ``"beta"``, ``"threshold"``, ...; ``None``: the
        default), of which those the neuron lacks were ignored, as they are here.
        """
        if not isinstance(data, dict):
            raise TypeError(f"model config must be a dict, got {type(data).__name__}")
        data = dict(data)
        if "model" in data and "arch" not in data:
            data["arch"] = data.pop("model")
        every_param = {name for model in NEURON_MODELS.values() for name in model.params}
        known = {f.name for f in fields(cls)}
        legacy = {k: data.pop(k) for k in sorted(set(data) & every_param - known)}
        if legacy:
            has = NEURON_MODELS[data.get("neuron", cls.neuron)].params
            given = {k: v for k, v in legacy.items() if v is not None and k in has}
            data["neuron_params"] = {**given, **data.get("neuron_params", {})}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**data)


def _check_neuron_params(config: ModelConfig) -> dict[str, float]:
    model = NEURON_MODELS[config.neuron]
    if not isinstance(config.neuron_params, Mapping):
        raise TypeError(
            f"neuron_params must be a dict of name -> float, got "
            f"{type(config.neuron_params).__name__}"
        )
    unknown = sorted(set(config.neuron_params) - set(model.params))
    if unknown:
        raise ValueError(
            f"neuron_params: the {config.neuron} model has no params {unknown}; its params are "
            f"{tuple(model.params)}"
        )
    values: dict[str, float] = {}
    for name, value in config.neuron_params.items():
        if model.params[name].kind == "matrix":
            raise ValueError(
                f"neuron_params[{name!r}]: the {config.neuron} model's {name} is an [N, N] "
                "matrix the network trains (neuron<k>.weight); it cannot be set here"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"neuron_params[{name!r}] must be a float, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"neuron_params[{name!r}] must be finite, got {value!r}")
        values[name] = float(value)
    return values


# --- architectures: each written once ------------------------------------------------------------
NeuronLayer = Callable[[int], Neuron]  # k -> the k-th neuron layer (from 1)


def _fcn(config: ModelConfig, neuron: NeuronLayer) -> tuple[Spec | Neuron, ...]:
    layers: list[Spec | Neuron] = [Flatten()]
    for k, width in enumerate((*config.hidden, config.num_classes), start=1):
        layers += [Linear(f"fc{k}", width), neuron(k)]
    return tuple(layers)


def _conv(config: ModelConfig, neuron: NeuronLayer) -> tuple[Spec | Neuron, ...]:
    if len(config.hidden) != 2:
        raise ValueError(f"conv needs hidden=(c1, c2) channel counts, got {config.hidden}")
    c1, c2 = config.hidden
    conv = partial(Conv2d, kernel_size=config.kernel_size, padding=config.padding)
    return (
        conv("conv1", c1),
        MaxPool2d(2),
        neuron(1),
        conv("conv2", c2),
        MaxPool2d(2),
        neuron(2),
        Flatten(),
        Linear("fc", config.num_classes),
        neuron(3),
    )


ARCHITECTURES: Mapping[str, Callable[[ModelConfig, NeuronLayer], tuple[Spec | Neuron, ...]]] = (
    MappingProxyType({"fcn": _fcn, "conv": _conv})
)
"""Architecture name -> ``(config, neuron) -> layer specs``, where ``neuron(k)`` is the k-th
neuron layer of the configured kind."""


def neuron_params(config: ModelConfig) -> Any:
    """The params of the configured neuron: the config's values for the fields it sets, the
    model's registered defaults for the others, ``None`` for a ``[N, N]`` matrix (the network
    draws and trains it)."""
    model = NEURON_MODELS[config.neuron]
    trained = {k: None for k, spec in model.params.items() if spec.kind == "matrix"}
    return model.default_params(**config.neuron_params, **trained)


def network(config: ModelConfig) -> Network:
    """The :class:`~snnfunc.network.Network` a config describes."""
    model = NEURON_MODELS[config.neuron]
    spike_fn = SURROGATES[config.surrogate].factory()
    firing = Firing.of(spike_fn=spike_fn, reset=config.reset, reset_delay=config.reset_delay)
    values = neuron_params(config)

    def neuron(k: int) -> Neuron:
        return Neuron(f"neuron{k}", model, values, firing, config.learn)

    layers: tuple[Spec | Stateful, ...] = ARCHITECTURES[config.arch](config, neuron)
    if config.delay:
        layers = _with_delays(layers, config.delay)
    return Network(config.input_shape, layers)


def _with_delays(
    layers: tuple[Spec | Stateful, ...], max_delay: int
) -> tuple[Spec | Stateful, ...]:
    """``layers`` with a learnable ``Delay("delay<k>", max_delay, "uniform")`` right before
    each hidden neuron layer ``neuron<k>`` (not the output layer)."""
    out: list[Spec | Stateful] = []
    for k, spec in enumerate(layers):
        if isinstance(spec, Neuron) and k != len(layers) - 1:
            out.append(Delay(spec.name.replace("neuron", "delay", 1), max_delay, "uniform"))
        out.append(spec)
    return tuple(out)


def init_params(
    config: ModelConfig,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> dict[str, Tensor]:
    """Fresh weights, PyTorch's default ``nn.Linear``/``nn.Conv2d`` init: ``U(-1/sqrt(fan_in),
    1/sqrt(fan_in))`` for weights and biases, drawn from ``generator`` (explicit randomness);
    learnable neuron params at their configured values."""
    return network(config).init_params(generator=generator, dtype=dtype, device=device)


def forward(
    params: Mapping[str, Tensor],
    x: Tensor,
    config: ModelConfig,
    *,
    num_steps: int | None = None,
) -> NetOutput:
    """Run the network on a static image batch for ``T`` steps, layer by layer, or on a batch
    of sequences (``config.temporal``).

    Args:
        params: weights, as from :func:`init_params`.
        x: images ``[B, C, H, W]`` (``config.input_shape`` per example), shown at every step;
            ``temporal``: sequences ``[B, T, *input_shape]``, fed time-major.
        config: the architecture.
        num_steps: ``T`` (default ``config.num_steps``); not with ``temporal``.
    Returns:
        :class:`NetOutput`: output spikes and membrane ``[T, B, classes]``, hidden spikes.
    """
    if config.temporal:
        if num_steps is not None:
            raise ValueError("num_steps is for static input; a temporal model's x has its own T")
        if x.dim() < 2:
            raise ValueError(f"x must be sequences [B, T, ...], got {tuple(x.shape)}")
        return network(config).forward(params, x.transpose(0, 1))
    steps = config.num_steps if num_steps is None else num_steps
    return network(config).forward(params, x, num_steps=steps)


def network_step(params: Mapping[str, Tensor], config: ModelConfig) -> StepFn:
    """The whole network as one step ``(states, x [B, C, H, W]) -> ((spikes, states), states)``.

    ``scan(network_step(params, config), initial_states(config, B), x, num_steps=T)`` gives the
    same output as :func:`forward` (which is faster: it computes the static first layer once).
    The output layer's membrane is ``MODELS[config.neuron].membrane(states[-1])``.
    """
    return network(config).step(params)


def initial_states(
    config: ModelConfig,
    batch_size: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[Any, ...]:
    """Resting states of every stateful layer of :func:`network_step` (the neuron layers and
    any delays), for a batch of ``B``."""
    return network(config).init(batch_size, dtype=dtype, device=device)


# --- a config bound to its weights ----------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    """A :class:`ModelConfig` with its weights; ``model(x)`` runs :func:`forward`."""

    config: ModelConfig
    params: dict[str, Tensor] = field(repr=False)

    @cached_property
    def network(self) -> Network:
        """The network the config describes (:func:`network`)."""
        return network(self.config)

    def __call__(self, x: Tensor, *, num_steps: int | None = None) -> NetOutput:
        if self.config.temporal:
            return forward(self.params, x, self.config, num_steps=num_steps)
        steps = self.config.num_steps if num_steps is None else num_steps
        return self.network.forward(self.params, x, num_steps=steps)


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
