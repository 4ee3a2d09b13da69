"""The ``snnfunc`` command: a thin face over :mod:`snnfunc.app.train` and ``app.evaluate``.

Subcommands register themselves in :data:`SUBCOMMANDS`: a function ``add(subparsers)`` that adds
its parser and sets ``func=handler`` (``handler(args) -> int`` exit status) with
``set_defaults``. To add one from another module::

    from snnfunc.app import cli

    def add_attack(subparsers):
        p = subparsers.add_parser("attack", help="...")
        p.set_defaults(func=run_attack)

    cli.SUBCOMMANDS.append(add_attack)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["build_parser", "main", "SUBCOMMANDS", "train_config_from_args"]

Subparsers = Any  # argparse._SubParsersAction (private type)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from err
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints, got {text!r}")
    return values


def _name_list(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _name_value(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not sep or not name.strip() or number is None:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, e.g. a=0.5, got {text!r}")
    return name.strip(), number


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: X)`` after every option's help that has a real default (not ``None``, a
    switch's ``False`` or an empty list), unless the help already says its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == [] or default == argparse.SUPPRESS
        if unset or "default" in text:
            return text
        return super()._get_help_string(action)


def _preset_defaults(parser: argparse.ArgumentParser) -> None:
    """Append to each ``train`` option whose default is ``None`` (the preset's) what it is:
    the value of every :data:`~snnfunc.app.train.PRESETS` entry that sets it, and the config
    field's default for the rest."""
    from snnfunc.app.models import ModelConfig
    from snnfunc.app.train import PRESETS, TrainConfig

    field_defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    field_defaults.update({f.name: f.default for f in dataclasses.fields(TrainConfig)})
    for action in parser._actions:
        name = "neuron" if action.dest == "neuron" else action.dest
        if action.default is not None or name not in field_defaults or action.help is None:
            continue
        if "default" in action.help:
            continue

        def show(value: Any) -> str:
            if isinstance(value, tuple):
                return ",".join(str(v) for v in value) or "none"
            return str(value)

        by_preset = [f"{d}+{a} {show(v[name])}" for (d, a), v in PRESETS.items() if name in v]
        rest = field_defaults[name]
        if isinstance(rest, dataclasses._MISSING_TYPE):
            text = ", ".join(by_preset)
        elif by_preset:
            text = f"{', '.join(by_preset)}; otherwise {show(rest)}"
        else:
            text = show(rest)
        action.help = f"{action.help} (default: {text})" if action.help else f"default: {text}"


_PARAM_DEST = "neuron_param:"  # dest prefix of the generated --<param> flags


def _neuron_param_names() -> dict[str, tuple[str, ...]]:
    """Every param name of the CLI's neurons -> the neurons that have it, in registry order."""
    from snnfunc.app.models import NEURONS
    from snnfunc.neurons import MODELS

    names: dict[str, tuple[str, ...]] = {}
    for neuron in NEURONS:
        for name, spec in MODELS[neuron].params.items():
            if spec.kind != "matrix":  # a recurrent weight is trained, never set by a flag
                names[name] = (*names.get(name, ()), neuron)
    return names


def add_train(subparsers: Subparsers) -> None:
    from snnfunc.app.data import DATASETS
    from snnfunc.app.evaluate import LOSSES
    from snnfunc.app.models import ARCHITECTURES, NEURONS
    from snnfunc.app.train import SCHEDULES
    from snnfunc.reset import RESET_MODES
    from snnfunc.surrogate import SURROGATES

    p = subparsers.add_parser(
        "train",
        formatter_class=_HelpFormatter,
        help="train a spiking network (default: the bundled 8x8 digits, well under a minute)",
        description=(
            "Train, evaluate on the test split and write OUT/metrics.json, the checkpoint "
            "(OUT/model.safetensors + OUT/config.json) and PNG plots. Options left out take "
            "the preset of the dataset and model (mnist+fcn = snnTorch tutorial 3)."
        ),
    )
    p.add_argument(
        "--dataset",
        choices=tuple(DATASETS),
        default="digits",
        help="digits: 8x8, bundled; randman: spike timing, generated (a recurrent preset)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="directory of the MNIST IDX files (default: ../shared/data/mnist if present)",
    )
    p.add_argument(
        "--shuffle-time",
        action="store_true",
        help="temporal datasets: shuffle each sample's time bins (the control of a timing task)",
    )
    model = p.add_argument_group("model")
    model.add_argument(
        "--model",
        dest="arch",
        choices=tuple(ARCHITECTURES),
        default="fcn",
        help="fcn: fully connected; conv: convolutional",
    )
    model.add_argument(
        "--neuron", choices=NEURONS, default=None, help="neuron model of every layer"
    )
    model.add_argument(
        "--hidden",
        type=_int_list,
        default=None,
        help="hidden sizes, e.g. 1000 or 1000,500; conv: channels, e.g. 12,32",
    )
    model.add_argument("--num-steps", type=_positive_int, default=None, help="time steps T")
    model.add_argument(
        "--delay",
        type=_nonnegative_int,
        default=None,
        metavar="D",
        help="a learnable delay of 0..D steps before each hidden neuron (one per neuron; 0: none)",
    )
    model.add_argument("--kernel-size", type=_positive_int, default=None, help="conv kernel")
    model.add_argument("--padding", type=int, default=None, help="conv zero padding")
    model.add_argument("--reset", choices=RESET_MODES, default=None, help="reset after a spike")
    model.add_argument(
        "--reset-delay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reset one step late, as snnTorch; --no-reset-delay with --reset zero is NIR's reset",
    )
    model.add_argument(
        "--surrogate",
        choices=tuple(SURROGATES),
        default=None,
        help="surrogate gradient (atan: as snnTorch 1.0; heaviside: tutorial 3's text)",
    )
    model.add_argument(
        "--learn",
        type=_name_list,
        default=None,
        help="neuron params to train, one value per neuron, e.g. beta,threshold",
    )
    params = p.add_argument_group("neuron params (default: the neuron model's)")
    for name, neurons in _neuron_param_names().items():
        try:
            params.add_argument(
                f"--{name.replace('_', '-')}",
                dest=_PARAM_DEST + name,
                type=float,
                default=None,
                metavar="X",
                help=", ".join(neurons),
            )
        except argparse.ArgumentError:  # a name some other flag has: --param NAME=X reaches it
            pass
    params.add_argument(
        "--param",
        type=_name_value,
        action="append",
        default=[],
        metavar="NAME=X",
        help="any neuron param by name (repeatable), e.g. --param a=0.5",
    )
    run = p.add_argument_group("training")
    run.add_argument("--epochs", type=_positive_int, default=None, help="passes over the data")
    run.add_argument("--batch-size", type=_positive_int, default=None, help="examples per step")
    run.add_argument("--lr", type=_positive_float, default=None, help="Adam learning rate")
    run.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help="learning-rate schedule: constant, or cosine decay to 0 over the run",
    )
    run.add_argument("--loss", choices=tuple(LOSSES), default=None, help="training loss")
    run.add_argument("--seed", type=int, default=None, help="seeds weights and batch order")
    run.add_argument("--device", default=None, help="cpu or cuda[:N]")
    run.add_argument("--out", default=None, help="output directory")
    run.add_argument(
        "--overwrite", action="store_true", help="write into a non-empty --out (not with --resume)"
    )
    run.add_argument("--resume", action="store_true", help="continue the run checkpointed in --out")
    run.add_argument(
        "--max-batches",
        type=_positive_int,
        default=None,
        help="batches per epoch cap (default: all)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    run.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the processes torchrun starts (DDP; gloo on CPU, NCCL on "
        "CUDA); only rank 0 writes. E.g. torchrun --nproc_per_node=2 -m snnfunc train "
        "--distributed",
    )
    _preset_defaults(p)
    p.set_defaults(func=_run_train)


