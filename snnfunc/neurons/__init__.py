"""Neuron models: one module each, every one a registered :class:`NeuronModel`.

A model module writes its ``Params``/``State`` NamedTuples and its unchecked math, the *core*
``core(state, x, params, firing) -> (spike, state)``, and registers a :class:`NeuronModel`; its
public ``<model>_init`` and checked ``<model>_step(state, x, params, *, spike_fn, reset,
reset_delay, detach_reset) -> (spike, state)`` are derived from that value. The reset rule is
:mod:`snnfunc.reset`. :data:`MODELS` is the one catalogue of built-in models: ``nn``, the
application's models and CLI, :mod:`snnfunc.testing` and the contract tests iterate it.

To add a model: write ``snnfunc/neurons/<model>.py`` (see ``lif.py``) and add its model value
to :data:`MODELS` below. A recurrent variant is derived, never written:
``recurrent(model)`` (:mod:`snnfunc.neurons.recurrent`) adds the ``[N, N]`` weight of the last
spikes; ``rlif``, ``rsynaptic`` and ``radlif`` are registered that way.
"""

from collections.abc import Mapping
from typing import Any

from snnfunc.neurons import adlif, alif, alpha, if_, lapicque, lif, rlif, synaptic
from snnfunc.neurons._model import Field as Field
from snnfunc.neurons._model import NeuronModel as NeuronModel
from snnfunc.neurons._model import registry
from snnfunc.neurons.adlif import AdLIFParams as AdLIFParams
from snnfunc.neurons.adlif import AdLIFState as AdLIFState
from snnfunc.neurons.adlif import adlif_init as adlif_init
from snnfunc.neurons.adlif import adlif_step as adlif_step
from snnfunc.neurons.alif import ALIFParams as ALIFParams
from snnfunc.neurons.alif import ALIFState as ALIFState
from snnfunc.neurons.alif import alif_init as alif_init
from snnfunc.neurons.alif import alif_step as alif_step
from snnfunc.neurons.alpha import AlphaParams as AlphaParams
from snnfunc.neurons.alpha import AlphaState as AlphaState
from snnfunc.neurons.alpha import alpha_init as alpha_init
from snnfunc.neurons.alpha import alpha_step as alpha_step
from snnfunc.neurons.if_ import IFParams as IFParams
from snnfunc.neurons.if_ import IFState as IFState
from snnfunc.neurons.if_ import if_init as if_init
from snnfunc.neurons.if_ import if_step as if_step
from snnfunc.neurons.lapicque import LapicqueParams as LapicqueParams
from snnfunc.neurons.lapicque import LapicqueState as LapicqueState
from snnfunc.neurons.lapicque import lapicque_init as lapicque_init
from snnfunc.neurons.lapicque import lapicque_step as lapicque_step
from snnfunc.neurons.lif import LIFParams as LIFParams
from snnfunc.neurons.lif import LIFState as LIFState
from snnfunc.neurons.lif import lif_init as lif_init
from snnfunc.neurons.lif import lif_step as lif_step
from snnfunc.neurons.recurrent import recurrent as recurrent
from snnfunc.neurons.recurrent import recurrent_base as recurrent_base
from snnfunc.neurons.rlif import RLIFParams as RLIFParams
from snnfunc.neurons.rlif import RLIFState as RLIFState
from snnfunc.neurons.rlif import rlif_init as rlif_init
from snnfunc.neurons.rlif import rlif_step as rlif_step
from snnfunc.neurons.synaptic import SynapticParams as SynapticParams
from snnfunc.neurons.synaptic import SynapticState as SynapticState
from snnfunc.neurons.synaptic import synaptic_init as synaptic_init
from snnfunc.neurons.synaptic import synaptic_step as synaptic_step

RSYNAPTIC: NeuronModel[Any, Any] = recurrent(synaptic.SYNAPTIC)
"""Recurrent synaptic: :func:`recurrent` of the synaptic model (params ``RSynapticParams``)."""
RADLIF: NeuronModel[Any, Any] = recurrent(adlif.ADLIF)
"""Recurrent adLIF: :func:`recurrent` of adLIF; its own ``z`` state is the recurrent input."""
RSynapticParams: type[Any] = RSYNAPTIC.params_type
RSynapticState: type[Any] = RSYNAPTIC.state_type
rsynaptic_init = RSYNAPTIC.init
rsynaptic_step = RSYNAPTIC.step
RAdLIFParams: type[Any] = RADLIF.params_type
RAdLIFState: type[Any] = RADLIF.state_type
radlif_init = RADLIF.init
radlif_step = RADLIF.step

MODELS: Mapping[str, NeuronModel[Any, Any]] = registry(
    if_.IF,
    lif.LIF,
    synaptic.SYNAPTIC,
    lapicque.LAPICQUE,
    alpha.ALPHA,
    alif.ALIF,
    rlif.RLIF,
    adlif.ADLIF,
    RSYNAPTIC,
    RADLIF,
)
"""Every built-in neuron model by name (read-only), in a fixed order."""
