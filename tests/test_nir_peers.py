"""NIR graphs written by the peers (Norse, snnTorch, SpikingJelly) and recurrent NIR graphs.

Each peer's own export is imported with :func:`from_nir` and run on a fixed input against the
peer's own forward, spike for spike; recurrent layers (``rlif``) round trip through
``nir.write``/``nir.read`` and through snnTorch's RLeaky export and import; every graph that has
no snnfunc form is refused naming what was found.
"""

from __future__ import annotations

import copy
import tempfile
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _ci import import_peer
from hypothesis import given, settings
from torch import Tensor

import snnfunc as sf
from snnfunc.network import Linear, Network, Neuron
from snnfunc.neurons import MODELS, NeuronModel, RLIFParams
from snnfunc.neurons._model import Field
from snnfunc.neurons.synaptic import SynapticParams, SynapticState, synaptic_core
from snnfunc.reset import Firing

nir = pytest.importorskip("nir")

import snnfunc.interop.nir as snir  # noqa: E402
from snnfunc.interop.nir import NIRNetwork, from_nir, to_nir  # noqa: E402

ZERO = Firing(reset="zero", reset_delay=False)
nirtorch_deprecation = pytest.mark.filterwarnings(
    "ignore:nirtorch.extract_nir_graph is being deprecated"
)


def _hidden(net: NIRNetwork, xs: Tensor) -> list[Tensor]:
    """Every neuron layer's spikes ``[T, B, ...]`` of an imported network, in order."""
    out = []
    stateful = [k for k, layer in enumerate(net.layers) if layer.stateful]
    states = net.init(xs.shape[1])
    for j, k in enumerate(stateful):
        spikes, _ = sf.scan(sf.sequential(*net.layers[: k + 1]), states[: j + 1], xs)
        out.append(spikes)
    return out


def _same_spikes(what: str, got: Tensor, want: Tensor) -> None:
    """``got`` equals ``want`` spike for spike, and ``want`` has spikes and silences (else the
    comparison says nothing). Prints the counts (``pytest -s``: the numbers docs/nir.md quotes)."""
    print(f"{what}: snnfunc {int(got.sum())} spikes, peer/reference {int(want.sum())}")
    assert 0 < want.sum() < want.numel(), f"{what}: {int(want.sum())} spikes in {want.numel()}"
    assert torch.equal(got, want), f"{what}: {int((got != want).sum())} spikes differ"


def _read_back(graph: Any, tmp_path: Path) -> Any:
    path = tmp_path / "graph.nir"
    nir.write(path, graph)
    return nir.read(path)


# --- Norse ------------------------------------------------------------------------------------
def _norse_run(model: Any, xs: Tensor) -> Tensor:
    out, state = [], None
    with torch.no_grad():
        for x in xs:
            z, state = model(x, state)
            out.append(z)
    return torch.stack(out)


@nirtorch_deprecation
def test_norse_lifbox_export_imports_and_matches_spike_for_spike() -> None:
    """Norse 1.1 writes scalar LIF params, an empty LIF input_type and an Input type with the
    traced sample's batch dim ``[1, 10]``; its ``tau = dt / tau_mem_inv = 1e-5`` (for
    ``dt = 1e-3``) needs ``dt = 1e-6`` to give Norse's decay ``1 - dt tau_mem_inv = 0.9``.
    (``nir.write`` cannot write this graph: h5py refuses its scalar parameters.)"""
    norse = import_peer("norse.torch")
    torch.manual_seed(0)
    model = norse.SequentialState(torch.nn.Linear(10, 64, bias=False), norse.LIFBoxCell())
    graph = norse.to_nir(model, torch.randn(1, 10))
    assert tuple(graph.nodes["input"].input_type["input"]) == (1, 10)  # what makes this a test
    assert np.shape(graph.nodes["1"].tau) == ()
    net = from_nir(graph, dt=1e-6)
    assert net.input_shape == (10,) and net.state_shapes == ((64,),)
    xs = torch.rand(100, 8, 10, generator=torch.Generator().manual_seed(0)) * 3
    got, _ = sf.scan(net.step, net.init(8), xs)
    want = _norse_run(model, xs)
    _same_spikes("Norse LIFBoxCell", got, want)


