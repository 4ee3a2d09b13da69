"""Regenerate the numbers the documentation quotes; run by hand, commit the output.

    python benchmarks/docs_numbers.py                 # every table (about 10 minutes on 2 cores)
    python benchmarks/docs_numbers.py --only digits   # or attacks, w1, w2, mnist

Writes ``docs/_numbers/digits.md`` (test accuracy of the default ``snnfunc train`` over seeds),
``docs/_numbers/attacks.md`` (robust accuracy of that model under FGSM and PGD),
``docs/_numbers/mnist.md`` (tutorial 3 and the conv model on MNIST),
``docs/_numbers/w1.md`` (W1: one LIF layer forward+backward at 25 x 128 x 1000, every
implementation installed here), ``docs/_numbers/w2.md`` (W2: the tutorial-3 training step)
and ``docs/_numbers/numbers.json`` (the raw values). Each table says the machine, the load
average and the date it was measured; the docs include the files with ``pymdownx.snippets``
(``--8<-- "docs/_numbers/digits.md"``). CI never runs this script.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "_numbers"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def stamp(where: str | None = None) -> str:
    """When, where (``machine()`` of this process unless given) and how busy the machine was."""
    from _common import machine

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"Measured {now} on {where or machine()}; load average {load} (1, 5, 15 min)."


def digits(seeds: list[int]) -> dict[str, Any]:
    from snnfunc.app.train import preset, run

    # (train.run builds the fused kernels before it starts its clock)
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            config = preset("digits", seed=seed, out=tmp, progress=False, plots=False)
            m = run(config)
        rows.append(
            {
                "seed": seed,
                "epochs": config.epochs,
                "test_accuracy": m["test_accuracy"],
                "test_accuracy_membrane": m["test_accuracy_membrane"],
                "train_seconds": m["train_seconds"],
            }
        )
        print(rows[-1], flush=True)
    lines = [
        "| seed | epochs | test accuracy, by spike count | by mean membrane | train time (s) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['epochs']} | {100 * r['test_accuracy']:.1f}% | "
            f"{100 * r['test_accuracy_membrane']:.1f}% | {r['train_seconds']:.1f} |"
        )
    text = (
        "\n".join(lines)
        + "\n\n"
        + "`snnfunc train` (the digits preset: fcn 64-128-10, Synaptic, T = 25, 450 test images), "
        + f"`preset('digits', seed=...)`. {stamp()} "
        + "Regenerate with `python benchmarks/docs_numbers.py --only digits`.\n"
    )
    (OUT / "digits.md").write_text(text, encoding="utf-8")
    return {"rows": rows, "stamp": stamp()}


ATTACKS = {  # column -> attack_checkpoint options
    "FGSM": dict(attack="fgsm"),
    "PGD-10": dict(attack="pgd", steps=10),
    "FGSM, `--encoding rate`": dict(attack="fgsm", encoding="rate"),
}
EPS = (0.0, 0.02, 0.05, 0.1)


def attacks() -> dict[str, Any]:
    from snnfunc.app.evaluate import attack_checkpoint
    from snnfunc.app.train import preset, run

    with tempfile.TemporaryDirectory() as tmp:
        config = preset("digits", out=tmp, progress=False, plots=False)
        run(config)
        results = {name: attack_checkpoint(tmp, EPS, **opts) for name, opts in ATTACKS.items()}
    lines = ["| eps | " + " | ".join(ATTACKS) + " |", "|---" * (len(ATTACKS) + 1) + "|"]
    for k, eps in enumerate(EPS):
        cells = [
            f"{100 * r['accuracy'][k]:.1f}% / {100 * r['accuracy_membrane'][k]:.1f}%"
            for r in results.values()
        ]
        lines.append(f"| {eps:g} | " + " | ".join(cells) + " |")
    text = (
        "\n".join(lines)
        + "\n\n"
        + f"The default digits model (`snnfunc train`, seed 0, {config.epochs} epochs), "
        + f"{results['FGSM']['samples']} test images; accuracy by spike count / by mean membrane. "
        + f"{stamp()} Regenerate with `python benchmarks/docs_numbers.py --only attacks`.\n"
    )
    (OUT / "attacks.md").write_text(text, encoding="utf-8")
    return {"results": results, "stamp": stamp()}


MNIST_RUNS = {  # name -> (arch, overrides, command)
    "snnTorch tutorial 3": ("fcn", {}, "snnfunc train --dataset mnist"),
    "tutorial 3, atan surrogate": (
        "fcn",
        {"surrogate": "atan"},
        "snnfunc train --dataset mnist --surrogate atan",
    ),
    "conv": ("conv", {}, "snnfunc train --dataset mnist --model conv"),
}


def mnist(data_dir: str | None) -> dict[str, Any]:
    from snnfunc.app.train import preset, run

    # (train.run builds the fused kernels before it starts its clock)
    rows = []
    for name, (arch, overrides, command) in MNIST_RUNS.items():
        with tempfile.TemporaryDirectory() as tmp:
            config = preset(
                "mnist", arch, out=tmp, progress=False, plots=False, data_dir=data_dir, **overrides
            )
            m = run(config)
        rows.append(
            {
                "run": name,
                "command": command,
                "epochs": config.epochs,
                "test_accuracy": m["test_accuracy"],
                "test_accuracy_membrane": m["test_accuracy_membrane"],
                "train_seconds": m["train_seconds"],
            }
        )
        print(rows[-1], flush=True)
    lines = [
        "| run | command | epochs | test accuracy, by spike count | by mean membrane | "
        "train time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | `{r['command']}` | {r['epochs']} | {100 * r['test_accuracy']:.2f}% | "
            f"{100 * r['test_accuracy_membrane']:.2f}% | {r['train_seconds']:.0f} |"
        )
    text = (
        "\n".join(lines)
        + "\n\n"
        + "MNIST, 10,000 test images, seed 0, the presets of `snnfunc.app.train.PRESETS`. "
        + f"{stamp()} Regenerate with `python benchmarks/docs_numbers.py --only mnist` "
        + "(`--mnist-dir DIR`; a few minutes).\n"
    )
    (OUT / "mnist.md").write_text(text, encoding="utf-8")
    return {"rows": rows, "stamp": stamp()}


BENCHES = {  # name -> (script, its arguments, what the table shows)
    "w1": (
        "w1_lif_layer.py",
        ["--no-memory"],
        "W1, one LIF layer at the three sizes T x B x N, ms",
    ),
    "w3": (
        "w3_rate_encoding.py",
        ["--no-memory", "--threads", "1"],
        "W3, rate encoding of a [128, 784] batch over 25 steps, 1 thread",
    ),
    "w2": (
        "w2_training_step.py",
        ["--no-memory"],
        "W2, one training step of snnTorch's tutorial 3 (784-1000-10 Synaptic, T = 25, B = 128), "
        "ms",
    ),
}


def bench(name: str, reps: int) -> dict[str, Any]:
    """Run one benchmark script and keep its table, its peers and its machine line."""
    script, extra, what = BENCHES[name]
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), *extra, "--reps", str(reps)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    out = done.stdout.splitlines()
    table = []
    for line in out:  # the tables, each under its size heading
        if line.startswith("### "):
            table += ["", f"**{line[4:]}**", ""]
        elif line.startswith("|"):
            table.append(line)
    peers = [line for line in out if line.startswith("Peers:")]
    notes = [line for line in out if line.startswith("Losses:")]
    where = [line for line in out if line.startswith("## ")]
    machine = where[0][where[0].index("(") + 1 : -1] if where and "(" in where[0] else None
    text = (
        "\n".join(table)
        + "\n\n"
        + f"{what}, median (min) of {reps} interleaved reps. "
        + "".join(f"{line} " for line in notes)
        + f"{peers[0] + '.' if peers else ''} {stamp(machine)} "
        + f"Regenerate with `python benchmarks/docs_numbers.py --only {name}`; the method is in "
        + "`benchmarks/README.md`.\n"
    )
    (OUT / f"{name}.md").write_text(text, encoding="utf-8")
    return {"table": table, "stamp": stamp(machine)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["digits", "attacks", "w1", "w2", "w3", "mnist"], default=None)
    p.add_argument("--mnist-dir", default=None, help="MNIST IDX files (default ../shared/...)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds for the digits table")
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "numbers.json"
    numbers = json.loads(path.read_text()) if path.exists() else {}
    if args.only in (None, "digits"):
        numbers["digits"] = digits([int(s) for s in args.seeds.split(",")])
    if args.only in (None, "attacks"):
        numbers["attacks"] = attacks()
    if args.only in (None, "mnist"):
        numbers["mnist"] = mnist(args.mnist_dir)
    for name in BENCHES:
        if args.only in (None, name):
            numbers[name] = bench(name, args.reps)
    path.write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
