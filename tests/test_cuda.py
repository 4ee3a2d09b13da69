"""The package on CUDA tensors: run where a GPU is present, skipped cleanly elsewhere.

What CPU CI cannot show: that ``backend="auto"`` picks the Triton kernels for CUDA tensors and
they equal ``scan`` on the GPU, and that the encoders, a network's two interpreters and a
training step keep every tensor on the device. (The neuron steps on CUDA are in
test_reliability_dtype.py.) Not run on the development machines, which have no GPU.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
from _fused_models import FUSED_MODELS, Model

import snnfunc as sf
from snnfunc.app import models, train
from snnfunc.fused import _op

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = "cuda"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["f32", "f16"])
@pytest.mark.parametrize("model", FUSED_MODELS, ids=str)
def test_fused_models_on_cuda_run_triton_and_equal_scan(model: Model, dtype: torch.dtype) -> None:
    pytest.importorskip("triton")
    g = torch.Generator().manual_seed(0)
    xs = (torch.rand(12, 4, 300, generator=g) * 1.6 - 0.3).to(CUDA, dtype).requires_grad_(True)
    m = sf.neurons.MODELS[model.name]
    state = m.init((4, 300), dtype=dtype, device=CUDA)
    params = m.params_type(*(f.default for f in m.params.values()))
    ref = sf.scan(partial(m.step, params=params), state, xs)
    got = sf.fuse(m.step)(state, xs, params)
    assert _op.LAST_RUN["forward"] == "triton"
    torch.testing.assert_close(got[0], ref[0], rtol=0, atol=0)
    (g_ref,) = torch.autograd.grad(ref[0].float().sum() + ref[1][-1].float().sum(), xs)
    (g_got,) = torch.autograd.grad(got[0].float().sum() + got[1][-1].float().sum(), xs)
    assert _op.LAST_RUN["backward"] == "triton"
    torch.testing.assert_close(g_got, g_ref)


@pytest.mark.parametrize("name", ["rate", "latency", "delta", "population"])
def test_encoders_stay_on_cuda(name: str) -> None:
    x = torch.rand(3, 5, device=CUDA, requires_grad=True)
    generator = torch.Generator(device=CUDA).manual_seed(0)
    out = {
        "rate": lambda: sf.encode.rate(x, 6, generator=generator),
        "latency": lambda: sf.encode.latency(x, 6),
        "delta": lambda: sf.encode.delta(x.unsqueeze(0).expand(4, 3, 5), threshold=0.1),
        "population": lambda: sf.encode.population(x, 4),
    }[name]()
    assert out.device.type == CUDA
    out.float().sum().backward()
    assert x.grad is not None and x.grad.device.type == CUDA


def test_network_layerwise_equals_stepwise_on_cuda() -> None:
    config = models.ModelConfig(arch="fcn", input_shape=(1, 8, 8), num_classes=10)
    net = models.network(config)
    params = net.init_params(generator=torch.Generator().manual_seed(0), device=CUDA)
    x = torch.rand(5, 1, 8, 8, device=CUDA)
    layerwise = net.forward(params, x, num_steps=6)
    stepwise = net.stepwise(params, x, num_steps=6)
    assert layerwise.spikes.device.type == CUDA
    torch.testing.assert_close(layerwise.spikes, stepwise.spikes)
    torch.testing.assert_close(layerwise.membrane, stepwise.membrane)


def test_training_step_on_cuda(tmp_path: Path) -> None:
    config = train.preset("digits", epochs=1, out=str(tmp_path), device=CUDA, progress=False)
    result = train.run(config)
    assert result["test_accuracy"] > 0.5