@nirtorch_deprecation
def test_norse_lifcell_export_differs_by_its_w_in() -> None:
    """Norse's ``LIFCell`` adds its whole input to the current (``i + x``), but writes
    ``CubaLIF(w_in=1)``, which by NIR's equation ``tau_syn dI/dt = -I + w_in S`` scales the input
    by ``dt / tau_syn`` per step. Read by the equation it fires less than Norse; with
    ``w_in = tau_syn / dt`` it is Norse's network, spike for spike (docs/nir.md)."""
    norse = import_peer("norse.torch")
    torch.manual_seed(0)
    model = norse.SequentialState(torch.nn.Linear(10, 16, bias=False), norse.LIFCell())
    with torch.no_grad():
        model[0].weight.mul_(4)
    graph = norse.to_nir(model, torch.randn(1, 10))
    xs = torch.rand(100, 4, 10, generator=torch.Generator().manual_seed(1)) * 4
    want = _norse_run(model, xs)
    as_written = from_nir(graph, dt=1e-6)
    assert sf.scan(as_written.step, as_written.init(4), xs)[0].sum() < want.sum()
    node = graph.nodes["1"]
    node.w_in = np.asarray(node.tau_syn, dtype=np.float64) / 1e-6
    net = from_nir(graph, dt=1e-6)
    got, _ = sf.scan(net.step, net.init(4), xs)
    _same_spikes("Norse LIFCell (w_in corrected)", got, want)


# --- snnTorch ---------------------------------------------------------------------------------
def _snntorch_run(module: torch.nn.Module, xs: Tensor) -> Tensor:
    with torch.no_grad():
        return torch.stack([module(x) for x in xs])


@nirtorch_deprecation
def test_snntorch_feed_forward_export_imports_spike_for_spike(tmp_path: Path) -> None:
    """snnTorch 1.0 writes every Leaky/Synaptic as NIR's hard reset whatever its
    ``reset_mechanism``, so only ``reset_mechanism="zero", reset_delay=False`` neurons are the
    network the graph describes. Its own type check (``infer_types``) fails unless the sample has
    no batch dim (or ``ignore_dims=[0]``) and every neuron parameter is one value per neuron
    (scalar ``beta``/``threshold`` give a LIF of type ``[]``)."""
    snn = import_peer("snntorch")
    export = import_peer("snntorch.export_nir")
    torch.manual_seed(0)
    opts: dict[str, Any] = dict(reset_mechanism="zero", reset_delay=False, init_hidden=True)
    module = torch.nn.Sequential(
        torch.nn.Linear(10, 20),
        snn.Leaky(beta=torch.rand(20) * 0.9, threshold=torch.full((20,), 0.8), **opts),
        torch.nn.Linear(20, 6),
        snn.Synaptic(
            alpha=torch.full((6,), 0.6),
            beta=torch.rand(6) * 0.9,
            threshold=torch.ones(6),
            **opts,
        ),
    )
    graph = export.export_to_nir(module, torch.randn(1, 10), ignore_dims=[0])
    net = from_nir(_read_back(graph, tmp_path), dt=1e-4)
    assert net.state_kinds == ("lif", "synaptic")
    xs = torch.rand(60, 4, 10, generator=torch.Generator().manual_seed(2)) * 2
    lif: list[Tensor] = []
    module[1].register_forward_hook(lambda _m, _x, z: lif.append(z))
    want = _snntorch_run(module, xs)
    hidden = _hidden(net, xs)
    _same_spikes("snnTorch Leaky (hidden)", hidden[0], torch.stack(lif))
    _same_spikes("snnTorch Synaptic (output)", hidden[1], want)


def _rleaky_net(snn: Any, all_to_all: bool) -> torch.nn.Module:
    torch.manual_seed(3)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 6)
            opts: dict[str, Any] = dict(reset_mechanism="zero", reset_delay=False, init_hidden=True)
            if all_to_all:
                self.rec = snn.RLeaky(beta=0.9, linear_features=6, **opts)
                with torch.no_grad():
                    self.rec.recurrent.weight.mul_(3)
            else:
                self.rec = snn.RLeaky(beta=0.9, all_to_all=False, V=torch.randn(6), **opts)

        def forward(self, x: Tensor) -> Tensor:
            return self.rec(self.fc(x))  # type: ignore[no-any-return]

    return Net()


