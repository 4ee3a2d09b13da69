"""Interoperability: time constants, NIR export/import, parity with Norse and SpikingJelly.

:mod:`snnfunc.interop.params` (no extra dependencies) converts between per-step decays and
continuous-time constants and builds the params/options that reproduce other libraries' neurons.
:mod:`snnfunc.interop.nir` needs the optional ``nir`` package (``pip install snnfunc[nir]``) and is
imported only on use.
"""
