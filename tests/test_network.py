"""snnfunc.network: one description, interpreted stepwise (the reference) and layerwise."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
import torch
from torch import Tensor

import snnfunc as sf
from snnfunc.network import Conv2d, Flatten, Linear, MaxPool2d, Network, Neuron
from snnfunc.neurons import MODELS
from snnfunc.reset import Firing


def _neuron(k: int, model: str = "lif", **firing: object) -> Neuron:
    spec = MODELS[model]
    return Neuron(f"neuron{k}", spec, spec.default_params(threshold=0.3), Firing.of(**firing))


@dataclass(frozen=True)
class Gain:
    """A user's own stateless spec: ``x * NAME.gain`` with one gain per feature."""

    name: str

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def param_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {f"{self.name}.gain": shape}

    def init(self, shape: tuple[int, ...], **kwargs: object) -> dict[str, Tensor]:
        return {f"{self.name}.gain": torch.full(shape, 1.5)}

    def layer(self, params: dict[str, Tensor]) -> partial[Tensor]:
        return partial(torch.mul, other=params[f"{self.name}.gain"])


NET = Network(
    (2, 6, 6),
    (
        Conv2d("conv", 3, kernel_size=3, padding=1),
        MaxPool2d(2),
        _neuron(1, "synaptic"),
        Flatten(),
        Gain("gain"),
        Linear("fc", 4),
        _neuron(2, "alif", reset="zero"),
    ),
)


@pytest.mark.parametrize("static", [True, False])
def test_layerwise_equals_stepwise(static: bool) -> None:
    params = NET.init_params(generator=torch.Generator().manual_seed(0))
    assert set(params) == {"conv.weight", "conv.bias", "gain.gain", "fc.weight", "fc.bias"}
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 2, 6, 6, generator=g) * 3 if static else torch.rand(5, 3, 2, 6, 6) * 3
    steps = 5 if static else None
    fast = NET.forward(params, x, num_steps=steps)
    ref = NET.stepwise(params, x, num_steps=steps)
    assert fast.spikes.shape == (5, 3, 4) and [h.shape for h in fast.hidden] == [(5, 3, 3, 3, 3)]
    assert fast.spikes.sum() > 0
    torch.testing.assert_close(fast.spikes, ref.spikes)
    torch.testing.assert_close(fast.membrane, ref.membrane)


def test_shapes_states_and_readable_layers() -> None:
    assert NET.shapes == ((2, 6, 6), (3, 6, 6), (3, 3, 3), (3, 3, 3), (27,), (27,), (4,), (4,))
    states = NET.init(7)
    assert states[0].v.shape == (7, 3, 3, 3) and states[1].a.shape == (7, 4)
    layers = NET.bind(NET.init_params())
    assert layers[0].func is torch.nn.functional.conv2d and layers[0].keywords["padding"] == 1
    assert layers[2].stateful and layers[2].fn.keywords["reset"] == "subtract"


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="layers must end with a Neuron"):
        Network((4,), (Linear("fc", 2),))
    with pytest.raises(ValueError, match=r"layers\[0\] \(Linear.*takes a flat input \[N\]"):
        Network((1, 2, 2), (Linear("fc", 2), _neuron(1)))
    with pytest.raises(ValueError, match=r"layers\[0\] and layers\[2\] both own a param 'fc.w"):
        Network((4,), (Linear("fc", 4), _neuron(1), Linear("fc", 2), _neuron(2)))
    with pytest.raises(TypeError, match="params must be a LIFParams"):
        Neuron("n", MODELS["lif"], sf.IFParams(1.0))
    params = NET.init_params()
    with pytest.raises(ValueError, match=r"params is missing \['fc.bias'\]"):
        NET.forward({k: v for k, v in params.items() if k != "fc.bias"}, torch.rand(5, 1, 2, 6, 6))
    with pytest.raises(ValueError, match=r"x must be \[T, B, \*input_shape\] = \[T, B, 2, 6, 6\]"):
        NET.forward(params, torch.rand(1, 2, 6, 6))
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        NET.stepwise(params, torch.rand(1, 2, 6, 6), num_steps=0)
