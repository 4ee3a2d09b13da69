"""Models: the layer-by-layer forward equals scan over the whole network as one step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from snnfunc import scan
from snnfunc.app.models import (
    NEURONS,
    ModelConfig,
    build_model,
    forward,
    initial_states,
    network,
    network_step,
    neuron_params,
)
from snnfunc.neurons import MODELS as NEURON_MODELS
from snnfunc.neurons import SynapticParams

CONFIGS = {
    "fcn": ModelConfig(
        arch="fcn", input_shape=(1, 6, 6), hidden=(20, 12), neuron_params={"threshold": 0.5}
    ),
    "conv": ModelConfig(
        arch="conv",
        input_shape=(1, 12, 12),
        hidden=(3, 4),
        kernel_size=3,
        neuron_params={"threshold": 0.5},
    ),
}


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_layer_by_layer_equals_scan_of_network_step(arch: str, neuron: str) -> None:
    if arch == "conv" and any(f.kind == "matrix" for f in NEURON_MODELS[neuron].params.values()):
        with pytest.raises(ValueError, match=r"needs a flat layer \[N\]"):  # recurrent weights
            dataclasses.replace(CONFIGS[arch], neuron=neuron)
        return
    config = dataclasses.replace(CONFIGS[arch], neuron=neuron, num_steps=7)
    if neuron in ("adlif", "radlif"):  # input scaled by 1 - beta (0.1 by default): keep it active
        config = dataclasses.replace(config, neuron_params={"beta": 0.5, "threshold": 0.2})
    model = build_model(config, seed=3)
    x = torch.rand(4, *config.input_shape, generator=torch.Generator().manual_seed(0)) * 4

    out = forward(model.params, x, config)
    (spikes, states), _ = scan(
        network_step(model.params, config), initial_states(config, 4), x, num_steps=7
    )
    torch.testing.assert_close(out.spikes, spikes)
    membrane = NEURON_MODELS[neuron].membrane(states[-1])
    torch.testing.assert_close(out.membrane, membrane)
    assert out.spikes.sum() > 0 and all(h.sum() > 0 for h in out.hidden)  # not a silent net

    # and the gradients w.r.t. every weight agree
    g1 = torch.autograd.grad(out.membrane.square().sum(), list(model.params.values()))
    g2 = torch.autograd.grad(membrane.square().sum(), list(model.params.values()))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_shapes_and_hidden_layers() -> None:
    model = build_model(CONFIGS["conv"])
    out = model(torch.rand(2, 1, 12, 12), num_steps=5)
    assert out.spikes.shape == out.membrane.shape == (5, 2, 10)
    assert [tuple(h.shape) for h in out.hidden] == [(5, 2, 3, 5, 5), (5, 2, 4, 1, 1)]


def test_tutorial_defaults() -> None:
    config = ModelConfig()
    assert (config.arch, config.input_shape, config.hidden) == ("fcn", (1, 28, 28), (1000,))
    assert (config.neuron, neuron_params(config), config.num_steps) == (
        "synaptic",
        SynapticParams(alpha=0.7, beta=0.8, threshold=1.0),
        25,
    )
    assert config.reset_delay  # snnTorch's Synaptic resets one step late
    params = build_model(config).params
    assert params["fc1.weight"].shape == (1000, 784) and params["fc2.weight"].shape == (10, 1000)
    bound = 784**-0.5
    assert params["fc1.weight"].abs().max() <= bound


def test_same_seed_same_weights() -> None:
    a, b = build_model(CONFIGS["fcn"], seed=1), build_model(CONFIGS["fcn"], seed=1)
    c = build_model(CONFIGS["fcn"], seed=2)
    assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    assert not torch.equal(a.params["fc1.weight"], c.params["fc1.weight"])


def test_config_round_trip_and_errors() -> None:
    config = CONFIGS["conv"]
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="neuron must be one of"):
        ModelConfig(neuron="hh")
    with pytest.raises(ValueError, match="too small"):
        ModelConfig(arch="conv", input_shape=(1, 8, 8), hidden=(4, 4))
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({**config.to_dict(), "dropout": 0.1})
    with pytest.raises(ValueError, match=r"= \[B, 1, 6, 6\], got \(2, 36\)"):
        build_model(CONFIGS["fcn"])(torch.rand(2, 36))


@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_learned_neuron_params_are_per_neuron_weights(arch: str) -> None:
    """``learn``: per-neuron tensors in the params dict, used by both interpreters alike."""
    config = dataclasses.replace(CONFIGS[arch], neuron="synaptic", learn=("beta", "threshold"))
    model = build_model(config, seed=3)
    net = network(config)
    for (_, shape), k in zip(net.neurons, (1, 2, 3), strict=False):
        assert model.params[f"neuron{k}.beta"].shape == shape
        assert torch.equal(model.params[f"neuron{k}.threshold"], torch.full(shape, 0.5))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # make them differ per neuron
        for name, value in model.params.items():
            if name.startswith("neuron"):
                value.mul_(0.8 + 0.4 * torch.rand(value.shape, generator=g))
    x = torch.rand(4, *config.input_shape, generator=torch.Generator().manual_seed(0)) * 4
    out = forward(model.params, x, config, num_steps=6)
    ref = net.stepwise(model.params, x, num_steps=6)
    torch.testing.assert_close(out.spikes, ref.spikes)
    torch.testing.assert_close(out.membrane, ref.membrane)
    names = [n for n in model.params if n.startswith("neuron")]
    g1 = torch.autograd.grad(out.membrane.square().sum(), [model.params[n] for n in names])
    g2 = torch.autograd.grad(ref.membrane.square().sum(), [model.params[n] for n in names])
    for name, a, b in zip(names, g1, g2, strict=True):
        assert a.abs().sum() > 0, name
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_description_derives_shapes_and_refuses_bad_layers() -> None:
    net = network(CONFIGS["conv"])  # 12x12 -> conv3 10x10 -> pool 5x5 -> conv3 3x3 -> pool 1x1
    assert [tuple(s) for s, _ in zip(net.shapes, net.layers, strict=False)][:4] == [
        (1, 12, 12),
        (3, 10, 10),
        (3, 5, 5),
        (3, 5, 5),
    ]
    assert net.shapes[-1] == (10,) and net.param_shapes()["fc.weight"] == (10, 4)
    with pytest.raises(ValueError, match=r"layers\[3\] \(Conv2d\(name='conv2'.*too small"):
        network(dataclasses.replace(CONFIGS["conv"], input_shape=(1, 6, 6)))
    with pytest.raises(ValueError, match="learn: 'rho' is not a learnable param of the lif"):
        dataclasses.replace(CONFIGS["fcn"], neuron="lif", learn=("rho",))
    with pytest.raises(ValueError, match=r"the lif model has no params \['alpha'\]"):
        dataclasses.replace(CONFIGS["fcn"], neuron="lif", neuron_params={"alpha": 0.5})
