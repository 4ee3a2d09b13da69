"""The application on top of the snnfunc core: ready-made networks, training, evaluation.

============================  ===============================================================
module                        what
============================  ===============================================================
:mod:`snnfunc.app.models`     ``ModelConfig`` (JSON) -> the network description of ``fcn`` /
                              ``conv`` (:mod:`snnfunc.network`), ``Model``, ``build_model``
:mod:`snnfunc.app.train`      ``TrainConfig`` (nests ``ModelConfig``), ``preset``, the ``fit``
                              loop and ``run(config)``, which writes the run's files
:mod:`snnfunc.app.evaluate`   ``evaluate``, ``evaluate_checkpoint``, ``attack_checkpoint``
:mod:`snnfunc.app.checkpoint` the one checkpoint format: safetensors + JSON
:mod:`snnfunc.app.data`       MNIST (IDX files) and scikit-learn's 8x8 digits as tensors;
                              temporal (sequence) datasets, ``sequence_loader``
:mod:`snnfunc.app.randman`    Randman, a spike-timing task generated from a seed
:mod:`snnfunc.app.events`     SHD/SSC (HDF5) and N-MNIST (``.bin``) binned to ``[N, T, C]``
:mod:`snnfunc.app.plot`       rasters, traces, loss and robustness curves (matplotlib)
:mod:`snnfunc.app.distributed`  data-parallel training under ``torchrun``
:mod:`snnfunc.app.online_train`  e-prop/OTTT/BPTT on the digits (``snnfunc online``)
:mod:`snnfunc.app.cli`        the ``snnfunc`` command (``python -m snnfunc``)
============================  ===============================================================

The core (``import snnfunc``) never imports this package; this package imports its optional
dependencies (scikit-learn, safetensors, tqdm, matplotlib, h5py) only where they are used.
"""
