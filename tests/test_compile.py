"""torch.compile: what snnfunc.func documents, tested (PyTorch 2.13).

Works: compile the forward (a step, a scan unroll, a training loss of nn wrappers), then
``.backward()``. Known limits, asserted as documented so that a PyTorch fix shows up here:
``compile(grad(f))`` is zero when the surrogate Function is applied to the differentiated input
(pytorch#193279) but right when it is applied to an intermediate (every neuron step);
``compile(vmap(grad(unroll)))`` raises inside Dynamo; ``grad(compile(f, fullgraph=True))``
raises ``Unsupported`` (without fullgraph Dynamo falls back to eager). ``forward_mode_spike``
(no Function) works under every composition.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import grad, vmap

import snnfunc as sf
from snnfunc import nn as snn
from snnfunc.func import forward_mode_spike

pytestmark = pytest.mark.slow


def _lif_loss(xs: Tensor, spike_fn: sf.surrogate.SpikeFn = sf.surrogate.DEFAULT_SPIKE) -> Tensor:
    step = partial(sf.lif_step, params=sf.LIFParams(0.9, 1.0), spike_fn=spike_fn)
    spikes, state = sf.scan(step, sf.lif_init(xs.shape[1:], dtype=xs.dtype), xs)
    return (spikes * torch.arange(1.0, xs.shape[-1] + 1)).sum() + state.v.sum()


def test_compiled_training_step_of_nn_wrappers_matches_eager() -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    net = snn.Sequential(
        torch.nn.Linear(6, 8),
        snn.Synaptic(0.6, 0.85, learn=("beta", "threshold"), size=8),
        torch.nn.Linear(8, 3),
        snn.LIF(0.9, size=3, reset="none"),
    )
    xs, y = torch.rand(8, 4, 6) * 2, torch.tensor([0, 1, 2, 1])

    def loss_fn(xs: Tensor, y: Tensor) -> Tensor:
        _, states = net.unroll(xs, net.init_state((xs.shape[1],)))
        return F.cross_entropy(states[1].v, y)

    compiled = torch.compile(loss_fn, backend="inductor", fullgraph=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):  # two optimizer steps: the compiled step keeps tracking the params
        loss_c = compiled(xs, y)
        opt.zero_grad()
        loss_c.backward()
        grads_c = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        opt.zero_grad()
        loss_e = loss_fn(xs, y)
        loss_e.backward()
        torch.testing.assert_close(loss_c, loss_e)
        assert set(grads_c) == {n for n, _ in net.named_parameters()}
        for n, p in net.named_parameters():
            torch.testing.assert_close(grads_c[n], p.grad, msg=n)
        opt.step()


def test_compiled_step_then_backward_matches_eager() -> None:
    torch._dynamo.reset()
    x = (torch.rand(3, 5) * 2).requires_grad_(True)
    state = sf.synaptic_init((3, 5))
    params = sf.SynapticParams(0.5, torch.full((5,), 0.8, requires_grad=True), 1.0)
    step = torch.compile(partial(sf.synaptic_step, params=params), backend="aot_eager")
    z, s = step(state, x)
    (gx_c, gb_c) = torch.autograd.grad((z.sum() + s.v.sum()), (x, params.beta))
    z_e, s_e = sf.synaptic_step(state, x, params)
    (gx_e, gb_e) = torch.autograd.grad((z_e.sum() + s_e.v.sum()), (x, params.beta))
    assert torch.equal(z, z_e)
    torch.testing.assert_close((gx_c, gb_c), (gx_e, gb_e))


def test_compile_of_grad_zero_on_the_primal_input_right_on_an_intermediate() -> None:
    torch._dynamo.reset()
    spike = sf.surrogate.atan()
    x = torch.linspace(-1, 1, 5)
    eager = grad(lambda x: spike(x).sum())(x)
    compiled = torch.compile(grad(lambda x: spike(x).sum()), backend="aot_eager")(x)
    assert float(eager.abs().min()) > 0
    assert torch.equal(compiled, torch.zeros_like(x)), "pytorch#193279 fixed? update the docs"
    # every neuron step applies the spike to h - threshold, an intermediate: correct
    xs = torch.rand(6, 4) * 1.5
    got = torch.compile(grad(_lif_loss), backend="aot_eager")(xs)
    torch.testing.assert_close(got, grad(_lif_loss)(xs))


def test_compile_of_vmap_grad_raises_and_forward_mode_spike_works() -> None:
    torch._dynamo.reset()
    xb = torch.rand(3, 6, 4) * 1.5
    with pytest.raises(Exception, match="does not have vmap support"):
        torch.compile(vmap(grad(_lif_loss)), backend="aot_eager")(xb)
    fm = forward_mode_spike(sf.surrogate.DEFAULT_SPIKE)
    torch._dynamo.reset()
    got = torch.compile(vmap(grad(partial(_lif_loss, spike_fn=fm))), backend="aot_eager")(xb)
    torch.testing.assert_close(got, vmap(grad(_lif_loss))(xb))


def test_grad_of_compiled_function() -> None:
    torch._dynamo.reset()
    xs = torch.rand(6, 4) * 1.5
    with pytest.raises(torch._dynamo.exc.Unsupported, match="functorch"):
        grad(torch.compile(_lif_loss, backend="aot_eager", fullgraph=True))(xs)
    torch._dynamo.reset()
    # without fullgraph, Dynamo gives up on the graph and runs f eagerly: right, not compiled
    got = grad(torch.compile(_lif_loss, backend="aot_eager"))(xs)
    torch.testing.assert_close(got, grad(_lif_loss)(xs))