@nirtorch_deprecation
@pytest.mark.parametrize("all_to_all", [True, False])
def test_snntorch_rleaky_export_imports_as_rlif(all_to_all: bool, tmp_path: Path) -> None:
    """RLeaky exports as ``LIF`` plus a recurrent ``Affine`` (all to all; its bias joins the
    input) or ``Linear(diag(V))`` in a cycle: imported as ``rlif``, spike for spike, and exported
    again and re-imported to the same spikes."""
    snn = import_peer("snntorch")
    export = import_peer("snntorch.export_nir")
    module = _rleaky_net(snn, all_to_all)
    graph = export.export_to_nir(module, torch.randn(1, 4), ignore_dims=[0])
    assert ("rec.lif", "rec.w_rec") in graph.edges and ("rec.w_rec", "rec.lif") in graph.edges
    net = from_nir(_read_back(graph, tmp_path), dt=1e-4)
    assert net.state_kinds == ("rlif",)
    xs = torch.rand(100, 3, 4, generator=torch.Generator().manual_seed(4)) * 1.5
    got, _ = sf.scan(net.step, net.init(3), xs)
    want = _snntorch_run(module, xs)
    _same_spikes(f"snnTorch RLeaky (all_to_all={all_to_all})", got, want)
    graph_again = to_nir(net.layers, (4,), dt=1e-4)
    again = from_nir(_read_back(graph_again, tmp_path), dt=1e-4)
    assert torch.equal(sf.scan(again.step, again.init(3), xs)[0], want)
    # and back into snnTorch: the recurrent bias is written into the recurrent Affine, as
    # snnTorch writes it, so its RLeaky converter (which needs v_leak = 0) reads it
    _same_spikes(
        f"snnTorch RLeaky -> snnfunc -> snnTorch (all_to_all={all_to_all})",
        _snntorch_run(_snntorch_rnn_import(graph_again), xs),
        want,
    )


def _rlif_network(n: int = 6, seed: int = 0, scale: float = 0.8) -> tuple[Network, Any]:
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(n, n, generator=g) * scale
    net = Network(
        (4,),
        (
            Linear("fc", n),
            Neuron("rec", MODELS["rlif"], RLIFParams(0.9, 1.0, weight), ZERO),
        ),
    )
    return net, net.init_params(generator=g)


def test_rlif_exports_as_lif_with_a_recurrent_linear(tmp_path: Path) -> None:
    net, params = _rlif_network()
    graph = to_nir(net.bind(params), (4,), dt=1e-4)
    assert isinstance(graph.nodes["1"], nir.LIF)
    assert isinstance(graph.nodes["1.w_rec"], nir.Linear)
    assert set(graph.edges) == {
        ("input", "0"),
        ("0", "1"),
        ("1", "output"),
        ("1", "1.w_rec"),
        ("1.w_rec", "1"),
    }
    spec = net.layers[1]
    assert isinstance(spec, Neuron)
    np.testing.assert_array_equal(graph.nodes["1.w_rec"].weight, spec.params.weight.double())
    back = from_nir(_read_back(graph, tmp_path), dt=1e-4)
    xs = torch.rand(80, 5, 4, generator=torch.Generator().manual_seed(5)) * 1.5
    want = net.stepwise(params, xs).spikes
    _same_spikes("rlif -> nir.write/read -> rlif", sf.scan(back.step, back.init(5), xs)[0], want)
    assert torch.equal(back.layers[-1].fn.keywords["params"].weight, spec.params.weight)


def test_rlif_export_runs_in_snntorchs_rleaky() -> None:
    """snnTorch's importer turns the cycle into its RLeaky (``_replace_rnn_subgraph_with_nirgraph``
    then ``_nir_to_snntorch_module``): spike for spike. Its ``import_from_nir`` itself is not used:
    in snnTorch 1.0 it wires the layer's input into the recurrent weights (docs/nir.md)."""
    net, params = _rlif_network()
    # what snnfunc.app models export through: model_layers reads model.network and model.params
    graph = to_nir(snir.model_layers(SimpleNamespace(network=net, params=params)), (4,), dt=1e-4)
    module = _snntorch_rnn_import(graph)
    assert type(module[-1]).__name__ == "RLeaky"
    xs = torch.rand(100, 3, 4, generator=torch.Generator().manual_seed(6)) * 1.5
    want = net.stepwise(params, xs).spikes
    _same_spikes("rlif -> snnTorch RLeaky", _snntorch_run(module, xs), want)


def _snntorch_rnn_import(graph: Any) -> torch.nn.Sequential:
    """A chain graph with recurrent layers as snnTorch's own modules: its importer's cycle
    wrapping and per-node converter, run in order (see test_rlif_export_runs_in_snntorchs_rleaky
    for why not its ``import_from_nir``)."""
    snn_import = import_peer("snntorch.import_nir")
    wrapped = snn_import._replace_rnn_subgraph_with_nirgraph(copy.deepcopy(graph))
    succ = dict(wrapped.edges)
    modules, name = [], "input"
    while succ[name] != "output":
        name = succ[name]
        modules.append(snn_import._nir_to_snntorch_module(wrapped.nodes[name], init_hidden=True))
    return torch.nn.Sequential(*modules)


