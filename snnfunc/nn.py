"""Thin ``torch.nn.Module`` wrappers over the pure neuron steps, with explicit state.

A :class:`Neuron` holds a model's params as ``nn.Parameter`` (learnable) or buffers (fixed) and
nothing else: ``forward(x, state) -> (spike, state)`` calls the pure step, the state is passed
in and returned, and there is no hidden state, registry or ``reset_hidden()``. Because the
params are ordinary Parameters/buffers, ``torch.func.functional_call(module, params, (x,
state))`` is a pure function of ``params`` (see :func:`snnfunc.func.functional`), so modules
work under ``vmap``/``grad`` and with stacked-parameter ensembles.

>>> import torch
>>> lif = LIF(beta=0.9, learn=("beta",))
>>> z, state = lif(torch.tensor([0.5, 1.5]), lif.init_state((2,)))
>>> z.detach(), state.v.detach()
(tensor([0., 1.]), tensor([0.5000, 0.5000]))
>>> [name for name, _ in lif.named_parameters()]
['beta']

:class:`Sequential` chains stateless modules (``nn.Linear``, ``nn.Flatten``, ...) and stateful
ones (anything with ``forward(x, state) -> (y, state)`` and ``init_state``), with a tuple of
states, one per stateful layer, passed in and returned: ``net(x, states) -> (y, states)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from snnfunc.cell import BUILTIN_CELLS, Cell
from snnfunc.neurons import MODELS, NeuronModel
from snnfunc.reset import Firing, Reset
from snnfunc.scan import scan
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn

__all__ = [
    "Neuron",
    "BuiltinNeuron",
    "MODULES",
    "LIF",
    "Synaptic",
    "IF",
    "ALIF",
    "AdLIF",
    "RLIF",
    "RSynaptic",
    "RAdLIF",
    "Sequential",
]


class Neuron(nn.Module):
    """Any :class:`snnfunc.cell.Cell` (built-in or your own) as a module.

    Args:
        cell: the model, e.g. ``snnfunc.cell.BUILTIN_CELLS["lif"]`` or ``snnfunc.cell.cell(...)``.
        params: the model's params NamedTuple; floats become 0-d tensors (default dtype), tensors
            are copied. Each field becomes an attribute of the same name.
        learn: which fields are ``nn.Parameter`` (``True``: all; ``False``: none; or names).
            The others are buffers: they move with ``.to()`` and are in the ``state_dict``.
        size: the number of neurons ``N``, needed only by :meth:`Sequential.init_state`.
        **options: the step's static keyword options (``spike_fn``, ``reset``, ...).
    """

    def __init__(
        self,
        cell: Cell,
        params: Any,
        *,
        learn: bool | Iterable[str] = False,
        size: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"cell must be a snnfunc.cell.Cell, got {type(cell).__name__}")
        fields: tuple[str, ...] | None = getattr(params, "_fields", None)
        if not isinstance(params, tuple) or fields is None:
            raise TypeError(f"params must be a NamedTuple, got {type(params).__name__}")
        if learn is True or learn is False:
            learned = set(fields) if learn else set()
        else:
            learned = {learn} if isinstance(learn, str) else set(learn)
            unknown = sorted(learned - set(fields))
            if unknown:
                raise ValueError(
                    f"learn names unknown params {unknown}; {type(params).__name__} has {fields}"
                )
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"size must be a positive int or None, got {size!r}")
        self.cell = cell
        self.params_type: type = type(params)
        self.options = dict(options)
        self.size = size
        for name, value in zip(fields, params, strict=True):
            if hasattr(self, name):
                raise ValueError(f"params field {name!r} clashes with an nn.Module attribute")
            tensor = _as_tensor(f"params.{name}", value)
            if name in learned:
                setattr(self, name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)

    @property
    def params(self) -> Any:
        """The params NamedTuple, built from the current Parameters/buffers (so
        ``functional_call`` substitutes them)."""
        return self.params_type(*(getattr(self, name) for name in self.params_type._fields))  # type: ignore[attr-defined]

    def init_state(
        self,
        shape: int | tuple[int, ...],
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Any:
        """Resting state of ``shape`` (e.g. ``(B, N)``); dtype/device default to the params'."""
        ref: Tensor | None = next(iter(self.parameters()), None)
        if ref is None:
            ref = next(iter(self.buffers()), None)
        dtype = dtype if dtype is not None else (ref.dtype if ref is not None else None)
        device = device if device is not None else (ref.device if ref is not None else None)
        return self.cell.init(shape, dtype=dtype or torch.get_default_dtype(), device=device)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Any, Any]:
        """One step: ``x: [..., N]`` -> ``(spike [..., N], state)``.

        ``state=None`` starts from rest (``init_state(x.shape)``, same dtype and device as x).
        """
        if state is None:
            state = self.cell.init(x.shape, dtype=x.dtype, device=x.device)
        return self.cell.step(state, x, self.params, **self.options)

    def unroll(self, xs: Tensor, state: Any = None) -> tuple[Any, Any]:
        """All steps: ``xs: [T, ..., N]`` -> ``(spikes [T, ..., N], final state)``.

        Uses the cell's fused path when it has one (:meth:`snnfunc.cell.Cell.unroll`).
        """
        if state is None:
            state = self.cell.init(xs.shape[1:], dtype=xs.dtype, device=xs.device)
        return self.cell.unroll(state, xs, self.params, **self.options)

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        size = f", size={self.size}" if self.size is not None else ""
        return f"{self.cell.name}{size}" + (f", {opts}" if opts else "")


