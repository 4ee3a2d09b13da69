"""Bit-for-bit reproducibility: the same seed or generator gives the same bits.

Randomness in snnfunc is always an argument (a ``torch.Generator`` or a noise tensor), so
encoders, attacks and (on CPU) training repeat exactly when the seed repeats; a different seed
changes the result, which shows the seed is really used.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
import torch
import torch.nn.functional as F

import snnfunc as sf


def _x() -> torch.Tensor:
    return torch.rand(8, 12, generator=torch.Generator().manual_seed(42))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


ENCODERS: dict[str, Callable[[int], torch.Tensor]] = {
    "rate": lambda seed: sf.encode.rate(_x(), 10, generator=_gen(seed)),
    "rate-uint8": lambda seed: sf.encode.rate(
        _x(), 10, generator=_gen(seed), out_dtype=torch.uint8
    ),
    "rate-gain": lambda seed: sf.encode.rate(_x(), 10, gain=0.5, generator=_gen(seed)),
    "bernoulli": lambda seed: sf.bernoulli(_x(), generator=_gen(seed)),
}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_random_encoders_repeat_bit_for_bit_with_the_same_generator(name: str) -> None:
    encode = ENCODERS[name]
    first, again, other = encode(0), encode(0), encode(1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_deterministic_encoders_repeat_bit_for_bit() -> None:
    x = _x()
    assert torch.equal(
        sf.encode.latency(x, 20, normalize=True), sf.encode.latency(x, 20, normalize=True)
    )
    signal = torch.cumsum(torch.randn(30, 4, generator=_gen(0)), 0)
    assert torch.equal(
        sf.encode.delta(signal, threshold=0.5), sf.encode.delta(signal, threshold=0.5)
    )
    assert torch.equal(sf.encode.population(x, 5), sf.encode.population(x, 5))


def _snn_loss(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Rate-encode with a seeded generator, run a small LIF network, cross-entropy."""
    w = torch.linspace(-1.0, 1.0, 3 * 12).reshape(3, 12)
    spikes = sf.encode.rate(x, 8, generator=_gen(seed))
    net = sf.sequential(partial(F.linear, weight=w), sf.neuron(sf.lif_step, sf.LIFParams(0.9, 0.5)))
    out, _ = sf.scan(net, (sf.lif_init((x.shape[0], 3)),), spikes)
    return F.cross_entropy(out.sum(0), torch.arange(x.shape[0]) % 3)


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_attacks_repeat_bit_for_bit_with_the_same_seed(attack: str) -> None:
    def run(seed: int) -> torch.Tensor:
        loss = partial(_snn_loss, seed=seed)
        if attack == "fgsm":
            return sf.attacks.fgsm(loss, _x(), 0.1)
        return sf.attacks.pgd(loss, _x(), 0.1, 0.03, 3, random_start=True, generator=_gen(seed))

    first, again = run(0), run(0)
    assert torch.equal(first, again)
    if attack == "pgd":  # the random start is drawn from the generator (FGSM's sign may agree)
        assert not torch.equal(first, run(1))
