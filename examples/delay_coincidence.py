"""A task only learned delays solve: coincidence detection (no download, a few seconds).

Two input channels each spike once. In class 1 channel B spikes ``lag`` steps after A, in
class 0 ``lag`` steps before it. One LIF neuron with fixed weights (0.6 each, threshold 1,
beta 0.9) fires only when both spikes arrive within about three steps of each other, and the answer
is "class 1" iff it fires. Spike counts and the gap between the spikes are the same in both
classes; only the order differs. With both delays frozen at 0 the spikes never coincide, the
neuron never fires and the accuracy is chance (50%); learning the two per-channel delays
(:func:`snnfunc.delay.fractional_delay`) from the same start moves A's delay to about ``lag``,
where class 1 coincides and class 0 is pushed further apart.

    python examples/delay_coincidence.py            # learned vs frozen delays
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import snnfunc as sf
from snnfunc.delay import fractional_delay

NUM_STEPS, LAG, MAX_DELAY = 40, 6, 10
WEIGHT = torch.tensor([0.6, 0.6])  # [2] input channel A, B -> the output neuron
LIF = sf.LIFParams(beta=0.9, threshold=1.0)


def make_task(num_samples: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, B, 2]`` (channel 0 = A, 1 = B) and labels ``[B]`` in {0, 1}."""
    labels = torch.randint(0, 2, (num_samples,), generator=generator)
    first = torch.randint(0, NUM_STEPS - LAG - MAX_DELAY, (num_samples,), generator=generator)
    t_a = torch.where(labels == 1, first, first + LAG)
    t_b = torch.where(labels == 1, first + LAG, first)
    x = torch.zeros(NUM_STEPS, num_samples, 2)
    batch = torch.arange(num_samples)
    x[t_a, batch, 0] = 1.0
    x[t_b, batch, 1] = 1.0
    return x, labels


def output_neuron(x: torch.Tensor, delay: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[T, B, 2]`` inputs, ``[2]`` delays -> the output neuron's ``(spikes, membrane)``, each
    ``[T, B]``. No reset: it only matters whether (and so when first) the neuron fires."""
    current = fractional_delay(x, delay, max_delay=MAX_DELAY) @ WEIGHT  # [T, B]

    def step(state: sf.LIFState, i: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], sf.LIFState]:
        z, state = sf.lif_step(state, i, LIF, reset="none")
        return (z, state.v), state

    (spikes, v), _ = sf.scan(step, sf.lif_init(x.shape[1]), current)
    return spikes, v


def accuracy(delay: torch.Tensor, x: torch.Tensor, labels: torch.Tensor) -> float:
    fired = output_neuron(x, delay)[0].sum(0) > 0
    return (fired.long() == labels).float().mean().item()


def train(
    *, learn_delays: bool, steps: int = 60, batch: int = 64, lr: float = 0.3, seed: int = 0
) -> tuple[float, torch.Tensor]:
    """Train the two delays from 0 (or keep them frozen at 0): ``(test accuracy, delays)``."""
    gen = torch.Generator().manual_seed(seed)
    delay = torch.zeros(2, requires_grad=learn_delays)
    if learn_delays:
        opt = torch.optim.Adam([delay], lr=lr)
        for _ in range(steps):
            x, labels = make_task(batch, gen)
            # the peak membrane is the evidence: above threshold for class 1, below for class 0
            peak = output_neuron(x, delay)[1].amax(0) - LIF.threshold  # [B]
            loss = F.binary_cross_entropy_with_logits(10 * peak, labels.float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                delay.clamp_(0, MAX_DELAY)
    x, labels = make_task(1000, gen)
    with torch.no_grad():
        return accuracy(delay, x, labels), delay.detach()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for learn in (False, True):
        acc, delay = train(learn_delays=learn, steps=args.steps, seed=args.seed)
        name = "learned" if learn else "frozen at 0"
        print(f"delays {name}: test accuracy {acc:.3f}, delays (A, B) = {delay.tolist()}")


if __name__ == "__main__":
    main()
