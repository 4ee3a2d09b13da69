"""snnTorch's own ``tests/test_spikegen.py`` assertions through a thin name mapping onto snnfunc.

Upstream asserts ``spikegen.rate(x) == x`` and ``spikegen.latency(x) == x`` for ``x`` in {0, 1}
with no ``num_steps``: an older API that snnTorch 1.0 itself rejects ("ensure num_steps > 0").
Restated here with one time step, where both libraries must give those values. Latency needs
``normalize=True, clip=True`` in both libraries for an input of 0 (below threshold: with the
defaults both raise, its RC spike time is out of range). Then checked against snnTorch 1.0 over
more steps, with a below-threshold input in the batch: snnTorch normalises by the batch's
largest time, snnfunc by the time of an input at threshold, and the two agree then
(:func:`snnfunc.encode.latency_times`). snnTorch is installed in CI; elsewhere that half skips.
"""

from __future__ import annotations

import pytest
import torch
from _ci import import_peer

import snnfunc as sf

ONE_STEP = {  # snnTorch name -> snnfunc call with one time step, mapping x in [0, 1] to spikes
    "rate": lambda x: sf.encode.rate(x, 1, generator=torch.Generator().manual_seed(0)),
    "latency": lambda x: sf.encode.latency(x, 1, normalize=True, clip=True),
}


@pytest.mark.parametrize("name", sorted(ONE_STEP))
@pytest.mark.parametrize(("value", "expected"), [(0.0, 0.0), (1.0, 1.0)])
def test_upstream_assertions_hold_with_one_step(name: str, value: float, expected: float) -> None:
    assert ONE_STEP[name](torch.tensor([value])).item() == expected


@pytest.mark.parametrize("steps", [1, 5, 25])
def test_snntorch_gives_the_same_spikes(steps: int) -> None:
    spikegen = import_peer("snntorch.spikegen")
    x = torch.tensor([0.0, 0.3, 0.7, 1.0])
    ends = x[[0, 3]]  # rate at p in {0, 1} is deterministic in both libraries
    assert torch.equal(sf.encode.rate(ends, steps), spikegen.rate(ends, num_steps=steps))
    ours = sf.encode.latency(x, steps, normalize=True, clip=True)
    assert torch.equal(ours, spikegen.latency(x, num_steps=steps, normalize=True, clip=True))
