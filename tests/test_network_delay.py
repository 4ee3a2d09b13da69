"""snnfunc.network.Delay: learnable transmission delays as a layer of a Network.

The stepwise interpreter (scan of delay_step with its history) equals the layerwise one
(fractional_delay over all T) bit for bit and in float64 gradients; the delay's gradient matches
finite differences; the coincidence task trains through Network.forward; bad input is refused
by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import snnfunc as sf
from snnfunc.delay import DelayState
from snnfunc.network import Conv2d, Delay, Flatten, Linear, Network, Neuron, Stateful
from snnfunc.neurons import MODELS
from snnfunc.reset import Firing

F64 = torch.float64


def _neuron(name: str, model: str = "lif", **firing: object) -> Neuron:
    spec = MODELS[model]
    extra = {"weight": None} if model.startswith("r") else {}
    return Neuron(name, spec, spec.default_params(threshold=0.3, **extra), Firing.of(**firing))


# Each network has a Delay where the issue asks for one: before a LIF layer, before a recurrent
# layer, on the input itself (a static input gated on), on spikes, and per unit of a conv layer.
NETS = {
    "before_lif": Network(
        (5,),
        (
            Linear("fc1", 6),
            Delay("delay1", 4, "uniform"),
            _neuron("neuron1"),
            Linear("fc2", 3),
            _neuron("neuron2"),
        ),
    ),
    "before_rlif": Network(
        (5,),
        (
            Linear("fc1", 6),
            Delay("delay1", 3, "uniform"),
            _neuron("neuron1", "rlif"),
            Linear("fc2", 3),
            _neuron("neuron2", reset="zero"),
        ),
    ),
    "on_input_and_spikes": Network(
        (5,),
        (
            Delay("delay0", 5, "uniform"),
            Linear("fc1", 6),
            _neuron("neuron1", "alif"),
            Delay("delay1", 2, torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 0.25])),
            Linear("fc2", 3),
            _neuron("neuron2", "synaptic"),
        ),
    ),
    "conv_fixed": Network(
        (2, 4, 4),
        (
            Conv2d("conv", 3, kernel_size=3, padding=1),
            Delay("delay1", 3, 1.75, learn=False),
            _neuron("neuron1", "synaptic"),
            Flatten(),
            Linear("fc", 4),
            _neuron("neuron2"),
        ),
    ),
}


def _params(net: Network) -> dict[str, Tensor]:
    params = net.init_params(generator=torch.Generator().manual_seed(0), dtype=F64)
    for value in params.values():
        value.requires_grad_(True)
    return params


def _input(net: Network, static: bool) -> tuple[Tensor, int | None]:
    g = torch.Generator().manual_seed(1)
    shape = (3, *net.input_shape) if static else (12, 3, *net.input_shape)
    return 3 * torch.rand(shape, generator=g, dtype=F64), 12 if static else None


@pytest.mark.parametrize("static", [False, True], ids=["time_major", "static"])
@pytest.mark.parametrize("name", list(NETS))
def test_layerwise_equals_stepwise_values_and_gradients(name: str, static: bool) -> None:
    net = NETS[name]
    params = _params(net)
    x, steps = _input(net, static)
    fast = net.forward(params, x, num_steps=steps)
    ref = net.stepwise(params, x, num_steps=steps)
    assert fast.spikes.sum() > 0 and fast.spikes.shape[0] == 12
    assert torch.equal(fast.spikes, ref.spikes)
    if name.startswith("conv"):  # conv2d on [T*B, ...] and on [B, ...] may differ in the last
        # bit, with or without a delay (as in test_network.py)
        torch.testing.assert_close(fast.membrane, ref.membrane, rtol=0, atol=1e-12)
    else:
        assert torch.equal(fast.membrane, ref.membrane)
    keys = sorted(params)
    loss = [(out.membrane.square().sum() + out.spikes.sum()) for out in (fast, ref)]
    got = torch.autograd.grad(loss[0], [params[k] for k in keys])
    want = torch.autograd.grad(loss[1], [params[k] for k in keys])
    for key, a, b in zip(keys, got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=key)
    delays = [k for k in keys if k.endswith(".delay")]
    assert all(got[keys.index(k)].abs().sum() > 0 for k in delays)


def test_a_static_input_is_gated_on_at_its_delay() -> None:
    """Delay of a constant: 0 before step k, (1 - f) x at k, x after (the documented meaning)."""
    net = Network((2,), (Delay("d", 4, torch.tensor([1.25, 0.0])), _neuron("n", reset="none")))
    params = net.init_params(dtype=F64)
    x = torch.tensor([[1.0, 2.0]], dtype=F64)
    delayed, _ = net.layers[0].run(params, x, num_steps=4)  # type: ignore[union-attr]
    want = torch.tensor([[0.0, 2.0], [0.75, 2.0], [1.0, 2.0], [1.0, 2.0]], dtype=F64)
    assert torch.equal(delayed[:, 0], want)
    static = net.forward(params, x, num_steps=4)
    moving = net.forward(params, x.expand(4, 1, 2))
    assert torch.equal(static.membrane, moving.membrane)


def test_delay_gradient_matches_finite_differences() -> None:
    """gradcheck in float64, layerwise and stepwise: the membrane of a non-resetting neuron is
    smooth in fractional delays (away from integers, where floor jumps)."""
    net = Network((3,), (Delay("d", 4), Linear("fc", 2), _neuron("n", reset="none")))
    params = {k: v.detach() for k, v in _params(net).items()}
    x = torch.rand(10, 2, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    delay = torch.tensor([0.3, 1.6, 2.45], dtype=F64, requires_grad=True)
    for run in (net.forward, net.stepwise):

        def membrane(d: Tensor, run=run) -> Tensor:  # type: ignore[no-untyped-def]
            return run({**params, "d.delay": d}, x).membrane

        assert torch.autograd.gradcheck(membrane, (delay,), eps=1e-6, atol=1e-8)


def test_torch_func_grad_and_vmap_over_examples() -> None:
    net = NETS["before_rlif"]
    params = {k: v.detach() for k, v in _params(net).items()}
    x, _ = _input(net, static=False)

    def loss(p: dict[str, Tensor]) -> Tensor:
        return net.stepwise(p, x).membrane.square().sum()

    got = torch.func.grad(loss)(params)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    want = torch.autograd.grad(loss(leaves), list(leaves.values()))
    for (key, a), b in zip(got.items(), want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=key)
    # one example at a time ([T, N] per example, states without a batch dim) under vmap
    step = net.step(params)

    def one(xe: Tensor) -> Tensor:
        (spikes, _), _ = sf.scan(step, net.init(dtype=F64), xe)
        return spikes

    batched = torch.func.vmap(one, in_dims=1, out_dims=1)(x)
    assert torch.equal(batched, net.stepwise(params, x).spikes)


def test_torch_func_over_the_layerwise_path() -> None:
    """grad and vmap through Network.forward (fractional_delay, then the fused LIF)."""
    net = NETS["before_lif"]
    params = {k: v.detach() for k, v in _params(net).items()}
    x, _ = _input(net, static=False)

    def loss(p: dict[str, Tensor]) -> Tensor:
        return net.forward(p, x).membrane.square().sum()

    got = torch.func.grad(loss)(params)
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    want = torch.autograd.grad(loss(leaves), list(leaves.values()))
    for (key, a), b in zip(got.items(), want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=key)
    assert got["delay1.delay"].abs().sum() > 0

    def one(xe: Tensor) -> Tensor:  # [T, N] -> [T, C]: one example, as a batch of one
        return net.forward(params, xe[:, None]).spikes[:, 0]

    batched = torch.func.vmap(one, in_dims=1, out_dims=1)(x)
    assert torch.equal(batched, net.forward(params, x).spikes)


def test_states_neurons_and_the_stateful_protocol() -> None:
    net = NETS["on_input_and_spikes"]
    assert [type(s).__name__ for s, _ in net.stateful] == ["Delay", "Neuron", "Delay", "Neuron"]
    assert [s.name for s, _ in net.neurons] == ["neuron1", "neuron2"]
    assert all(isinstance(s, Stateful) for s, _ in net.stateful)
    assert not isinstance(Linear("fc", 2), Stateful)
    states = net.init(7, dtype=F64)
    assert isinstance(states[0], DelayState) and states[0].history.shape == (6, 7, 5)
    assert states[2].history.shape == (3, 7, 6) and states[3].v.shape == (7, 3)
    assert net.init()[0].history.shape == (6, 5)
    params = net.init_params(generator=torch.Generator().manual_seed(0))
    assert set(params) >= {"delay0.delay", "delay1.delay"}
    assert 0 <= params["delay0.delay"].min() and params["delay0.delay"].max() <= 5
    assert torch.equal(params["delay1.delay"], torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 0.25]))
    assert "delay1.delay" not in NETS["conv_fixed"].param_shapes()
    layer = net.bind(params)[0]
    assert layer.stateful and layer.unchecked is not None  # type: ignore[union-attr]


def test_constrain_keeps_delays_in_range() -> None:
    net = NETS["on_input_and_spikes"]
    params = net.init_params()
    x = torch.rand(6, 2, 5)
    with torch.no_grad():
        params["delay0.delay"][0] = -0.5
        params["delay1.delay"][1] = 2.5
    with pytest.raises(ValueError, match=r"delay must lie in \[0, max_delay=5\] steps, got -0.5"):
        net.forward(params, x)
    with pytest.raises(ValueError, match=r"clamp learnable delays"):
        net.stepwise(params, x)
    pure = net.constrain(params)
    assert params["delay0.delay"][0] == -0.5 and pure["delay0.delay"][0] == 0.0
    assert pure["delay1.delay"][1] == 2.0 and pure["fc1.weight"] is params["fc1.weight"]
    before = params["delay1.delay"]
    assert net.constrain_(params) is params and params["delay1.delay"] is before  # in place
    assert params["delay0.delay"][0] == 0.0 and params["delay1.delay"][1] == 2.0
    net.forward(params, x)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: Delay("d", -1), ValueError, "max_delay must be >= 0, got -1"),
        (lambda: Delay("d", 2.5), TypeError, "max_delay must be an int, got float"),
        (lambda: Delay("", 2), TypeError, "name must be a non-empty str"),
        (lambda: Delay("d", 2, 3.0), ValueError, r"delay must lie in \[0, max_delay=2\].*3.0"),
        (lambda: Delay("d", 2, float("nan")), ValueError, "got nan"),
        (
            lambda: Delay("d", 2, "gauss"),
            ValueError,
            "delay must be a float, a Tensor or 'uniform'",
        ),
        (lambda: Delay("d", 2, [1.0]), TypeError, "delay must be a float, a Tensor or 'uniform'"),
        (lambda: Delay("d", 2, torch.tensor([1])), TypeError, "floating-point Tensor"),
        (lambda: Delay("d", 2, "uniform", learn=False), ValueError, "use learn=True"),
        (lambda: Delay("d", 2, learn=1), TypeError, "learn must be a bool"),  # type: ignore[arg-type]
        (
            lambda: Network((4,), (Delay("d", 2, torch.ones(3)), _neuron("n"))),
            ValueError,
            r"layers\[0\] .*delay of shape \(3,\) must broadcast to the layer's shape \(4,\)",
        ),
        (
            lambda: Network((4,), (_neuron("n"), Delay("d", 2))),
            ValueError,
            "layers must end with a Neuron layer .*got Delay last",
        ),
        (
            lambda: Network((4,), (Delay("d", 2), _neuron("n"), Delay("d", 1), _neuron("m"))),
            ValueError,
            r"layers\[0\] and layers\[2\] both own a param 'd.delay'",
        ),
    ],
)
def test_bad_input_is_refused_by_name(build, error: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        build()


# --- the coincidence task (examples/delay_coincidence.py), through Network -------------------
T, LAG, MAX_DELAY = 40, 6, 10


def _task(n: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two channels spike once each; class 1: B spikes LAG steps after A, class 0: before."""
    labels = torch.randint(0, 2, (n,), generator=gen)
    first = torch.randint(0, T - LAG - MAX_DELAY, (n,), generator=gen)
    x = torch.zeros(T, n, 2)
    x[torch.where(labels == 1, first, first + LAG), torch.arange(n), 0] = 1.0
    x[torch.where(labels == 1, first + LAG, first), torch.arange(n), 1] = 1.0
    return x, labels