def train_config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~snnfunc.app.train.TrainConfig` for parsed ``train`` arguments: the preset
    of ``--dataset`` and ``--model`` with every option given on the command line."""
    from snnfunc.app.train import preset

    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("func", "command")}
    dataset, arch = given.pop("dataset"), given.pop("arch")
    neuron_params = {
        k.removeprefix(_PARAM_DEST): given.pop(k) for k in list(given) if k.startswith(_PARAM_DEST)
    }
    neuron_params.update(given.pop("param"))
    if neuron_params:
        given["neuron_params"] = neuron_params
    given["progress"] = not given.pop("no_progress")
    given["plots"] = not given.pop("no_plots")
    if not given.get("shuffle_time"):
        given.pop("shuffle_time", None)
    return preset(dataset, arch, **given)


def _run_train(args: argparse.Namespace) -> int:
    from snnfunc.app.train import run

    config = train_config_from_args(args)
    metrics = run(config)
    if config.distributed and os.environ.get("RANK", "0") != "0":
        return 0  # only rank 0 reports
    print(
        f"test accuracy {metrics['test_accuracy']:.4f} (by spike count; membrane "
        f"{metrics['test_accuracy_membrane']:.4f}), train {metrics['train_seconds']:.1f} s; "
        f"wrote {config.out}/metrics.json, model.safetensors, config.json"
    )
    return 0


def add_eval(subparsers: Subparsers) -> None:
    from snnfunc.app.data import DATASETS

    p = subparsers.add_parser(
        "eval",
        formatter_class=_HelpFormatter,
        help="evaluate a checkpoint",
        description="Reload a checkpoint and evaluate it.",
    )
    p.add_argument(
        "--checkpoint", required=True, help="directory with model.safetensors + config.json"
    )
    p.add_argument("--dataset", choices=tuple(DATASETS), default=None, help="default: as trained")
    p.add_argument("--data-dir", default=None, help="MNIST directory (default: as trained)")
    p.add_argument("--batch-size", type=_positive_int, default=512, help="examples per batch")
    p.add_argument("--num-steps", type=_positive_int, default=None, help="default: as trained")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON, with metrics.json's keys (test_accuracy, "
        "test_accuracy_membrane, test_loss, test_samples) and dataset, checkpoint; the old "
        "keys accuracy, accuracy_membrane, loss, samples are deprecated",
    )
    p.set_defaults(func=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from snnfunc.app.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(
        args.checkpoint,
        dataset=args.dataset,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        num_steps=args.num_steps,
        device=args.device,
    )
    if args.json:
        print(json.dumps(_eval_json(result)))
    else:
        print(
            f"{result['dataset']} test accuracy {result['accuracy']:.4f} (by spike count; "
            f"membrane {result['accuracy_membrane']:.4f}) on {int(result['samples'])} samples"
        )
    return 0


# evaluate()'s keys -> metrics.json's; eval --json prints both (the old ones are deprecated)
_METRICS_KEYS = {
    "accuracy": "test_accuracy",
    "accuracy_membrane": "test_accuracy_membrane",
    "loss": "test_loss",
    "samples": "test_samples",
}


def _eval_json(result: dict[str, Any]) -> dict[str, Any]:
    """``eval --json``: metrics.json's key names (``test_accuracy``, ...), then ``dataset``,
    ``checkpoint`` and the deprecated old names (``accuracy``, ...) with the same values."""
    out = {new: result[old] for old, new in _METRICS_KEYS.items()}
    out["test_samples"] = int(out["test_samples"])
    return {**out, **result}


def _eps_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated floats, got {text!r}") from err
    if not values or not all(0.0 <= v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected finite floats >= 0, got {text!r}")
    return values


def add_attack(subparsers: Subparsers) -> None:
    from snnfunc.app.data import DATASETS

    p = subparsers.add_parser(
        "attack",
        formatter_class=_HelpFormatter,
        help="robust accuracy of a checkpoint under FGSM/PGD",
        description="Attack a checkpoint's test split (L-inf FGSM or PGD on pixels in [0, 1]) and "
        "print robust accuracy against eps; save the plot (see snnfunc.attacks).",
    )
    p.add_argument(
        "--checkpoint", required=True, help="directory with model.safetensors + config.json"
    )
    p.add_argument("--eps", type=_eps_list, default=[0.0, 0.02, 0.05, 0.1], help="e.g. 0,0.05")
    p.add_argument("--attack", choices=("fgsm", "pgd"), default="fgsm", help="the attack")
    p.add_argument("--steps", type=_positive_int, default=10, help="PGD steps")
    p.add_argument(
        "--alpha", type=_positive_float, default=None, help="PGD step (default: 2.5 eps/steps)"
    )
    p.add_argument(
        "--encoding",
        choices=("direct", "rate"),
        default="direct",
        help="direct: the image is the input current (as trained); rate: snnfunc.rate spikes",
    )
    p.add_argument("--dataset", choices=tuple(DATASETS), default=None, help="default: as trained")
    p.add_argument("--data-dir", default=None, help="MNIST directory (default: as trained)")
    p.add_argument("--batch-size", type=_positive_int, default=512, help="examples per batch")
    p.add_argument("--num-steps", type=_positive_int, default=None, help="default: as trained")
    p.add_argument(
        "--max-samples", type=_positive_int, default=None, help="first N test images (default: all)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the rate encoder's noise")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--out", default=None, help="plot path (default: CHECKPOINT/robustness.png)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_run_attack)


def _run_attack(args: argparse.Namespace) -> int:
    from pathlib import Path

    from snnfunc.app.evaluate import attack_checkpoint
    from snnfunc.app.plot import plot_robustness

    result = attack_checkpoint(
        args.checkpoint,
        args.eps,
        attack=args.attack,
        steps=args.steps,
        alpha=args.alpha,
        encoding=args.encoding,
        dataset=args.dataset,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        num_steps=args.num_steps,
        max_samples=args.max_samples,
        seed=args.seed,
        device=args.device,
    )
    if not args.no_plot:
        plot_path = Path(args.out) if args.out else Path(args.checkpoint) / "robustness.png"
        curves = {"spike count": result["accuracy"], "membrane": result["accuracy_membrane"]}
        title = f"{result['dataset']}, {args.attack.upper()}, {args.encoding} input"
        plot_robustness(result["eps"], curves, title=title).savefig(plot_path, dpi=100)
        result["plot"] = str(plot_path)
    if args.json:
        print(json.dumps(result))
        return 0
    attack = "FGSM" if args.attack == "fgsm" else f"PGD-{args.steps}"
    print(
        f"{result['dataset']} test split, {result['samples']} samples; {attack} (L-inf, pixels in "
        f"[0, 1]) on loss {result['loss']}, {result['encoding']} input"
    )
    print("| eps | accuracy (spike count) | accuracy (membrane) |")
    print("|---|---|---|")
    for eps, acc, acc_m in zip(
        result["eps"], result["accuracy"], result["accuracy_membrane"], strict=True
    ):
        print(f"| {eps:g} | {100 * acc:.1f}% | {100 * acc_m:.1f}% |")
    if "plot" in result:
        print(f"plot: {result['plot']}")
    return 0


def add_online(subparsers: Subparsers) -> None:
    from snnfunc.app.online_train import add_parser

    add_parser(subparsers)


SUBCOMMANDS: list[Callable[[Subparsers], None]] = [add_train, add_eval, add_attack, add_online]


def build_parser() -> argparse.ArgumentParser:
    """The ``snnfunc`` parser with every registered subcommand."""
    from snnfunc import __version__

    parser = argparse.ArgumentParser(
        prog="snnfunc",
        description="Train and evaluate spiking neural networks.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"snnfunc {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snnfunc`` console script. Returns the exit status.

    Expected failures (missing/corrupt files, bad settings, an existing ``--out``) print one
    ``snnfunc: error: ...`` line and exit with status 2, without a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, TypeError, ImportError) as err:
        message = getattr(err, "cli_message", err)  # in flag words where the library has them
        print(f"snnfunc {args.command}: error: {message}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
