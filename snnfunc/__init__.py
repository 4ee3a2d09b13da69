"""snnfunc: functional spiking neural networks on PyTorch.

Pure step functions ``step(state, x, params) -> (spike, state)`` with NamedTuple state and
params, :func:`scan` to unroll them over time, and surrogate spikes that work under every
``torch.func`` transform. Tensors are time-major: ``[T, B, N]`` (time, batch, neurons).

The application built on this core (the fcn/conv models, training, checkpoints, data, plots and
the ``snnfunc`` command) is the subpackage :mod:`snnfunc.app`; ``import snnfunc`` does not load it.
"""

from snnfunc import delay as delay
from snnfunc import network as network
from snnfunc import surrogate as surrogate
from snnfunc.compose import Layer as Layer
from snnfunc.compose import neuron as neuron
from snnfunc.compose import sequential as sequential
from snnfunc.compose import stateless as stateless
from snnfunc.neurons import AdLIFParams as AdLIFParams
from snnfunc.neurons import AdLIFState as AdLIFState
from snnfunc.neurons import ALIFParams as ALIFParams
from snnfunc.neurons import ALIFState as ALIFState
from snnfunc.neurons import AlphaParams as AlphaParams
from snnfunc.neurons import AlphaState as AlphaState
from snnfunc.neurons import IFParams as IFParams
from snnfunc.neurons import IFState as IFState
from snnfunc.neurons import LapicqueParams as LapicqueParams
from snnfunc.neurons import LapicqueState as LapicqueState
from snnfunc.neurons import LIFParams as LIFParams
from snnfunc.neurons import LIFState as LIFState
from snnfunc.neurons import RAdLIFParams as RAdLIFParams
from snnfunc.neurons import RAdLIFState as RAdLIFState
from snnfunc.neurons import RLIFParams as RLIFParams
from snnfunc.neurons import RLIFState as RLIFState
from snnfunc.neurons import RSynapticParams as RSynapticParams
from snnfunc.neurons import RSynapticState as RSynapticState
from snnfunc.neurons import SynapticParams as SynapticParams
from snnfunc.neurons import SynapticState as SynapticState
from snnfunc.neurons import adlif_init as adlif_init
from snnfunc.neurons import adlif_step as adlif_step
from snnfunc.neurons import alif_init as alif_init
from snnfunc.neurons import alif_step as alif_step
from snnfunc.neurons import alpha_init as alpha_init
from snnfunc.neurons import alpha_step as alpha_step
from snnfunc.neurons import if_init as if_init
from snnfunc.neurons import if_step as if_step
from snnfunc.neurons import lapicque_init as lapicque_init
from snnfunc.neurons import lapicque_step as lapicque_step
from snnfunc.neurons import lif_init as lif_init
from snnfunc.neurons import lif_step as lif_step
from snnfunc.neurons import radlif_init as radlif_init
from snnfunc.neurons import radlif_step as radlif_step
from snnfunc.neurons import rlif_init as rlif_init
from snnfunc.neurons import rlif_step as rlif_step
from snnfunc.neurons import rsynaptic_init as rsynaptic_init
from snnfunc.neurons import rsynaptic_step as rsynaptic_step
from snnfunc.neurons import synaptic_init as synaptic_init
from snnfunc.neurons import synaptic_step as synaptic_step
from snnfunc.reset import Firing as Firing
from snnfunc.reset import Reset as Reset
from snnfunc.reset import apply_reset as apply_reset
from snnfunc.scan import scan as scan
from snnfunc.surrogate import Surrogate as Surrogate

# isort: split
# Fused multi-step neurons (equal to scan of the step, one kernel for all T).
from snnfunc.fused import fuse as fuse
from snnfunc.fused import if_scan as if_scan
from snnfunc.fused import lif_scan as lif_scan
from snnfunc.fused import synaptic_scan as synaptic_scan

# isort: split
# Encoders, straight-through Bernoulli, adversarial attacks.
from snnfunc import attacks as attacks
from snnfunc import encode as encode
from snnfunc.bernoulli import bernoulli as bernoulli
from snnfunc.encode import rate as rate

# isort: split
# Losses and metrics over [T, B, C].
from snnfunc.loss import count_ce as count_ce
from snnfunc.loss import count_mse as count_mse
from snnfunc.loss import first_spike_time as first_spike_time
from snnfunc.loss import l1_rate_sparsity as l1_rate_sparsity
from snnfunc.loss import latency_mse as latency_mse
from snnfunc.loss import max_membrane_ce as max_membrane_ce
from snnfunc.loss import membrane_ce as membrane_ce
from snnfunc.loss import membrane_mse as membrane_mse
from snnfunc.loss import one_hot_targets as one_hot_targets
from snnfunc.loss import population_code as population_code
from snnfunc.loss import rate_ce as rate_ce
from snnfunc.loss import rate_targets as rate_targets
from snnfunc.loss import step_ce as step_ce
from snnfunc.loss import temporal_ce as temporal_ce
from snnfunc.loss import temporal_mse as temporal_mse
from snnfunc.metrics import accuracy_count as accuracy_count
from snnfunc.metrics import accuracy_first_spike as accuracy_first_spike
from snnfunc.metrics import accuracy_membrane as accuracy_membrane

# isort: split
# torch.func tools, nn.Module wrappers, custom cells.
from snnfunc import cell as cell
from snnfunc import func as func
from snnfunc import nn as nn
from snnfunc import online as online
from snnfunc.cell import Cell as Cell

# isort: split
# Interop: NIR, Norse/SpikingJelly parameter mappings, time constants.
from snnfunc import interop as interop
from snnfunc.interop.params import decay_from_tau as decay_from_tau
from snnfunc.interop.params import tau_from_decay as tau_from_decay

__version__ = "0.1.0"
"""The package version; ``pyproject.toml`` reads it from here (the one place it is written)."""

# Moved to the application subpackage (``snnfunc.app``); reachable here, lazily and with a
# DeprecationWarning, so that ``import snnfunc`` loads only the core.
_MOVED: dict[str, str] = {
    "Model": "snnfunc.app.models",
    "ModelConfig": "snnfunc.app.models",
    "build_model": "snnfunc.app.models",
    "TrainConfig": "snnfunc.app.train",
    "load_checkpoint": "snnfunc.app.checkpoint",
    "save_checkpoint": "snnfunc.app.checkpoint",
}


def __getattr__(name: str) -> object:
    if name not in _MOVED:
        raise AttributeError(f"module 'snnfunc' has no attribute {name!r}")
    import importlib
    import warnings

    where = _MOVED[name]
    warnings.warn(
        f"snnfunc.{name} moved to {where}.{name}; import it from there",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(where), name)
