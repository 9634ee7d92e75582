"""The offline wing: training the models that the runtime ships.

Nothing here runs on a camera.  The runtime (``crowdsafe run`` and everything it imports)
never imports this package, so it needs neither JAX nor the ``onnx`` package; those are
the ``[train]`` extra and are imported inside the functions that use them, so that even
``crowdsafe train density --help`` works without them.  What the runtime and training must
compute alike (the density model's input preprocessing, its cell grid) is defined once, in
:mod:`crowdsafe.density.counter`, and imported from there.
"""