def test_rlif_export_runs_in_spikingjelly_through_nirtorchs_executor() -> None:
    """SpikingJelly imports a cycle with nirtorch's graph executor, NIR's reference semantics
    for recurrence: the weight node's output of the previous step (zero at the start) joins the
    neuron's input. That is ``rlif``'s ``W z[t-1]``: spike for spike."""
    sj = import_peer("spikingjelly.activation_based")
    sj_nir = import_peer("spikingjelly.activation_based.nir_exchange")
    net, params = _rlif_network()
    module = sj_nir.import_from_nir(to_nir(net.bind(params), (4,), dt=1e-4), dt=1e-4)
    sj.functional.reset_net(module)
    xs = torch.rand(100, 3, 4, generator=torch.Generator().manual_seed(11)) * 1.5
    got, state = [], None
    with torch.no_grad():
        for x in xs:
            z, state = module(x) if state is None else module(x, state)
            got.append(z)
    want = net.stepwise(params, xs).spikes
    _same_spikes("rlif -> SpikingJelly (nirtorch executor)", torch.stack(got), want)


def test_nested_recurrent_subgraph_imports_like_the_flat_cycle() -> None:
    """snnTorch's exporter builds RLeaky as a nested graph (Input -> lif <-> w_rec -> Output);
    nirtorch 2.6 flattens it, older versions keep it: both import to the same network."""
    net, params = _rlif_network()
    flat = to_nir(net.bind(params), (4,), dt=1e-4)
    lif, w_rec = flat.nodes["1"], flat.nodes["1.w_rec"]
    sub = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([6])),
            "lif": lif,
            "w_rec": w_rec,
            "output": nir.Output(output_type=np.array([6])),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )
    nested = nir.NIRGraph(
        nodes={
            "input": flat.nodes["input"],
            "0": flat.nodes["0"],
            "rec": sub,
            "output": flat.nodes["output"],
        },
        edges=[("input", "0"), ("0", "rec"), ("rec", "output")],
    )
    a, b = from_nir(flat, dt=1e-4), from_nir(nested, dt=1e-4)
    xs = torch.rand(50, 2, 4, generator=torch.Generator().manual_seed(7)) * 1.5
    assert b.state_kinds == ("rlif",)
    assert torch.equal(sf.scan(a.step, a.init(2), xs)[0], sf.scan(b.step, b.init(2), xs)[0])


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 7),
    beta=st.floats(0.0, 0.99),
    threshold=st.floats(0.2, 2.0),
    gain=st.floats(0.25, 3.0),
    disc=st.sampled_from(["euler", "exp"]),
    seed=st.integers(0, 2**16),
)
def test_rlif_round_trips_exactly_through_files(
    n: int, beta: float, threshold: float, gain: float, disc: Any, seed: int
) -> None:
    """Any recurrent layer, after an input gain (NIR scales the fed-back spikes by the neuron's
    gain like any input, so the exported weight is ``W / gain``), round trips through a file to
    the same spikes."""
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    params = RLIFParams(
        torch.tensor(beta, dtype=f64), threshold, torch.randn(n, n, generator=g, dtype=f64)
    )
    layers = [
        partial(F.linear, weight=torch.randn(n, 3, generator=g, dtype=f64)),
        partial(snir.input_gain, gain=torch.tensor(gain, dtype=f64)),
        sf.neuron(MODELS["rlif"].step, params, reset="zero"),
    ]
    graph = to_nir(layers, (3,), dt=1e-3, discretization=disc)
    with tempfile.TemporaryDirectory() as tmp:
        net = from_nir(_read_back(graph, Path(tmp)), dt=1e-3, discretization=disc, dtype=f64)
    xs = torch.rand(30, 2, 3, generator=g, dtype=f64) * 2
    want, _ = sf.scan(sf.sequential(*layers), (MODELS["rlif"].init((2, n), dtype=f64),), xs)
    got, _ = sf.scan(net.step, net.init(2, dtype=f64), xs)
    assert torch.equal(got, want)


