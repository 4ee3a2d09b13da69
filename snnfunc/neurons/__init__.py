"""Neuron models: one module each, every one ``<model>_init`` + ``<model>_step``.

Every step has the signature ``step(state, x, params, *, spike_fn, reset, reset_delay,
detach_reset) -> (spike, state)``; state and params are NamedTuples; the reset rule is
:mod:`snnfunc.reset`.
"""

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
from snnfunc.neurons.rlif import RLIFParams as RLIFParams
from snnfunc.neurons.rlif import RLIFState as RLIFState
from snnfunc.neurons.rlif import rlif_init as rlif_init
from snnfunc.neurons.rlif import rlif_step as rlif_step
from snnfunc.neurons.synaptic import SynapticParams as SynapticParams
from snnfunc.neurons.synaptic import SynapticState as SynapticState
from snnfunc.neurons.synaptic import synaptic_init as synaptic_init
from snnfunc.neurons.synaptic import synaptic_step as synaptic_step
