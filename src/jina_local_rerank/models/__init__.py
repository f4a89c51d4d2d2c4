"""Checkpoints and model families: the registry, resolution and detection, loading, native layouts.

The only room that knows checkpoint formats; it builds torch modules and calls the CUDA kernels in
``runtime.cuda`` from their forwards.
"""
