"""Recurrent layers: ``recurrent(model)`` derives them, and a Network runs them stepwise (the
reference) and layerwise (input projection hoisted, one matmul plus the base update per step)."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import snnfunc as sf
from snnfunc.network import Flatten, Linear, Network, Neuron
from snnfunc.neurons import MODELS, recurrent, recurrent_base
from snnfunc.reset import Firing
from snnfunc.testing import strategies as sst

F64 = torch.float64
RECURRENT = [name for name in MODELS if recurrent_base(MODELS[name]) is not None]
POINTWISE = [
    name for name, m in MODELS.items() if all(f.kind != "matrix" for f in m.params.values())
]


def test_the_registered_recurrent_models_are_derived() -> None:
    assert RECURRENT == ["rlif", "rsynaptic", "radlif"]
    for name in RECURRENT:
        base = recurrent_base(MODELS[name])
        assert base is MODELS[name.removeprefix("r")]
        assert tuple(MODELS[name].params) == (*base.params, "weight")
        assert MODELS[name].params["weight"].kind == "matrix"
    assert MODELS["rlif"].params_type is sf.RLIFParams
    assert tuple(MODELS["rsynaptic"].state) == ("i", "v", "z")
    assert tuple(MODELS["radlif"].state) == ("v", "w", "z")  # adLIF's own last spikes


@pytest.mark.parametrize("name", POINTWISE)
@given(data=st.data(), n=st.integers(1, 4))
def test_recurrent_step_is_the_base_step_on_the_summed_input(
    name: str, data: st.DataObject, n: int
) -> None:
    base = MODELS[name]
    model = recurrent(base)
    params = data.draw(sst.params(name, n))
    state = data.draw(sst.states(name, (2, n)))
    x = data.draw(sst.tensors((2, n)))
    z_prev = data.draw(sst.spike_trains((2, n)))
    weight = data.draw(sst.tensors((n, n), min_value=-0.5, max_value=0.5))
    r_state = model.state_type(*state, *(() if "z" in base.state else (z_prev,)))
    z_prev = r_state.z
    got_z, got = model.step(r_state, x, model.params_type(*params, weight))
    want_z, want = base.step(state, x + F.linear(z_prev, weight), params)
    assert torch.equal(got_z, want_z)
    for a, b in zip(got[: len(want)], want, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(got.z, want_z)


def test_recurrent_refuses_what_it_cannot_derive() -> None:
    with pytest.raises(ValueError, match="pointwise model"):
        recurrent(MODELS["rlif"])
    with pytest.raises(TypeError, match="NeuronModel"):
        recurrent("lif")  # type: ignore[arg-type]
    assert recurrent_base(MODELS["lif"]) is None


def _net(name: str, n_in: int = 5, hidden: int = 7, *, dtype: torch.dtype = F64) -> Network:
    model = MODELS[name]
    values = model.default_params(
        threshold=0.5, **{k: None for k, f in model.params.items() if f.kind == "matrix"}
    )
    lif = MODELS["lif"]
    return Network(
        (n_in,),
        (
            Linear("fc1", hidden),
            Neuron("rec", model, values, Firing.of(reset="subtract")),
            Linear("fc2", 3),
            Neuron("out", lif, lif.default_params(threshold=0.5)),
        ),
    )


def _params(net: Network, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    params = net.init_params(generator=torch.Generator().manual_seed(0), dtype=dtype)
    params["fc1.weight"] = params["fc1.weight"] * 4  # enough drive to spike
    return {k: v.requires_grad_() for k, v in params.items()}


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_recurrent_layer_equals_scan_of_its_step_exactly(
    name: str, static: bool, dtype: torch.dtype
) -> None:
    """The layer's own numbers: the same currents through ``Neuron.run`` (one matmul and the
    base core per step) and through ``scan`` of the checked recurrent step, bit for bit."""
    net = _net(name)
    layer, params = net.layers[1], _params(net, dtype)
    assert isinstance(layer, Neuron)
    g = torch.Generator().manual_seed(1)
    currents = torch.randn((4, 7) if static else (12, 4, 7), generator=g, dtype=dtype)
    steps = 12 if static else None
    spikes, _ = layer.run(params, currents, num_steps=steps)
    values, model = layer.params_of(params), layer.model
    step = partial(model.step, params=values, **layer.firing.options())
    want, _ = sf.scan(step, model.init((4, 7), dtype=dtype), currents, num_steps=steps)
    assert spikes.sum() > 0 and torch.equal(spikes, want)


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_layerwise_equals_stepwise(name: str, static: bool, dtype: torch.dtype) -> None:
    """The whole network; the hoisted input GEMM ``[T * B, C]`` may round differently from
    the per-step ``[B, C]`` one, so values to the dtype's tolerance (spikes agree)."""
    net = _net(name)
    params = _params(net, dtype)
    assert params["rec.weight"].shape == (7, 7)
    g = torch.Generator().manual_seed(1)
    x = torch.rand((4, 5) if static else (12, 4, 5), generator=g, dtype=dtype)
    steps = 12 if static else None
    fast = net.forward(params, x, num_steps=steps)
    ref = net.stepwise(params, x, num_steps=steps)
    assert fast.hidden[0].sum() > 0 and fast.spikes.sum() > 0
    torch.testing.assert_close(fast.spikes, ref.spikes)
    torch.testing.assert_close(fast.membrane, ref.membrane)