def _coincidence(learn: bool) -> float:
    """One LIF neuron, fixed weights 0.6 (it fires only on near-coincident spikes), delays from
    0; only the delays train (Adam, clamped with Network.constrain_)."""
    net = Network(
        (2,),
        (
            Delay("delay", MAX_DELAY, learn=learn),
            Linear("fc", 1),
            Neuron("out", MODELS["lif"], sf.LIFParams(0.9, 1.0), Firing.of(reset="none")),
        ),
    )
    params = net.init_params()
    params["fc.weight"].fill_(0.6)
    params["fc.bias"].zero_()
    gen = torch.Generator().manual_seed(0)
    if learn:
        delay = params["delay.delay"].requires_grad_(True)
        opt = torch.optim.Adam([delay], lr=0.3)
        for _ in range(40):
            x, labels = _task(64, gen)
            peak = net.forward(params, x).membrane[:, :, 0].amax(0) - 1.0  # [B]
            loss = F.binary_cross_entropy_with_logits(10 * peak, labels.float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.constrain_(params)
    x, labels = _task(1000, gen)
    with torch.no_grad():
        fired = net.forward(params, x).spikes[:, :, 0].sum(0) > 0
    return (fired.long() == labels).float().mean().item()


def test_coincidence_task_needs_learned_delays() -> None:
    assert 0.4 < _coincidence(learn=False) < 0.6  # never fires: chance
    assert _coincidence(learn=True) > 0.95


# --- the CLI: snnfunc train --delay D ----------------------------------------------------------
def test_cli_trains_a_delay_before_each_hidden_layer(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A tiny randman run with --delay: the checkpoint holds delay1.delay, kept in [0, D] by
    the training loop's clamp even at a learning rate that throws them out of range."""
    import json

    from snnfunc.app import cli
    from snnfunc.app.checkpoint import load_checkpoint
    from snnfunc.app.models import ModelConfig, network

    argv = ["train", "--dataset", "randman", "--delay", "4", "--hidden", "8", "--epochs", "1"]
    argv += ["--max-batches", "3", "--lr", "2", "--no-progress", "--no-plots"]
    out = tmp_path / "run"
    assert cli.main([*argv, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["delay"] == 4
    model, _ = load_checkpoint(out)
    delay = model.params["delay1.delay"]
    assert delay.shape == (8,) and 0 <= delay.min() and delay.max() <= 4
    assert (delay == 0).any() or (delay == 4).any()  # lr=2 pushed some out: clamped
    assert [type(s).__name__ for s, _ in model.network.stateful] == ["Delay", "Neuron", "Neuron"]
    capsys.readouterr()
    assert cli.main(["eval", "--checkpoint", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == metrics["test_accuracy"]
    with pytest.raises(SystemExit):  # argparse's usage error
        cli.main([*argv, "--delay", "-1", "--out", str(tmp_path / "bad")])
    assert "must be an integer >= 0, got -1" in capsys.readouterr().err
    # the image models too: a delay before both hidden conv layers, per unit [C, H, W]
    conv = network(
        ModelConfig(
            arch="conv", hidden=(2, 3), input_shape=(1, 8, 8), padding=2, kernel_size=3, delay=2
        )
    )
    assert {k: v for k, v in conv.param_shapes().items() if "delay" in k} == {
        "delay1.delay": (2, 5, 5),
        "delay2.delay": (3, 3, 3),
    }
    with pytest.raises(ValueError, match="delay must be >= 0"):
        ModelConfig(delay=-1)


# --- NIR: whole-step delays round-trip as nir.Delay, fractional ones are refused ---------------
def test_nir_round_trip_of_whole_step_delays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    nir = pytest.importorskip("nir")
    from types import SimpleNamespace

    from snnfunc.interop.nir import from_nir, model_layers, to_nir

    lif, firing = MODELS["lif"], Firing.of(reset="zero", reset_delay=False)
    net = Network(
        (4,),
        (
            Linear("fc1", 5),
            Delay("delay1", 6, torch.tensor([0.0, 1.0, 2.0, 3.0, 6.0])),
            Neuron("neuron1", lif, sf.LIFParams(0.9, 0.5), firing),
            Linear("fc2", 3),
            Neuron("neuron2", lif, sf.LIFParams(0.9, 0.5), firing),
        ),
    )
    params = net.init_params(generator=torch.Generator().manual_seed(0))
    model = SimpleNamespace(network=net, params=params)
    graph = to_nir(model_layers(model), (4,), dt=1e-3)
    node = graph.nodes["1"]
    assert isinstance(node, nir.Delay)
    np_delay = node.delay
    assert np_delay.tolist() == pytest.approx([0.0, 1e-3, 2e-3, 3e-3, 6e-3], rel=1e-12)
    nir.write(tmp_path / "net.nir", graph)
    back = from_nir(nir.read(tmp_path / "net.nir"), dt=1e-3)
    assert back.state_kinds == ("delay", "lif", "lif") and back.max_delays == (6,)
    xs = (torch.rand(20, 3, 4, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    want = net.stepwise(params, xs).spikes
    got, _ = sf.scan(back.step, back.init(3), xs)
    assert want.sum() > 0 and torch.equal(got, want)
    again = to_nir(back.layers, (4,), dt=1e-3)
    assert np.array_equal(again.nodes["1"].delay, node.delay)
    # fractional delays: refused on export, and so is a NIR delay that is no whole step count
    with torch.no_grad():
        params["delay1.delay"][1] = 1.5
    with pytest.raises(ValueError, match=r"layers\[1\]: a delay of 1.5 steps has no NIR form"):
        to_nir(model_layers(model), (4,), dt=1e-3)
    graph.nodes["1"].delay = node.delay * 1.5
    with pytest.raises(ValueError, match=r"node '1' \(Delay\): a delay of .* is 1.5 steps"):
        from_nir(graph, dt=1e-3)