# --- SpikingJelly -----------------------------------------------------------------------------
@pytest.mark.parametrize("decay_input", [True, False])
def test_spikingjelly_export_imports_spike_for_spike(decay_input: bool, tmp_path: Path) -> None:
    """SpikingJelly 2.0's ``nir_exchange.export_to_nir`` (dt = 1e-4): LIFNode (``r = 1`` with
    ``decay_input``, else ``r = tau``), CUBALIFNode and IFNode, every layer spike for spike.
    SpikingJelly fires at ``v >= threshold`` and NIR at ``v > threshold``: the input is drawn
    from a continuous distribution so no membrane lands on a threshold exactly."""
    sj = import_peer("spikingjelly.activation_based")
    sj_nir = import_peer("spikingjelly.activation_based.nir_exchange")
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        sj.layer.Linear(10, 16),
        sj.neuron.LIFNode(tau=2.0, decay_input=decay_input),
        sj.layer.Linear(16, 8),
        sj.neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75),
        sj.layer.Linear(8, 4),
        sj.neuron.IFNode(),
    )
    graph = sj_nir.export_to_nir(module, torch.randn(1, 10))
    net = from_nir(_read_back(graph, tmp_path), dt=1e-4)
    assert net.state_kinds == ("lif", "synaptic", "if")
    spikes: list[list[Tensor]] = [[], [], []]
    for k, index in enumerate((1, 3, 5)):
        module[index].register_forward_hook(lambda _m, _x, z, k=k: spikes[k].append(z))
    xs = torch.rand(100, 3, 10, generator=torch.Generator().manual_seed(8)) * 4
    sj.functional.reset_net(module)
    with torch.no_grad():
        for x in xs:
            module(x)
    for name, got, want in zip(("LIF", "CUBALIF", "IF"), _hidden(net, xs), spikes, strict=True):
        _same_spikes(f"SpikingJelly {name}Node (decay_input={decay_input})", got, torch.stack(want))


def test_export_runs_identically_in_spikingjelly() -> None:
    """The other way: SpikingJelly's ``import_from_nir`` (dt = 1e-4) runs our export of LIF,
    synaptic and IF layers spike for spike."""
    sj = import_peer("spikingjelly.activation_based")
    sj_nir = import_peer("spikingjelly.activation_based.nir_exchange")
    g = torch.Generator().manual_seed(0)
    layers = [
        partial(F.linear, weight=torch.randn(20, 10, generator=g) * 0.5),
        sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0), reset="zero"),
        partial(F.linear, weight=torch.randn(8, 20, generator=g) * 0.5),
        sf.neuron(sf.synaptic_step, sf.SynapticParams(0.8, 0.7, 0.5), reset="zero"),
        partial(F.linear, weight=torch.randn(5, 8, generator=g)),
        sf.neuron(sf.if_step, sf.IFParams(1.0), reset="zero"),
    ]
    xs = torch.rand(40, 4, 10, generator=g) * 2
    states = (sf.lif_init((4, 20)), sf.synaptic_init((4, 8)), sf.if_init((4, 5)))
    want, _ = sf.scan(sf.sequential(*layers), states, xs)
    module = sj_nir.import_from_nir(to_nir(layers, (10,), dt=1e-4), dt=1e-4)
    sj.functional.reset_net(module)
    got, state = [], None
    with torch.no_grad():
        for x in xs:
            z, state = module(x) if state is None else module(x, state)
            got.append(z)
    _same_spikes("snnfunc -> SpikingJelly import", torch.stack(got), want)


# --- recurrent models: the table --------------------------------------------------------------
def test_every_recurrent_model_is_its_base_with_the_spikes_fed_back() -> None:
    """What the NIR mapping of ``"r" + base`` relies on: its step is the base's step on
    ``x + W z`` (``z`` the last spikes), and ``z`` is the new spikes."""
    assert "lif" in snir._RECURRENT
    g = torch.Generator().manual_seed(0)
    for base_name, model in snir._RECURRENT.items():
        base = MODELS[base_name]
        n = 5
        weight = torch.randn(n, n, generator=g)
        params = model.default_params(weight=weight)
        fields = {k: torch.rand(3, n, generator=g) for k in model.state}
        fields["z"] = (fields["z"] > 0.5).float()
        state = model.state_type(**fields)
        x = torch.randn(3, n, generator=g)
        z, new = model.step(state, x, params, reset="zero")
        base_state = base.state_type(*(fields[k] for k in base.state))
        base_params = base.params_type(*(getattr(params, k) for k in base.params))
        zb, newb = base.step(
            base_state, x + F.linear(fields["z"], weight), base_params, reset="zero"
        )
        # (x + W z) is summed in another order by the recurrent core: equal up to rounding
        torch.testing.assert_close(z, zb, rtol=0, atol=0)
        assert torch.equal(new.z, z)
        for k in base.state:
            torch.testing.assert_close(getattr(new, k), getattr(newb, k))