@pytest.mark.parametrize("name", RECURRENT)
def test_layerwise_gradients_equal_stepwise_in_float64(name: str) -> None:
    net = _net(name)
    params = _params(net, F64)
    x = torch.rand(15, 4, 5, generator=torch.Generator().manual_seed(2), dtype=F64)
    keys = sorted(params)
    grads = []
    for run in (net.forward, net.stepwise):
        out = run(params, x)
        loss = (out.membrane**2).sum() + out.spikes.sum()
        grads.append(torch.autograd.grad(loss, [params[k] for k in keys]))
    for key, fast, ref in zip(keys, *grads, strict=True):
        torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12, msg=key)
    assert grads[0][keys.index("rec.weight")].abs().sum() > 0  # the recurrent weight learns


def test_recurrent_weight_init_and_initial_value() -> None:
    net = _net("rlif", hidden=64)
    w = net.init_params(generator=torch.Generator().manual_seed(0))["rec.weight"]
    assert w.shape == (64, 64) and w.abs().max() <= 64**-0.5 and w.std() > 0.5 * 64**-0.5 / 3**0.5
    given_w = torch.eye(4)
    values = MODELS["rlif"].default_params(weight=given_w)
    net = Network((3,), (Linear("fc", 4), Neuron("rec", MODELS["rlif"], values)))
    assert torch.equal(net.init_params()["rec.weight"], given_w)


def test_recurrent_layer_errors_name_the_problem() -> None:
    rlif = MODELS["rlif"]
    with pytest.raises(ValueError, match=r"needs a flat layer \[N\]"):
        Network((2, 3, 3), (Neuron("rec", rlif, rlif.default_params(weight=None)),))
    with pytest.raises(TypeError, match="params.weight must be None"):
        Neuron("rec", rlif, rlif.default_params(weight=0.5))
    net = Network(
        (3,), (Flatten(), Linear("fc", 4), Neuron("rec", rlif, rlif.params_type(0.9, 1.0, None)))
    )
    params = net.init_params()
    params["rec.weight"] = torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"params.weight must be \[N, N\] = \[4, 4\]"):
        net.forward(params, torch.rand(2, 3), num_steps=2)


@pytest.mark.parametrize("cls_name", ["RLIF", "RSynaptic", "RAdLIF"])
def test_nn_recurrent_modules_train_their_weight(cls_name: str) -> None:
    from snnfunc import nn as snn

    cls = getattr(snn, cls_name)
    layer = cls(threshold=0.5, size=6, generator=torch.Generator().manual_seed(0))
    assert dict(layer.named_parameters()).keys() == {"weight"}
    assert layer.weight.shape == (6, 6) and layer.weight.abs().max() <= 6**-0.5
    xs = torch.rand(9, 2, 6, generator=torch.Generator().manual_seed(1)) * 2
    spikes, _ = layer.unroll(xs)
    model = cls.model
    want, _ = sf.scan(partial(model.step, params=layer.params), model.init((2, 6)), xs)
    assert spikes.sum() > 0 and torch.equal(spikes, want)
    spikes.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=f"{cls_name} needs its \\[N, N\\] weight"):
        cls(threshold=0.5)