def _as_tensor(name: str, value: Any) -> Tensor:
    if isinstance(value, Tensor):
        tensor = value.detach().clone()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        tensor = torch.tensor(float(value))
    else:
        raise TypeError(f"{name} must be a float or a Tensor, got {type(value).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {tensor.dtype}")
    return tensor


class BuiltinNeuron(Neuron):
    """A built-in model's layer: params by position (in the order of the model's params
    NamedTuple) or by name, defaults from the model's registration, firing options as keywords.

    The classes :class:`LIF`, :class:`Synaptic`, ... are made from :data:`snnfunc.neurons.MODELS`
    (one per model, :data:`MODULES`); ``learn`` and ``size`` as :class:`Neuron`.

    A recurrent model's ``[N, N]`` weight (:class:`RLIF`, :class:`RSynaptic`, :class:`RAdLIF`)
    is always an ``nn.Parameter``: given as ``weight=`` or, with ``size=N``, drawn like
    ``nn.Linear(N, N)``'s weight, ``U(-1/sqrt(N), 1/sqrt(N))``, from ``generator``.

    >>> import torch
    >>> rnn = RLIF(0.9, size=4, generator=torch.Generator().manual_seed(0))
    >>> spikes, state = rnn.unroll(torch.rand(10, 2, 4))
    >>> spikes.shape, state.z.shape, [name for name, _ in rnn.named_parameters()]
    (torch.Size([10, 2, 4]), torch.Size([2, 4]), ['weight'])
    """

    model: ClassVar[NeuronModel[Any, Any]]

    def __init__(
        self,
        *values: float | Tensor,
        learn: bool | Iterable[str] = False,
        size: int | None = None,
        spike_fn: SpikeFn = DEFAULT_SPIKE,
        reset: Reset = "subtract",
        reset_delay: bool = False,
        detach_reset: bool = True,
        generator: torch.Generator | None = None,
        **named: float | Tensor,
    ) -> None:
        model = self.model
        fields = tuple(model.params)
        matrices = tuple(k for k, spec in model.params.items() if spec.kind == "matrix")
        if len(values) > len(fields):
            raise TypeError(
                f"{type(self).__name__} takes at most {len(fields)} params {fields}, "
                f"got {len(values)}"
            )
        twice = sorted(set(fields[: len(values)]) & set(named))
        if twice:
            raise TypeError(f"{type(self).__name__} got params {twice} by position and by name")
        given = {**dict(zip(fields, values, strict=False)), **named}
        for name in matrices:
            if name not in given:
                if size is None:
                    raise ValueError(
                        f"{type(self).__name__} needs its [N, N] {name}: pass {name}= or size=N"
                    )
                u = torch.rand((size, size), generator=generator)
                given[name] = (2 * u - 1) * size**-0.5
        params = model.default_params(**given)
        firing = Firing(spike_fn, reset, reset_delay, detach_reset)
        cell = BUILTIN_CELLS[model.name]
        if matrices and learn is not True:
            names = set() if learn is False else {learn} if isinstance(learn, str) else set(learn)
            learn = tuple(names | set(matrices))
        super().__init__(cell, params, learn=learn, size=size, **firing.options())


def _module_class(model: NeuronModel[Any, Any]) -> type[BuiltinNeuron]:
    name = model.params_type.__name__.removesuffix("Params")
    defaults = ", ".join(
        f"{field}={spec.default}" if spec.default is not None else field
        for field, spec in model.params.items()
    )
    doc = (
        f"The {model.name} model as a layer (:func:`snnfunc.{model.name}_step`): "
        f"``{name}({defaults}, *, learn=False, size=None, spike_fn, reset, reset_delay, "
        f"detach_reset)``; params as :class:`BuiltinNeuron`."
    )
    cls = type(name, (BuiltinNeuron,), {"model": model, "__doc__": doc, "__module__": __name__})
    return cls