@pytest.mark.parametrize("base", list(snir._RECURRENT))
def test_every_recurrent_model_round_trips_through_a_file(base: str, tmp_path: Path) -> None:
    """Every model of the table exports as its base's node plus the recurrent Linear, and
    imports back to the same spikes (float64)."""
    model, f64 = snir._RECURRENT[base], torch.float64
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 5, generator=g, dtype=f64) * 0.6
    layers = [
        partial(F.linear, weight=torch.randn(5, 3, generator=g, dtype=f64)),
        sf.neuron(model.step, model.default_params(threshold=0.5, weight=weight), reset="zero"),
    ]
    graph = to_nir(layers, (3,), dt=1e-3)
    assert type(graph.nodes["1"]) is getattr(nir, MODELS[base].nir or "")
    assert {("1", "1.w_rec"), ("1.w_rec", "1")} <= set(graph.edges)
    net = from_nir(_read_back(graph, tmp_path), dt=1e-3, dtype=f64)
    assert net.state_kinds == (model.name,)
    xs = torch.rand(40, 2, 3, generator=g, dtype=f64) * 2
    want, _ = sf.scan(sf.sequential(*layers), (model.init((2, 5), dtype=f64),), xs)
    got, _ = sf.scan(net.step, net.init(2, dtype=f64), xs)
    _same_spikes(f"{model.name} round trip", got, want)


class RSynParams(NamedTuple):
    alpha: Tensor | float
    beta: Tensor | float
    threshold: Tensor | float
    weight: Tensor


class RSynState(NamedTuple):
    i: Tensor
    v: Tensor
    z: Tensor


def _rsyn_core(state: RSynState, x: Tensor, params: RSynParams, firing: Any) -> Any:
    current = x + F.linear(state.z, params.weight)
    base = SynapticParams(params.alpha, params.beta, params.threshold)
    z, s = synaptic_core(SynapticState(state.i, state.v), current, base, firing)
    return z, RSynState(s.i, s.v, z)


def _rsynaptic() -> NeuronModel[Any, Any]:
    """``MODELS["rsynaptic"]`` where registered, else a stand-in written the same way."""
    if "rsynaptic" in MODELS:
        return MODELS["rsynaptic"]
    return NeuronModel(
        "rsynaptic",
        RSynState,
        RSynParams,
        _rsyn_core,
        params={
            "alpha": Field(0.0, 1.0, 0.8),
            "beta": Field(0.0, 1.0, 0.9),
            "threshold": Field(0.25, 2.0, 1.0),
            "weight": Field(-0.5, 0.5, kind="matrix"),
        },
        state={"i": Field(-1.0, 1.0), "v": Field(-1.0, 1.5), "z": Field(0.0, 1.0, kind="spikes")},
    )


def _rsynaptic_graph(snn: Any, export: Any) -> tuple[Any, torch.nn.Module]:
    """snnTorch's RSynaptic export. It is traced with ``reset_delay=True`` (snnTorch's default)
    because snnTorch 1.0's RSynaptic cannot run with ``reset_delay=False`` (its forward reads
    the ``spk`` argument, None with ``init_hidden=True``: TypeError); the graph says hard reset
    either way, so it describes RSynaptic with ``reset_mechanism="zero", reset_delay=False``."""
    torch.manual_seed(9)
    rec = snn.RSynaptic(
        alpha=0.7, beta=0.8, linear_features=6, reset_mechanism="zero", init_hidden=True
    )
    with torch.no_grad():
        rec.recurrent.weight.mul_(3)
    module = torch.nn.Sequential(torch.nn.Linear(4, 6), rec)
    return export.export_to_nir(module, torch.randn(1, 4), ignore_dims=[0]), module


@nirtorch_deprecation
def test_snntorch_rsynaptic_is_refused_without_a_recurrent_synaptic_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snn = import_peer("snntorch")
    export = import_peer("snntorch.export_nir")
    graph, _ = _rsynaptic_graph(snn, export)
    without = {k: v for k, v in snir._RECURRENT.items() if k != "synaptic"}
    monkeypatch.setattr(snir, "_RECURRENT", without)
    with pytest.raises(
        ValueError, match=r"CubaLIF\).*recurrent weight node.*no 'rsynaptic'.*LIF \(rlif\)"
    ):
        from_nir(graph, dt=1e-4)


