"""The registries are the one catalogue: every entry reaches every consumer, and what a consumer
derives from an entry (checked step, unchecked core, scan's fast path) gives the same numbers."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import snnfunc as sf
from snnfunc import nn as snn
from snnfunc import surrogate
from snnfunc.cell import BUILTIN_CELLS
from snnfunc.fused import FUSED
from snnfunc.neurons import MODELS
from snnfunc.reset import Firing
from snnfunc.scan import unchecked
from snnfunc.testing import strategies as sst

F64 = torch.float64
NAMES = tuple(MODELS)


# --- neuron models reach every consumer ---------------------------------------------------------
def test_every_model_reaches_every_consumer() -> None:
    assert tuple(BUILTIN_CELLS) == NAMES
    assert tuple(snn.MODULES) == NAMES
    assert sst.MODEL_NAMES == NAMES
    assert set(FUSED) <= set(NAMES)
    for name, model in MODELS.items():
        assert getattr(sf, f"{name}_step") is model.step, name
        assert getattr(sf, f"{name}_init") is model.init, name
        assert getattr(sf.neurons, model.params_type.__name__) is model.params_type
        assert getattr(sf.neurons, model.state_type.__name__) is model.state_type
        assert BUILTIN_CELLS[name].step is model.step
        assert snn.MODULES[name].model is model


def test_model_names_and_fields_are_consistent() -> None:
    for name, model in MODELS.items():
        assert model.step.__name__ == f"{name}_step"
        assert model.init.__name__ == f"{name}_init"
        assert tuple(model.params) == model.params_type._fields
        assert tuple(model.state) == model.state_type._fields
        for spec in (*model.params.values(), *model.state.values()):
            assert spec.low <= spec.high


def test_a_model_whose_fields_disagree_with_its_types_is_refused() -> None:
    lif = MODELS["lif"]
    with pytest.raises(ValueError, match="params fields"):
        sf.neurons.NeuronModel(
            "bad", lif.state_type, lif.params_type, lif.core, params={}, state=lif.state
        )


@pytest.mark.parametrize("name", NAMES)
def test_defaults_build_a_layer_or_name_what_is_missing(name: str) -> None:
    model = MODELS[name]
    required = [f for f, spec in model.params.items() if spec.default is None]
    if required:
        with pytest.raises(ValueError, match=f"params.{required[0]}"):
            model.default_params()
        return
    params = model.default_params()
    z, state = model.step(model.init((2, 3)), torch.ones(2, 3), params)
    assert z.shape == (2, 3) and type(state) is model.state_type


# --- derived steps agree ----------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@given(data=st.data(), options=sst.step_options(), spike_fn=sst.surrogates())
def test_checked_step_equals_unchecked_core(
    name: str, data: st.DataObject, options: dict[str, Any], spike_fn: Any
) -> None:
    model = MODELS[name]
    state = data.draw(sst.states(name, (2, 3)))
    params = data.draw(sst.params(name, 3))
    x = data.draw(sst.input_currents((2, 3)))
    want_z, want_state = model.step(state, x, params, spike_fn=spike_fn, **options)
    got_z, got_state = model.bind(params, Firing(spike_fn, **options))(state, x)
    assert torch.equal(got_z, want_z)
    for got, want in zip(got_state, want_state, strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data(), options=sst.step_options())
def test_scan_fast_path_equals_the_checked_loop(
    name: str, data: st.DataObject, options: dict[str, Any]
) -> None:
    """scan runs the first step checked and the rest through the unchecked core: same spikes,
    states and gradients as calling the checked step at every step."""
    model = MODELS[name]
    params = data.draw(sst.params(name, 3))
    xs = data.draw(sst.input_currents((6, 2, 3))).requires_grad_(True)
    step = partial(model.step, params=params, **options)
    assert unchecked(step) is not step  # the fast path is taken

    def checked_loop(xs: torch.Tensor) -> tuple[torch.Tensor, Any]:
        state, ys = model.init((2, 3), dtype=F64), []
        for x in xs:
            y, state = step(state, x)
            ys.append(y)
        return torch.stack(ys), state

    want, want_state = checked_loop(xs)
    got, got_state = sf.scan(step, model.init((2, 3), dtype=F64), xs)
    assert torch.equal(got, want)
    for a, b in zip(got_state, want_state, strict=True):
        assert torch.equal(a, b)
    loss_want = (want * torch.arange(6.0, dtype=F64)[:, None, None]).sum() + want_state[0].sum()
    loss_got = (got * torch.arange(6.0, dtype=F64)[:, None, None]).sum() + got_state[0].sum()
    (g_want,) = torch.autograd.grad(loss_want, xs)
    (g_got,) = torch.autograd.grad(loss_got, xs)
    torch.testing.assert_close(g_got, g_want, rtol=0, atol=0, equal_nan=True)


def test_scan_still_reports_bad_input_at_the_first_step() -> None:
    step = partial(sf.lif_step, params=sf.LIFParams(0.9, 1.0))
    with pytest.raises(ValueError, match="state.v has shape"):
        sf.scan(step, sf.lif_init(4), torch.ones(3, 2, 3))
    with pytest.raises(ValueError, match="reset must be one of"):
        sf.scan(partial(step, reset="soft"), sf.lif_init(3), torch.ones(3, 3))


# --- surrogates reach every consumer --------------------------------------------------------
def test_every_surrogate_reaches_every_consumer() -> None:
    """Each registered surrogate is made by its factory, carries its kind, and fuses: its
    derivative is traced into the generated kernel (no table of kernel cases to keep)."""
    state, xs = sf.lif_init(3, dtype=torch.float64), torch.rand(4, 3, dtype=torch.float64)
    for name, spec in surrogate.SURROGATES.items():
        made = spec.factory() if spec.hyper_range is None else spec.factory(spec.hyper_range[0])
        assert made.kind == name and getattr(surrogate, name) is spec.factory
        fused = sf.fuse(partial(sf.lif_step, spike_fn=made))
        params = sf.LIFParams(0.9, 1.0)
        assert fused.explain(state, xs, params).backend in ("kernel", "torch")
        assert torch.equal(
            fused(state, xs, params)[0],
            sf.scan(partial(sf.lif_step, params=params, spike_fn=made), state, xs)[0],
        )


@given(spike_fn=sst.surrogates())
def test_strategies_draw_every_registered_surrogate_in_range(spike_fn: Any) -> None:
    spec = surrogate.SURROGATES[spike_fn.kind]
    if spec.hyper_range is not None:
        assert spec.hyper_range[0] <= spike_fn.hyper <= spec.hyper_range[1]


def test_firing_validates_once_and_names_the_argument() -> None:
    with pytest.raises(ValueError, match="reset must be one of"):
        Firing(reset="soft")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reset_delay must be a bool"):
        Firing(reset_delay=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="spike_fn must be callable"):
        Firing(spike_fn="atan")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown firing options"):
        Firing.of(resett="zero")
    assert Firing.of(reset="zero") == Firing(reset="zero")


# --- NIR: every model whose registration names a node exports to it and back -----------------
@pytest.mark.parametrize("name", [n for n, m in MODELS.items() if m.nir is not None])
def test_every_model_with_a_nir_node_round_trips(name: str) -> None:
    nir = pytest.importorskip("nir")  # the `nir` extra; CI installs it
    from snnfunc.interop.nir import from_nir, to_nir

    model = MODELS[name]
    weight = torch.linspace(-0.5, 1.5, 12, dtype=F64).reshape(4, 3)
    layers = [
        partial(torch.nn.functional.linear, weight=weight),
        sf.neuron(model.step, model.default_params(threshold=0.5), reset="zero"),
    ]
    graph = to_nir(layers, (3,), dt=1e-3)
    assert type(graph.nodes["1"]) is getattr(nir, model.nir)
    xs = torch.rand(12, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    want, _ = sf.scan(sf.sequential(*layers), (model.init((2, 4), dtype=F64),), xs)
    net = from_nir(graph, dt=1e-3, dtype=F64)
    got, _ = sf.scan(net.step, net.init(2, dtype=F64), xs)
    assert 0 < want.sum() < want.numel()
    assert torch.equal(got, want)