MODULES: Mapping[str, type[BuiltinNeuron]] = MappingProxyType(
    {name: _module_class(model) for name, model in MODELS.items()}
)
"""A layer class for every built-in model (:data:`snnfunc.neurons.MODELS`), by model name."""

LIF = MODULES["lif"]
Synaptic = MODULES["synaptic"]
IF = MODULES["if"]
ALIF = MODULES["alif"]
AdLIF = MODULES["adlif"]
RLIF = MODULES["rlif"]
RSynaptic = MODULES["rsynaptic"]
RAdLIF = MODULES["radlif"]


def _is_stateful(module: nn.Module) -> bool:
    return isinstance(module, (Neuron, Sequential)) or hasattr(module, "init_state")


class Sequential(nn.Module):
    """Layers in order, with the state explicit: ``net(x, states) -> (y, states)``.

    ``states`` is a tuple with one entry per stateful layer (a :class:`Neuron`, a nested
    :class:`Sequential`, or any module with ``init_state`` and ``forward(x, state) -> (y,
    state)``); ``None`` starts every layer from rest. Unroll with :meth:`unroll` or
    ``snnfunc.scan(lambda s, x: net(x, s), states, xs)``.

    >>> import torch
    >>> net = Sequential(torch.nn.Linear(3, 4), LIF(0.9, size=4), torch.nn.Linear(4, 2))
    >>> ys, states = net.unroll(torch.rand(5, 8, 3), net.init_state((8,)))
    >>> ys.shape, states[0].v.shape
    (torch.Size([5, 8, 2]), torch.Size([8, 4]))
    """

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for k, layer in enumerate(layers):
            if not isinstance(layer, nn.Module):
                raise TypeError(f"layer {k} must be an nn.Module, got {type(layer).__name__}")
        self.layers = nn.ModuleList(layers)
        self._stateful = tuple(_is_stateful(layer) for layer in layers)

    @property
    def num_states(self) -> int:
        """How many entries ``states`` has (the stateful layers)."""
        return sum(self._stateful)

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[Any, ...]:
        """Resting states for a batch of ``batch_shape`` (``()`` for one example).

        Every :class:`Neuron` needs its ``size``; otherwise pass ``states=None`` to
        :meth:`forward`/:meth:`unroll`, which sizes each state from its input.
        """
        states = []
        for k, (layer, stateful) in enumerate(zip(self.layers, self._stateful, strict=True)):
            if not stateful:
                continue
            if isinstance(layer, Neuron):
                if layer.size is None:
                    raise ValueError(
                        f"layer {k} ({layer.cell.name}) has no size; construct it with size=N, "
                        "or pass states=None to start from rest"
                    )
                shape = (*batch_shape, layer.size)
                states.append(layer.init_state(shape, dtype=dtype, device=device))
            else:
                init_state: Any = layer.init_state
                states.append(init_state(batch_shape, dtype=dtype, device=device))
        return tuple(states)

    def forward(self, x: Any, states: tuple[Any, ...] | None = None) -> tuple[Any, tuple[Any, ...]]:
        """One step: ``x: [..., in]`` -> ``(y [..., out], states)``."""
        if states is not None and (
            not isinstance(states, (tuple, list)) or hasattr(states, "_fields")
        ):
            raise TypeError(
                f"states must be a tuple of {self.num_states} layer states or None, "
                f"got {type(states).__name__}"
            )
        if states is not None and len(states) != self.num_states:
            raise ValueError(
                f"states must hold {self.num_states} layer states (one per stateful layer), "
                f"got {len(states)}"
            )
        new_states = []
        k = 0
        for layer, stateful in zip(self.layers, self._stateful, strict=True):
            if stateful:
                x, s = layer(x, None if states is None else states[k])
                new_states.append(s)
                k += 1
            else:
                x = layer(x)
        return x, tuple(new_states)

    def unroll(self, xs: Any, states: tuple[Any, ...] | None = None) -> tuple[Any, Any]:
        """All steps with :func:`snnfunc.scan`: ``xs: [T, ...]`` -> ``(ys [T, ...], states)``."""

        def step(s: Any, x: Any) -> tuple[Any, Any]:
            y, s = self(x, s)
            return y, s

        return scan(step, states, xs)
