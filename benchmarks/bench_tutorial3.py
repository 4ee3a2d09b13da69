"""One training batch of snnTorch tutorial 3 (784-1000-10 Synaptic, T=25, B=128), two ways.

Times forward + backward + Adam step, interleaving the two implementations so machine noise hits
both alike, and prints the medians and their ratio. snnTorch's tutorial recomputes ``fc1(x)`` at
every step; snnfunc's model computes the static first-layer current once per batch.

    python benchmarks/bench_tutorial3.py --repeats 10
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from snnfunc.app.models import ModelConfig, build_model
from snnfunc.loss import membrane_ce


def snntorch_batch(batch: int, steps: int) -> Callable[[torch.Tensor, torch.Tensor], None]:
    import snntorch as snn

    class Net(torch.nn.Module):  # the tutorial's network, verbatim in structure
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(784, 1000)
            self.lif1 = snn.Synaptic(alpha=0.7, beta=0.8)
            self.fc2 = torch.nn.Linear(1000, 10)
            self.lif2 = snn.Synaptic(alpha=0.7, beta=0.8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            syn1, mem1 = self.lif1.init_synaptic()
            syn2, mem2 = self.lif2.init_synaptic()
            mem2_rec = []
            for _ in range(steps):
                cur1 = self.fc1(x)
                spk1, syn1, mem1 = self.lif1(cur1, syn1, mem1)
                cur2 = self.fc2(spk1)
                spk2, syn2, mem2 = self.lif2(cur2, syn2, mem2)
                mem2_rec.append(mem2)
            return torch.stack(mem2_rec)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.999))

    def run(x: torch.Tensor, y: torch.Tensor) -> None:
        mem = net(x.flatten(1))
        loss = membrane_ce(mem, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return run


def snnfunc_batch(batch: int, steps: int) -> Callable[[torch.Tensor, torch.Tensor], None]:
    model = build_model(ModelConfig(num_steps=steps))
    opt = torch.optim.Adam(model.params.values(), lr=2e-4, betas=(0.9, 0.999))

    def run(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = membrane_ce(model(x).membrane, y)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--num-steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    x = torch.rand(args.batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch_size,))
    runs = {
        "snntorch": snntorch_batch(args.batch_size, args.num_steps),
        "snnfunc": snnfunc_batch(args.batch_size, args.num_steps),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up
        run(x, y)
    for _ in range(args.repeats):
        for name, run in runs.items():
            tic = time.perf_counter()
            run(x, y)
            times[name].append(time.perf_counter() - tic)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"B={args.batch_size} T={args.num_steps}, {args.repeats} interleaved repeats"
    )
    print("| implementation | median ms / batch | min ms |")
    print("|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {1e3 * statistics.median(ts):.1f} | {1e3 * min(ts):.1f} |")
    ratio = statistics.median(times["snntorch"]) / statistics.median(times["snnfunc"])
    print(f"snnfunc is {ratio:.2f}x faster (ratio of medians)")


if __name__ == "__main__":
    main()