@nirtorch_deprecation
def test_snntorch_rsynaptic_imports_once_a_recurrent_synaptic_model_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The mapping is the table of ``"r" + base`` models: a registered recurrent synaptic model
    (a stand-in until one is registered) makes snnTorch's RSynaptic export import as that model
    with snnTorch's alpha, beta, threshold, recurrent weight and bias (spikes equal to the
    model run directly with them; snnTorch's own forward cannot run this network, see
    :func:`_rsynaptic_graph`), and export back as CubaLIF plus the recurrent Linear."""
    snn = import_peer("snntorch")
    export = import_peer("snntorch.export_nir")
    model = _rsynaptic()
    monkeypatch.setattr(snir, "_RECURRENT", {**snir._RECURRENT, "synaptic": model})
    graph, module = _rsynaptic_graph(snn, export)
    net = from_nir(_read_back(graph, tmp_path), dt=1e-4)
    assert net.state_kinds == ("rsynaptic",)
    fc, rec = module[0], module[1]
    weight = rec.recurrent.weight.detach()
    reference = [
        partial(F.linear, weight=fc.weight.detach(), bias=fc.bias.detach()),
        partial(torch.add, other=rec.recurrent.bias.detach()),
        sf.neuron(
            model.step, model.default_params(alpha=0.7, beta=0.8, weight=weight), reset="zero"
        ),
    ]
    xs = torch.rand(100, 3, 4, generator=torch.Generator().manual_seed(10)) * 1.5
    want, _ = sf.scan(sf.sequential(*reference), (model.init((3, 6)),), xs)
    got, _ = sf.scan(net.step, net.init(3), xs)
    _same_spikes("snnTorch RSynaptic export (stand-in rsynaptic)", got, want)
    again = to_nir(net.layers, (4,), dt=1e-4)
    assert isinstance(again.nodes["1"], nir.CubaLIF) and ("1.w_rec", "1") in again.edges
    back = from_nir(_read_back(again, tmp_path), dt=1e-4)
    assert torch.equal(sf.scan(back.step, back.init(3), xs)[0], want)


# --- refusals ---------------------------------------------------------------------------------
def _lif(n: int) -> Any:
    return nir.LIF(
        tau=np.full(n, 1e-2),
        r=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        v_reset=np.zeros(n),
    )


def _graph(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> Any:
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _io(n: int) -> dict[str, Any]:
    return {
        "input": nir.Input(input_type=np.array([n])),
        "output": nir.Output(output_type=np.array([n])),
    }


def test_a_cycle_through_several_layers_is_refused_naming_it() -> None:
    graph = _graph(
        {
            **_io(2),
            "n1": _lif(2),
            "a": nir.Linear(weight=np.eye(2)),
            "n2": _lif(2),
            "back": nir.Linear(weight=np.eye(2)),
        },
        [
            ("input", "n1"),
            ("n1", "a"),
            ("a", "n2"),
            ("n2", "output"),
            ("n2", "back"),
            ("back", "n1"),
        ],
    )
    with pytest.raises(
        ValueError,
        match=r"cycle through 4 nodes: n1 \(LIF\) -> a .* -> n1 .*several layers.*N -> W -> N",
    ):
        from_nir(graph, dt=1e-3)


@pytest.mark.parametrize(
    ("nodes", "edges", "message"),
    [
        (
            {"n": _lif(2)},
            [("input", "n"), ("n", "n"), ("n", "output")],
            r"'n' \(LIF\) feeds itself directly.*through a Linear/Affine node",
        ),
        (
            {"a": nir.Linear(weight=np.eye(2)), "w": nir.Linear(weight=np.eye(2))},
            [("input", "a"), ("a", "w"), ("w", "a"), ("a", "output")],
            r"'w' \(Linear\) feeds 'a' \(Linear\) back.*only a neuron node's own output",
        ),
        (
            {"n": _lif(2), "w1": nir.Linear(weight=np.eye(2)), "w2": nir.Linear(weight=np.eye(2))},
            [("input", "n"), ("n", "w1"), ("w1", "n"), ("n", "w2"), ("w2", "n"), ("n", "output")],
            r"'n' has two recurrent weight nodes",
        ),
        (
            {
                "n": nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
                "w": nir.Linear(weight=np.eye(2)),
            },
            [("input", "n"), ("n", "w"), ("w", "n"), ("n", "output")],
            r"'n' \(IF\) has a recurrent weight node 'w'.*no 'rif'.*import for: LIF \(rlif\)",
        ),
        (
            {"n": _lif(2), "w": nir.Linear(weight=np.ones((2, 3)))},
            [("input", "n"), ("n", "w"), ("w", "n"), ("n", "output")],
            r"recurrent weight node 'w' must be \[N, N\].*shape \(2,\) and the weight \(2, 3\)",
        ),
        (
            {"sub": nir.NIRGraph(nodes=_io(2), edges=[("input", "output")], type_check=False)},
            [("input", "sub"), ("sub", "output")],
            r"nested graph 'sub' passes its input straight to its output",
        ),
        (
            {"n": _lif(2)},
            [("input", "n"), ("n", "output"), ("n", "ghost")],
            r"edge \('n', 'ghost'\) names a node 'ghost' the graph does not have",
        ),
        (
            {"n": _lif(3)},
            [("input", "n"), ("n", "output")],
            r"parameters have shapes \{'tau': \(3,\).*do not broadcast to its input's shape \(2,\)",
        ),
    ],
)
def test_graphs_without_an_snnfunc_form_are_refused_saying_why(
    nodes: dict[str, Any], edges: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        from_nir(_graph({**_io(2), **nodes}, edges), dt=1e-3)


# --- shapes -----------------------------------------------------------------------------------
def test_neuron_shapes_come_from_the_graph_and_a_leading_1_is_a_batch_dim() -> None:
    """Scalar neuron parameters take the shape reaching them (conv ``[C, H, W]``, then ``[N]``),
    and an Input type ``[1, C, H, W]`` that no conv could take per example is a batch dim."""
    g = torch.Generator().manual_seed(0)
    w_conv = torch.randn(3, 2, 3, 3, generator=g).numpy()
    w_fc = torch.randn(5, 3 * 4 * 4, generator=g).numpy()

    def scalar_lif() -> Any:
        return nir.LIF(
            tau=np.array(2e-3),
            r=np.array(2.0),
            v_leak=np.array(0.0),
            v_threshold=np.array(1.0),
            v_reset=np.array(0.0),
        )

    graph = _graph(
        {
            "input": nir.Input(input_type=np.array([1, 2, 6, 6])),
            "conv": nir.Conv2d(
                input_shape=(6, 6),
                weight=w_conv,
                stride=1,
                padding=0,
                dilation=1,
                groups=1,
                bias=np.zeros(3),
            ),
            "lif1": scalar_lif(),
            "flat": nir.Flatten(input_type=None, start_dim=0),
            "fc": nir.Linear(weight=w_fc),
            "lif2": scalar_lif(),
            "output": nir.Output(output_type=np.array([1, 5])),
        },
        [
            ("input", "conv"),
            ("conv", "lif1"),
            ("lif1", "flat"),
            ("flat", "fc"),
            ("fc", "lif2"),
            ("lif2", "output"),
        ],
    )
    net = from_nir(graph, dt=1e-3)
    assert net.input_shape == (2, 6, 6)
    assert net.state_shapes == ((3, 4, 4), (5,))
    xs = (torch.rand(20, 4, 2, 6, 6, generator=g) < 0.5).float()
    spikes, _ = sf.scan(net.step, net.init(4), xs)
    beta = 1 - 1e-3 / 2e-3
    reference = [
        partial(F.conv2d, weight=torch.from_numpy(w_conv)),
        partial(torch.mul, other=(1 - beta) * 2.0),
        sf.neuron(sf.lif_step, sf.LIFParams(beta, 1.0), reset="zero"),
        partial(torch.flatten, start_dim=1),
        partial(F.linear, weight=torch.from_numpy(w_fc)),
        partial(torch.mul, other=(1 - beta) * 2.0),
        sf.neuron(sf.lif_step, sf.LIFParams(beta, 1.0), reset="zero"),
    ]
    want, _ = sf.scan(
        sf.sequential(*reference), (sf.lif_init((4, 3, 4, 4)), sf.lif_init((4, 5))), xs
    )
    _same_spikes("nir-built conv graph, scalar params, batch dim", spikes, want)


def test_a_leading_1_stays_unless_the_graph_says_it_is_a_batch_dim() -> None:
    """An Input ``[1, 4]`` into a neuron: both readings run; the neuron's declared input type
    decides, and without one the type is read as written."""
    declared = _lif(4)
    declared.input_type = {"input": np.array([4])}
    undeclared = nir.LIF(
        tau=np.array(1e-2),
        r=np.array(1.0),
        v_leak=np.array(0.0),
        v_threshold=np.array(1.0),
        v_reset=np.array(0.0),
    )
    for node, shape in ((declared, (4,)), (undeclared, (1, 4))):
        graph = _graph(
            {
                "input": nir.Input(input_type=np.array([1, 4])),
                "n": node,
                "output": nir.Output(output_type=np.array([4])),
            },
            [("input", "n"), ("n", "output")],
        )
        net = from_nir(graph, dt=1e-3)
        assert net.input_shape == shape and net.state_shapes == (shape,)


def test_shapes_that_fit_no_reading_are_refused_naming_both() -> None:
    graph = _graph(
        {
            "input": nir.Input(input_type=np.array([1, 3])),
            "fc": nir.Linear(weight=np.ones((2, 4))),
            "output": nir.Output(output_type=np.array([2])),
        },
        [("input", "fc"), ("fc", "output")],
    )
    with pytest.raises(
        ValueError, match=r"input shape \(1, 3\): .*vector.* / input shape \(3,\): .*'fc'"
    ):
        from_nir(graph, dt=1e-3)
