"""Event data as dense spike counts: SHD and SSC (HDF5), N-MNIST (binary event files).

Event datasets store, per sample, a list of events ``(time, channel)``; a spiking network wants
dense time-major input. :func:`bin_events` turns one sample's events into counts ``[T, C]``,
:func:`bin_samples` many samples at once into ``[N, T, C]`` (one vectorised ``index_add_``, no
Python loop per event or per sample), and the loaders read the files and bin them:

- :func:`load_shd`: ``shd_train.h5``, ``shd_test.h5``; 700 channels, 20 classes.
- :func:`load_ssc`: ``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5``; 700 channels, 35
  classes.
- :func:`load_nmnist`: ``Train/<digit>/*.bin``, ``Test/<digit>/*.bin`` (or ``Train.zip``,
  ``Test.zip``); 2 x 34 x 34 = 2312 channels, 10 classes.

Each loader returns an :class:`EventDataset` ``(inputs [N, T, C], labels [N] int64)``; the
batch loop of a training run transposes a batch to time-major ``[T, B, C]``.

Nothing is downloaded. Where to get the files (read the licences there):

- SHD and SSC (Cramer, Stradmann, Schemmel and Zenke, IEEE TNNLS 2020):
  https://zenkelab.org/datasets/ serves ``shd_train.h5.gz``, ``shd_test.h5.gz``,
  ``ssc_train.h5.gz``, ``ssc_valid.h5.gz``, ``ssc_test.h5.gz`` (and ``md5sums.txt``). The
  loaders read the ``.h5`` files, and also the downloaded ``.h5.gz`` (or tonic's ``.h5.zip``)
  directly, decompressed in memory on every load: ``gunzip -k shd_train.h5.gz`` once is faster.
- N-MNIST (Orchard, Jayawant, Cohen and Thakor, Frontiers in Neuroscience 2015):
  https://www.garrickorchard.com/datasets/n-mnist links ``Train.zip`` and ``Test.zip``
  (Mendeley Data, doi:10.17632/468j46mzdv.1); put them, or the folders they unzip to, in
  ``data_dir``.

The HDF5 layout (SHD and SSC)::

    spikes/times   [N] variable-length float arrays, seconds from the sample's start
    spikes/units   [N] variable-length uint16 arrays, channel ids in [0, 700)
    labels         [N] uint16 class ids
    extra/...      keys (class names), speaker, meta_info/{gender, age, body_height}: not read

HDF5 needs ``h5py`` (``pip install 'snnfunc[events]'``); N-MNIST needs nothing beyond torch.

tonic (optional, used where installed; never required): :func:`from_tonic_events` bins one
sample of tonic's structured-array events to the same ``[T, C]`` as the loaders above, and
:func:`tonic_dataset` bins a whole tonic dataset (or any ``(events, target)`` sequence) to an
:class:`EventDataset`. Neither imports tonic.

Modules: :mod:`~snnfunc.app.events.binning` (events -> counts), :mod:`~snnfunc.app.events.hsd`
(SHD, SSC), :mod:`~snnfunc.app.events.nmnist` (N-MNIST), :mod:`~snnfunc.app.events.tonic_events`
(tonic's events); every public name is re-exported here.
"""

from __future__ import annotations

from snnfunc.app.events.binning import EventDataset as EventDataset
from snnfunc.app.events.binning import EventSamples as EventSamples
from snnfunc.app.events.binning import bin_events as bin_events
from snnfunc.app.events.binning import bin_samples as bin_samples
from snnfunc.app.events.binning import bin_window as bin_window
from snnfunc.app.events.binning import take_samples as take_samples
from snnfunc.app.events.hsd import HSD_URL as HSD_URL
from snnfunc.app.events.hsd import load_shd as load_shd
from snnfunc.app.events.hsd import load_ssc as load_ssc
from snnfunc.app.events.hsd import read_hdf5_spikes as read_hdf5_spikes
from snnfunc.app.events.nmnist import NMNIST_SENSOR as NMNIST_SENSOR
from snnfunc.app.events.nmnist import NMNIST_URL as NMNIST_URL
from snnfunc.app.events.nmnist import DVSEvents as DVSEvents
from snnfunc.app.events.nmnist import decode_atis as decode_atis
from snnfunc.app.events.nmnist import load_nmnist as load_nmnist
from snnfunc.app.events.nmnist import read_nmnist as read_nmnist
from snnfunc.app.events.tonic_events import TONIC_TICKS_PER_SECOND as TONIC_TICKS_PER_SECOND
from snnfunc.app.events.tonic_events import from_tonic_events as from_tonic_events
from snnfunc.app.events.tonic_events import tonic_dataset as tonic_dataset
from snnfunc.app.events.tonic_events import tonic_event_channels as tonic_event_channels
from snnfunc.app.events.tonic_events import tonic_samples as tonic_samples

__all__ = [
    "EventSamples",
    "EventDataset",
    "bin_window",
    "bin_events",
    "bin_samples",
    "take_samples",
    "HSD_URL",
    "read_hdf5_spikes",
    "load_shd",
    "load_ssc",
    "NMNIST_URL",
    "NMNIST_SENSOR",
    "DVSEvents",
    "decode_atis",
    "read_nmnist",
    "load_nmnist",
    "TONIC_TICKS_PER_SECOND",
    "tonic_event_channels",
    "from_tonic_events",
    "tonic_samples",
    "tonic_dataset",
]
