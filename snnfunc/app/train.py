"""Training behind ``snnfunc train``: a plain :func:`fit` loop, and :func:`run`, which writes files.

::

    from snnfunc.app.train import preset, run
    metrics = run(preset("mnist", epochs=3, out="runs/fcn"))   # snnTorch tutorial 3
    metrics["test_accuracy"]                                    # fraction, by output spike count

A :class:`TrainConfig` nests the :class:`~snnfunc.app.models.ModelConfig` it trains.
:func:`preset` makes one from the preset of a dataset and architecture (:data:`PRESETS`; MNIST +
fcn is snnTorch tutorial 3's) with any field of either config overridden by name. The loop alone,
on a model and data of your own::

    history = fit(build_model(config.model), data, config)   # trains model.params in place
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_dtype_device, check_int_at_least
from snnfunc.app.checkpoint import (
    CONFIG_FILE,
    OPTIMIZER_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
    load_optimizer_state,
    save_checkpoint,
)
from snnfunc.app.data import DATASETS, Dataset, batches, load_dataset
from snnfunc.app.evaluate import LOSSES, evaluate
from snnfunc.app.models import (
    ARCHITECTURES,
    Model,
    ModelConfig,
    NetOutput,
    build_model,
    forward,
)
from snnfunc.metrics import accuracy_count
from snnfunc.neurons import MODELS as NEURON_MODELS

__all__ = ["TrainConfig", "PRESETS", "SCHEDULES", "preset", "fit", "run"]

SCHEDULES: tuple[str, ...] = ("constant", "cosine")

# (dataset, arch) -> settings by field name (of TrainConfig or ModelConfig); the rest: defaults.
PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("digits", "fcn"): dict(
        hidden=(128,),
        neuron="synaptic",
        epochs=6,
        num_steps=25,
        batch_size=64,
        lr=5e-3,
        schedule="cosine",
    ),
    ("digits", "conv"): dict(
        hidden=(12, 32), neuron="lif", epochs=5, num_steps=8, batch_size=64, lr=5e-3, padding=2
    ),
    # snnTorch tutorial 3: 784-1000-10 Synaptic(alpha .7, beta .8), T 25, B 128, Adam 2e-4, 3 ep.
    # Surrogate: the tutorial's (section 4.3.1: the gradient is the spike itself, "heaviside"),
    # which beats snnTorch 1.0's default atan(2) by spike count (docs/_numbers/mnist.md).
    ("mnist", "fcn"): dict(
        hidden=(1000,),
        neuron="synaptic",
        epochs=3,
        num_steps=25,
        batch_size=128,
        lr=2e-4,
        surrogate="heaviside",
    ),
    ("mnist", "conv"): dict(
        hidden=(16, 32),
        neuron="lif",
        epochs=4,  # accuracy and time: docs/_numbers/mnist.md (benchmarks/docs_numbers.py)
        num_steps=6,
        batch_size=128,
        lr=2e-3,
        # at 0.5 the second conv layer is silent at init and learns slowly
        neuron_params={"beta": 0.9},
        schedule="cosine",
    ),
    # Randman (10 classes, 100 units, 50 steps): only spike timing carries the class; a
    # recurrent LIF net trained on output spike counts. Accuracy, time and the shuffled-time
    # control: README "Randman" (benchmarks/randman.py).
    ("randman", "fcn"): dict(
        hidden=(128,),
        neuron="rlif",
        neuron_params={"threshold": 0.1},
        loss="rate_ce",
        epochs=10,
        batch_size=128,
        lr=2e-3,
        schedule="cosine",
    ),
}
# SHD / SSC (700 cochlea channels, 100 bins of 14 ms / 10 ms): Randman's recurrent LIF net for
# twice the epochs, as in Cramer et al. 2022's recurrent baseline; the README's recipe (not run
# here: no real files).
PRESETS[("shd", "fcn")] = {**PRESETS[("randman", "fcn")], "epochs": 20}
PRESETS[("ssc", "fcn")] = PRESETS[("shd", "fcn")]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run, with the model it trains (see :func:`preset`).

    Attributes:
        model: the :class:`~snnfunc.app.models.ModelConfig`; its ``input_shape`` and
            ``num_classes`` must be the dataset's.
        dataset: a key of :data:`snnfunc.app.data.DATASETS` (``"digits"``: scikit-learn's 8x8,
            bundled; ``"mnist"``: IDX files).
        data_dir: MNIST directory (default ``../shared/data/mnist`` beside the repo if present).
        epochs, batch_size, lr: the usual; Adam with betas (0.9, 0.999) over every tensor of
            the model's params (weights, and the neuron params in ``model.learn``).
        schedule: ``"constant"`` learning rate, or ``"cosine"`` decay to 0 over the run
            (set per batch from the global batch index, so ``resume`` continues it).
        loss: a key of :data:`~snnfunc.app.evaluate.LOSSES` (default the tutorial's membrane CE
            summed over time).
        seed: seeds the weights and the batch order of every epoch.
        device: ``"cpu"`` or ``"cuda[:N]"``.
        out: output directory (metrics, checkpoint, plots).
        overwrite: allow writing into a non-empty ``out``; the previous run's outputs there
            (:data:`RUN_FILES`: metrics, checkpoint, plots) are removed first, other files kept.
            Not with ``resume``.
        resume: continue from the checkpoint in ``out`` (saved after every epoch).
        max_batches: stop each epoch after this many batches (smoke tests).
        progress: show a tqdm progress bar.
        plots: write the PNG plots (needs matplotlib).
        distributed: data-parallel over the processes ``torchrun`` starts (DDP; gloo on CPU,
            NCCL with ``device="cuda"``, each process on GPU ``LOCAL_RANK``); every rank trains
            on its DistributedSampler shard (``batch_size`` per rank), only rank 0 writes.
        shuffle_time: temporal datasets only: train and test on each sample's time bins in a
            random order of its own (:func:`snnfunc.app.randman.shuffle_time`, seeded by
            ``seed``), the control that shows a task needs timing.
    """

    model: ModelConfig
    dataset: str = "digits"
    data_dir: str | None = None
    epochs: int = 1
    batch_size: int = 64
    lr: float = 1e-3
    schedule: str = "constant"
    loss: str = "membrane_ce"
    seed: int = 0
    device: str = "cpu"
    out: str = "runs/snnfunc"
    overwrite: bool = False
    resume: bool = False
    max_batches: int | None = None
    progress: bool = True
    plots: bool = True
    distributed: bool = False
    shuffle_time: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        check_choice("dataset", self.dataset, tuple(DATASETS))
        check_choice("loss", self.loss, tuple(LOSSES))
        check_choice("schedule", self.schedule, SCHEDULES)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a str, got {type(self.device).__name__}")
        check_choice("device", self.device.split(":")[0], ("cpu", "cuda"))
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.max_batches is not None:
            check_int_at_least("max_batches", self.max_batches, 1)
        if self.overwrite and self.resume:
            raise _error(
                ValueError,
                "overwrite=True and resume=True exclude each other: resume continues the run in "
                "out, overwrite starts a new one there",
                "--overwrite and --resume exclude each other: --resume continues the run in "
                "--out, --overwrite starts a new one there",
            )
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)):
            raise TypeError(f"lr must be a float, got {type(self.lr).__name__}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a positive finite float, got {self.lr!r}")
        info = DATASETS[self.dataset]
        if self.model.temporal != info.temporal:
            kind = "sequences" if info.temporal else "images"
            raise ValueError(
                f"dataset {self.dataset!r} holds {kind}, so the model's temporal must be "
                f"{info.temporal} (preset() sets it)"
            )
        if self.shuffle_time and not info.temporal:
            raise _error(
                ValueError,
                f"shuffle_time is for temporal datasets; {self.dataset!r} holds images",
                f"--shuffle-time is for temporal datasets; {self.dataset} holds images",
            )
        if (self.model.input_shape, self.model.num_classes) != (info.input_shape, info.num_classes):
            raise ValueError(
                f"model takes {self.model.input_shape} images in {self.model.num_classes} "
                f"classes, but dataset {self.dataset!r} has {info.input_shape} in "
                f"{info.num_classes}"
            )

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` by field name, of this config or of its model
        (``config.replace(epochs=2, hidden=(64,))``)."""
        model_fields = {f.name for f in fields(ModelConfig)}
        model = {k: changes.pop(k) for k in list(changes) if k in model_fields}
        if model:
            changes["model"] = dataclasses.replace(self.model, **model)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; the model under ``"model"`` (:meth:`ModelConfig.to_dict`)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        return {"model": self.model.to_dict(), **out}


def preset(dataset: str = "digits", arch: str = "fcn", **overrides: Any) -> TrainConfig:
    """The :data:`PRESETS` entry of ``(dataset, arch)``, with ``overrides`` by field name.

    Args:
        dataset: a key of :data:`snnfunc.app.data.DATASETS`; sets the model's ``input_shape``
            and ``num_classes``.
        arch: a key of :data:`snnfunc.app.models.ARCHITECTURES`.
        overrides: fields of :class:`TrainConfig` or :class:`~snnfunc.app.models.ModelConfig`
            by name (``epochs=2``, ``hidden=(64,)``, ``neuron="lif"``, ...). ``neuron_params``
            is merged over the preset's, of which only the chosen neuron's fields are kept.
    Returns:
        The :class:`TrainConfig`.
    Raises:
        TypeError: a name that is no field (or ``input_shape``/``num_classes``, which the
            dataset sets).
    """
    check_choice("dataset", dataset, tuple(DATASETS))
    check_choice("arch", arch, tuple(ARCHITECTURES))
    base = PRESETS.get((dataset, arch), {})
    dataset_sets = {"arch", "input_shape", "num_classes", "temporal"}
    model_fields = {f.name for f in fields(ModelConfig)} - dataset_sets
    train_fields = {f.name for f in fields(TrainConfig)} - {"model", "dataset"}
    unknown = sorted(set(overrides) - model_fields - train_fields)
    if unknown:
        raise TypeError(
            f"preset() got settings that are no field of TrainConfig or ModelConfig (or that "
            f"the dataset sets): {unknown}"
        )
    settings = {**base, **overrides}
    neuron = settings.get("neuron", ModelConfig.neuron)
    has = NEURON_MODELS[neuron].params if neuron in NEURON_MODELS else {}
    settings["neuron_params"] = {
        **{k: v for k, v in base.get("neuron_params", {}).items() if k in has},
        **overrides.get("neuron_params", {}),
    }
    info = DATASETS[dataset]
    model = ModelConfig(
        arch=arch,
        input_shape=info.input_shape,
        num_classes=info.num_classes,
        temporal=info.temporal,
        **{k: v for k, v in settings.items() if k in model_fields},
    )
    train = {k: v for k, v in settings.items() if k in train_fields}
    return TrainConfig(model=model, dataset=dataset, **train)


# --- the loop ------------------------------------------------------------------------------------
def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=True, dynamic_ncols=True)


def _epoch_batches(
    data: Dataset, config: TrainConfig, epoch: int, world: Any
) -> Iterable[tuple[Tensor, Tensor]]:
    """This epoch's minibatches: a seeded shuffle, or this rank's DistributedSampler shard."""
    if world is None:
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        return batches(data, config.batch_size, shuffle=True, generator=generator)
    from snnfunc.app.distributed import local_indices

    idx = torch.tensor(local_indices(data.labels.shape[0], epoch=epoch, seed=config.seed))
    return batches(Dataset(data.images[idx], data.labels[idx]), config.batch_size)


def _batches_per_epoch(data: Dataset, config: TrainConfig, world: Any) -> int:
    n = data.labels.shape[0]
    if world is not None:  # DistributedSampler's shard size
        n = math.ceil(n / world.world_size)
    n_batches = math.ceil(n / config.batch_size)
    return n_batches if config.max_batches is None else min(n_batches, config.max_batches)


def _set_lr(optimizer: torch.optim.Optimizer, config: TrainConfig, done: float) -> None:
    """The schedule at ``done``, the fraction of the run's batches already taken."""
    if config.schedule == "cosine":
        for group in optimizer.param_groups:
            group["lr"] = config.lr * 0.5 * (1.0 + math.cos(math.pi * done))


def _train_epoch(
    run_model: Callable[[Tensor], NetOutput],
    optimizer: torch.optim.Optimizer,
    data: Dataset,
    config: TrainConfig,
    epoch: int,
    *,
    world: Any,
    progress: bool,
    constrain: Callable[[], Any] | None = None,
) -> tuple[dict[str, float], list[float]]:
    """One epoch: ``({"epoch", "train_loss", "train_accuracy", "seconds"}, batch losses)``;
    ``constrain()`` after each optimizer step (the network's delays back into range)."""
    n_batches = _batches_per_epoch(data, config, world)
    loss_fn = LOSSES[config.loss]
    bar = _progress(n_batches, f"epoch {epoch + 1}/{config.epochs}", progress)
    losses: list[float] = []
    mean_loss = mean_acc = 0.0
    tic = time.perf_counter()
    for k, (images, labels) in enumerate(_epoch_batches(data, config, epoch, world)):
        if k >= n_batches:
            break
        _set_lr(optimizer, config, (epoch * n_batches + k) / (config.epochs * n_batches))
        images, labels = images.to(config.device), labels.to(config.device)
        output = run_model(images)
        loss = loss_fn(output, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if constrain is not None:
            constrain()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss became {value} at epoch {epoch + 1}, batch {k + 1}")
        acc = float(accuracy_count(output.spikes.detach(), labels))
        losses.append(value)
        mean_loss += (value - mean_loss) / len(losses)
        mean_acc += (acc - mean_acc) / len(losses)
        bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{mean_acc:.3f}", refresh=False)
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - tic
    if world is not None:  # every rank's mean, the same on all ranks
        from snnfunc.app.distributed import all_reduce_mean

        mean_loss, mean_acc = (float(all_reduce_mean(v)) for v in (mean_loss, mean_acc))
    stats = {"epoch": epoch + 1, "train_loss": mean_loss, "train_accuracy": mean_acc}
    return {**stats, "seconds": seconds}, losses


def fit(
    model: Model,
    data: Dataset,
    config: TrainConfig,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    start_epoch: int = 0,
    on_epoch: Callable[[dict[str, float], list[float]], None] | None = None,
    run_model: Callable[[Tensor], NetOutput] | None = None,
    world: Any = None,
) -> list[dict[str, float]]:
    """Train ``model.params`` in place on ``data`` for epochs ``start_epoch .. config.epochs-1``.

    Each epoch draws a seeded shuffle (``config.seed``, the epoch), takes at most
    ``config.max_batches`` batches of ``config.batch_size``, sets the learning rate of
    ``config.schedule`` per batch and steps the optimizer on ``config.loss``, then keeps the
    params in range (:meth:`~snnfunc.network.Network.constrain_`: a
    :class:`~snnfunc.network.Delay`'s delays in ``[0, max_delay]``). Only the
    ``config.model``-independent settings are read: the model is what you pass.

    Args:
        model: a :class:`~snnfunc.app.models.Model` whose params require grad.
        data: the training set.
        config: epochs, batches, learning rate, schedule, loss, seed, device, progress.
        optimizer: default ``Adam(model.params.values(), lr=config.lr, betas=(0.9, 0.999))``.
        start_epoch: the first epoch (resuming: the schedule and shuffles continue).
        on_epoch: called after each epoch with its stats and its batch losses.
        run_model: the forward to train through (default ``model``; a DDP wrapper under
            ``torchrun``).
        world: a :class:`~snnfunc.app.distributed.DistInfo` to train on this rank's shard and
            average the stats over ranks (``None``: one process).
    Returns:
        One dict per epoch: ``epoch`` (from 1), ``train_loss``, ``train_accuracy`` (running
        means by spike count), ``seconds``.
    """
    if optimizer is None:
        optimizer = torch.optim.Adam(model.params.values(), lr=config.lr, betas=(0.9, 0.999))
    progress = config.progress and (world is None or world.is_main)
    history = []
    network = model.network
    has_constraints = any(hasattr(spec, "constrain") for spec in network.layers)
    constrain = partial(network.constrain_, model.params) if has_constraints else None
    for epoch in range(start_epoch, config.epochs):
        stats, losses = _train_epoch(
            run_model or model,
            optimizer,
            data,
            config,
            epoch,
            world=world,
            progress=progress,
            constrain=constrain,
        )
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats, losses)
    return history


# --- a run: the files -----------------------------------------------------------------------------
def _error(cls: type[Exception], message: str, cli_message: str) -> Exception:
    """``cls(message)`` in config-field words for Python callers, with ``cli_message`` in
    flag words for ``snnfunc train`` (which prints ``err.cli_message`` when there is one)."""
    err = cls(message)
    err.cli_message = cli_message  # type: ignore[attr-defined]
    return err


# Every file a run writes into out; overwrite=True removes them first.
RUN_FILES: tuple[str, ...] = (
    "metrics.json",
    "loss.png",
    "raster.png",
    "membrane.png",
    "robustness.png",
    WEIGHTS_FILE,
    CONFIG_FILE,
    OPTIMIZER_FILE,
)


def _prepare_out(config: TrainConfig) -> Path:
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise _error(
            FileExistsError,
            f"out={str(out)!r} exists and is not a directory",
            f"--out {out} exists and is not a directory",
        )
    if config.resume:
        if not (out / CONFIG_FILE).is_file():
            raise _error(
                FileNotFoundError,
                f"resume=True but out={str(out)!r} holds no checkpoint (no {CONFIG_FILE})",
                f"--resume: no checkpoint in {out} (no {CONFIG_FILE})",
            )
        return out
    if config.overwrite:  # no file of the previous run may pass for this run's
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    if out.is_dir() and any(out.iterdir()) and not config.overwrite:
        raise _error(
            FileExistsError,
            f"out={str(out)!r} is not empty; set overwrite=True to write into it (the previous "
            "run's outputs are removed first), or resume=True to continue its run",
            f"--out {out} is not empty; pass --overwrite to write into it, or --resume to "
            "continue its run",
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


# what must not change on resume
_RESUME_KEYS = ("dataset", "batch_size", "lr", "loss", "schedule", "shuffle_time")


def _check_resume(config: TrainConfig, model: Model, saved: dict[str, Any], out: Path) -> None:
    here, there = config.model.to_dict(), model.config.to_dict()
    saved_train = saved.get("train", {})
    pairs = [(k, here[k], there[k]) for k in here]
    pairs += [(k, getattr(config, k), saved_train[k]) for k in _RESUME_KEYS if k in saved_train]
    for key, want, got in pairs:
        if want != got:
            raise _error(
                ValueError,
                f"resume=True: {key} is {want!r} here but {got!r} in the checkpoint in {out}",
                f"--resume: {key} is {want!r} here but {got!r} in the checkpoint in {out}",
            )


def _start(config: TrainConfig, out: Path) -> tuple[Model, dict[str, Any] | None]:
    """The model, fresh or resumed from the checkpoint in ``out`` (then also its config)."""
    if not config.resume:
        return build_model(config.model, seed=config.seed, device=config.device), None
    model, saved = load_checkpoint(out, device=config.device)
    _check_resume(config, model, saved, out)
    return model, saved


def _setup_distributed(config: TrainConfig) -> tuple[Any, bool]:
    """``(DistInfo, whether we created the process group)``, or ``(None, False)``."""
    if not config.distributed:
        return None, False
    import torch.distributed as dist

    from snnfunc.app.distributed import init_distributed

    owns_group = not (dist.is_available() and dist.is_initialized())
    backend = "nccl" if config.device.startswith("cuda") else "gloo"
    return init_distributed(backend), owns_group


def _apply_model(params: dict[str, Tensor], x: Tensor, *, config: ModelConfig) -> NetOutput:
    return forward(params, x, config)


def _ddp(model: Model) -> Callable[[Tensor], NetOutput]:
    """The model as one DDP-wrapped Module sharing its tensors (DDP broadcasts rank 0's)."""
    from snnfunc.app.distributed import FunctionalModule, wrap_ddp

    module = FunctionalModule(model.params, partial(_apply_model, config=model.config))
    model.params.update(module.named)  # one set of tensors: the module's Parameters
    wrapped: Callable[[Tensor], NetOutput] = wrap_ddp(module)
    return wrapped


def _prepare_fused(config: TrainConfig, model: Model) -> dict[str, Any]:
    """Trace the hidden neuron's step and build its fused kernels now, before training, and say
    which fused backend the hidden layers run: ``{"fused_backend", "kernel", "prepare_seconds"}``.

    One forward and backward of ``model`` on one blank example (no weight changes) traces and
    builds exactly the kernels training will use (each build prints one line; a build is
    ~0.1-0.3 s, a cached one is loaded), so none of it lands in ``train_seconds`` or the first
    epoch's progress bar. ``fused_backend`` is what the hidden layers ran: ``"kernel"`` (the
    generated C kernel), ``"torch"`` (the graph executor: CUDA, ``SNNFUNC_NO_EXT=1``, no
    compiler) or ``"scan"`` (a neuron whose step is not pointwise). The output layer always runs
    ``scan`` (its membrane is recorded). ``kernel`` lists this process's builds (name, path,
    seconds, whether built or loaded from the cache) or says why there is no kernel.

    The backends agree on the forward bit for bit, but their backwards sum in different orders
    (the kernel's also depends on the thread count), so weight gradients differ by ~1 ulp, and
    over a run's Adam steps that changes which neurons cross the threshold: different backends
    or thread counts end at different and equally good weights. Compare runs of one backend and
    thread count (both are in ``metrics.json["environment"]``).
    """
    from snnfunc.fused import FUSED, _build, _op

    tic = time.perf_counter()
    info: dict[str, Any] = {}
    backend = "scan"
    if config.model.neuron in FUSED:
        builds = len(_build.BUILDS)
        _op.LAST_RUN.clear()
        steps = (1,) if config.model.temporal else ()  # one blank example (of one step)
        x = torch.zeros((1, *steps, *config.model.input_shape), device=config.device)
        out = model(x)
        torch.autograd.grad(out.membrane.sum(), list(model.params.values()), allow_unused=True)
        backend = _op.LAST_RUN.get("backward", _op.LAST_RUN.get("forward", "scan"))
        reason = _build.disabled_reason()
        info = {"builds": _build.BUILDS[builds:]} if reason is None else {"error": reason}
    return {
        "fused_backend": backend,
        "kernel": info,
        "prepare_seconds": time.perf_counter() - tic,
    }


def _amend_json(path: Path, extra: dict[str, Any]) -> None:
    data = json.loads(path.read_text())
    data.update(extra)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def run(config: TrainConfig) -> dict[str, Any]:
    """Train (:func:`fit`), evaluate on the test split, and write ``config.out``.

    Before training, traces the hidden neuron and builds or loads its fused kernels (one line
    on stderr per build; the time is not counted in ``train_seconds``). Writes
    ``metrics.json`` (``test_accuracy`` as a fraction, ``train_seconds``, the config,
    per-epoch history -- :func:`fit`'s stats plus ``batches``, ``test_accuracy`` after the
    epoch and ``test_seconds``, its evaluation time -- and under ``environment`` the versions,
    ``fused_backend``, the ``kernel`` builds and ``prepare_seconds``: see
    :func:`_prepare_fused`), the checkpoint (``model.safetensors`` + ``config.json``, after
    every epoch, with the optimizer state for ``resume``) and, with ``plots``, ``loss.png``,
    ``raster.png`` and ``membrane.png``. Under ``distributed`` only rank 0 writes.

    Returns:
        The metrics dict written to ``metrics.json``.
    """
    check_dtype_device(torch.float32, config.device)  # "cuda" on a CPU-only torch: one line
    world, owns_group = _setup_distributed(config)
    if world is not None and world.device.type == "cuda":
        config = dataclasses.replace(config, device=str(world.device))
    is_main = world is None or world.is_main
    out = _prepare_out(config) if is_main else Path(config.out)
    train_data = load_dataset(config.dataset, "train", config.data_dir)
    test_data = load_dataset(config.dataset, "test", config.data_dir)
    if config.shuffle_time:
        train_data, test_data = _shuffled_time(config, train_data, test_data)
    model, saved = _start(config, out)
    fused = _prepare_fused(config, model)  # a kernel build is no training time
    run_model = model if world is None else _ddp(model)  # before the optimizer: DDP's tensors
    optimizer = torch.optim.Adam(model.params.values(), lr=config.lr, betas=(0.9, 0.999))
    done, history, losses = 0, [], []
    if saved is not None:
        optimizer.load_state_dict(load_optimizer_state(out, saved))
        done = int(saved.get("epoch", 0))
        history, losses = list(saved.get("history", [])), list(saved.get("loss_history", []))

    def save(stats: dict[str, float], batch_losses: list[float]) -> None:
        if is_main:  # the test accuracy after each epoch (loss.png's curve); not train time
            tic = time.perf_counter()
            test = evaluate(model, test_data, loss=config.loss, device=config.device)
            stats = {
                **stats,
                "batches": len(batch_losses),
                "test_accuracy": test["accuracy"],
                "test_seconds": time.perf_counter() - tic,
            }
        history.append(stats)
        losses.extend(batch_losses)
        if is_main:
            epoch = int(stats["epoch"])
            save_checkpoint(out, model, train=config.to_dict(), epoch=epoch, optimizer=optimizer)
            _amend_json(out / CONFIG_FILE, {"history": history, "loss_history": losses})

    fit(
        model,
        train_data,
        config,
        optimizer=optimizer,
        start_epoch=done,
        on_epoch=save,
        run_model=run_model,
        world=world,
    )
    metrics = _metrics(config, model, test_data, history, world, fused)
    if world is not None:
        from snnfunc.app.distributed import check_in_sync, cleanup

        check_in_sync(model.params.values())  # DDP kept every rank's weights identical
        del run_model  # drop the DDP wrapper (its reducer holds the process group) before teardown
        if owns_group:
            cleanup()
    if is_main:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if config.plots:
            _write_plots(out, model, test_data, losses, history, config)
    return metrics


def _shuffled_time(config: TrainConfig, *splits: Dataset) -> tuple[Dataset, ...]:
    """Each split with its samples' time bins shuffled (seeded by ``config.seed``)."""
    from snnfunc.app.randman import shuffle_time

    generator = torch.Generator().manual_seed(config.seed + 7_919)
    return tuple(Dataset(shuffle_time(d.images, generator), d.labels) for d in splits)


def _metrics(
    config: TrainConfig,
    model: Model,
    test_data: Dataset,
    history: list[dict[str, float]],
    world: Any,
    fused: dict[str, Any],
) -> dict[str, Any]:
    from snnfunc import __version__

    tic = time.perf_counter()
    test = evaluate(model, test_data, loss=config.loss, device=config.device)
    return {
        "test_accuracy": test["accuracy"],
        "test_accuracy_membrane": test["accuracy_membrane"],
        "test_loss": test["loss"],
        "test_samples": int(test["samples"]),
        "train_seconds": sum(h["seconds"] for h in history),
        "eval_seconds": time.perf_counter() - tic,
        "epochs": history,
        "config": config.to_dict(),
        "model": model.config.to_dict(),
        "environment": {
            "snnfunc": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "device": config.device,
            "world_size": 1 if world is None else world.world_size,
            **fused,
        },
    }


@torch.no_grad()
def _write_plots(
    out: Path,
    model: Model,
    data: Dataset,
    losses: list[float],
    history: list[dict[str, float]],
    config: TrainConfig,
) -> None:
    from snnfunc.app import plot

    image, label = data.images[:1].to(config.device), int(data.labels[0])
    output = model(image)
    counts = output.spikes[:, 0].sum(0)
    guess = f"predicted {int(counts.argmax())}" if bool(counts.any()) else "no output spike"
    what = "sample" if config.model.temporal else "image"
    sample = f"{config.dataset} test {what} 0: label {label}, {guess} (by spike count)"
    layers = [h[:, 0].cpu() for h in output.hidden] + [output.spikes[:, 0].cpu()]
    names = []
    for k, h in enumerate(layers[:-1]):
        shape = "x".join(str(d) for d in h.shape[1:])
        kind = f"{h.shape[1]} channels of {'x'.join(str(d) for d in h.shape[2:])}"
        conv = f"{kind}, rows grouped by channel"
        names.append(f"hidden {k + 1}: " + (conv if h.dim() > 2 else f"{shape} neurons"))
    names.append(f"output: {layers[-1].shape[1]} classes")
    if config.model.temporal:  # the input is spikes too: show it first
        layers.insert(0, image[0].flatten(1).cpu())
        names.insert(0, f"input: {layers[0].shape[1]} units")
    readout, _ = model.network.neurons[-1]
    threshold = torch.as_tensor(readout.params_of(model.params).threshold).float().mean()
    ends = list(itertools.accumulate(int(h.get("batches", 0)) for h in history))
    accuracy = [h.get("test_accuracy") for h in history]
    has_marks = all(ends) and all(a is not None for a in accuracy) and ends[-1] == len(losses)
    figures = {
        "loss.png": plot.loss_curve(
            losses,
            title=f"training loss: {config.loss} ({config.dataset}, {config.model.arch})",
            epoch_ends=ends if has_marks else None,
            accuracy=[float(a) for a in accuracy if a is not None] if has_marks else None,
        ),
        "raster.png": plot.raster(layers, titles=names, spread=True, title=sample),
        "membrane.png": plot.traces(
            output.membrane[:, 0].cpu(),
            threshold=float(threshold),
            title=f"output membranes; {sample}",
        ),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=100)
